"""Limits decide points by CPU time, never by how busy the machine is.

One batch of the small course, graded by the real ``dlcourse autograde``:
"loops" never returns from ``relu_backward`` (stopped by its CPU seconds),
"slow" sleeps past the first wall-clock limit but not the second, so it is
run again and keeps its points, and "asleep" never wakes (stopped twice by
the wall clock: zero, with a reason that says it waits). The same batch is
graded again while processes hog every core, and grades.csv must not change.
The checks give each exercise 1 s of CPU, so the wall clock stops a job
after 13 s and, run again, after 26 s.
"""

import subprocess
import sys
from pathlib import Path

import pytest

from grading_course import CORRECT, HALF, autograde, make_course, notebook, put, records, sleepy

pytestmark = pytest.mark.slow

FIRST_WALL_S, SECOND_WALL_S = 13, 26  # verify.wall_limit of 1 s of CPU, then twice that
LOOPS = {**CORRECT, "relu_backward": "def relu_backward(dout, x):\n    while True:\n        pass\n"}


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    from dlcourse.grading.osbox import probe

    if probe() is not None:
        pytest.skip(f"needs a working bubblewrap sandbox: {probe()}")
    base = tmp_path_factory.mktemp("limits")
    course, solutions, release = make_course(base)
    checks = next((course / "checks").glob("*.py"))
    checks.write_text(checks.read_text().replace("timeout_s=3", "timeout_s=1"))
    submitted = base / "submitted"
    students = {
        "right": CORRECT,
        "half": HALF,
        "loops": LOOPS,
        "slow": sleepy(CORRECT, 18),
        "asleep": sleepy(CORRECT, 600),
    }
    for student, cells in students.items():
        put(submitted, student, notebook(release, cells))
    quiet = autograde(
        course, solutions, submitted, base / "quiet", "--workers", "2", "--in-kernel", "none"
    )
    hogs = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(4)
    ]  # two busy processes per core of this machine's two
    try:
        busy = autograde(
            course, solutions, submitted, base / "busy", "--workers", "2", "--in-kernel", "none"
        )
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    return base, quiet, busy


def _points(out, student):
    return {e["grade_id"]: e["points"] for e in records(out)[student]["exercises"]}


def _exercise(out, student, grade_id):
    return next(e for e in records(out)[student]["exercises"] if e["grade_id"] == grade_id)


def test_both_runs_succeed(batch):
    _, quiet, busy = batch
    assert quiet.returncode == 0, quiet.stderr[-3000:]
    assert busy.returncode == 0, busy.stderr[-3000:]


def test_a_busy_machine_gives_the_same_grades(batch):
    base, _, _ = batch
    quiet = (base / "quiet" / "grades.csv").read_bytes()
    assert quiet == (base / "busy" / "grades.csv").read_bytes()
    assert _points(base / "quiet", "right") == {"check_double": 1.0, "check_relu_backward": 2.0}


def test_an_endless_loop_is_stopped_by_its_cpu_seconds(batch):
    base, _, _ = batch
    entry = _exercise(base / "quiet", "loops", "check_relu_backward")
    assert (entry["points"], entry["limit"]) == (0.0, "cpu")
    assert "of CPU" in entry["reason"]
    assert _exercise(base / "quiet", "loops", "check_double")["points"] == 1.0


def test_code_stopped_once_by_the_wall_clock_is_run_again_and_keeps_its_points(batch):
    base, _, _ = batch
    for out in ("quiet", "busy"):
        entry = _exercise(base / out, "slow", "check_double")
        assert (entry["points"], entry["limit"], entry["reason"]) == (1.0, None, None), out


def test_code_that_never_wakes_loses_its_points_and_is_told_it_waits(batch):
    base, _, _ = batch
    entry = _exercise(base / "quiet", "asleep", "check_double")
    assert (entry["points"], entry["limit"]) == (0.0, "wall")
    assert f"{FIRST_WALL_S} s, nor in {SECOND_WALL_S} s" in entry["reason"]
    assert "time.sleep" in entry["reason"]


def test_the_summary_lists_every_exercise_a_limit_scored_zero(batch):
    _, quiet, _ = batch
    summary = quiet.stdout[quiet.stdout.index("scored 0 by a limit") :]
    assert summary.startswith("scored 0 by a limit (2):")
    assert "loops: check_relu_backward: cpu:" in summary
    assert "asleep: check_double: wall:" in summary
    assert "slow" not in summary and "right" not in summary


def test_records_with_an_unknown_limit_are_refused():
    from dlcourse.grading.batch import _exercise_problem

    entry = {
        "grade_id": "g",
        "points": 0.0,
        "max_points": 1.0,
        "verified": False,
        "disagrees": False,
        "in_kernel": None,
        "diagnosis": None,
        "reason": "x",
    }
    assert _exercise_problem({**entry, "limit": "cpu"}, "g", 1) is None
    assert _exercise_problem({**entry, "limit": None}, "g", 1) is None
    assert "limit" in _exercise_problem({**entry, "limit": "patience"}, "g", 1)


def test_the_submission_limit_leaves_room_for_every_second_run():
    from dlcourse.grading.batch import BASE_LIMIT_S, default_limit
    from dlcourse.grading.checks import load_exercises
    from dlcourse.grading.student import Assignment
    from dlcourse.grading.verify import wall_limit

    root = Path(__file__).resolve().parents[1] / "autograder"
    assignment = Assignment("02-activations", root, "", [], {}, b"", [])
    exercises = load_exercises(root, "02-activations").values()
    assert default_limit(assignment) == BASE_LIMIT_S + sum(3 * wall_limit(e) for e in exercises)
