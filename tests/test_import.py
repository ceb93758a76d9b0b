"""``import dlcourse`` stays light: no deep-learning framework or plotting library on import.

Each check runs in a fresh interpreter, because this test process has probably
imported PyTorch already. Only what gets imported is checked, never how long
it takes (see benchmarks/import_time.py for the timing).
"""

import importlib.util
import json
import subprocess
import sys

import pytest

# Importing any of these costs from a few hundred milliseconds to seconds.
HEAVY = (
    "torch",
    "tensorflow",
    "jax",
    "keras",
    "matplotlib",
    "sklearn",
    "pytensor",
    "onnx",
    "onnxruntime",
    "fastai",
)

PUBLIC_MODULES = [
    "dlcourse",
    "dlcourse.functional",
    "dlcourse.gradcheck",
    "dlcourse.diagnose",
    "dlcourse.data",
    "dlcourse.backends",
    "dlcourse.cli",
    "dlcourse.doctor",
    "dlcourse.autodiff",
    "dlcourse.course",
    "dlcourse.nn",
    "dlcourse.ops",
    "dlcourse.interop",
]

# Imports what it is told, then prints which heavy libraries each import brought in.
_REPORTER = """
import importlib, json, sys
heavy = set(json.loads(sys.argv[1]))
loaded = lambda: {m.split(".")[0] for m in sys.modules} & heavy
report = {}
for name in json.loads(sys.argv[2]):
    before = loaded()
    try:
        importlib.import_module(name)
    except Exception as err:
        report[name] = "import failed: %s: %s" % (type(err).__name__, err)
        continue
    new = sorted(loaded() - before)
    if new:
        report[name] = "imported " + ", ".join(new)
print(json.dumps(report))
"""


def _heavy_imports(modules):
    """{module: what went wrong} for the modules that failed or pulled in a heavy library."""
    done = subprocess.run(
        [sys.executable, "-c", _REPORTER, json.dumps(HEAVY), json.dumps(modules)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def _exists(module):
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


@pytest.mark.parametrize("module", PUBLIC_MODULES)
def test_import_leaves_heavy_libraries_out(module):
    if not _exists(module):
        pytest.skip(f"{module} is not part of the package yet")
    assert _heavy_imports([module]) == {}


def test_every_dlcourse_module_is_light():
    # Walks the whole package, so a new module that imports torch at the top is caught too.
    lister = (
        "import json, pkgutil, dlcourse\n"
        "names = [m.name for m in pkgutil.walk_packages(dlcourse.__path__, 'dlcourse.')]\n"
        "print(json.dumps([n for n in names if not n.endswith('__main__')]))\n"
    )
    done = subprocess.run([sys.executable, "-c", lister], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    modules = json.loads(done.stdout)
    assert "dlcourse.cli" in modules  # the walk really found the package's modules
    assert _heavy_imports(modules) == {}


def test_lazy_attributes_stay_light():
    code = (
        "import json, sys, dlcourse\n"
        "dlcourse.get_backend(); dlcourse.backends; dlcourse.cli\n"
        f"heavy = set({list(HEAVY)!r})\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & heavy)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


def test_the_checker_detects_a_heavy_import():
    # Guards the guard: a module known to import a heavy library must be reported.
    pytest.importorskip("sklearn", reason="scikit-learn is the heavy library used here")
    assert "sklearn" in _heavy_imports(["sklearn.linear_model"])["sklearn.linear_model"]
