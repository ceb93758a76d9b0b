"""Check a chapter's nbgrader metadata before it is built, and its release after.

nbgrader trusts its metadata: a repeated ``grade_id`` silently merges two
checks in the gradebook, a grade cell without points is worth nothing, and a
solution cell without markers is replaced whole. Each function returns a list
of problems, each one a sentence naming the cell; an empty list means all is well.
"""

from dlcourse.course import cells
from dlcourse.course.leaks import HIDDEN_TEST_MARKERS, SOLUTION_MARKERS, markers_in

_REQUIRED_KEYS = ("grade", "grade_id", "locked", "schema_version", "solution")


def _label(index, cell):
    gid = cells.grade_id(cell)
    return f"cell {index}" + (f" ({gid})" if gid else "")


def _metadata_problems(index, cell):
    label = _label(index, cell)
    if "incorrectly_encoded_metadata" in cell.metadata:
        return [
            f"{label}: its header could not be read as metadata "
            f"({cell.metadata['incorrectly_encoded_metadata']!r}); write it as "
            f'# %% nbgrader={{"grade": ..., ...}} with valid JSON.'
        ]
    meta = cells.nbgrader_meta(cell)
    if not meta:
        return []
    problems = [
        f"{label}: nbgrader metadata lacks {key!r}" for key in _REQUIRED_KEYS if key not in meta
    ]
    gid = meta.get("grade_id")
    if gid is not None and not cells.GRADE_ID.match(str(gid)):
        problems.append(
            f"{label}: grade_id {gid!r} should be 1-64 letters, digits, '_' or '-' (snake_case)"
        )
    if meta.get("grade"):
        value = meta.get("points")
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            problems.append(f"{label}: a grade cell needs positive 'points', got {value!r}")
        if cell.cell_type != "code":
            problems.append(f"{label}: grade cells must be code cells")
        elif not meta.get("locked"):
            problems.append(f"{label}: a grade cell must be locked, or students can edit the check")
    return problems


def _unique_ids(nb):
    seen, problems = {}, []
    for index, cell in enumerate(nb.cells):
        gid = cells.grade_id(cell)
        if gid is None:
            continue
        if gid in seen:
            problems.append(f"cell {index}: grade_id {gid!r} is already used by cell {seen[gid]}")
        else:
            seen[gid] = index
    return problems


def _total_problems(nb):
    total, stated = cells.total_points(nb), cells.stated_total(nb)
    if total and stated is None:
        return [
            f"the first markdown cell should state the total: 'This notebook is worth "
            f"{total:g} points'"
        ]
    if stated is not None and stated != total:
        return [f"the first markdown cell says {stated:g} points; the grade cells give {total:g}"]
    return []


def lint_source(nb):
    """Problems in a chapter's source notebook (the one with the solutions)."""
    problems = _unique_ids(nb) + _total_problems(nb)
    for index, cell in enumerate(nb.cells):
        problems += _metadata_problems(index, cell)
        found = markers_in(cell.source)
        label = _label(index, cell)
        solution_markers = [m for m in found if m in SOLUTION_MARKERS]
        hidden_markers = [m for m in found if m in HIDDEN_TEST_MARKERS]
        if cells.is_solution(cell) and cell.cell_type == "code" and len(solution_markers) != 2:
            problems.append(
                f"{label}: a solution cell needs both '### BEGIN SOLUTION' and '### END SOLUTION' "
                f"around the answer, inside the function body"
            )
        if solution_markers and not cells.is_solution(cell):
            problems.append(f"{label}: solution markers in a cell that is not a solution cell")
        if hidden_markers and not cells.is_grade(cell):
            problems.append(f"{label}: hidden-test markers in a cell that is not a grade cell")
        if hidden_markers and len(hidden_markers) != 2:
            problems.append(f"{label}: 'BEGIN HIDDEN TESTS' and 'END HIDDEN TESTS' come in pairs")
    return problems


def lint_release(nb):
    """Problems in a student notebook: leftovers of the solutions, outputs, bad metadata."""
    problems = _unique_ids(nb) + _total_problems(nb)
    for index, cell in enumerate(nb.cells):
        label = _label(index, cell)
        problems += [f"{label}: the marker {m!r} was left in" for m in markers_in(cell.source)]
        if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count")):
            problems.append(f"{label}: outputs were not cleared")
        if cells.is_solution(cell) and cell.cell_type == "code":
            if "NotImplementedError" not in cell.source:
                problems.append(f"{label}: the solution cell has no NotImplementedError stub")
        problems += _metadata_problems(index, cell)
    return problems
