"""Run a check cell the way a learner does, with one wrong attempt swapped in.

The locked cells (set-up, helpers, checks) come from ``course/NN-name.ipynb``,
the student version with its hidden tests already removed, so a test sees the
very feedback a learner sees. Solution cells come from the learner's attempt
when the test gives one, and from the instructor's solution otherwise (an
exercise the learner got right).
"""

import contextlib
import io
from dataclasses import dataclass

import nbformat

from chapter_helpers import cell_sources
from dlcourse.course import cells
from test_course_samples import ROOT


@dataclass
class Feedback:
    message: str | None  # what the check failed with; None when it passed
    printed: str  # what the cells printed on the way (notes, "All visible checks passed.")


def course_cells(chapter):
    """grade_id -> (source, is a solution cell) of course/CHAPTER.ipynb."""
    nb = nbformat.read(ROOT / "course" / f"{chapter}.ipynb", as_version=4)
    return {
        cells.grade_id(c): (c.source, cells.is_solution(c)) for c in nb.cells if cells.grade_id(c)
    }


def course_cell_with(chapter, text):
    """The source of the one code cell of course/CHAPTER.ipynb that contains ``text``."""
    nb = nbformat.read(ROOT / "course" / f"{chapter}.ipynb", as_version=4)
    (source,) = [c.source for c in nb.cells if c.cell_type == "code" and text in c.source]
    return source


def run_check(chapter, check, cells_before, attempt=None):
    """Run ``cells_before`` then the check cell ``check``; return the Feedback.

    attempt: {grade_id: source} of the learner's solution cells. A cell without a
    grade_id (a worked example the check reuses) is named by a text only it contains.
    """
    attempt = attempt or {}
    student, solutions = course_cells(chapter), cell_sources(chapter)
    namespace, printed = {}, io.StringIO()
    with contextlib.redirect_stdout(printed):
        for gid in cells_before:
            source, is_solution = student.get(gid) or (course_cell_with(chapter, gid), False)
            exec(attempt.get(gid, solutions[gid] if is_solution else source), namespace)
        try:
            exec(student[check][0], namespace)
        except AssertionError as err:
            return Feedback(str(err), printed.getvalue())
    return Feedback(None, printed.getvalue())
