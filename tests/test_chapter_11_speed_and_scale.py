"""Chapter 11 (speed and scale): exercises 1 and 2, in the notebook and out of the kernel.

Exercise 3, the ring all-reduce, has its own file (test_chapter_11_ring_allreduce.py).

The generic notebook tests run the chapter (the benchmark and the data-parallel
runs included); here, cheaply, without a kernel: the out-of-kernel checks pass
the instructor's solutions and fail the classic mistakes, the notebook's check
cells name those mistakes, and the FLOP count the chapter teaches is the one
``dlcourse bench`` divides by. One test reads the executed notebook: its JAX
call returns before its result is ready.
"""

import contextlib
import io
import re

import pytest

from chapter_helpers import cell_sources, load_checks, run_exercise
from dlcourse.course import cells
from test_course_samples import ROOT

pytest.importorskip("jupytext", reason="reading the solutions needs jupytext (extra 'course')")

from dlcourse.course.source import read_solution  # noqa: E402 -- needs jupytext

CHAPTER = "11-speed-and-scale"

# classic mistakes, made in the instructor's solutions: (grade_id, old, new)
FORWARD_ONLY = ("dense_training_flops", "3 * sum(forward) - forward[0]", "sum(forward)")
FIRST_INPUT_GRADIENT = ("dense_training_flops", "3 * sum(forward) - forward[0]", "3 * sum(forward)")
ONE_PHASE = ("ring_allreduce_bytes", "return 2 * (workers - 1)", "return (workers - 1)")


@pytest.fixture(scope="module")
def notebook():
    return read_solution(ROOT / "solutions" / f"{CHAPTER}.py")


@pytest.fixture(scope="module")
def checks():
    return load_checks(CHAPTER)


@pytest.fixture(scope="module")
def sources():
    return cell_sources(CHAPTER)


def mutated(sources, mistake):
    gid, old, new = mistake
    assert old in sources[gid], f"the solution of {gid} no longer contains {old!r}: update the test"
    return {gid: sources[gid].replace(old, new)}


def check_cell_message(nb, check_id, solutions):
    """Run the setup, the (mutated) solution and its check cell; the check's error message."""
    namespace = {}
    order = [c for c in nb.cells if c.cell_type == "code"]
    stop = [cells.grade_id(c) for c in order].index(check_id)
    with contextlib.redirect_stdout(io.StringIO()):
        for cell in order[:stop]:
            gid = cells.grade_id(cell)
            if gid in ("setup", check_id.removeprefix("check_")):
                exec(solutions.get(gid, cell.source), namespace)
        with pytest.raises(AssertionError) as failure:
            exec(order[stop].source, namespace)
    return str(failure.value)


def test_every_graded_cell_has_an_out_of_kernel_check(notebook, checks):
    graded = [cells.grade_id(c) for _, c in cells.grade_cells(notebook)]
    assert [e.grade_id for e in checks] == graded
    assert cells.total_points(notebook) == cells.stated_total(notebook) == 8


def test_checks_pass_the_solutions(notebook, sources, checks):
    for exercise in checks:
        assert len(run_exercise(exercise, sources, {})) == 0, exercise.grade_id


@pytest.mark.parametrize("mistake", [FORWARD_ONLY, FIRST_INPUT_GRADIENT])
def test_flops_check_fails_the_classic_mistakes(notebook, sources, checks, mistake):
    assert len(run_exercise(checks[0], sources, mutated(sources, mistake), seed=1)) > 0


def test_ring_check_fails_one_phase_only(notebook, sources, checks):
    assert len(run_exercise(checks[1], sources, mutated(sources, ONE_PHASE), seed=2)) > 0


@pytest.mark.parametrize(
    ("mistake", "words"),
    [(FORWARD_ONLY, "forward pass only"), (FIRST_INPUT_GRADIENT, "first layer's input gradient")],
)
def test_notebook_names_the_flops_mistakes(notebook, sources, mistake, words):
    message = check_cell_message(notebook, "check_dense_training_flops", mutated(sources, mistake))
    assert words in message


def test_notebook_names_the_missing_phase(notebook, sources):
    message = check_cell_message(
        notebook, "check_ring_allreduce_bytes", mutated(sources, ONE_PHASE)
    )
    assert "two phases" in message


def test_the_taught_flop_count_is_the_one_the_benchmark_divides_by(notebook, sources):
    from dlcourse.bench.networks import MLP_SIZES, NETWORKS, flops_per_step

    namespace = {}
    exec(sources["dense_training_flops"], namespace)
    mlp = NETWORKS["mlp"]
    assert namespace["dense_training_flops"](MLP_SIZES, mlp.batch) == flops_per_step("mlp", 128)


def test_executed_notebook_shows_a_jax_call_returning_before_its_result(runs):
    pytest.importorskip("nbclient", reason="running notebooks needs nbclient (extra 'course')")
    pytest.importorskip("jax", reason="the asynchronous-dispatch cell needs JAX (extra 'jax')")

    text = runs.solution_output(CHAPTER)
    returned = re.search(r"^the call returned after +([0-9.]+) ms$", text, re.M)
    finished = re.search(r"^the result was ready after +([0-9.]+) ms$", text, re.M)
    assert returned and finished, f"the asynchronous-dispatch cell printed no times:\n{text}"
    # queueing takes well under a millisecond, the 2048^3 product tens of milliseconds
    assert float(returned.group(1)) < float(finished.group(1)) / 5, (returned[0], finished[0])
