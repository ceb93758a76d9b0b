"""The OS sandbox (bubblewrap) around student code, probed from inside with real processes.

A small script runs in the sandbox and reports what it can see and do: which
of the grader's paths exist, its uid, its processes, whether it reaches a
server the test listens on, whether it can write the library. Then the warm
exercise sandbox is checked: the graded reference is a stub in its source and
its bytecode, a forbidden package is not there, a process left running by one
job is gone before the next, and a forged or oversized answer is refused.
"""

import dataclasses
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest

from dlcourse.course.paths import find_root
from dlcourse.grading import osbox
from dlcourse.grading.sandboxes import SandboxServer, exercise_view
from dlcourse.grading.spec import Exercise
from dlcourse.grading.verify import _load_results, verify

ROOT = find_root()
pytestmark = pytest.mark.skipif(
    osbox.probe() is not None, reason=f"needs a working bubblewrap sandbox: {osbox.probe()}"
)

# Run inside the sandbox: what of the grader's world can this process reach?
PROBE = r"""
import json, os, socket, sys
paths, port, library = json.loads(sys.argv[1])
report = {"uid": os.getuid(), "seen": [p for p in paths if os.path.lexists(p)]}
report["pids"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
try:
    socket.create_connection(("127.0.0.1", port), timeout=2).close()
    report["net"] = "connected"
except OSError as err:
    report["net"] = type(err).__name__
try:
    with open(os.path.join(library, "planted.py"), "w") as f:
        f.write("x = 1")
    report["library_writable"] = True
except OSError:
    report["library_writable"] = False
with open("/job/written", "w") as f:
    f.write("from the sandbox")
print(json.dumps(report))
"""


def grader_paths(tmp_path):
    """A course folder with everything grading keeps from students, and the repository's."""
    course = tmp_path / "course"
    (course / "checks").mkdir(parents=True)
    (course / "checks" / "02-activations.py").write_text("EXERCISES = []\n")
    (course / "gradebook.db").write_bytes(b"SQLite format 3\0")
    (course / ".grading-secret").write_text("s" * 64)
    other = tmp_path / "submitted" / "other-student" / "02-activations"
    other.mkdir(parents=True)
    (other / "02-activations.ipynb").write_text("{}")
    copy = tmp_path / "site" / "dlcourse"
    shutil.copytree(Path(osbox.dlcourse_folder()) / "functional", copy / "functional")
    forbidden = [course, tmp_path / "submitted", tmp_path / "out"]
    unseen = [
        course,
        course / "gradebook.db",
        course / ".grading-secret",
        course / "checks",
        other / "02-activations.ipynb",
        copy,
        ROOT / "solutions",
        ROOT / "autograder",
        ROOT / "README.md",
        ROOT / ".git",
        ROOT / "tests",
        *home_entries(),
    ]
    return forbidden, [str(p) for p in unseen]


def home_entries():
    """What the user's home holds, but for the folders that lead to the Python environment."""
    needed = [*osbox.python_folders(), osbox.dlcourse_folder()]
    home = Path.home()
    if not home.is_dir():
        return []
    return [p for p in home.iterdir() if not any(f.startswith(f"{p}{os.sep}") for f in needed)]


def run_probe(tmp_path, python=sys.executable):
    forbidden, unseen = grader_paths(tmp_path)
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    job = osbox.prepare_writable(tmp_path / "job")
    view = osbox.base_view(forbidden)
    view.writable = str(job)
    port = server.getsockname()[1]
    argument = json.dumps([unseen, port, osbox.dlcourse_folder()])
    try:
        result = subprocess.run(
            osbox.command(view, [python, "-I", "-c", PROBE, argument]),
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        server.close()
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout), job, unseen


def test_the_view_lacks_every_path_grading_keeps_from_students(tmp_path):
    report, job, unseen = run_probe(tmp_path)
    assert report["seen"] == [], f"the sandbox sees {report['seen']}"
    assert len(unseen) >= 12


def test_no_network_no_other_processes_no_writable_library(tmp_path):
    report, job, _ = run_probe(tmp_path)
    assert report["net"] != "connected"  # the test's server listens on the host's loopback
    assert len(report["pids"]) <= 3, report["pids"]  # bwrap's init, the probe, maybe one
    assert os.getpid() not in report["pids"] or os.getpid() <= 3
    assert report["library_writable"] is False
    assert not (Path(osbox.dlcourse_folder()) / "planted.py").exists()


