"""Reading a student's submission, which may be anything, and finding its cells by grade_id.

A submission is untrusted input: it may not be JSON, may not be a notebook,
may have duplicated cells (a copied solution cell) or deleted ones. Reading
never raises for those; it says what is wrong so the record can.
"""

import copy
import json

from dlcourse.course import cells


class Unreadable(Exception):
    """The file is not a notebook (corrupt JSON, wrong structure); the message says why."""


def read_submission(path):
    """The notebook in ``path`` as an ``nbformat`` node; :class:`Unreadable` if it is not one."""
    import nbformat

    try:
        raw = path.read_bytes()
    except OSError as err:
        raise Unreadable(f"the file could not be read ({err.strerror})") from err
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise Unreadable("the file is not text in UTF-8, so it is not a notebook") from err
    except json.JSONDecodeError as err:
        raise Unreadable(
            f"the file is not valid JSON (line {err.lineno}, column {err.colno}: {err.msg}); "
            f"it was probably damaged or edited outside Jupyter"
        ) from err
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        raise Unreadable("the file is JSON but not a notebook: it has no list of cells")
    try:
        nb = nbformat.reads(json.dumps(data), as_version=4)
    except Exception as err:  # nbformat raises many kinds for many malformations
        raise Unreadable(f"the notebook's structure is invalid: {err}") from err
    for cell in nb.cells:
        if not isinstance(cell.get("source", ""), str) or "cell_type" not in cell:
            raise Unreadable("a cell of the notebook has no type or no text")
    return nb


def code_by_grade_id(nb):
    """``{grade_id: source}`` of the code cells carrying nbgrader metadata; the first wins."""
    found = {}
    for cell in nb.cells:
        gid = cells.grade_id(cell)
        if cell.get("cell_type") == "code" and isinstance(gid, str) and gid not in found:
            found[gid] = cell.source
    return found


def sanitized(nb):
    """A copy of ``nb`` that nbgrader can take, and the sentences saying what was changed.

    nbgrader stops on duplicated grade_ids or cell ids (a copied cell): the
    later copies lose their nbgrader metadata (the first one counts, like
    :func:`code_by_grade_id`) and get fresh cell ids.
    """
    nb = copy.deepcopy(nb)
    notes = []
    seen_grade_ids, seen_ids = set(), set()
    for index, cell in enumerate(nb.cells):
        gid = cells.grade_id(cell)
        if gid is not None:
            if gid in seen_grade_ids:
                cell.metadata.pop("nbgrader", None)
                notes.append(
                    f"cell {index + 1} repeats grade_id {gid!r}: only the first cell with that "
                    f"id was graded"
                )
            seen_grade_ids.add(gid)
        cell_id = cell.get("id")
        if cell_id is not None and cell_id in seen_ids:
            cell["id"] = f"dup-{index}"
        seen_ids.add(cell.get("id"))
    return nb, notes


def graded_only(nb):
    """A copy of ``nb`` keeping markdown and nbgrader's code cells, without the demo cells.

    nbgrader scores only its own cells (setup, solutions, checks); demo cells
    (plots, experiments) cost most of a notebook's run time and no points.
    The sandbox ignores them too, so both passes then run the same code.
    """
    nb = copy.deepcopy(nb)
    nb.cells = [c for c in nb.cells if c.get("cell_type") != "code" or cells.grade_id(c)]
    return nb


def missing_cells(nb, source_nb):
    """grade_ids of the source's graded and locked cells that the submission lacks."""
    present = {cells.grade_id(c) for c in nb.cells}
    return [
        cells.grade_id(c)
        for c in source_nb.cells
        if cells.grade_id(c) and cells.grade_id(c) not in present
    ]
