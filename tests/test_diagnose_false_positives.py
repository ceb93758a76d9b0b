"""dlcourse.diagnose: no kind, and no hint, fires where its evidence is missing.

tests/test_diagnose.py shows that each kind fires for the mistake it names;
this file shows, kind by kind, a near miss where it must not: advice that
points the wrong way sends a learner to a line that was right.
"""

import numpy as np
import pytest

from dlcourse.diagnose import KINDS, check_not_modified, diagnose


@pytest.fixture
def grad():
    """A 4 x 3 gradient with no symmetry, no zeros and no repeated values."""
    return np.arange(1.0, 13.0).reshape(4, 3) ** 1.5


def test_none_not_for_a_zero_or_a_number(grad):
    assert diagnose(np.zeros_like(grad), grad, "dw").kind != "none"
    assert diagnose(0.0, np.float64(2.0), "loss").kind != "none"


def test_device_not_for_numpy_numbers_against_arrays():
    assert diagnose(np.float64(2.0), np.array(2.0), "loss").kind == "ok"
    assert diagnose(2.0, np.array(3.0), "loss").kind != "device"


def test_shape_not_for_the_right_shape(grad):
    assert diagnose(grad + 1.0, grad, "dw").kind != "shape"


def test_transposed_not_for_a_square_gradient_that_is_merely_wrong():
    expected = np.arange(1.0, 10.0).reshape(3, 3) ** 1.5
    assert diagnose(expected * 2.0, expected, "dw").kind == "scale"
    wrong = expected.copy()
    wrong[0, 1] = 0.0
    assert diagnose(wrong, expected, "dw").kind == "elementwise"


def test_transposed_not_for_a_shape_that_is_no_reordering(grad):
    d = diagnose(grad[:, :2], grad, "dw")
    assert d.kind == "shape" and "transposed" not in d.message


def test_nan_not_where_nan_was_expected(grad):
    expected = grad.copy()
    expected[1, 1] = np.nan
    assert diagnose(expected.copy(), expected, "dw").kind == "ok"
    assert diagnose(np.where(np.isnan(expected), np.nan, 2 * expected), expected).kind != "nan"


def test_dtype_not_mentioned_when_dtypes_agree(grad):
    for dtype in (np.float32, np.float64):
        d = diagnose((2 * grad).astype(dtype), grad.astype(dtype), "dw")
        assert d.kind == "scale" and "dtype" not in d.message


def test_ok_not_for_one_wrong_element(grad):
    wrong = grad.copy()
    wrong[3, 2] *= 1.01
    d = diagnose(wrong, grad, "dw")
    assert d.kind == "elementwise" and d.mismatches == 1


def test_sign_not_for_a_partly_negated_gradient(grad):
    wrong = grad.copy()
    wrong[:2] *= -1.0
    assert diagnose(wrong, grad, "dw").kind == "elementwise"


@pytest.mark.parametrize("batch_size", [None, 1, 8])
def test_batch_scale_not_unless_the_factor_is_the_known_batch_size(grad, batch_size):
    d = diagnose(4.0 * grad, grad, "dw", batch_size=batch_size)
    assert d.kind == "scale" and "off by a factor of 4;" in d.message
    assert "batch" not in d.message and "divide by N" not in d.message
    d = diagnose(grad / 4.0, grad, "dw", batch_size=batch_size)
    assert d.kind == "scale" and "1/4 of" in d.message and "mean" not in d.message


def test_batch_scale_for_the_known_batch_size_only(grad):
    assert diagnose(4.0 * grad, grad, "dw", batch_size=4).kind == "batch_scale"
    assert diagnose(3.0 * grad, grad, "dw", batch_size=4).kind == "scale"


def test_scale_not_for_a_factor_on_some_elements(grad):
    wrong = grad.copy()
    wrong[0] *= 2.0
    d = diagnose(wrong, grad, "dw")
    assert d.kind == "elementwise" and "factor" not in d.message


def test_scale_does_not_guess_a_cause_for_an_odd_factor(grad):
    d = diagnose(0.37 * grad, grad, "dw")
    assert d.kind == "scale" and "0.37" in d.message
    assert "learning rate" not in d.message and "mean" not in d.message


def test_kink_not_when_a_difference_sits_away_from_zero(grad):
    at = np.ones_like(grad)
    at[0, 0] = 0.0
    wrong = grad.copy()
    wrong[0, 0], wrong[2, 1] = 0.0, 0.0  # one at the kink, one far from it
    assert diagnose(wrong, grad, "dx", at=at).kind == "elementwise"


def test_elementwise_hints_need_their_pattern(grad):
    one = grad.copy()
    one[2, 1] = 0.0
    d = diagnose(one, grad, "dw")
    assert "all zeros" not in d.message and "Every element" not in d.message
    assert "Only row" not in d.message and "Only column" not in d.message
    two_rows = grad.copy()
    two_rows[[0, 3], :] += 1.0
    d = diagnose(two_rows, grad, "dw")
    assert "Only row" not in d.message and "Only column" not in d.message


def test_shape_hints_need_their_pattern(grad):
    d = diagnose(np.ones((5, 5)), np.ones(3), "db")  # square, but not (3, 3)
    assert "broadcasting" not in d.message and "keepdims" not in d.message
    d = diagnose(np.ones((8, 3)), np.ones(3), "db")  # the batch size was not given
    assert "batch" not in d.message and "extra first axis (length 8)" in d.message
    d = diagnose(np.float64(1.0), grad, "dw")
    assert "single number" in d.message and "summed" not in d.message
    assert "return an array of shape (4, 3)" in d.message


def test_inplace_not_for_a_backward_that_returns_dout_itself():
    def identity_backward(dout, cache):
        return dout  # no change: handing the same array on is allowed

    def own_copy_backward(dout, cache):
        dx = dout.copy()
        dx[cache <= 0] = 0.0
        return dx

    x, dout = np.array([-1.0, 2.0, 0.0]), np.array([1.0, 2.0, 3.0])
    assert check_not_modified(identity_backward, dout, x).kind == "ok"
    assert check_not_modified(own_copy_backward, dout, x).kind == "ok"


def test_every_kind_has_a_false_positive_test_here():
    tested = {"none", "device", "shape", "transposed", "nan", "dtype", "ok", "sign"}
    tested |= {"batch_scale", "scale", "kink", "elementwise", "inplace"}
    assert tested == set(KINDS)