def test_the_sandbox_runs_as_a_uid_that_owns_nothing(tmp_path):
    report, job, _ = run_probe(tmp_path)
    owner = (job / "written").stat().st_uid
    if os.geteuid() == 0:
        assert owner == osbox.sandbox_uid() != 0
        assert not any(p.stat().st_uid == owner for p in ROOT.iterdir())
    else:
        assert owner == os.geteuid()
    assert report["uid"] != 0


def _library_for_nobody(place):
    """A copy of dlcourse under ``place`` that any user can read: the checkout may sit in a
    folder only root can enter (a CI clone under a private temporary folder)."""
    library = place / "lib"
    skip = shutil.ignore_patterns("__pycache__")
    shutil.copytree(ROOT / "lib" / "dlcourse", library / "dlcourse", ignore=skip)
    for folder, _, files in os.walk(library):
        os.chmod(folder, 0o755)
        for name in files:
            os.chmod(os.path.join(folder, name), 0o644)
    return library


def _unprivileged_python(library):
    """A Python that the uid nobody can run with ``library`` on its path, or None."""
    python = "/usr/bin/python3"
    check = [
        python,
        "-I",
        "-c",
        f"import sys; sys.path.insert(0, {str(library)!r}); import dlcourse.grading.osbox",
    ]
    try:
        result = subprocess.run(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *check],
            capture_output=True,
            timeout=60,
            cwd="/",
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return python if result.returncode == 0 else None


@pytest.mark.skipif(os.geteuid() != 0, reason="starts the sandbox as another user: needs root")
def test_an_unprivileged_user_gets_the_same_sandbox(tmp_path):
    place = Path(tempfile.mkdtemp(prefix="dlcourse-unprivileged-"))  # pytest's is root's alone
    os.chmod(place, 0o755)
    library = _library_for_nobody(place)
    python = _unprivileged_python(library)
    if python is None:
        shutil.rmtree(place)
        pytest.skip("/usr/bin/python3 cannot be run by the uid nobody here (setpriv missing?)")
    job = place / "job"
    job.mkdir()
    os.chown(job, 65534, 65534)
    forbidden, unseen = grader_paths(tmp_path)
    script = textwrap.dedent(
        f"""
        import json, subprocess, sys
        sys.path.insert(0, {str(library)!r})
        from dlcourse.grading import osbox
        view = osbox.base_view([])
        view.writable = {str(job)!r}
        argv = [sys.executable, "-I", "-c", {PROBE!r}, {json.dumps([unseen, 9, "/nonexistent"])!r}]
        done = subprocess.run(osbox.command(view, argv), capture_output=True, text=True)
        print(done.stdout or done.stderr)
        """
    )
    result = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", python, "-I", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        cwd="/",
    )
    try:
        report = json.loads(result.stdout)
        assert report["seen"] == []
        assert report["net"] != "connected"
        assert (job / "written").stat().st_uid == 65534
    finally:
        shutil.rmtree(place)


SIGMOID = Exercise(
    grade_id="check_sigmoid_backward",
    solution=("sigmoid_backward",),
    call="sigmoid_backward(dout, s)",
    expected=lambda dout, s: dout * s * (1 - s),
    inputs=lambda rng: [{"dout": rng.standard_normal(4), "s": rng.uniform(0.1, 0.9, 4)}],
    setup=("setup",),
    hidden=("dlcourse.functional:sigmoid_backward",),
    equivalents=("dlcourse.functional.activations:tanh_backward",),
    forbid=("torch", "dlcourse.gradcheck"),
    timeout_s=10.0,
    memory_mb=1024,
)
SETUP = [("setup", "import numpy as np\nfrom dlcourse import functional as F\n")]


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    place = tmp_path_factory.mktemp("view")
    server = SandboxServer(exercise_view(SIGMOID, place, []), SIGMOID.forbid, place / "job")
    yield server
    server.stop()


def grade(server, source, exercise=SIGMOID, setup=SETUP):
    cases = exercise.inputs(np.random.default_rng(1))
    expected = [exercise.expected(**case) for case in cases]
    solution = [(exercise.solution[0], textwrap.dedent(source))]
    return verify(
        exercise, cases, expected, setup=setup, solution=solution, forbidden=[], server=server
    )


def test_a_right_answer_passes_in_the_sandbox(sandbox):
    verdict = grade(sandbox, "def sigmoid_backward(dout, s):\n    return dout * s * (1 - s)\n")
    assert verdict.passed, verdict


# Read as trusted setup, before the audit hook (the second layer) would refuse it: what is on
# disk in the sandbox's view, source and bytecode, of the module that defines the reference.
READ_STUBS = """
import importlib.util, os
import dlcourse.functional.activations as A
TEXT = open(A.__file__).read()
COMPILED = [open(p, "rb").read() for p in [importlib.util.cache_from_source(A.__file__)]
            if os.path.exists(p)]
"""


