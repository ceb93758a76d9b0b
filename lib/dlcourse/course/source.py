"""Read a chapter's source, a jupytext "percent" ``.py`` file, as a notebook.

The ``.py`` form is what the instructor edits and what git diffs well; a
``# %% nbgrader={...}`` cell header becomes the cell's nbgrader metadata.
"""

from pathlib import Path


def read_solution(path):
    """The notebook (an ``nbformat.NotebookNode``) written in the percent file ``path``."""
    import jupytext

    return jupytext.read(Path(path), fmt="py:percent")


def read_notebook(path):
    """A notebook from an ``.ipynb`` file or, for ``.py``, from a percent file."""
    path = Path(path)
    if path.suffix == ".py":
        return read_solution(path)
    import nbformat

    return nbformat.read(path, as_version=4)
