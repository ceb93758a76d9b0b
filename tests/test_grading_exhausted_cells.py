"""The in-kernel pass gives seconds, not its full wait, to cells whose exercise the sandbox
already stopped at a limit: the verified result is known, and the in-kernel score decides
nothing, so an infinite loop costs the batch its CPU limit once, not twice."""

import time
from types import SimpleNamespace

import pytest

from dlcourse.grading.inkernel import CELL_TIMEOUT_S, EXHAUSTED_CELL_TIMEOUT_S, cell_timeouts
from dlcourse.grading.student import _exhausted_cells

nbformat = pytest.importorskip("nbformat", reason="notebooks are made with nbformat")
execute = pytest.importorskip("nbgrader.preprocessors.execute", reason="needs nbgrader")


def _cell(source, grade_id=None):
    cell = nbformat.v4.new_code_cell(source)
    if grade_id:
        cell.metadata["nbgrader"] = {"grade_id": grade_id}
    return cell


def test_only_the_exercises_stopped_by_a_limit_get_the_short_timeout():
    exercises = {
        "check_loop": SimpleNamespace(solution=("loop",)),
        "check_bomb": SimpleNamespace(solution=("bomb",)),
        "check_fine": SimpleNamespace(solution=("fine",)),
        "check_wrong": SimpleNamespace(solution=("wrong",)),
    }
    record = {
        "exercises": [
            {"grade_id": "check_loop", "limit": "cpu"},
            {"grade_id": "check_bomb", "limit": "memory"},
            {"grade_id": "check_fine", "limit": None},
            {"grade_id": "check_wrong", "limit": "output"},  # printing too much ends at once
        ]
    }
    cells = _exhausted_cells(SimpleNamespace(exercises=exercises), record)
    assert cells == {"check_loop", "loop", "check_bomb", "bomb"}
    timeout = cell_timeouts(cells)
    assert timeout(_cell("f()", "check_loop")) == EXHAUSTED_CELL_TIMEOUT_S
    assert timeout(_cell("def f(): ...", "bomb")) == EXHAUSTED_CELL_TIMEOUT_S
    assert timeout(_cell("g()", "check_fine")) == CELL_TIMEOUT_S
    assert timeout(_cell("print(1)")) == CELL_TIMEOUT_S  # a cell nbgrader does not know


def test_a_real_kernel_stops_the_exhausted_cell_and_runs_the_next(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        _cell("while True:\n    pass", "check_loop"),
        _cell("print('next cell ran')", "check_fine"),
    ]
    # nbgrader's own Execute step, configured as the in-kernel pass configures it
    runner = execute.Execute(
        timeout=CELL_TIMEOUT_S, timeout_func=cell_timeouts({"check_loop"}), allow_errors=True
    )
    start = time.monotonic()
    runner.preprocess(nb, {"metadata": {"path": str(tmp_path)}})
    assert time.monotonic() - start < CELL_TIMEOUT_S  # stopped early, not after the full wait
    looped, following = nb.cells
    assert "CellTimeoutError" in [o.get("ename") for o in looped.outputs], looped.outputs
    assert following.outputs[0]["text"] == "next cell ran\n"
