"""Find the submitted notebooks, in nbgrader's layout or as ``zip_collect`` leaves them.

Accepted, under ``--submitted DIR``:

- nbgrader's layout, ``DIR/<student_id>/<assignment>/<notebook>.ipynb`` (the
  notebook named after the assignment is taken; if there is none, the only
  ``.ipynb`` in the folder);
- a flat folder of files ``DIR/<student_id>_<anything>.ipynb`` or
  ``DIR/<student_id>.ipynb`` (what nbgrader's ``zip_collect`` extracts from
  an LMS download). The student id is what comes before ``_<assignment>``
  when the name contains it (so ids may contain ``_``), else before the
  first ``_``.

Students with a folder but no notebook are listed with ``path=None``
(status "missing").
"""

import re
from dataclasses import dataclass
from pathlib import Path

_STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+\-]{0,99}$")


@dataclass(frozen=True)
class Submission:
    student_id: str
    path: Path | None  # None: the student's folder has no notebook


class SubmissionsError(Exception):
    """The submissions folder is missing or holds nothing recognisable."""


def _pick(folder, assignment):
    named = folder / f"{assignment}.ipynb"
    if named.is_file():
        return named
    notebooks = sorted(p for p in folder.glob("*.ipynb") if p.is_file())
    return notebooks[0] if len(notebooks) == 1 else None


def _flat_student(name, assignment):
    stem = name[: -len(".ipynb")]
    marker = f"_{assignment}"
    if marker in stem:
        return stem.split(marker, 1)[0]
    return stem.split("_", 1)[0]


def find_submissions(submitted, assignment):
    """The submissions of ``assignment`` in ``submitted``, sorted by student id."""
    submitted = Path(submitted)
    if not submitted.is_dir():
        raise SubmissionsError(f"the submissions folder {submitted} does not exist")
    found = {}
    for entry in sorted(submitted.iterdir()):
        if entry.is_dir() and _STUDENT_ID.match(entry.name):
            folder = entry / assignment
            if folder.is_dir():
                found[entry.name] = Submission(entry.name, _pick(folder, assignment))
        elif entry.is_file() and entry.name.endswith(".ipynb"):
            student = _flat_student(entry.name, assignment)
            if _STUDENT_ID.match(student) and student not in found:
                found[student] = Submission(student, entry)
    if not found:
        raise SubmissionsError(
            f"no submissions of {assignment} in {submitted}: expected "
            f"{submitted}/<student_id>/{assignment}/{assignment}.ipynb or "
            f"{submitted}/<student_id>_{assignment}.ipynb"
        )
    return [found[k] for k in sorted(found)]
