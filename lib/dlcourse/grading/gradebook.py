"""Write the verified scores into nbgrader's real gradebook (the parent is its only writer).

Each graded cell's ``manual_score`` is set to the verified points and its
``auto_score`` to what nbgrader's in-kernel run gave (0 when it could not
run). nbgrader counts a manual score before an automatic one, so its
formgrader and its exports show the verified score, with the in-kernel one
still visible next to it.

The formgrader writes a TA's regrade into the same ``manual_score``, so the
precedence is human > verified > in-kernel: the manual scores dlcourse wrote
are remembered outside the gradebook (``<course-dir>/.dlcourse-verified.json``),
and a manual score that is not one of them was entered by a person and is
kept. Comments and extra credit are never touched.

Before anything is written, the SQLite file is checked for schema objects
nbgrader never creates: a trigger could rewrite the scores as they are
stored, a view or a foreign table has no business there. nbgrader 0.9
creates only its models' tables and ``alembic_version`` (plus SQLite's
automatic indexes), no trigger and no view.
"""

import dataclasses
import json
import sqlite3
import warnings
from pathlib import Path

from dlcourse.grading import coursedir
from dlcourse.grading.submissions import nbgrader_refuses

NBGRADER_EXTRA_TABLES = {"alembic_version"}  # made by nbgrader's Gradebook, not a model
MEMORY_NAME = ".dlcourse-verified.json"  # the manual scores dlcourse wrote, next to the gradebook


class GradebookError(coursedir.GradingSetupError):
    """The gradebook holds what nbgrader does not create; nothing was written to it."""


def _nbgrader_tables():
    from nbgrader.api import Base

    return set(Base.metadata.tables) | NBGRADER_EXTRA_TABLES


def foreign_objects(course_dir):
    """``[(type, name)]`` of the gradebook's triggers, views and tables nbgrader does not define.

    Empty when there is no gradebook yet, or when it is not SQLite (a database
    server's schema is its administrator's). The file is opened read-only.
    """
    path = coursedir.gradebook_file(course_dir)
    if path is None or not path.is_file():
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
        path = coursedir.gradebook_file(course_dir)
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


def memory_path(course_dir):
    """Next to the gradebook: in the course folder, or beside a shared SQLite file elsewhere."""
    course_dir = Path(course_dir).resolve()
    path = coursedir.gradebook_file(course_dir)
    if path is None or path == course_dir / coursedir.GRADEBOOK_NAME:
        return course_dir / MEMORY_NAME
    return path.with_name(f"{path.name}{MEMORY_NAME}")  # one per gradebook in that folder


def _well_formed(memory):
    def mapping(value, leaf):
        return isinstance(value, dict) and all(leaf(v) for v in value.values())

    def scores(value):
        return isinstance(value, list) and all(type(v) in (int, float) for v in value)

    return mapping(memory, lambda a: mapping(a, lambda s: mapping(s, scores)))


def load_memory(course_dir):
    """``{assignment: {student: {grade_id: [score, ...]}}}``: the manual scores dlcourse wrote.

    Raises :class:`GradebookError` when the file is there but unreadable:
    without it, no one can tell a TA's regrade from dlcourse's own score.
    """
    path = memory_path(course_dir)
    if not path.is_file():
        return {}
    try:
        memory = json.loads(path.read_text(encoding="utf-8"))["manual_scores"]
        if not _well_formed(memory):
            raise TypeError("manual_scores is not assignment -> student -> cell -> [scores]")
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise GradebookError(
            f"{path} cannot be read ({err}); it tells dlcourse's scores in the gradebook from "
            f"the TAs' regrades, so nothing was written. Restore it from a backup, or delete "
            f"it: then every manual score that differs from the new verified one is kept as a "
            f"TA's regrade."
        ) from None
    return memory


def save_memory(course_dir, memory):
    from dlcourse.grading.outputs import write_atomically

    note = "the manual scores dlcourse autograde wrote to the gradebook; any other is a TA's"
    text = json.dumps({"note": note, "manual_scores": memory}, indent=1, sort_keys=True)
    write_atomically(memory_path(course_dir), text + "\n")


