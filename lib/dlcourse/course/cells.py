"""What each cell of a course notebook is, read from its nbgrader metadata.

nbgrader marks cells in ``cell.metadata["nbgrader"]``:

- a *solution* cell (``"solution": true``) holds the code the student writes;
- a *grade* cell (``"grade": true``, with ``"points"``) holds the checks;
- a *locked* cell (``"locked": true``) is code the student cannot edit: set-up
  (grade_id ``setup``), helpers for the checks (``check_helpers``, ...) or given code.

Cells without that metadata are ordinary markdown and demo cells.
"""

import re

GRADE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # also a valid nbformat cell id


def nbgrader_meta(cell):
    """The cell's nbgrader metadata (an empty dict when it has none)."""
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def is_grade(cell):
    return bool(nbgrader_meta(cell).get("grade"))


def is_solution(cell):
    return bool(nbgrader_meta(cell).get("solution"))


def grade_id(cell):
    return nbgrader_meta(cell).get("grade_id")


_SETUP_ID = re.compile(r"^(setup|check_\w*helpers)$")


def is_setup(cell):
    """A locked cell of set-up code (imports) or of helpers for the checks, by its grade_id.

    Other locked cells hold code the chapter teaches with (a given forward, a class),
    so only these two kinds of grade_id count.
    """
    meta = nbgrader_meta(cell)
    if not meta.get("locked") or is_grade(cell) or is_solution(cell):
        return False
    return bool(_SETUP_ID.match(meta.get("grade_id") or ""))


def points(cell):
    """The points of a grade cell (0 for other cells)."""
    return nbgrader_meta(cell).get("points", 0) if is_grade(cell) else 0


def grade_cells(nb):
    """``(index, cell)`` of every grade cell, in notebook order."""
    return [(i, cell) for i, cell in enumerate(nb.cells) if is_grade(cell)]


def total_points(nb):
    return sum(points(cell) for cell in nb.cells)


def exercise_of(nb, index):
    """The grade_id of the last solution cell above cell ``index``: the exercise it checks."""
    for cell in reversed(nb.cells[:index]):
        if is_solution(cell):
            return grade_id(cell)
    return None


_TOTAL = re.compile(r"worth\s+(\d+(?:\.\d+)?)\s+points?", re.IGNORECASE)


def stated_total(nb):
    """The N of "This notebook is worth N points" in the first markdown cell, or None."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            match = _TOTAL.search(cell.source)
            return float(match.group(1)) if match else None
    return None


def title(nb, fallback):
    """The first heading of the first markdown cell ("01. A dense layer by hand")."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
            break
    return fallback
