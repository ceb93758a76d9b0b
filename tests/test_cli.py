"""The ``dlcourse`` command: --version, help, usage errors, and ``dlcourse doctor``.

Most tests run the installed console script in a subprocess, the way a student
runs it; the formatting helpers are also tested directly with made-up packages.
"""

import json
import os
import platform
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

import dlcourse
from dlcourse import _probe, cli, doctor

# What the doctor must report, written out here (not read from the code under test):
# shown name -> (distribution, dlcourse extra that installs it), as in pyproject.toml.
EXPECTED_PACKAGES = {
    "torch": ("torch", "torch"),
    "tensorflow": ("tensorflow", "tensorflow"),
    "jax": ("jax", "jax"),
    "pytensor": ("pytensor", "pytensor"),
    "keras": ("keras", "keras"),
    "onnx": ("onnx", "onnx"),
    "onnxruntime": ("onnxruntime", "onnx"),
    "fastai": ("fastai", "fastai"),
    "jupyterlab": ("jupyterlab", "course"),
    "nbgrader": ("nbgrader", "course"),
    "jupytext": ("jupytext", "course"),
    "nbclient": ("nbclient", "course"),
}


def _installed_version(distribution):
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _command():
    """The installed ``dlcourse`` script of this interpreter, else ``python -m dlcourse.cli``."""
    script = shutil.which("dlcourse", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "dlcourse.cli"]


def run_dlcourse(*args, backend=None, env=None):
    """Run ``dlcourse ARGS`` in a fresh process, with DLCOURSE_BACKEND set only when asked."""
    environ = {k: v for k, v in os.environ.items() if k != "DLCOURSE_BACKEND"}
    environ.update(env or {})
    if backend is not None:
        environ["DLCOURSE_BACKEND"] = backend
    return subprocess.run(
        [*_command(), *args], capture_output=True, text=True, env=environ, timeout=180
    )


def _package_line(report, name):
    lines = [line for line in report.splitlines() if line.split()[:1] == [name]]
    assert len(lines) == 1, f"expected one line for {name!r} in:\n{report}"
    return lines[0]


