"""Chapter 08: what the PReLU backward check tells a learner, for real wrong attempts.

Each attempt runs through check_prelu_backward of course/08-keras-style.ipynb
(learner_checks.run_check). Every attempt here fails on the small cases, before
the check reaches the other backends.
"""

import pytest

pytest.importorskip("jupytext", reason="reading the solutions needs jupytext (extra 'course')")
pytest.importorskip("nbformat", reason="reading the course notebooks needs nbformat")

from chapter_helpers import cell_sources  # noqa: E402
from learner_checks import run_check  # noqa: E402
from test_chapter_08_keras_style import with_method  # noqa: E402

CHAPTER = "08-keras-style"
PRELU = cell_sources(CHAPTER)["prelu"]
RIGHT_DX = "        return ops.where(x > 0, dout, self.alpha * dout)"
RIGHT_DALPHA = "        self.grads['alpha'] = ops.sum(dout * ops.minimum(x, 0.0), axis=0)\n"


def backward_check(call=None, backward=None):
    prelu = PRELU
    if call is not None:
        prelu = with_method(prelu, "call", call)
    if backward is not None:
        prelu = with_method(prelu, "backward", "        x = self.x\n" + backward)
    cells = ["setup", "prelu", "check_helpers"]
    return run_check(CHAPTER, "check_prelu_backward", cells, {"prelu": prelu})


def test_a_call_that_changes_x_in_place_is_not_told_about_the_batch():
    # saves a copy, then overwrites the caller's x with the output: on the one-row worked
    # example dalpha came out 4 (= 1/alpha) times the value computed from the changed x
    call = (
        "        self.x = x.copy()\n"
        "        x *= ops.where(x > 0, 1.0, self.alpha)\n"
        "        return x"
    )
    got = backward_check(call=call)
    assert got.message.startswith("By hand: call changed its input x in place")
    assert "fix call first (exercise 1)" in got.message
    assert "batch" not in got.message and "divide by N" not in got.message


def test_a_factor_on_a_one_row_batch_is_not_called_the_batch_size():
    got = backward_check(backward=RIGHT_DALPHA.replace("= ops.sum", "= 4 * ops.sum") + RIGHT_DX)
    assert "off by a factor of 4;" in got.message
    assert "batch" not in got.message and "divide by N" not in got.message
    assert got.message.startswith("By hand: dx is right, but dalpha is 4 times")


def test_a_right_call_is_not_told_it_changed_x():
    got = backward_check(backward=RIGHT_DALPHA.replace("= ops.sum", "= 4 * ops.sum") + RIGHT_DX)
    assert "in place" not in got.message


def test_a_forgotten_dout_is_named():
    got = backward_check(
        backward=RIGHT_DALPHA + RIGHT_DX.replace("dout, self.alpha * dout", "1.0, self.alpha")
    )
    assert got.message == "A batch of 6 rows: dx is the local slope alone: multiply it by dout."


def test_a_forgotten_dout_in_dalpha_is_named():
    dalpha = RIGHT_DALPHA.replace("dout * ops.minimum", "ops.minimum")
    got = backward_check(backward=dalpha + RIGHT_DX)
    assert "dalpha ignores dout" in got.message


def test_relus_dx_is_not_called_a_forgotten_dout():
    got = backward_check(backward=RIGHT_DALPHA + "        return dout * (x > 0)")
    assert "ReLU's gradient" in got.message and "multiply it by dout" not in got.message


def test_when_dx_and_dalpha_are_both_wrong_none_is_called_right():
    wrong_dx = RIGHT_DX.replace("self.alpha * dout", "2 * self.alpha * dout")
    got = backward_check(backward=RIGHT_DALPHA.replace("= ops.sum", "= 3 * ops.sum") + wrong_dx)
    assert "is right" not in got.message and "are right" not in got.message
