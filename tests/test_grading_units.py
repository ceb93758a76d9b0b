"""The grading engine's small parts: submissions, seeds, notebooks, results, feedback, checks."""

import json
import os
import stat

import pytest

from dlcourse.grading import notebook as nbfile
from dlcourse.grading.feedback import feedback_html, instructor_notes_html
from dlcourse.grading.outputs import back_up_previous, grades_csv, write_results
from dlcourse.grading.seeds import load_secret, seed_for
from dlcourse.grading.submissions import SubmissionsError, find_submissions

nbformat = pytest.importorskip("nbformat", reason="submissions are read with nbformat")


def _notebook(*cells):
    nb = nbformat.v4.new_notebook()
    for grade_id, source in cells:
        cell = nbformat.v4.new_code_cell(source)
        if grade_id:
            cell.metadata["nbgrader"] = {"grade_id": grade_id, "solution": True}
        nb.cells.append(cell)
    return nb


def test_both_submission_layouts_are_found(tmp_path):
    (tmp_path / "s01" / "02-activations").mkdir(parents=True)
    (tmp_path / "s01" / "02-activations" / "02-activations.ipynb").write_text("{}")
    (tmp_path / "s02" / "02-activations").mkdir(parents=True)  # a folder, no notebook
    (tmp_path / "s03_02-activations_attempt_2024.ipynb").write_text("{}")
    (tmp_path / "s04.ipynb").write_text("{}")
    found = {s.student_id: s.path for s in find_submissions(tmp_path, "02-activations")}
    assert set(found) == {"s01", "s02", "s03", "s04"}
    assert found["s02"] is None
    assert found["s03"].name.startswith("s03_")


def test_an_empty_submissions_folder_says_what_is_expected(tmp_path):
    with pytest.raises(SubmissionsError, match="<student_id>"):
        find_submissions(tmp_path, "02-activations")


def test_seeds_are_stable_per_student_and_differ_between_students(tmp_path):
    secret_file = tmp_path / "secret"
    secret = load_secret(secret_file)
    assert stat.S_IMODE(os.stat(secret_file).st_mode) == 0o600
    assert load_secret(secret_file) == secret
    seeds = [seed_for(secret, "02-activations", f"s{i:02d}", "check_relu") for i in range(50)]
    assert len(set(seeds)) == 50
    assert seeds[0] == seed_for(secret, "02-activations", "s00", "check_relu")
    assert seeds[0] != seed_for(secret, "02-activations", "s00", "check_tanh")
    assert seeds[0] != seed_for(
        load_secret(tmp_path / "other"), "02-activations", "s00", "check_relu"
    )


def test_a_short_secret_is_refused(tmp_path):
    (tmp_path / "secret").write_text("abc")
    with pytest.raises(ValueError, match="too short"):
        load_secret(tmp_path / "secret")


@pytest.mark.parametrize(
    "content, why",
    [
        (b'{"cells": [', "not valid JSON"),
        (b"\xff\xfe\x00", "UTF-8"),
        (b'{"metadata": {}}', "no list of cells"),
        (b"[1, 2, 3]", "no list of cells"),
    ],
)
def test_unreadable_submissions_say_why(tmp_path, content, why):
    path = tmp_path / "nb.ipynb"
    path.write_bytes(content)
    with pytest.raises(nbfile.Unreadable, match=why):
        nbfile.read_submission(path)


def test_a_duplicated_cell_is_sanitized_and_the_first_one_counts():
    nb = _notebook(("f", "def f(): return 1"), (None, "x = 1"), ("f", "def f(): return 2"))
    nb.cells[2]["id"] = nb.cells[0]["id"]
    clean, notes = nbfile.sanitized(nb)
    assert len(notes) == 1 and "repeats grade_id 'f'" in notes[0]
    assert "nbgrader" not in clean.cells[2].metadata
    assert len({c["id"] for c in clean.cells}) == 3
    assert nbfile.code_by_grade_id(nb) == {"f": "def f(): return 1"}
    assert nb.cells[2].metadata["nbgrader"]["grade_id"] == "f"  # the original is untouched


def test_graded_only_keeps_nbgrader_cells_and_prose():
    nb = _notebook(("setup", "import numpy"), (None, "plot()"), ("f", "def f(): pass"))
    nb.cells.insert(1, nbformat.v4.new_markdown_cell("# prose"))
    kept = nbfile.graded_only(nb)
    assert [c.source for c in kept.cells] == ["import numpy", "# prose", "def f(): pass"]
    assert len(nb.cells) == 4  # the submission itself is untouched


def _record(student, score, diagnosis=None):
    return {
        "student_id": student,
        "assignment": "a",
        "score": score,
        "max_score": 3.0,
        "status": "graded",
        "reason": None,
        "flags": ["<b>flag</b>"],
        "exercises": [
            {
                "grade_id": "check_f",
                "points": score,
                "max_points": 3.0,
                "verified": score == 3.0,
                "in_kernel": 3.0,
                "disagrees": score != 3.0,
                "diagnosis": diagnosis,
                "reason": None,
            }
        ],
    }