@pytest.fixture(scope="module")
def doctor_text():
    done = run_dlcourse("doctor")
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def doctor_json():
    done = run_dlcourse("doctor", "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


# --- the command itself ---------------------------------------------------------------


def test_version_matches_the_package():
    done = run_dlcourse("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"dlcourse {dlcourse.__version__}"


def test_module_entry_point_matches_the_script():
    done = subprocess.run(
        [sys.executable, "-m", "dlcourse.cli", "--version"], capture_output=True, text=True
    )
    assert done.returncode == 0
    assert done.stdout == run_dlcourse("--version").stdout


def test_no_arguments_prints_help_and_exits_0():
    done = run_dlcourse()
    assert done.returncode == 0
    assert done.stdout.startswith("usage: dlcourse")
    assert "doctor" in done.stdout


@pytest.mark.parametrize("args", [["frobnicate"], ["--frobnicate"], ["doctor", "--frobnicate"]])
def test_unknown_input_is_a_usage_error(args):
    done = run_dlcourse(*args)
    assert done.returncode == 2
    assert "usage: dlcourse" in done.stderr
    assert "frobnicate" in done.stderr


def test_main_returns_exit_codes_instead_of_exiting(capsys):
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"dlcourse {dlcourse.__version__}"
    assert cli.main([]) == 0
    assert "usage: dlcourse" in capsys.readouterr().out
    assert cli.main(["no-such-command"]) == 2
    assert "invalid choice" in capsys.readouterr().err


def test_a_broken_command_module_leaves_the_others_working(monkeypatch, capsys):
    broken = dict(cli.COMMANDS, broken="dlcourse.no_such_module_for_this_test")
    monkeypatch.setattr(cli, "COMMANDS", broken)
    assert cli.main(["broken"]) == 1
    assert "no_such_module_for_this_test" in capsys.readouterr().err
    assert cli.main(["doctor", "--no-gpu", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["dlcourse"]["version"] == dlcourse.__version__


# --- dlcourse doctor, as text and as JSON ---------------------------------------------


@pytest.mark.parametrize("name", EXPECTED_PACKAGES)
def test_doctor_names_each_package_with_its_version(doctor_text, name):
    distribution, extra = EXPECTED_PACKAGES[name]
    line = _package_line(doctor_text, name)
    version = _installed_version(distribution)
    if version is None:
        assert "not installed" in line
        assert f'pip install "dlcourse[{extra}]"' in line
    else:
        assert line.split()[1] == version


@pytest.mark.parametrize("name", EXPECTED_PACKAGES)
def test_doctor_json_agrees_with_metadata_and_text(doctor_json, doctor_text, name):
    distribution, extra = EXPECTED_PACKAGES[name]
    info = doctor_json["packages"][name]
    version = _installed_version(distribution)
    assert info["version"] == version
    assert info["status"] == ("missing" if version is None else "installed")
    assert info["extra"] == extra
    assert (info["hint"] is None) == (version is not None)
    assert (version or "not installed") in _package_line(doctor_text, name)


def test_doctor_json_reports_python_dlcourse_and_cpus(doctor_json, doctor_text):
    py = doctor_json["python"]
    assert py["version"] == platform.python_version()
    assert Path(py["executable"]).resolve() == Path(sys.executable).resolve()
    assert doctor_json["dlcourse"]["version"] == dlcourse.__version__
    assert doctor_json["cpu"]["logical"] == os.cpu_count()
    assert 1 <= doctor_json["cpu"]["usable"] <= os.cpu_count()
    assert py["version"] in doctor_text
    assert f"usable of {os.cpu_count()}" in doctor_text


def test_doctor_reports_numpy_blas(doctor_json, doctor_text):
    import numpy as np

    blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    assert doctor_json["blas"]["name"] == blas["name"]
    assert doctor_json["blas"]["version"] == blas["version"]
    assert doctor_json["blas"]["numpy"] == np.__version__
    assert f"{blas['name']} {blas['version']}" in doctor_text


def test_doctor_reports_the_blas_thread_count_that_was_set():
    pytest.importorskip("threadpoolctl", reason="threadpoolctl reads the BLAS thread count")
    limits = {name: "1" for name in _probe.THREAD_ENV_VARS}
    done = run_dlcourse("doctor", "--no-gpu", "--json", env=limits)
    assert done.returncode == 0, done.stderr
    threads = json.loads(done.stdout)["threads"]
    assert threads["source"] == "threadpoolctl"
    assert threads["pools"], "NumPy's BLAS thread pool was not found"
    assert {p["num_threads"] for p in threads["pools"]} == {1}
    assert threads["env"]["OPENBLAS_NUM_THREADS"] == "1"


def test_doctor_gpu_facts_agree_with_torch(doctor_json):
    torch = pytest.importorskip("torch", reason="the GPU check asks PyTorch")
    gpu = doctor_json["gpu"]["torch"]
    assert gpu["version"] == torch.__version__
    assert gpu["cuda_build"] == torch.version.cuda
    assert gpu["cuda_available"] == torch.cuda.is_available()
    assert gpu["mps_available"] == torch.backends.mps.is_available()
    assert (doctor_json["gpu"]["nvidia_smi"] is None) == (shutil.which("nvidia-smi") is None)


@pytest.mark.cuda
def test_doctor_lists_the_cuda_devices(doctor_json):
    torch = pytest.importorskip("torch", reason="the GPU check asks PyTorch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU visible to PyTorch")
    gpu = doctor_json["gpu"]["torch"]
    assert gpu["cuda_available"] is True
    assert len(gpu["cuda_devices"]) == torch.cuda.device_count()
    assert torch.cuda.get_device_name(0) in gpu["cuda_devices"]


def test_doctor_no_gpu_skips_torch_and_imports_no_framework():
    # The package table must come from metadata alone: no framework gets imported.
    code = (
        "import sys\n"
        "from dlcourse.cli import main\n"
        "main(['doctor', '--no-gpu', '--json'])\n"
        "heavy = {'torch', 'tensorflow', 'jax', 'keras', 'pytensor', 'onnx', 'onnxruntime',\n"
        "         'fastai', 'sklearn', 'matplotlib'}\n"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}), file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines()[-1] == "[]"
    facts = json.loads(done.stdout)
    assert facts["gpu"]["checked_with_torch"] is False
    assert facts["gpu"]["torch"] is None


# --- the backend section --------------------------------------------------------------


def test_doctor_default_backend(doctor_json):
    assert doctor_json["backend"]["active"] == "manual"
    assert doctor_json["backend"]["problem"] is None


def test_doctor_survives_a_bad_backend_name():
    done = run_dlcourse("doctor", backend="bogus")
    assert done.returncode == 0, done.stderr
    assert "'bogus'" in done.stdout
    assert "unknown backend" in done.stdout
    as_json = run_dlcourse("doctor", "--no-gpu", "--json", backend="bogus")
    backend = json.loads(as_json.stdout)["backend"]
    assert backend["active"] is None
    assert "bogus" in backend["problem"]


def test_doctor_shows_the_chosen_backend():
    done = run_dlcourse("doctor", "--no-gpu", backend="torch")
    assert done.returncode == 0, done.stderr
    active = [line for line in done.stdout.splitlines() if line.split()[:1] == ["active"]]
    assert active and active[0].split()[1] == "torch"
    as_json = run_dlcourse("doctor", "--no-gpu", "--json", backend="torch")
    assert json.loads(as_json.stdout)["backend"]["active"] == "torch"


def test_backend_without_its_package_gets_a_warning():
    facts = {"packages": {"madeup": {"status": "missing", "hint": "pip install X"}}}
    backend = {"active": "madeup", "extra": "madeup"}
    doctor._warn_if_backend_missing(backend, facts["packages"])
    assert "pip install X" in backend["warning"]
    installed = {"active": "madeup", "extra": "madeup"}
    doctor._warn_if_backend_missing(installed, {"madeup": {"status": "installed"}})
    assert "warning" not in installed


# --- missing and broken packages, without uninstalling anything -----------------------

MADE_UP = "dlcourse-made-up-package-for-tests"


def test_a_missing_package_gets_the_install_hint():
    info = _probe.package_status(MADE_UP, extra="madeup")
    assert info["status"] == "missing"
    assert info["version"] is None
    line = doctor.format_package(MADE_UP, info)
    assert MADE_UP in line
    assert "not installed" in line
    assert 'pip install "dlcourse[madeup]"' in line


@pytest.mark.parametrize("extra", ["torch", "fastai"])
def test_torch_hints_install_the_pinned_torch_first(extra):
    hint = _probe.package_status(MADE_UP, extra=extra)["hint"]
    assert hint.index("pip install torch==2.13.0") < hint.index(f'"dlcourse[{extra}]"')
    assert "download.pytorch.org/whl/cpu" in hint


def test_metadata_without_module_is_reported_broken():
    # pytest is installed, but not under this import name: metadata and module disagree.
    info = _probe.package_status("pytest", extra="dev", import_name="no_module_named_like_this")
    assert info["status"] == "broken"
    assert info["version"] == metadata.version("pytest")
    line = doctor.format_package("pytest", info)
    assert "BROKEN" in line and "no_module_named_like_this" in line
    assert 'pip install "dlcourse[dev]"' in line


def test_a_folder_shadowing_a_package_is_reported_broken(tmp_path, monkeypatch):
    (tmp_path / "shadowed_pkg_for_tests").mkdir()
    monkeypatch.syspath_prepend(str(tmp_path))
    info = _probe.package_status("shadowed-pkg-for-tests", extra="madeup")
    assert info["status"] == "broken"
    assert "folder" in info["problem"]


def test_a_crashing_module_finder_is_reported_not_raised(monkeypatch):
    def explode(name, package=None):
        raise ValueError(f"{name}.__spec__ is None")

    monkeypatch.setattr(_probe.importlib.util, "find_spec", explode)
    info = _probe.package_status("torch", extra="torch")
    assert info["status"] == "broken"
    assert "ValueError" in info["problem"]


def test_a_failing_probe_is_reported_and_the_rest_still_printed(monkeypatch):
    def explode():
        raise RuntimeError("BLAS probe exploded")

    monkeypatch.setattr(_probe, "blas_status", explode)
    facts = doctor.collect(check_gpu=False)
    assert "RuntimeError: BLAS probe exploded" in facts["blas"]["error"]
    report = doctor.format_report(facts)
    assert "BLAS probe exploded" in report
    assert _package_line(report, "torch")  # the other sections are still there
