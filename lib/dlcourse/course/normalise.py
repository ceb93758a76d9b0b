"""Byte-identical notebooks from identical input: the build's output is reproducible.

A test rebuilds ``course/`` and compares it byte for byte with the committed
files, so whatever would differ between two runs is fixed here:

- cell ids (nbformat makes random ones) become the cell's ``grade_id`` or
  ``cell-<index>``;
- notebook metadata keeps only the kernel: jupytext records its version there;
- cell metadata loses jupytext's layout hints (blank lines between cells);
- code cells lose their outputs and execution counts;
- the JSON is written with sorted keys and a final newline.
"""

import copy

from dlcourse.course import cells

_KEPT_NOTEBOOK_METADATA = ("kernelspec",)
_JUPYTEXT_CELL_METADATA = (
    "lines_to_next_cell",
    "lines_to_end_of_cell_marker",
    "cell_marker",
    "region_name",
)


def cell_ids(nb):
    """A stable id per cell: the grade_id where it is a valid, unused id, else cell-<index>."""
    taken = {cells.grade_id(c) for c in nb.cells if cells.grade_id(c)}
    ids, used = [], set()
    for index, cell in enumerate(nb.cells):
        gid = cells.grade_id(cell)
        if gid and cells.GRADE_ID.match(gid) and gid not in used:
            ids.append(gid)
        else:
            candidate = f"cell-{index}"
            while candidate in taken or candidate in used:  # a grade_id that looks like ours
                candidate += "-"
            ids.append(candidate)
        used.add(ids[-1])
    return ids


def normalise(nb):
    """A copy of ``nb`` with everything that would vary between builds made fixed."""
    from nbformat import from_dict

    nb = from_dict(copy.deepcopy(nb))
    nb.nbformat, nb.nbformat_minor = 4, 5
    nb.metadata = from_dict(
        {k: nb.metadata[k] for k in _KEPT_NOTEBOOK_METADATA if k in nb.metadata}
    )
    for cell, cell_id in zip(nb.cells, cell_ids(nb)):
        cell["id"] = cell_id
        for key in _JUPYTEXT_CELL_METADATA:
            cell.metadata.pop(key, None)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    return nb


def dumps(nb):
    """The notebook as the text of an ``.ipynb`` file, checked against the nbformat schema."""
    import nbformat

    nbformat.validate(nb)
    text = nbformat.writes(nb)
    return text if text.endswith("\n") else text + "\n"