def test_grades_csv_has_one_column_per_graded_cell():
    text = grades_csv([_record("s01", 3.0), _record("s02", 0.0)], ["check_f", "check_g"])
    assert text.splitlines() == [
        "student_id,assignment,score,max_score,check_f,check_g,verified_score,human_overrides",
        "s01,a,3.0,3.0,3.0,0.0,3.0,",
        "s02,a,0.0,3.0,0.0,0.0,0.0,",
    ]


def test_a_tas_regrade_counts_in_grades_csv_and_the_feedback_beside_the_verified_score():
    from dlcourse.grading.gradebook import Regrade
    from dlcourse.grading.outputs import with_overrides

    records, changed = with_overrides(
        [_record("s01", 3.0), _record("s02", 0.0)], [Regrade("s02", "check_f", 1.5, 0.0)]
    )
    assert [r["student_id"] for r in changed] == ["s02"]
    text = grades_csv(records, ["check_f", "check_g"])
    rows = text.splitlines()[1:]
    assert rows == ["s01,a,3.0,3.0,3.0,0.0,3.0,", "s02,a,1.5,3.0,1.5,0.0,0.0,check_f"]
    page = feedback_html(changed[0])
    assert "Score: <strong>1.5 / 3</strong>" in page
    assert "1.5 / 3 (graded by your TA; verified: 0)" in page


def test_feedback_escapes_what_the_student_controls():
    page = feedback_html(_record("s01", 0.0, diagnosis="dx <script>alert(1)</script> is off"))
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "&lt;b&gt;flag" not in page  # the flags are the instructor's, on their own page
    assert "0 / 3" in page and "not verified" in page
    notes = instructor_notes_html([_record("s01", 0.0)])
    assert "<b>" not in notes and "&lt;b&gt;flag&lt;/b&gt;" in notes


def test_results_are_backed_up_before_they_are_replaced(tmp_path):
    assert back_up_previous(tmp_path) is None
    write_results(tmp_path, [_record("s01", 3.0)], ["check_f"])
    first = (tmp_path / "grades.csv").read_text()
    backup = back_up_previous(tmp_path)
    assert backup is not None and backup.name.startswith("backup-")
    assert (backup / "grades.csv").read_text() == first
    assert json.loads((backup / "records" / "s01.json").read_text())["score"] == 3.0
    assert not (tmp_path / "grades.csv").exists()
    second = back_up_previous(tmp_path)  # nothing left to move
    assert second is None


def test_checks_must_match_the_graded_cells(tmp_path):
    from dlcourse.grading.checks import ChecksError, load_exercises, match_grade_cells

    (tmp_path / "checks").mkdir()
    (tmp_path / "checks" / "a.py").write_text(
        "from dlcourse.grading.spec import Exercise\n"
        "EXERCISES = [Exercise('check_f', ('f',), 'f()', lambda: 1, lambda rng: [{}])]\n"
    )
    exercises = load_exercises(tmp_path, "a")
    match_grade_cells(exercises, ["check_f"], "a.py")
    with pytest.raises(ChecksError, match="graded cells without an exercise: check_g"):
        match_grade_cells(exercises, ["check_f", "check_g"], "a.py")
    with pytest.raises(ChecksError, match="no checks for b"):
        load_exercises(tmp_path, "b")


def test_the_course_checks_cover_every_graded_cell_of_their_notebooks():
    from dlcourse.course import cells
    from dlcourse.course.paths import find_root
    from dlcourse.grading.checks import load_exercises, match_grade_cells
    from dlcourse.grading.coursedir import source_text

    pytest.importorskip("jupytext", reason="the notebooks are read from jupytext sources")
    root = find_root()
    for name in ("02-activations", "04-backprop"):
        nb = nbformat.reads(source_text(name, root / "solutions"), as_version=4)
        graded = [cells.grade_id(c) for _, c in cells.grade_cells(nb)]
        match_grade_cells(load_exercises(root / "autograder", name), graded, name)


def test_the_temporary_files_of_a_killed_writer_are_gone_after_a_finished_run(tmp_path):
    from dlcourse.grading.outputs import write_grades

    write_results(tmp_path, [_record("s01", 3.0)], ["check_f"])
    left = tmp_path / "feedback" / ".tmp-k1ll3d"
    left.write_text("half a page")
    (tmp_path / "records" / ".tmp-link").symlink_to(tmp_path / "grades.csv")
    write_grades(tmp_path, [_record("s01", 3.0)], ["check_f"], {"s01": "s01"})
    assert not left.exists()
    assert (tmp_path / "grades.csv").is_file()  # a link is not followed, nor removed
    assert (tmp_path / "records" / ".tmp-link").is_symlink()
    assert sorted(p.name for p in (tmp_path / "feedback").iterdir()) == ["s01.html"]
