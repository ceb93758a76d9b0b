"""The course's commands as a user types them: dlcourse build, check, book and start.

Each test runs the installed ``dlcourse`` script in a fresh process, on the
sample chapter of ``test_course_samples`` or on chapter 01, and checks the exit
status, what is printed, and that files that must stay untouched do.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from test_course_samples import ROOT, SAMPLE_NAME, write_sample

CHAPTER = "01-dense-layer"
STUDENT = ROOT / "course" / f"{CHAPTER}.ipynb"


def _command():
    script = shutil.which("dlcourse", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "dlcourse.cli"]


def dlcourse(*args, cwd=None, timeout=300):
    """Run ``dlcourse ARGS``; return the CompletedProcess (text, both streams captured)."""
    return subprocess.run(
        [*_command(), *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def _needs(module, what):
    pytest.importorskip(module, reason=f"{what} needs {module} (extra 'course')")


def test_help_lists_the_course_commands():
    done = dlcourse("--help")
    assert done.returncode == 0
    for command in ("build", "check", "book", "start"):
        assert command in done.stdout


def test_course_modules_import_nothing_heavy():
    # `dlcourse --help` imports every command module: they must stay cheap to import.
    modules = [
        "dlcourse.cli",
        *(f"dlcourse.course.{m}" for m in ("book", "build", "cells", "check", "execute", "lab")),
        *(f"dlcourse.course.{m}" for m in ("leaks", "lint", "manifest", "normalise", "paths")),
        *(f"dlcourse.course.{m}" for m in ("release", "source")),
        *(f"dlcourse.course.commands.{m}" for m in ("book", "build", "check", "start")),
    ]
    heavy = ["nbgrader", "nbclient", "nbconvert", "jupytext", "jupyterlab", "jupyter_server"]
    heavy += ["torch", "tensorflow", "jax", "matplotlib", "sklearn"]
    script = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        f"print(sorted({{n.split('.')[0] for n in sys.modules}} & set({heavy!r})))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", f"imported at module level: {done.stdout}"


# --- dlcourse build ------------------------------------------------------------------------


@pytest.fixture
def sample_course(tmp_path):
    """Options that point ``dlcourse build`` at the sample chapter in ``tmp_path``."""
    _needs("nbgrader", "dlcourse build")
    write_sample(tmp_path / "solutions")
    options = [
        f"--solutions={tmp_path / 'solutions'}",
        f"--course={tmp_path / 'course'}",
        f"--build-dir={tmp_path / 'build'}",
    ]
    return tmp_path, options


@pytest.fixture
def built_sample(sample_course):
    """The sample course, already built once (in this process: quicker than the command)."""
    from dlcourse.course.build import build_course
    from test_course_samples import sample_layout

    tmp_path, _ = sample_course
    assert build_course(sample_layout(tmp_path)).ok
    return sample_course


def test_build_writes_the_student_notebook_and_says_so(sample_course):
    tmp_path, options = sample_course
    done = dlcourse("build", *options)
    assert done.returncode == 0, done.stderr
    notebook = tmp_path / "course" / f"{SAMPLE_NAME}.ipynb"
    assert f"written  {notebook}" in done.stdout
    assert "raise NotImplementedError()" in notebook.read_text(encoding="utf-8")
    assert (tmp_path / "build" / "release" / SAMPLE_NAME).is_dir()


def test_build_refuses_a_hand_edit_until_told_then_backs_it_up(built_sample):
    tmp_path, options = built_sample
    notebook = tmp_path / "course" / f"{SAMPLE_NAME}.ipynb"
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    nb["cells"][0]["source"] = ["my notes"]
    notebook.write_text(json.dumps(nb), encoding="utf-8")
    edited = notebook.read_bytes()

    refused = dlcourse("build", *options)
    assert refused.returncode == 1
    assert notebook.read_bytes() == edited
    assert "dlcourse build --backup" in refused.stdout
    assert "not built: 98-sample" in refused.stderr

    backed_up = dlcourse("build", "--backup", *options)
    assert backed_up.returncode == 0, backed_up.stderr
    (saved,) = (tmp_path / "course" / ".backups").iterdir()
    assert saved.read_bytes() == edited
    assert f"previous version kept in {saved}" in backed_up.stdout
    assert notebook.read_bytes() != edited


def test_build_fails_loudly_on_a_leaked_solution(built_sample):
    tmp_path, options = built_sample
    shutil.copy(tmp_path / "solutions" / f"{SAMPLE_NAME}.py", tmp_path / "course")
    done = dlcourse("build", *options)
    assert done.returncode == 1
    assert "SOLUTIONS LEAKED" in done.stderr
    assert f"{SAMPLE_NAME}.py is a copy of a solution file" in done.stderr


def test_build_of_an_unknown_chapter_names_the_known_ones(sample_course):
    _, options = sample_course
    done = dlcourse("build", "42-nope", *options)
    assert done.returncode == 1
    assert "no solution file for 42-nope" in done.stderr and SAMPLE_NAME in done.stderr


# --- dlcourse check ------------------------------------------------------------------------


def _check(path):
    _needs("nbclient", "dlcourse check")
    before = Path(path).read_bytes()
    done = dlcourse("check", path)
    assert Path(path).read_bytes() == before, "dlcourse check must not modify the notebook"
    return done


def _lines(report, check):
    """The report's line for ``check`` and the explanation lines under it."""
    lines = report.splitlines()
    (start,) = [i for i, line in enumerate(lines) if f"  {check} " in line]
    end = start + 1
    while end < len(lines) and lines[end].startswith("        "):
        end += 1
    return "\n".join(lines[start:end])


