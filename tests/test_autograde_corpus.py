"""The autograder against its corpus: every submission gets the grade written down for it.

The corpus (``autograder/corpus/submissions.py``) holds correct, partial and
wrong submissions of 02-activations and 04-backprop, and every attack the
issue lists: patched NumPy, redefined checkers, an input transformer,
delegation to the library, the solution read from disk, duplicated, deleted
and edited cells, an infinite loop, a memory bomb, a process that exits or
kills its parent, an output flood, corrupt and empty files, no notebook.

Each assignment is graded once, by the real ``dlcourse autograde`` in its own
process (a submission that kills its parent must not take pytest with it),
with two workers, the real nbgrader and a gradebook in a temporary course
folder. Then one test per submission compares grades.csv, the record and the
gradebook with what the corpus expects. Run with ``-s`` to see the table.
"""

import csv
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAKE = ROOT / "autograder" / "corpus" / "make.py"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("nbgrader") is None,
        reason="needs nbgrader (pip install 'dlcourse[course]')",
    ),
    pytest.mark.skipif(
        importlib.util.find_spec("jupytext") is None,
        reason="needs jupytext to read solutions/ (pip install 'dlcourse[course]')",
    ),
]

# One assignment's corpus took about 6 minutes on a 2-core machine shared by other work.
GRADING_TIMEOUT_S = 900


