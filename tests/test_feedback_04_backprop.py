"""Chapter 04: what the visible checks tell a learner, for real wrong attempts.

Each attempt runs through a check cell of course/04-backprop.ipynb
(learner_checks.run_check). Exercise 2 builds on exercise 1, so its feedback
must blame dense_backward when that is where the mistake is, and never advise a
change to two_layer_backward that would only hide it.
"""

import contextlib
import io
import re

import pytest

pytest.importorskip("jupytext", reason="reading the solutions needs jupytext (extra 'course')")

from learner_checks import course_cell_with, course_cells, run_check  # noqa: E402

CHAPTER = "04-backprop"
NETWORK_CELLS = ["setup", "dense_backward", "two_layer_forward", "two_layer_backward"]

DENSE_DW_TRANSPOSED = """
def dense_backward(dout, cache):
    x, w = cache
    return dout @ w.T, dout.T @ x, dout.sum(axis=0)
"""
DENSE_WITHOUT_DOUT = """
def dense_backward(dout, cache):
    x, w = cache
    return dout @ w.T, x.T @ np.ones_like(dout), dout.sum(axis=0)
"""
NETWORK_UNDOING_THE_TRANSPOSE = """
def two_layer_backward(cache):
    dh, dw2, db2 = dense_backward(cache["dscores"], cache["dense2"])
    dh_pre = relu_backward(dh, cache["relu"])
    _, dw1, db1 = dense_backward(dh_pre, cache["dense1"])
    return {"w1": dw1.T, "b1": db1, "w2": dw2.T, "b2": db2}
"""
NETWORK_WITHOUT_RELU = """
def two_layer_backward(cache):
    dh, dw2, db2 = dense_backward(cache["dscores"], cache["dense2"])
    _, dw1, db1 = dense_backward(dh, cache["dense1"])
    return {"w1": dw1, "b1": db1, "w2": dw2, "b2": db2}
"""
NETWORK_SCALED = """
def two_layer_backward(cache):
    dh, dw2, db2 = dense_backward(cache["dscores"], cache["dense2"])
    dh_pre = relu_backward(dh, cache["relu"])
    _, dw1, db1 = dense_backward(dh_pre, cache["dense1"])
    return {"w1": 3 * dw1, "b1": 3 * db1, "w2": 3 * dw2, "b2": 3 * db2}
"""


def network_check(attempt):
    return run_check(CHAPTER, "check_two_layer_backward", NETWORK_CELLS, attempt)


def dense_check(source):
    cells = ["setup", "dense_backward"]
    return run_check(CHAPTER, "check_dense_backward", cells, {"dense_backward": source})


def test_a_transposed_dw_in_dense_backward_is_blamed_on_dense_backward():
    got = network_check({"dense_backward": DENSE_DW_TRANSPOSED})
    assert "return dw1.T" not in (got.message or "") + got.printed
    # two_layer_backward itself is right: it passes, as with the grader, with a note
    assert got.message is None
    assert "two_layer_backward is right with the course's dense_backward" in got.printed
    assert "dense_backward is wrong on dense2's cache: dw has shape (3, 5)" in got.printed


def test_undoing_dense_backwards_mistake_in_two_layer_backward_fails():
    attempt = {"dense_backward": DENSE_DW_TRANSPOSED}
    got = network_check({**attempt, "two_layer_backward": NETWORK_UNDOING_THE_TRANSPOSE})
    assert "makes up for a mistake in your dense_backward" in got.message
    assert "Fix dense_backward (exercise 1)" in got.message


def test_both_wrong_blames_dense_backward_first_then_the_network():
    attempt = {"dense_backward": DENSE_DW_TRANSPOSED, "two_layer_backward": NETWORK_WITHOUT_RELU}
    got = network_check(attempt)
    assert got.message.startswith("your dense_backward is wrong on dense2's cache")
    assert "as the grader runs this exercise: dw2 and db2 are right" in got.message


def test_a_skipped_relu_says_which_gradients_are_right():
    got = network_check({"two_layer_backward": NETWORK_WITHOUT_RELU})
    assert got.message.startswith("dw2 and db2 are right but dw1 and db1 are not")
    assert "ReLU step" in got.message
    assert "your dense_backward" not in got.message  # exercise 1 is right: not blamed


def test_all_wrong_names_no_right_ones():
    got = network_check({"two_layer_backward": NETWORK_SCALED})
    assert "are right" not in got.message and "ReLU" not in got.message
    assert "dense_backward is wrong" not in got.message
    assert "off by a factor of 3" in got.message


def test_a_right_network_gets_no_note():
    got = network_check({})
    assert got.message is None and "note" not in got.printed
    assert "two_layer_backward: all visible checks passed." in got.printed


def test_a_forgotten_dout_in_dense_backward_is_named():
    got = dense_check(DENSE_WITHOUT_DOUT)
    assert "dw ignores dout" in got.message and "Multiply by dout" in got.message
    assert "re-derive" not in got.message


def test_a_transposed_dw_is_not_called_a_forgotten_dout():
    got = dense_check(DENSE_DW_TRANSPOSED)
    assert "transposed" in got.message and "ignores dout" not in got.message


def test_the_showcase_names_the_forgotten_dout():
    # the cell after "What the checker says about typical mistakes" prints what the checks say
    source = course_cell_with(CHAPTER, "dw = x.T @ np.ones_like(dout)")
    assert "explain(" in source
    namespace = {}
    exec(course_cells(CHAPTER)["setup"][0], namespace)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(source, namespace)
    shown = dict(re.findall(r"^(\S.*)\n    (.*)$", printed.getvalue(), flags=re.M))
    assert "dw ignores dout" in shown["dw = x.T @ np.ones_like(dout)"]
    assert "ignores dout" not in shown["dw = dout.T @ x"]
    assert "transposed" in shown["dw = dout.T @ x"]
    assert "batch size" in shown["db = dout.mean(axis=0)"]
