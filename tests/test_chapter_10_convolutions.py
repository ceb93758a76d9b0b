"""Chapter 10 (convolutions by hand): its checks, in the notebook and out of the kernel.

The generic notebook tests run every chapter; here we check what is particular
to this one: the out-of-kernel checks in ``autograder/checks/10-convolutions.py``
pass the instructor's solution and fail the classic mistakes, the notebook's own
check cells name those mistakes, and an executed notebook trained the CNN on at
least two backends with the same losses.
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

CHAPTER = "10-convolutions"


@pytest.fixture(scope="module")
def notebook():
    return read_solution(ROOT / "solutions" / f"{CHAPTER}.py")


@pytest.fixture(scope="module")
def checks():
    return load_checks(CHAPTER)


@pytest.fixture(scope="module")
def sources():
    return cell_sources(CHAPTER)


def mutated(sources, gid, old, new):
    source = sources[gid]
    assert old in source, f"the solution of {gid} no longer contains {old!r}: update the test"
    return source.replace(old, new)


# The classic mistakes, made in the instructor's own solutions.
FLIPPED_KERNEL = ("np.tensordot(window, w,", "np.tensordot(window, w[:, :, ::-1, ::-1],")
OVERWRITE_DX = (
    "dxpad[:, :, top : top + KH, left : left + KW] += ",
    "dxpad[:, :, top : top + KH, left : left + KW] = ",
)
ZEROES_DOUT = ("    return dx, dw, db", "    dout[...] = 0\n    return dx, dw, db")


def test_every_graded_cell_has_an_out_of_kernel_check(notebook, checks):
    graded = [cells.grade_id(c) for _, c in cells.grade_cells(notebook)]
    assert [e.grade_id for e in checks] == graded
    solution_ids = {cells.grade_id(c) for c in notebook.cells if cells.is_solution(c)}
    for exercise in checks:
        assert set(exercise.solution) <= solution_ids
        assert exercise.hidden, f"{exercise.grade_id}: the references must be hidden"
    assert cells.total_points(notebook) == cells.stated_total(notebook) == 10


def test_checks_pass_the_solution(notebook, sources, checks):
    for exercise in checks:
        assert run_exercise(exercise, sources, {}) == [], exercise.grade_id


def test_forward_check_fails_a_flipped_kernel(notebook, sources, checks):
    forward = checks[0]
    wrong = {"conv2d_forward": mutated(sources, "conv2d_forward", *FLIPPED_KERNEL)}
    failures = run_exercise(forward, sources, wrong, seed=1)
    assert failures and all(re.search(r"\bout differs", m) for m in failures)


def test_backward_check_fails_overwritten_gradients_and_a_modified_dout(notebook, sources, checks):
    backward = checks[1]
    overwrite = {"conv2d_backward": mutated(sources, "conv2d_backward", *OVERWRITE_DX)}
    failures = run_exercise(backward, sources, overwrite, seed=2)
    assert failures and all(re.search(r"\bdx differs", m) for m in failures)
    zeroes = {"conv2d_backward": mutated(sources, "conv2d_backward", *ZEROES_DOUT)}
    failures = run_exercise(backward, sources, zeroes, seed=3)
    assert failures and all("changed its input dout in place" in m for m in failures)


def run_check_cell(nb, check_id, replace):
    """Run the notebook's code cells up to the check cell ``check_id``; return its error."""
    namespace = {}
    with contextlib.redirect_stdout(io.StringIO()):
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            source = replace.get(cells.grade_id(cell), cell.source)
            if cells.grade_id(cell) == check_id:
                with pytest.raises(AssertionError) as failure:
                    exec(source, namespace)
                return str(failure.value)
            exec(source, namespace)
    raise AssertionError(f"no cell {check_id}")


def test_notebook_names_the_flipped_kernel(notebook, sources):
    wrong = {"conv2d_forward": mutated(sources, "conv2d_forward", *FLIPPED_KERNEL)}
    message = run_check_cell(notebook, "check_conv2d_forward", wrong)
    assert "flipped" in message and "cross-correlation" in message


def test_notebook_names_the_overwritten_gradient(notebook, sources):
    wrong = {"conv2d_backward": mutated(sources, "conv2d_backward", *OVERWRITE_DX)}
    message = run_check_cell(notebook, "check_conv2d_backward", wrong)
    assert "(+=)" in message and "overlap" in message


def test_notebook_names_a_modified_dout(notebook, sources):
    wrong = {"conv2d_backward": mutated(sources, "conv2d_backward", *ZEROES_DOUT)}
    message = run_check_cell(notebook, "check_conv2d_backward", wrong)
    assert "dout" in message and "in place" in message


def test_executed_notebook_trained_the_cnn_on_two_backends_alike(runs):
    pytest.importorskip("nbclient", reason="running notebooks needs nbclient (extra 'course')")

    text = runs.solution_output(CHAPTER)
    trained = re.findall(r"^(\w+) +trained in .* test accuracy ([0-9.]+)$", text, re.M)
    assert len(trained) >= 2, f"fewer than two backends trained:\n{text}"
    assert all(float(acc) > 0.9 for _, acc in trained), trained
    gaps = re.findall(r"largest difference in the loss per epoch, .*: (\S+)$", text, re.M)
    assert gaps and all(float(g) < 1e-4 for g in gaps), gaps
    speedup = re.search(r"im2col is ([0-9,]+) times faster", text)
    assert speedup and int(speedup.group(1).replace(",", "")) > 10
