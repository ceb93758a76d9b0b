"""A TA's regrade in nbgrader's formgrader survives ``dlcourse autograde`` run again.

The tiny course of ``grading_course`` is graded three times: s01 and s02 first;
then a TA gives s02's ``check_double`` 0.5 (and a comment) the way the
formgrader does, s01 changes its notebook and the course is graded again;
then s02 fixes that very cell, so its verified score changes, and the course
is graded once more. The TA's score must win every time, in the gradebook and
in ``nbgrader export``; everything else gets the new verified scores.
"""

import csv
import json
import subprocess
import sys

import pytest

from grading_course import CORRECT, HALF, autograde, env, make_course, notebook, put, records

pytest.importorskip("nbgrader", reason="dlcourse autograde drives nbgrader")
pytest.importorskip("jupytext", reason="the source notebook is built from a jupytext file")

ASSIGNMENT = "90-tiny"
TA_SCORE, TA_COMMENT = 0.5, "half a point: the idea is right, the offset is not"


def _regrade_as_the_formgrader_does(course):
    """What formgrader's GradeHandler.put and CommentHandler.put write, through nbgrader's API."""
    from nbgrader.api import Gradebook

    from dlcourse.grading.coursedir import db_url

    with Gradebook(db_url(course)) as gb:
        grade = gb.find_grade("check_double", ASSIGNMENT, ASSIGNMENT, "s02")
        grade.manual_score, grade.extra_credit = TA_SCORE, None
        grade.needs_manual_grade = False
        gb.find_comment("double", ASSIGNMENT, ASSIGNMENT, "s02").manual_comment = TA_COMMENT
        gb.db.commit()


def _replace(submitted, student, release, cells):
    path = submitted / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    path.write_text(notebook(release, cells), encoding="utf-8")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("regrades")
    course, solutions, release = make_course(base)
    submitted, out = base / "sub", base / "out"
    put(submitted, "s01", notebook(release, CORRECT))
    put(submitted, "s02", notebook(release, HALF))
    first = autograde(course, solutions, submitted, out)
    assert first.returncode == 0, first.stderr[-3000:]
    _regrade_as_the_formgrader_does(course)
    _replace(submitted, "s01", release, HALF)  # s01's check_double: 1 -> 0
    second = autograde(course, solutions, submitted, out)
    second_records = records(out)
    _replace(submitted, "s02", release, CORRECT)  # the regraded cell's verified score: 0 -> 1
    third = autograde(course, solutions, submitted, out)
    return {
        "base": base,
        "course": course,
        "out": out,
        "runs": (first, second, third),
        "second_records": second_records,
    }


def _gradebook(course):
    """``{(student, grade_id): (manual_score, auto_score)}`` and the s02 double cell's comment."""
    from nbgrader.api import Gradebook

    from dlcourse.grading.coursedir import db_url

    with Gradebook(db_url(course)) as gb:
        grades = {}
        for submission in gb.assignment_submissions(ASSIGNMENT):
            for nb in submission.notebooks:
                for grade in nb.grades:
                    grades[submission.student.id, grade.name] = grade.manual_score
        comment = gb.find_comment("double", ASSIGNMENT, ASSIGNMENT, "s02").manual_comment
    return grades, comment


def _nbgrader_export(course, to):
    """``{student_id: score}`` of a real ``nbgrader export`` of the course's gradebook."""
    from dlcourse.grading.coursedir import db_url

    command = [sys.executable, "-m", "nbgrader", "export", f"--CourseDirectory.root={course}"]
    command += [f"--CourseDirectory.db_url={db_url(course)}", f"--to={to}"]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=300, cwd=course, env=env()
    )
    assert result.returncode == 0, result.stderr[-3000:]
    with open(to, newline="", encoding="utf-8") as f:
        return {row["student_id"]: float(row["score"]) for row in csv.DictReader(f)}


def test_every_run_succeeds(runs):
    for run in runs["runs"]:
        assert run.returncode == 0, run.stderr[-3000:]


def test_the_summary_says_the_regrade_was_kept(runs):
    first, second, third = runs["runs"]
    assert "kept 0 TA regrade(s)" in first.stdout
    for run in (second, third):
        assert "kept 1 TA regrade(s)" in run.stdout
        assert "s02 check_double: 0.5" in run.stdout


def test_the_regrade_and_comment_survive_and_the_rest_is_verified(runs):
    grades, comment = _gradebook(runs["course"])
    assert comment == TA_COMMENT
    assert grades == {
        ("s01", "check_double"): 0.0,  # s01's new notebook, verified
        ("s01", "check_relu_backward"): 2.0,
        ("s02", "check_double"): TA_SCORE,  # verified 1.0 on the third run: still the TA's
        ("s02", "check_relu_backward"): 2.0,
    }


def test_the_records_keep_the_verified_points_and_mark_the_regrade(runs):
    second = runs["second_records"]["s02"]["exercises"]
    third = records(runs["out"])["s02"]["exercises"]
    assert [(e["points"], e["human_override"]) for e in second] == [(0.0, TA_SCORE), (2.0, None)]
    assert [(e["points"], e["human_override"]) for e in third] == [(1.0, TA_SCORE), (2.0, None)]
    assert all(e["human_override"] is None for e in records(runs["out"])["s01"]["exercises"])


def test_grades_csv_counts_the_regrade_and_keeps_the_verified_score_beside_it(runs):
    rows = list(csv.DictReader((runs["out"] / "grades.csv").open(encoding="utf-8")))
    got = {
        r["student_id"]: (float(r["score"]), float(r["verified_score"]), r["human_overrides"])
        for r in rows
    }
    assert got == {"s01": (2.0, 2.0, ""), "s02": (TA_SCORE + 2.0, 3.0, "check_double")}
    assert float(next(r for r in rows if r["student_id"] == "s02")["check_double"]) == TA_SCORE


def test_the_students_feedback_shows_the_tas_score(runs):
    page = next((runs["out"] / "feedback").glob("s02*.html")).read_text(encoding="utf-8")
    assert f"{TA_SCORE:g} / 1 (graded by your TA; verified: 1)" in page


def test_nbgrader_export_shows_the_tas_score(runs):
    exported = _nbgrader_export(runs["course"], runs["base"] / "export.csv")
    assert exported == {"s01": 2.0, "s02": TA_SCORE + 2.0}


def test_the_memory_lives_next_to_the_gradebook_and_holds_dlcourse_scores(runs):
    from dlcourse.grading.gradebook import load_memory, memory_path

    assert memory_path(runs["course"]).parent == runs["course"]
    memory = load_memory(runs["course"])[ASSIGNMENT]
    # the regraded cell still remembers what dlcourse wrote before the TA changed it
    assert memory["s02"] == {"check_double": [0.0], "check_relu_backward": [2.0]}
    assert memory["s01"] == {"check_double": [0.0], "check_relu_backward": [2.0]}


def test_a_corrupt_memory_stops_the_write(tmp_path):
    from dlcourse.grading.gradebook import GradebookError, load_memory, memory_path

    memory_path(tmp_path).write_text(json.dumps({"manual_scores": []}), encoding="utf-8")
    with pytest.raises(GradebookError, match="TAs' regrades"):
        load_memory(tmp_path)