def _load_make():
    spec = importlib.util.spec_from_file_location("dlcourse_corpus_make", MAKE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make = _load_make()
SUBMISSIONS = make.load_submissions().SUBMISSIONS
ASSIGNMENTS = sorted({s.assignment for s in SUBMISSIONS})


def _course_dir(folder):
    """A fresh nbgrader course folder: the course's config and checks, no gradebook yet."""
    folder.mkdir()
    shutil.copy2(ROOT / "autograder" / "nbgrader_config.py", folder / "nbgrader_config.py")
    shutil.copytree(ROOT / "autograder" / "checks", folder / "checks")
    return folder


def _autograde(assignment, submitted, out, course):
    # nbgrader calls alembic through PATH: put this interpreter's scripts first.
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    command = [sys.executable, "-m", "dlcourse", "autograde", assignment]
    command += ["--submitted", str(submitted), "--out", str(out), "--course-dir", str(course)]
    command += ["--workers", "2", "--quiet"]
    # A session of its own, so that a hung grader is stopped with all its workers.
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=GRADING_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        return (
            f"dlcourse autograde {assignment} did not finish in {GRADING_TIMEOUT_S} s "
            f"(one submission stopped the batch?):\n{stderr[-3000:]}"
        )
    if process.returncode != 0:
        return (
            f"dlcourse autograde {assignment} exited with {process.returncode}:\n"
            f"{stdout[-3000:]}\n{stderr[-5000:]}"
        )
    return None


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Grade each assignment's corpus once.

    Returns {assignment: (csv rows, records, gradebook scores)}, or {assignment: message}
    when the grader failed or hung on it, so that only that assignment's tests fail.
    """
    from nbgrader.api import Gradebook

    base = tmp_path_factory.mktemp("corpus")
    course = _course_dir(base / "course")
    results = {}
    for assignment in ASSIGNMENTS:
        submitted = base / "submitted" / assignment
        make.write_corpus(submitted, assignment=assignment)
        out = base / "out" / assignment
        failure = _autograde(assignment, submitted, out, course)
        if failure is not None:
            results[assignment] = failure
            continue
        with open(out / "grades.csv", newline="", encoding="utf-8") as f:
            rows = {row["student_id"]: row for row in csv.DictReader(f)}
        records = {
            path.stem: json.loads(path.read_text(encoding="utf-8"))
            for path in (out / "records").glob("*.json")
        }
        scores = {}
        with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
            for submission in gb.assignment_submissions(assignment):
                for notebook in submission.notebooks:
                    for grade in notebook.grades:
                        scores.setdefault(submission.student.id, {})[grade.name] = grade.score
        results[assignment] = (rows, records, scores)
    results["course"] = course
    return results


def _matches(pattern, text):
    return re.search(pattern, text or "", re.IGNORECASE | re.DOTALL) is not None


def _tampering(record):
    """grade_ids whose in-kernel check passed while the verified one failed, and flagged."""
    found = set()
    for exercise in record["exercises"]:
        in_kernel = exercise["in_kernel"]
        suspicious = in_kernel is not None and in_kernel > exercise["points"]
        named = any(exercise["grade_id"] in flag for flag in record["flags"])
        if exercise["disagrees"] and suspicious and named:
            found.add(exercise["grade_id"])
    return found


@pytest.mark.parametrize("submission", SUBMISSIONS, ids=[s.student_id for s in SUBMISSIONS])
def test_submission_gets_its_expected_grade(graded, submission):
    result = graded[submission.assignment]
    assert not isinstance(result, str), result
    rows, records, scores = result
    sid = submission.student_id

    # grades.csv: the total and every graded cell's column
    assert sid in rows, f"{sid} is missing from grades.csv (students: {sorted(rows)})"
    row = rows[sid]
    assert float(row["score"]) == submission.score, f"{submission.description} {row}"
    for gid, points in submission.points.items():
        assert float(row[gid]) == points, f"{gid}: {submission.description} {row}"

    # the record: status, points, flags and the words of the feedback
    record = records[sid]
    assert record["status"] == submission.status, record
    assert record["score"] == submission.score
    got_points = {e["grade_id"]: e["points"] for e in record["exercises"]}
    assert got_points == submission.points, record
    assert _tampering(record) == set(submission.flags), record["flags"]
    by_id = {e["grade_id"]: e for e in record["exercises"]}
    for gid, pattern in submission.diagnosis.items():
        assert _matches(pattern, by_id[gid]["diagnosis"]), (gid, pattern, by_id[gid])
    for gid, pattern in submission.reason.items():
        text = record["reason"] if gid == "" else by_id[gid]["reason"]
        assert _matches(pattern, text), (gid, pattern, record if gid == "" else by_id[gid])
    for gid, points in submission.points.items():
        if points == 0 and submission.status == "graded":  # a lost point is always explained
            assert by_id[gid]["diagnosis"] or by_id[gid]["reason"], by_id[gid]

    # nbgrader's gradebook holds the verified scores
    assert scores.get(sid) == submission.points, f"gradebook: {scores.get(sid)}"


def test_corpus_table(graded):
    """Print submission | expected | got, and check the corpus is as big as the issue asks."""
    lines = [f"{'submission':24s} {'expected':>9s} {'got':>6s}  what the student did"]
    for submission in SUBMISSIONS:
        result = graded[submission.assignment]
        rows = {} if isinstance(result, str) else result[0]
        got = rows.get(submission.student_id, {}).get("score", "-")
        lines.append(
            f"{submission.student_id:24s} {submission.score:9g} {got:>6s}  {submission.description}"
        )
    print("\n" + "\n".join(lines))
    assert len(SUBMISSIONS) >= 24 and len(ASSIGNMENTS) >= 2
    for assignment in ASSIGNMENTS:
        assert not isinstance(graded[assignment], str), graded[assignment]
        assert set(graded[assignment][0]) == {
            s.student_id for s in SUBMISSIONS if s.assignment == assignment
        }


PLANTED = ("numpy.py", "sitecustomize.py", "dlcourse_checks_02_activations.py")


def test_attacks_left_no_mark_on_the_grader(graded):
    """The planter and the lurker of the corpus changed nothing outside their sandboxes."""
    import sqlite3

    course = graded["course"]
    for folder in (ROOT, ROOT / "autograder", course, course / "checks", Path("/tmp")):
        planted = [name for name in PLANTED if (folder / name).exists()]
        assert not planted, f"{folder} has {planted}"
    for name in ("02-activations.py", "04-backprop.py"):
        shipped = (ROOT / "autograder" / "checks" / name).read_text(encoding="utf-8")
        assert (course / "checks" / name).read_text(encoding="utf-8") == shipped
    with sqlite3.connect(course / "gradebook.db") as db:
        odd = db.execute("SELECT name FROM sqlite_master WHERE type IN ('trigger', 'view')")
        assert odd.fetchall() == []