def test_check_passes_the_solved_notebook():
    _needs("jupytext", "dlcourse check on a solutions .py file")
    done = _check(ROOT / "solutions" / f"{CHAPTER}.py")  # the instructor's, solved, version
    assert done.returncode == 0, done.stdout + done.stderr
    assert "FAIL" not in done.stdout
    assert "PASS  check_dense_forward_by_hand" in done.stdout
    assert "3 of 3 visible checks passed, 6 of 6 points" in done.stdout


def test_check_fails_the_student_notebook_at_its_first_exercise():
    done = _check(STUDENT)
    assert done.returncode == 1
    first = _lines(done.stdout, "check_dense_forward_by_hand")
    assert first.lstrip().startswith("FAIL")
    assert "[dense_forward]" in first and "NotImplementedError" in first
    assert "0 of 3 visible checks passed" in done.stdout


def test_check_explains_a_transposed_weight_matrix(tmp_path):
    nb = json.loads(STUDENT.read_text(encoding="utf-8"))
    (cell,) = [c for c in nb["cells"] if c.get("id") == "dense_forward"]
    source = "".join(cell["source"])
    stub = "    # YOUR CODE HERE\n    raise NotImplementedError()"
    assert stub in source
    cell["source"] = source.replace(stub, "    return x @ w.T + b, (x, w)")  # the mistake
    wrong = tmp_path / f"{CHAPTER}.ipynb"
    wrong.write_text(json.dumps(nb), encoding="utf-8")

    done = _check(wrong)
    assert done.returncode == 1
    by_hand = _lines(done.stdout, "check_dense_forward_by_hand")
    assert by_hand.lstrip().startswith("FAIL")
    assert "AssertionError: out differs" in by_hand  # dlcourse.diagnose's diagnosis ...
    assert "w is used transposed" in by_hand  # ... and the chapter's named mistake
    assert "FAIL  check_compose_dense" in done.stdout


