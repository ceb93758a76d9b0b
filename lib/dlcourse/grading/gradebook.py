"""Write the verified scores into nbgrader's real gradebook (the parent is its only writer).

Each graded cell's ``manual_score`` is set to the verified points and its
``auto_score`` to what nbgrader's in-kernel run gave (0 when it could not
run). nbgrader counts a manual score before an automatic one, so its
formgrader and its exports show the verified score, with the in-kernel one
still visible next to it.

Before anything is written, the SQLite file is checked for schema objects
nbgrader never creates: a trigger could rewrite the scores as they are
stored, a view or a foreign table has no business there. nbgrader 0.9
creates only its models' tables and ``alembic_version`` (plus SQLite's
automatic indexes), no trigger and no view.
"""

import sqlite3
import warnings
from pathlib import Path

from dlcourse.grading import coursedir
from dlcourse.grading.submissions import nbgrader_refuses

NBGRADER_EXTRA_TABLES = {"alembic_version"}  # made by nbgrader's Gradebook, not a model


class GradebookError(coursedir.GradingSetupError):
    """The gradebook holds what nbgrader does not create; nothing was written to it."""


def _nbgrader_tables():
    from nbgrader.api import Base

    return set(Base.metadata.tables) | NBGRADER_EXTRA_TABLES


def foreign_objects(course_dir):
    """``[(type, name)]`` of the gradebook's triggers, views and tables nbgrader does not define.

    Empty when there is no gradebook yet. The file is opened read-only.
    """
    path = Path(course_dir) / coursedir.GRADEBOOK_NAME
    if not path.is_file():
        return []
    known = _nbgrader_tables()
    with sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT type, name, sql FROM sqlite_master").fetchall()
    db.close()
    found = []
    for kind, name, sql in rows:
        if name.startswith("sqlite_"):  # SQLite's own (names it reserves for itself)
            continue
        virtual = kind == "table" and (sql or "").lstrip().upper().startswith("CREATE VIRTUAL")
        if kind in ("trigger", "view") or (kind == "table" and (name not in known or virtual)):
            found.append((kind, name))
    return sorted(found)


def check_gradebook(course_dir):
    """Raise :class:`GradebookError` naming the foreign objects, if the gradebook has any."""
    found = foreign_objects(course_dir)
    if found:
        path = Path(course_dir) / coursedir.GRADEBOOK_NAME
        names = ", ".join(f"{kind} {name!r}" for kind, name in found)
        raise GradebookError(
            f"the gradebook {path} holds what nbgrader never creates: {names}. A trigger "
            f"could change the scores as they are written, so nothing was written to it. "
            f"Remove them (sqlite3 {path} 'DROP TRIGGER name;', 'DROP VIEW name;', "
            f"'DROP TABLE name;') or restore the gradebook from a backup, then run the "
            f"command again."
        )


def _writable(record):
    """Records that belong in the gradebook: not a grader failure, an id nbgrader takes."""
    return record["status"] != "error" and nbgrader_refuses(record["student_id"]) is None


def write_scores(course_dir, assignment, records):
    """Record every student's submission and verified scores; return how many were written.

    Records with status "error" are left out (a failure of the grader must not
    replace a grade given before), and so are ids nbgrader itself refuses.
    Raises :class:`GradebookError`, before writing anything, when the
    gradebook holds triggers, views or tables nbgrader does not create.
    """
    from nbgrader.api import Gradebook, MissingEntry

    check_gradebook(course_dir)
    written = 0
    with Gradebook(coursedir.db_url(course_dir)) as gb, warnings.catch_warnings():
        # nbgrader's add_submission trips SQLAlchemy's autoflush warnings; they are harmless
        warnings.simplefilter("ignore")
        for record in filter(_writable, records):
            sid = record["student_id"]
            gb.update_or_create_student(sid)
            try:
                gb.find_submission(assignment, sid)
            except MissingEntry:
                gb.add_submission(assignment, sid)
            for exercise in record["exercises"]:
                grade = gb.find_grade(exercise["grade_id"], assignment, assignment, sid)
                in_kernel = exercise["in_kernel"]
                grade.auto_score = float(in_kernel) if in_kernel is not None else 0.0
                grade.manual_score = float(exercise["points"])
                grade.needs_manual_grade = False
            gb.db.commit()
            written += 1
    return written


def verified_scores(course_dir, assignment):
    """``{student_id: {grade_id: score}}`` as nbgrader's gradebook reports them."""
    from nbgrader.api import Gradebook

    scores = {}
    with Gradebook(coursedir.db_url(course_dir)) as gb:
        for submission in gb.assignment_submissions(assignment):
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    scores.setdefault(submission.student.id, {})[grade.name] = grade.score
    return scores
