"""Run a notebook headless with nbclient, and read the errors it left in its outputs.

The notebook runs in a fresh Python kernel (the ``python3`` kernel of this
environment) with a working folder of the caller's choosing, so nothing it
writes lands next to the course's files.
"""

import copy
import re
import subprocess
import time

DEFAULT_TIMEOUT = 120  # seconds per cell: generous, a course cell takes a few seconds

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def execute(nb, cwd, *, timeout=DEFAULT_TIMEOUT, allow_errors=False):
    """Execute a copy of ``nb`` in the folder ``cwd``; return ``(executed, seconds)``.

    With ``allow_errors=False`` the first failing cell raises nbclient's
    ``CellExecutionError`` (its message shows the cell and the traceback). With
    ``allow_errors=True`` every cell runs and errors are left in the outputs; a
    cell that runs past ``timeout`` is interrupted and recorded as an error.
    """
    nb = copy.deepcopy(nb)
    seconds = execute_in_place(nb, cwd, timeout=timeout, allow_errors=allow_errors)
    return nb, seconds


def execute_in_place(nb, cwd, *, timeout=DEFAULT_TIMEOUT, allow_errors=False, started=None):
    """Like :func:`execute`, but fills in ``nb`` itself and returns the seconds taken.

    When the kernel dies halfway, ``nb`` keeps the outputs of the cells that ran.
    ``started``, a list, receives the index of each cell as it starts: the last
    one names the cell that was running when the kernel died (a dying cell may
    never receive its execution count, so that cannot tell).
    """
    from nbclient import NotebookClient

    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        allow_errors=allow_errors,
        interrupt_on_timeout=allow_errors,
        resources={"metadata": {"path": str(cwd)}},
    )
    if started is not None:
        client.on_cell_start = lambda cell, cell_index: started.append(cell_index)
    start = time.perf_counter()
    try:
        # The kernel's own stderr carries only its start-up chatter; the notebook's
        # output, errors included, arrives through the kernel protocol.
        client.execute(stderr=subprocess.DEVNULL)
    finally:
        elapsed = time.perf_counter() - start
    return elapsed


def ran(cell):
    """Whether a code cell was executed (an empty cell counts: there is nothing to run)."""
    return cell.get("execution_count") is not None or not cell.source.strip()


def error_output(cell):
    """The first error output of a code cell, or None."""
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            return output
    return None


def first_error(nb):
    """``(index, error output)`` of the first cell that raised, or None."""
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and (error := error_output(cell)) is not None:
            return index, error
    return None


def plain(text):
    """``text`` without the terminal colour codes IPython puts in tracebacks."""
    return _ANSI.sub("", text)
