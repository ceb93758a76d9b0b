"""grades.csv as a Canvas gradebook upload: one assignment's column, filled by student.

Canvas imports a CSV shaped like its own gradebook export: the identity
columns (Student, ID, SIS User ID, SIS Login ID, Section) and one column per
assignment, named ``Name (id)``; a column whose name Canvas does not know
becomes a new assignment. So the upload is made from the instructor's
export: its identity columns, its "Points Possible" row if it has one, and
the assignment's column with each student's score from grades.csv (the
score that counts: a TA's regrade over the verified one). A student is found
by matching grades.csv's ``student_id`` with one identity column, "SIS Login
ID" unless told otherwise. A student Canvas lists without a grade here gets
an empty cell, which Canvas leaves as it was.
"""

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

IDENTITY = ("Student", "ID", "SIS User ID", "SIS Login ID", "Integration ID", "Section")
POINTS_ROW = "Points Possible"


class CanvasError(ValueError):
    """The export, grades.csv or the options cannot make an upload; the message says why."""


@dataclass
class Upload:
    """The upload's text, and what the instructor should know about it."""

    text: str
    column: str
    filled: int
    not_in_canvas: list = field(default_factory=list)  # graded students Canvas does not list
    without_grade: list = field(default_factory=list)  # Canvas students with no grade here


def _read_csv(path, what):
    try:
        text = Path(path).read_text(encoding="utf-8-sig")  # Excel's byte order mark
    except (OSError, UnicodeDecodeError) as err:
        raise CanvasError(f"cannot read {what} {path}: {err}") from err
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        raise CanvasError(f"{what} {path} is empty")
    return rows[0], rows[1:]


def read_grades(path):
    """``(assignment, max_score, {student_id: score})`` from a dlcourse grades.csv."""
    header, rows = _read_csv(path, "grades.csv")
    missing = [c for c in ("student_id", "assignment", "score", "max_score") if c not in header]
    if missing:
        raise CanvasError(
            f"{path} is not a dlcourse grades.csv: it has no {', '.join(missing)} column "
            f"(write one with dlcourse autograde)"
        )
    at = {name: header.index(name) for name in ("student_id", "assignment", "score", "max_score")}
    scores, assignments, maxima = {}, set(), set()
    for number, row in enumerate(rows, start=2):
        try:
            scores[row[at["student_id"]]] = float(row[at["score"]])
            maxima.add(float(row[at["max_score"]]))
        except (IndexError, ValueError) as err:
            raise CanvasError(f"{path}, line {number}: not a row of scores ({err})") from err
        assignments.add(row[at["assignment"]])
    if len(assignments) > 1:
        raise CanvasError(f"{path} mixes assignments ({', '.join(sorted(assignments))})")
    return (assignments.pop() if assignments else None), (maxima.pop() if maxima else None), scores


def find_column(header, name):
    """The export's column for assignment ``name``: ``name`` itself or ``name (id)``; None
    when Canvas has none yet."""
    if name in header:
        return name
    matches = [h for h in header if h.startswith(f"{name} (") and h.endswith(")")]
    if len(matches) > 1:
        raise CanvasError(
            f"several Canvas columns are named {name}: {', '.join(matches)}; pass --column "
            f"with the one to fill"
        )
    return matches[0] if matches else None


def make_upload(export_path, grades_path, column=None, match="SIS Login ID"):
    """The :class:`Upload` that fills ``column`` (default: grades.csv's assignment)."""
    header, rows = _read_csv(export_path, "the Canvas export")
    identity = [h for h in header if h in IDENTITY]
    if "Student" not in header or "SIS Login ID" not in header:
        raise CanvasError(
            f"{export_path} is not a Canvas gradebook export (it has no Student and SIS Login "
            f"ID columns): export it from Canvas, Grades > Export > Export Entire Gradebook"
        )
    if match not in identity:
        raise CanvasError(
            f"--match {match!r} is not an identity column of the export; use one of "
            f"{', '.join(identity)}"
        )
    assignment, max_score, scores = read_grades(grades_path)
    name = column or assignment
    if not name:
        raise CanvasError(f"{grades_path} has no students; nothing to upload")
    existing = find_column(header, name)
    target = existing or name  # a new column: Canvas makes it a new assignment
    key, source = header.index(match), header.index(target) if existing else None

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*identity, target])
    listed, filled, without = set(), 0, []
    student_at = header.index("Student")
    for row in rows:
        row = row + [""] * (len(header) - len(row))
        cells = [row[header.index(h)] for h in identity]
        if row[student_at].strip() == POINTS_ROW:
            points = row[source] if source is not None else f"{max_score:g}" if max_score else ""
            writer.writerow([*cells, points])
            continue
        student = row[key]
        if not student.strip():  # a row about the assignments (e.g. a posting policy)
            writer.writerow([*cells, row[source] if source is not None else ""])
            continue
        listed.add(student)
        if student in scores:
            writer.writerow([*cells, f"{scores[student]:g}"])
            filled += 1
        else:
            writer.writerow([*cells, ""])
            without.append(row[header.index("Student")] or student)
    return Upload(
        out.getvalue(),
        target,
        filled,
        not_in_canvas=sorted(s for s in scores if s not in listed),
        without_grade=without,
    )
