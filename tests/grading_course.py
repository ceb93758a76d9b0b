"""A tiny nbgrader course in a temporary folder, for the grading tests that run the real thing.

It is the two-exercise assignment of ``test_grading_autograde`` (its own
solutions/ and course folder), plus helpers to write submissions and to run
``dlcourse autograde`` as a process of its own.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

from test_grading_autograde import ASSIGNMENT, CHECKS, GOOD_DOUBLE, GOOD_RELU, SOLUTION

ROOT = Path(__file__).resolve().parents[1]
CORRECT = {"double": GOOD_DOUBLE, "relu_backward": GOOD_RELU}  # 3 points
HALF = {"double": "def double(x):\n    return x + 2\n", "relu_backward": GOOD_RELU}  # 2 points


def process_fields():
    """``{pid: fields of /proc/PID/stat after the name}`` of every live process."""
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    found[int(entry)] = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
    return found


def make_course(base):
    """``(course, solutions, release_text)`` of a fresh course under ``base``."""
    from dlcourse.grading.coursedir import ensure_source

    base = Path(base)
    solutions, course = base / "solutions", base / "course"
    solutions.mkdir(parents=True)
    (solutions / f"{ASSIGNMENT}.py").write_text(SOLUTION, encoding="utf-8")
    (course / "checks").mkdir(parents=True)
    (course / "checks" / f"{ASSIGNMENT}.py").write_text(CHECKS, encoding="utf-8")
    ensure_source(ASSIGNMENT, course, solutions)
    release = (course / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_text()
    return course, solutions, release


def notebook(release, cells):
    """The student version with the solution cells ``cells`` (grade_id -> source), as text."""
    nb = json.loads(release)
    for cell in nb["cells"]:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if gid in cells:
            cell["source"] = cells[gid]
    return json.dumps(nb)


def sleepy(cells, seconds):
    """``cells`` whose double() cell first sleeps ``seconds`` (in the kernel and the sandbox)."""
    return {**cells, "double": f"import time\ntime.sleep({seconds})\n" + cells["double"]}


def put(submitted, student, text):
    """Write ``text`` as ``student``'s notebook in nbgrader's layout; return its path."""
    folder = Path(submitted) / student / ASSIGNMENT  # a non-UTF-8 id: surrogateescape str
    folder.mkdir(parents=True)
    path = folder / f"{ASSIGNMENT}.ipynb"
    path.write_text(text, encoding="utf-8")
    return path


def env():
    """This environment, with the venv's scripts first on PATH (nbgrader calls alembic)."""
    variables = dict(os.environ)
    variables["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), variables["PATH"]])
    return variables


def autograde_command(course, solutions, submitted, out, *extra):
    command = [sys.executable, "-m", "dlcourse", "autograde", ASSIGNMENT]
    command += ["--submitted", str(submitted), "--out", str(out), "--course-dir", str(course)]
    return command + ["--solutions", str(solutions), "--quiet", *extra]


def autograde(course, solutions, submitted, out, *extra, timeout=600):
    """Run ``dlcourse autograde`` to the end; the CompletedProcess."""
    return subprocess.run(
        autograde_command(course, solutions, submitted, out, *extra),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env=env(),
    )


def records(out):
    """``{student_id: record}`` of ``out/records`` (by the id inside, not the file name)."""
    found = {}
    for path in (Path(out) / "records").glob("*.json"):
        record = json.loads(path.read_text(encoding="utf-8"))
        found[record["student_id"]] = record
    return found
