"""``dlcourse canvas``: a grades.csv becomes the upload Canvas's gradebook imports.

The Canvas export here is written the way Canvas writes one (a byte order
mark, the identity columns, ``Name (id)`` assignment columns, a "Points
Possible" row); grades.csv is written by dlcourse's own writer.
"""

import csv
import io

import pytest

from dlcourse.cli import main
from dlcourse.grading.canvas import CanvasError, make_upload
from dlcourse.grading.outputs import grades_csv

HEADER = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
EXPORT_ROWS = [
    [*HEADER, "01-dense-layer (811)", "02-activations (812)", "Current Score"],
    ["    Points Possible", "", "", "", "", "10.00", "10.00", "(read only)"],
    ["Lovelace, Ada", "101", "9001", "ada", "Sec A", "9", "", "90"],
    ["Turing, Alan", "102", "9002", "alan", "Sec A", "7", "3", "70"],
    ["Hopper, Grace", "103", "9003", "grace", "Sec B", "", "", ""],
]


def _record(student, score):
    entry = {"grade_id": "check_f", "points": score, "max_points": 10.0}
    return {
        "student_id": student,
        "assignment": "02-activations",
        "score": score,
        "max_score": 10.0,
        "exercises": [{**entry, "verified": True, "in_kernel": None, "disagrees": False}],
    }


@pytest.fixture
def files(tmp_path):
    export = tmp_path / "gradebook.csv"
    text = io.StringIO()
    csv.writer(text, lineterminator="\r\n").writerows(EXPORT_ROWS)
    export.write_text("\ufeff" + text.getvalue(), encoding="utf-8")
    grades = tmp_path / "grades.csv"
    records = [_record("ada", 10.0), _record("alan", 4.5), _record("nobody-in-canvas", 6.0)]
    grades.write_text(grades_csv(records, ["check_f"]), encoding="utf-8")
    return export, grades


def _rows(text):
    return list(csv.reader(io.StringIO(text)))


def test_the_assignments_column_is_filled_from_grades_csv(files):
    upload = make_upload(*files)
    assert upload.column == "02-activations (812)"
    assert _rows(upload.text) == [
        [*HEADER, "02-activations (812)"],
        ["    Points Possible", "", "", "", "", "10.00"],
        ["Lovelace, Ada", "101", "9001", "ada", "Sec A", "10"],
        ["Turing, Alan", "102", "9002", "alan", "Sec A", "4.5"],
        ["Hopper, Grace", "103", "9003", "grace", "Sec B", ""],  # Canvas keeps what it has
    ]
    assert upload.filled == 2
    assert upload.not_in_canvas == ["nobody-in-canvas"]
    assert upload.without_grade == ["Hopper, Grace"]


def test_an_assignment_canvas_does_not_have_becomes_a_new_column(files):
    export, grades = files
    upload = make_upload(export, grades, column="02-activations, take 2")
    rows = _rows(upload.text)
    assert rows[0][-1] == "02-activations, take 2"
    assert rows[1][-1] == "10"  # points possible: grades.csv's max_score
    assert [r[-1] for r in rows[2:]] == ["10", "4.5", ""]


def test_students_can_be_matched_by_another_identity_column(files, tmp_path):
    export, _ = files
    grades = tmp_path / "by-number.csv"
    grades.write_text(grades_csv([_record("9003", 8.0)], ["check_f"]), encoding="utf-8")
    upload = make_upload(export, grades, match="SIS User ID")
    assert [r[-1] for r in _rows(upload.text)[2:]] == ["", "", "8"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"export_header": ["Name", "Email", "02-activations (812)"]}, "not a Canvas gradebook"),
        ({"match": "Email"}, "is not an identity column"),
        ({"grades": "student,points\nada,3\n"}, "not a dlcourse grades.csv"),
        ({"grades": "student_id,assignment,score,max_score\nada,02-activations,x,10\n"}, "line 2"),
        ({"export_extra": "02-activations (999)"}, "several Canvas columns"),
    ],
)
def test_bad_inputs_say_what_is_wrong(files, change, message):
    export, grades = files
    rows = [list(r) for r in EXPORT_ROWS]
    if "export_header" in change:
        rows = [change["export_header"], ["Ada", "ada@x", "3"]]
    if "export_extra" in change:
        rows = [r + [v] for r, v in zip(rows, [change["export_extra"], "10", "1", "2", "3"])]
    export.write_text("\n".join(",".join(r) for r in rows) + "\n", encoding="utf-8")
    if "grades" in change:
        grades.write_text(change["grades"], encoding="utf-8")
    with pytest.raises(CanvasError, match=message):
        make_upload(export, grades, match=change.get("match", "SIS Login ID"))


def test_the_command_writes_the_upload_and_never_replaces_a_file_unasked(files, tmp_path, capsys):
    export, grades = files
    out = tmp_path / "upload.csv"
    assert main(["canvas", str(grades), "--export", str(export), "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "2 student(s) with a score" in said and "nobody-in-canvas" in said
    assert _rows(out.read_text(encoding="utf-8"))[2][-1] == "10"
    out.write_text("the instructor's own file")
    assert main(["canvas", str(grades), "--export", str(export), "--out", str(out)]) == 1
    assert "--force" in capsys.readouterr().err
    assert out.read_text() == "the instructor's own file"
    assert main(["canvas", str(grades), "--export", str(export), "--out", str(out), "--force"]) == 0
    assert _rows(out.read_text(encoding="utf-8"))[0][-1] == "02-activations (812)"
