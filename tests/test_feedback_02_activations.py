"""Chapter 02: what the visible checks tell a learner, for real wrong attempts.

Each attempt runs through the check cell of course/02-activations.ipynb
(learner_checks.run_check); the test reads the message. A hint must come with
the evidence for it: the keepdims hint only for a sum that lost the softmax's
axis, never for other crashes.
"""

import pytest

pytest.importorskip("jupytext", reason="reading the solutions needs jupytext (extra 'course')")

from learner_checks import run_check  # noqa: E402

CHAPTER = "02-activations"


def softmax_check(body):
    source = f"def softmax_backward(dout, cache):\n    s, axis = cache\n{body}"
    cells = ["setup", "check_helpers", "softmax_backward"]
    return run_check(CHAPTER, "check_softmax_backward", cells, {"softmax_backward": source})


def sigmoid_check(body):
    source = f"def sigmoid_backward(dout, cache):\n    s = cache\n{body}"
    cells = ["setup", "check_helpers", "sigmoid_backward"]
    return run_check(CHAPTER, "check_sigmoid_backward", cells, {"sigmoid_backward": source})


def test_a_full_jacobian_crash_is_not_told_about_keepdims():
    # np.diag of a (4, 3) batch is its diagonal, np.outer flattens it: (3,) - (12, 12)
    got = softmax_check("    return (np.diag(s) - np.outer(s, s)).T @ dout\n")
    assert "could not be broadcast" in got.message and "(12,12)" in got.message
    assert "keepdims" not in got.message
    assert "(12, 12) has more elements than x (4, 3)" in got.message
    assert "needs neither" in got.message


def test_a_sum_that_lost_its_axis_is_told_about_keepdims():
    got = softmax_check("    return s * (dout - (dout * s).sum(axis=axis))\n")
    assert "shape (4,) is x's shape (4, 3) without axis -1" in got.message
    assert "keepdims=True" in got.message
    assert "Jacobian" not in got.message


def test_an_unrelated_crash_gets_no_guess():
    got = sigmoid_check("    return dout * s * (1 - s[:2])\n")  # (4, 5) against (2, 5)
    assert "raised ValueError" in got.message
    assert "keepdims" not in got.message and "Jacobian" not in got.message
    assert "Print the shapes of your intermediate arrays" in got.message


def test_a_crash_that_is_no_broadcast_gets_no_guess():
    got = softmax_check("    return s * (dout - s.T @ dout)\n")  # (3, 4) @ (4, 3): (3, 3)
    assert "keepdims" not in got.message and "Jacobian" not in got.message


def test_an_elementwise_backward_returning_a_float_is_told_to_return_an_array():
    got = sigmoid_check("    return float(np.sum(dout * s * (1 - s)))\n")
    assert "dx is a single number (a float)" in got.message
    assert "shaped like dout, (4, 5)" in got.message
    assert "sum over one axis" not in got.message


def test_an_array_of_the_wrong_shape_is_not_called_a_single_number():
    got = sigmoid_check("    return (dout * s * (1 - s)).sum(axis=0)\n")
    assert "single number" not in got.message
    assert "dx has shape (5,) but should be (4, 5)" in got.message


def test_a_forgotten_dout_is_named():
    got = sigmoid_check("    return s * (1 - s)\n")
    assert "local slope f'(x) alone: multiply it by dout" in got.message


def test_a_wrong_slope_is_not_called_a_forgotten_dout():
    got = sigmoid_check("    return dout * s\n")
    assert "multiply it by dout" not in got.message
    assert "differs from the expected gradient" in got.message


def test_the_solutions_pass_with_nothing_to_say():
    for check, cell in [
        ("check_sigmoid_backward", "sigmoid_backward"),
        ("check_softmax_backward", "softmax_backward"),
    ]:
        got = run_check(CHAPTER, check, ["setup", "check_helpers", cell])
        assert got.message is None and "All visible checks passed." in got.printed