def _graded_notebook(path, *sources):
    """Write a notebook whose cells are grade cells check_1, check_2 ... with ``sources``."""
    nbformat = pytest.importorskip("nbformat", reason="writing a notebook needs nbformat")
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    for number, source in enumerate(sources, 1):
        meta = {"grade": True, "grade_id": f"check_{number}", "points": 1, "locked": True}
        nb.cells.append(nbformat.v4.new_code_cell(source, metadata={"nbgrader": meta}))
    nbformat.write(nb, path)
    return path


def test_check_reports_a_cell_that_kills_the_kernel(tmp_path):
    path = _graded_notebook(tmp_path / "dies.ipynb", "import os\nos._exit(3)", "x = 1")
    done = _check(path)
    assert done.returncode == 1
    assert "could not run to the end" in done.stdout
    assert "kernel died while running this cell" in _lines(done.stdout, "check_1")
    assert "did not run" in _lines(done.stdout, "check_2")


def test_check_stops_a_cell_that_runs_past_the_timeout(tmp_path):
    _needs("nbclient", "dlcourse check")
    path = _graded_notebook(tmp_path / "slow.ipynb", "import time\ntime.sleep(60)", "x = 1")
    started = time.monotonic()
    done = dlcourse("check", "--timeout", "3", path)
    assert time.monotonic() - started < 45
    assert done.returncode == 1
    assert "ran past the time limit" in _lines(done.stdout, "check_1")
    assert _lines(done.stdout, "check_2").lstrip().startswith("PASS")


def test_a_missing_course_extra_is_named_with_its_install_command():
    from dlcourse.course.commands._extra import missing

    assert missing("check", "json") is None
    message = missing("check", "json", "no_such_module_for_dlcourse")
    assert "dlcourse check needs no_such_module_for_dlcourse" in message
    assert ".[course]" in message


def test_check_rejects_a_file_that_is_not_a_notebook(tmp_path):
    missing = dlcourse("check", tmp_path / "nope.ipynb")
    assert missing.returncode == 2 and "not a notebook file" in missing.stderr
    _needs("nbclient", "dlcourse check")
    broken = tmp_path / "broken.ipynb"
    broken.write_text("{ not json", encoding="utf-8")
    done = dlcourse("check", broken)
    assert done.returncode == 2 and f"cannot read {broken}" in done.stderr


# --- dlcourse book -------------------------------------------------------------------------


def test_book_renders_a_site_with_contents(tmp_path):
    _needs("nbconvert", "dlcourse book")
    _needs("nbclient", "dlcourse book")
    write_sample(tmp_path / "solutions")
    out = tmp_path / "site"
    done = dlcourse("book", "--solutions", tmp_path / "solutions", "--out", out)
    assert done.returncode == 0, done.stdout + done.stderr
    index = (out / "index.html").read_text(encoding="utf-8")
    assert f'<a href="{SAMPLE_NAME}.html">98. A sample chapter</a>' in index
    page = (out / f"{SAMPLE_NAME}.html").read_text(encoding="utf-8")
    assert "<title>98. A sample chapter</title>" in page
    assert "the-sample-solution" in page  # the worked solution is shown ...
    assert "BEGIN SOLUTION" not in page  # ... without nbgrader's markers


# --- dlcourse start ------------------------------------------------------------------------


def _free_port():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _read_url(stream, deadline):
    """Read lines from ``stream`` until the URL line appears (in a thread: readline blocks)."""
    found, seen = [], []

    def reader():
        for line in stream:
            seen.append(line)
            if "token=" in line:
                found.append(line.split()[-1])
                return

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    thread.join(max(0.0, deadline - time.monotonic()))
    return (found[0] if found else None), "".join(seen)


def _status(url, token=None):
    headers = {"Authorization": f"token {token}"} if token else {}
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, None