def human_entered(manual, remembered, verified):
    """Whether a grade's ``manual_score`` was entered by a person (and must be kept).

    ``remembered``: the scores dlcourse may have written there last (two while
    a write is in flight). A cleared score hands the cell back to the grader.
    Before dlcourse kept a memory it wrote every manual score, so one that
    equals the new verified score is its own.
    """
    if manual is None:
        return False
    if remembered:
        return manual not in remembered
    return manual != verified


@dataclasses.dataclass(frozen=True)
class Regrade:
    """A TA's manual score, kept in the gradebook instead of the verified one."""

    student_id: str
    grade_id: str
    score: float
    verified: float


@dataclasses.dataclass(frozen=True)
class Written:
    """What :func:`write_scores` did: students written, TA regrades kept."""

    students: int
    kept: tuple = ()

    def summary(self):
        """How many students were written and regrades kept, one line per kept regrade."""
        from dlcourse.grading.outputs import shown_id

        kept = len(self.kept)
        head = f"wrote {self.students} student(s) to the gradebook, kept {kept} TA regrade(s)"
        lines = [
            f"  {shown_id(r.student_id)} {r.grade_id}: {r.score:g} (verified {r.verified:g})"
            for r in self.kept
        ]
        note = " (they count in grades.csv; verified_score keeps dlcourse's):"
        return "\n".join([head + (note if lines else ""), *lines])


def _plan(gb, assignment, records, memory):
    """``[(student_id, grade, exercise, regrade or None)]``, a graded cell of a record each."""
    from nbgrader.api import MissingEntry

    plan = []
    for record in filter(_writable, records):
        sid = record["student_id"]
        gb.update_or_create_student(sid)
        try:
            gb.find_submission(assignment, sid)
        except MissingEntry:
            gb.add_submission(assignment, sid)
        remembered = memory.get(sid, {})
        for exercise in record["exercises"]:
            gid, verified = exercise["grade_id"], float(exercise["points"])
            grade = gb.find_grade(gid, assignment, assignment, sid)
            manual = grade.manual_score
            regrade = None
            if human_entered(manual, remembered.get(gid, []), verified):
                regrade = Regrade(sid, gid, manual, verified)
            plan.append((sid, grade, exercise, regrade))
    return plan


def _remember(memory, plan, keep_previous):
    """``memory`` with the verified scores about to be written (and, if asked, the old ones)."""
    updated = {sid: dict(grades) for sid, grades in memory.items()}
    for sid, _, exercise, regrade in plan:
        if regrade is None:
            grades = updated.setdefault(sid, {})
            before = grades.get(exercise["grade_id"], []) if keep_previous else []
            grades[exercise["grade_id"]] = sorted({*before, float(exercise["points"])})
    return updated


def _apply(grade, exercise, regrade):
    """The in-kernel score always; the verified one unless a person's is kept."""
    in_kernel = exercise["in_kernel"]
    grade.auto_score = float(in_kernel) if in_kernel is not None else 0.0
    if regrade is None:
        grade.manual_score = float(exercise["points"])
    # graded either way (nbgrader's autograde step marks any manual score "needs grading")
    grade.needs_manual_grade = False


def write_scores(course_dir, assignment, records):
    """Record every student's submission and verified scores; a :class:`Written`.

    Records with status "error" are left out (a failure of the grader must not
    replace a grade given before), and so are ids nbgrader itself refuses. A
    manual score a person entered (see :func:`human_entered`) is kept (only
    its auto_score is updated) and listed in the result.
    Raises :class:`GradebookError`, before writing anything, when the
    gradebook holds triggers, views or tables nbgrader does not create.
    """
    from nbgrader.api import Gradebook

    check_gradebook(course_dir)
    everything = load_memory(course_dir)
    memory = everything.get(assignment, {})
    with Gradebook(coursedir.db_url(course_dir)) as gb, warnings.catch_warnings():
        # nbgrader's add_submission trips SQLAlchemy's autoflush warnings; they are harmless
        warnings.simplefilter("ignore")
        plan = _plan(gb, assignment, records, memory)
        # both the old and the new scores are dlcourse's until the commit is known to be done
        save_memory(course_dir, {**everything, assignment: _remember(memory, plan, True)})
        for _, grade, exercise, regrade in plan:
            _apply(grade, exercise, regrade)
        gb.db.commit()
    save_memory(course_dir, {**everything, assignment: _remember(memory, plan, False)})
    kept = tuple(regrade for *_, regrade in plan if regrade is not None)
    return Written(sum(map(_writable, records)), kept)


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
