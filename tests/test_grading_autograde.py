"""``dlcourse autograde`` end to end: real nbgrader, real gradebook, real worker processes.

A tiny two-exercise assignment (its own solutions/ and course folder in a
temporary directory, so the test stays fast) is graded twice with
``--workers 2``: once into an empty results folder, once again (with
nbgrader's pass on the nbgrader cells only) to check that the first results
are backed up and the grades are identical.
"""

import csv
import json
import os
import stat
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("nbgrader", reason="dlcourse autograde drives nbgrader")
pytest.importorskip("jupytext", reason="the source notebook is built from a jupytext file")

ASSIGNMENT = "90-tiny"


def _header(grade_id, *, grade=False, solution=False, points=None):
    meta = {"grade": grade, "grade_id": grade_id, "locked": not solution}
    meta.update({"schema_version": 3, "solution": solution})
    if points is not None:
        meta["points"] = points
    return "# %% nbgrader=" + json.dumps(meta)


SOLUTION = f"""\
# %% [markdown]
# # 90. A tiny assignment for the grader's tests. This notebook is worth 3 points.

{_header("setup")}
import numpy as np
from dlcourse import functional as F

{_header("double", solution=True)}
def double(x):
    ### BEGIN SOLUTION
    return 2 * x
    ### END SOLUTION

{_header("check_double", grade=True, points=1)}
assert np.allclose(double(np.arange(3.0)), [0.0, 2.0, 4.0])

{_header("relu_backward", solution=True)}
def relu_backward(dout, x):
    ### BEGIN SOLUTION
    return dout * (x > 0)
    ### END SOLUTION

{_header("check_relu_backward", grade=True, points=2)}
x = np.array([-1.0, 2.0, 3.0])
assert np.allclose(relu_backward(np.ones(3), x), F.relu_backward(np.ones(3), x))
"""

CHECKS = """\
import numpy as np

from dlcourse import functional as F
from dlcourse.grading.spec import Exercise

EXERCISES = [
    Exercise(
        grade_id="check_double",
        solution=("double",),
        call="double(x)",
        expected=lambda x: 2 * x,
        inputs=lambda rng: [{"x": rng.standard_normal((3, 4))}, {"x": rng.standard_normal(5)}],
        names={"": "the doubled x"},
        timeout_s=3,
        memory_mb=1024,
    ),
    Exercise(
        grade_id="check_relu_backward",
        solution=("relu_backward",),
        call="relu_backward(dout, x)",
        expected=lambda dout, x: F.relu_backward(dout, x),
        inputs=lambda rng: [{"dout": rng.standard_normal(6), "x": rng.standard_normal(6)}],
        hidden=("dlcourse.functional:relu_backward",),
        names={"": "dx"},
        timeout_s=3,
        memory_mb=1024,
    ),
]
"""

GOOD_DOUBLE = "def double(x):\n    return x * 2\n"
GOOD_RELU = "def relu_backward(dout, x):\n    return dout * (x > 0)\n"
STUDENT_CELLS = {
    "s01": {"double": GOOD_DOUBLE, "relu_backward": GOOD_RELU},  # all correct: 3
    "s02": {"double": "def double(x):\n    return x + 2\n", "relu_backward": GOOD_RELU},  # 2
    # delegation to the hidden reference: passes in the kernel, fails verified
    "s03": {
        "double": GOOD_DOUBLE,
        "relu_backward": "def relu_backward(dout, x):\n    return F.relu_backward(dout, x)\n",
    },
    # a patched np.allclose fools the in-kernel check, not the verification
    "s04": {
        "double": "np.allclose = lambda *a, **k: True\ndef double(x):\n    return x\n",
        "relu_backward": GOOD_RELU,
    },
}
EXPECTED_SCORES = {"s01": 3.0, "s02": 2.0, "s03": 1.0, "s04": 2.0, "s05": 0.0, "s06": 3.0}


def _cell_notebook(release_text, cells):
    nb = json.loads(release_text)
    for cell in nb["cells"]:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if gid in cells:
            cell["source"] = cells[gid]
    return nb


def _put(submitted, student, text):
    folder = submitted / student / ASSIGNMENT
    folder.mkdir(parents=True)
    (folder / f"{ASSIGNMENT}.ipynb").write_text(text, encoding="utf-8")