def _processes_mentioning(text):
    """Process ids whose command line contains ``text`` (Linux's /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:  # not a process, or it ended meanwhile
            continue
        if text.encode() in cmdline:
            found.append(int(entry.name))
    return found


def _start_kernel(port, token, runtime_dir):
    """Start a kernel through the server, as opening a notebook does; return its id once
    it listens (a kernel stopped while still importing prints a KeyboardInterrupt)."""
    import socket

    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/kernels",
        data=json.dumps({"name": "python3"}).encode(),
        headers={"Authorization": f"token {token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        kernel = json.loads(response.read())["id"]
    connection = json.loads((Path(runtime_dir) / f"kernel-{kernel}.json").read_text())
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection((connection["ip"], connection["shell_port"]), 1).close()
            return kernel
        except OSError:
            time.sleep(0.25)
    raise AssertionError(f"kernel {kernel} did not listen on its shell port in 60 s")


def test_start_serves_the_course_on_loopback_and_stops_on_ctrl_c(tmp_path):
    _needs("jupyterlab", "dlcourse start")
    if not Path("/proc/self/cmdline").is_file():
        pytest.skip("finding the kernel's process needs Linux's /proc")
    port = _free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "JUPYTER_RUNTIME_DIR": str(tmp_path)}
    process = subprocess.Popen(
        [*_command(), "start", "--no-browser", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url, output = _read_url(process.stdout, time.monotonic() + 120)
        assert url, f"no URL printed within 120 s; output:\n{output}"
        assert url.startswith(f"http://127.0.0.1:{port}/lab?token=")
        token = url.split("token=", 1)[1]

        status, body = _status(f"http://127.0.0.1:{port}/api/status", token)
        assert status == 200 and "started" in body
        assert _status(f"http://127.0.0.1:{port}/api/status")[0] == 403  # the token is required
        kernel = _start_kernel(port, token, tmp_path)
        assert _processes_mentioning(f"kernel-{kernel}.json"), "no kernel process found"

        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
        rest = process.stdout.read()
    finally:
        if process.poll() is None:  # a failed assertion: stop it the polite way first,
            process.terminate()  # so that it stops JupyterLab (in its own session) too
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    assert "JupyterLab stopped." in rest
    assert "Traceback" not in output + rest
    assert not _processes_mentioning(f"kernel-{kernel}.json"), "the kernel outlived the server"
    # A clean shutdown removes the server's and the kernel's runtime files; a killed
    # server leaves them behind (its kernel still exits, when it sees its parent gone).
    assert not list(tmp_path.glob("kernel-*.json")), "the kernel was not shut down cleanly"
    assert not list(tmp_path.glob("jpserver-*.json")), "JupyterLab did not shut down cleanly"
    with pytest.raises(urllib.error.URLError):  # the server is gone, not just the command
        urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=5)


def test_start_names_a_missing_course_folder(tmp_path):
    _needs("jupyterlab", "dlcourse start")
    done = dlcourse("start", "--no-browser", "--course", tmp_path / "nope", timeout=60)
    assert done.returncode == 1
    assert f"{tmp_path / 'nope'} does not exist" in done.stderr
    assert "dlcourse build" in done.stderr


def test_start_refuses_a_port_in_use():
    _needs("jupyterlab", "dlcourse start")
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = dlcourse("start", "--no-browser", "--port", port, cwd=ROOT, timeout=60)
    assert done.returncode == 1
    assert f"port {port} is in use" in done.stderr and "--port N" in done.stderr


def test_outside_a_checkout_dlcourse_says_which_course_folder_it_uses(tmp_path):
    from dlcourse.course.paths import find_root

    root = find_root()
    code = "from dlcourse.course.paths import find_root\nprint(find_root())\nfind_root()\n"
    outside = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True
    )
    assert outside.stdout.strip() == str(root)
    told = [line for line in outside.stderr.splitlines() if "not inside a course checkout" in line]
    assert told == [
        f"dlcourse: {tmp_path.resolve()} is not inside a course checkout; using {root}, "
        f"the one dlcourse is installed from"
    ]
    inside = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True)
    assert inside.stdout.strip() == str(root) and "checkout" not in inside.stderr