def test_the_reference_and_its_equivalent_are_stubs_in_source_and_bytecode(sandbox):
    source = """
    def sigmoid_backward(dout, s):
        leaks = ["(1 - s)" in TEXT, "1 - t * t" in TEXT, any(b"(1 - s)" in c for c in COMPILED)]
        stubbed = TEXT.count("not available while grading") == 2
        try:
            A.sigmoid_backward(dout, s)
            called = True
        except RuntimeError:
            called = False
        return dout * 0 + (1 if stubbed and not any(leaks) and not called else 0)
    """
    exercise = dataclasses.replace(SIGMOID, expected=lambda dout, s: np.ones_like(dout))
    verdict = grade(sandbox, source, exercise, setup=[("setup", SETUP[0][1] + READ_STUBS)])
    assert verdict.passed, verdict
    # and the real file outside is untouched
    assert "(1 - s)" in Path(osbox.dlcourse_folder(), "functional", "activations.py").read_text()


def test_an_error_in_the_students_code_names_their_line_and_what_it_means(sandbox):
    source = """
    def sigmoid_backward(dout, s):
        grid = s.reshape(2, 2)
        return dout @ grid
    """
    verdict = grade(sandbox, source)
    assert not verdict.passed
    assert "raised ValueError: matmul" in verdict.reason
    assert "; at your cell sigmoid_backward, line 4: return dout @ grid" in verdict.reason
    assert verdict.reason.endswith("a missing or extra .T is the usual cause.")


def test_a_forbidden_package_is_not_importable_and_says_why(sandbox):
    verdict = grade(sandbox, "import torch\n\ndef sigmoid_backward(dout, s):\n    return 0\n")
    assert not verdict.passed
    assert "written by hand" in verdict.reason and "torch" in verdict.reason
    gradcheck = "from dlcourse.gradcheck import numerical_gradient\n"
    verdict = grade(sandbox, gradcheck + "def sigmoid_backward(dout, s):\n    return 0\n")
    assert "written by hand" in verdict.reason


def test_a_process_left_running_is_gone_before_the_next_job(sandbox):
    lurker = """
    import _posixsubprocess, os
    # a low-level start that no audit hook sees
    r, w = os.pipe()
    _posixsubprocess.fork_exec(["/bin/sleep", "60"], [b"/bin/sleep"], True, (), None, None,
        -1, -1, -1, -1, -1, -1, r, w, True, True, 0, None, None, None, -1, None, False)

    def sigmoid_backward(dout, s):
        return dout * s * (1 - s)
    """
    assert grade(sandbox, lurker).passed
    census = """
    import os
    KEPT = (1, os.getpid(), os.getppid())
    OTHERS = [p for p in os.listdir("/proc") if p.isdigit() and int(p) not in KEPT]

    def sigmoid_backward(dout, s):
        return dout * s * (1 - s) + len(OTHERS)
    """
    verdict = grade(sandbox, census)
    assert verdict.passed, verdict


def _bomb(path, megabytes):
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("c0.npy", "w", force_zip64=True) as entry:
            header = np.lib.format.header_data_from_array_1_0(np.zeros(1))
            header["shape"] = (megabytes * 131072,)
            np.lib.format.write_array_header_1_0(entry, header)
            block = bytes(1 << 20)
            for _ in range(megabytes):
                entry.write(block)


def test_an_answer_that_inflates_is_refused_before_it_is_read(tmp_path):
    _bomb(tmp_path / "result.npz", 300)
    assert (tmp_path / "result.npz").stat().st_size < 2_000_000
    tracemalloc.start()
    with pytest.raises(ValueError, match="larger than any answer"):
        _load_results(tmp_path, [np.zeros(4)])
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 20_000_000


def test_an_answer_planted_as_a_link_is_not_followed(tmp_path):
    target = tmp_path / "elsewhere.npz"
    np.savez(target, c0=np.zeros(4))
    (tmp_path / "result.npz").symlink_to(target)
    with pytest.raises(ValueError, match="a link"):
        _load_results(tmp_path, [np.zeros(4)])


def test_without_the_os_sandbox_every_record_says_so():
    from dlcourse.grading.student import SANDBOX_OS, Assignment, _record

    def record(os_sandbox):
        assignment = Assignment("a", Path("."), "", [("c", 1.0)], {}, b"s" * 16, [])
        assignment.os_sandbox = os_sandbox
        return _record(assignment, "student", "graded")

    assert record(True)["sandbox"] == SANDBOX_OS
    assert "in-process guard only" in record(False)["sandbox"]