def _autograde(course, solutions, submitted, out, *extra):
    command = [sys.executable, "-m", "dlcourse", "autograde", ASSIGNMENT]
    command += ["--submitted", str(submitted), "--out", str(out), "--course-dir", str(course)]
    command += ["--solutions", str(solutions), "--workers", "2", "--quiet", *extra]
    return subprocess.run(command, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Two autograde runs of six students into one results folder (full, then graded)."""
    from dlcourse.grading.coursedir import ensure_source

    base = tmp_path_factory.mktemp("autograde")
    solutions, course, submitted, out = (base / n for n in ("solutions", "course", "sub", "out"))
    solutions.mkdir()
    (solutions / f"{ASSIGNMENT}.py").write_text(SOLUTION, encoding="utf-8")
    (course / "checks").mkdir(parents=True)
    (course / "checks" / f"{ASSIGNMENT}.py").write_text(CHECKS, encoding="utf-8")
    ensure_source(ASSIGNMENT, course, solutions)
    release = (course / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_text()

    for student, cells in STUDENT_CELLS.items():
        _put(submitted, student, json.dumps(_cell_notebook(release, cells)))
    _put(submitted, "s05", '{"cells": [ {"cell_type": "code", "sour')  # corrupt JSON
    duplicated = _cell_notebook(release, STUDENT_CELLS["s01"])
    copied = next(c for c in duplicated["cells"] if "grade_id" in str(c.get("metadata")))
    duplicated["cells"].append(dict(copied))  # a copied cell: same id, same grade_id
    _put(submitted, "s06", json.dumps(duplicated))

    first = _autograde(course, solutions, submitted, out, "--in-kernel", "full")
    first_csv = (out / "grades.csv").read_text() if (out / "grades.csv").exists() else ""
    # The second run (the default) passes nbgrader only the nbgrader cells: the grades must
    # not change.
    second = _autograde(course, solutions, submitted, out)
    return {
        "course": course,
        "out": out,
        "runs": (first, second),
        "first_csv": first_csv,
    }


def _records(out):
    return {p.stem: json.loads(p.read_text()) for p in (out / "records").glob("*.json")}


def test_both_runs_succeed(graded):
    for run in graded["runs"]:
        assert run.returncode == 0, run.stderr[-3000:]


def test_scores_are_the_verified_ones(graded):
    rows = list(csv.DictReader((graded["out"] / "grades.csv").open()))
    assert list(rows[0]) == [
        "student_id",
        "assignment",
        "score",
        "max_score",
        "check_double",
        "check_relu_backward",
        "verified_score",
        "human_overrides",
    ]
    assert {r["student_id"]: float(r["score"]) for r in rows} == EXPECTED_SCORES
    assert all(r["verified_score"] == r["score"] and r["human_overrides"] == "" for r in rows)
    assert all(float(r["max_score"]) == 3.0 for r in rows)


def test_tampering_and_delegation_are_flagged(graded):
    records = _records(graded["out"])
    delegated = {e["grade_id"]: e for e in records["s03"]["exercises"]}["check_relu_backward"]
    assert delegated["in_kernel"] == 2.0 and delegated["points"] == 0.0
    assert delegated["disagrees"] and "not available while grading" in delegated["reason"]
    patched = {e["grade_id"]: e for e in records["s04"]["exercises"]}["check_double"]
    assert patched["in_kernel"] == 1.0 and patched["points"] == 0.0
    assert any("or tampering with the notebook's checks" in f for f in records["s04"]["flags"])
    assert patched["diagnosis"] and "the doubled x" in patched["diagnosis"]


def test_a_corrupt_notebook_is_unreadable_and_the_rest_is_graded(graded):
    records = _records(graded["out"])
    assert records["s05"]["status"] == "unreadable"
    assert "JSON" in records["s05"]["reason"]
    assert records["s01"]["status"] == "graded" and records["s01"]["score"] == 3.0


def test_a_duplicated_cell_does_not_stop_nbgrader(graded):
    record = _records(graded["out"])["s06"]
    assert record["status"] == "graded"
    assert all(e["in_kernel"] is not None for e in record["exercises"])
    assert any("repeats grade_id" in flag for flag in record["flags"])


def test_the_gradebook_holds_the_verified_scores(graded):
    from dlcourse.grading.gradebook import verified_scores

    scores = verified_scores(graded["course"], ASSIGNMENT)
    totals = {student: sum(cells.values()) for student, cells in scores.items()}
    assert totals == EXPECTED_SCORES


def test_rerunning_backs_up_and_gives_identical_grades(graded):
    out = graded["out"]
    backups = sorted(out.glob("backup-*"))
    assert len(backups) == 1
    assert (backups[0] / "grades.csv").read_text() == graded["first_csv"]
    assert (out / "grades.csv").read_text() == graded["first_csv"]
    assert "moved to" in graded["runs"][1].stderr
    assert len(list((backups[0] / "records").glob("*.json"))) == len(EXPECTED_SCORES)


def test_feedback_pages_are_escaped_and_name_the_problem(graded):
    page = (graded["out"] / "feedback" / "s02.html").read_text()
    assert "check_double" in page and "not verified" in page and "2 / 3" in page
    assert "<script" not in page


def test_the_secret_is_private_and_seeds_differ_per_student(graded):
    from dlcourse.grading.seeds import load_secret, seed_for

    secret_file = graded["course"] / ".grading-secret"
    assert stat.S_IMODE(os.stat(secret_file).st_mode) == 0o600
    secret = load_secret(secret_file)
    seeds = {seed_for(secret, ASSIGNMENT, s, "check_double") for s in EXPECTED_SCORES}
    assert len(seeds) == len(EXPECTED_SCORES)
    assert seed_for(secret, ASSIGNMENT, "s01", "check_double") == seed_for(
        load_secret(secret_file), ASSIGNMENT, "s01", "check_double"
    )
    assert seed_for(b"another secret value", ASSIGNMENT, "s01", "check_double") not in seeds


def test_the_help_text_has_examples():
    result = subprocess.run(
        [sys.executable, "-m", "dlcourse", "autograde", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0
    assert "Examples:" in result.stdout and "--workers" in result.stdout


def test_missing_checks_are_reported_before_grading(tmp_path):
    solutions = tmp_path / "solutions"
    solutions.mkdir()
    (solutions / f"{ASSIGNMENT}.py").write_text(textwrap.dedent(SOLUTION), encoding="utf-8")
    submitted = tmp_path / "sub"
    _put(submitted, "s01", "{}")
    result = _autograde(tmp_path / "course", solutions, submitted, tmp_path / "out")
    assert result.returncode == 1
    assert "no checks for" in result.stderr
