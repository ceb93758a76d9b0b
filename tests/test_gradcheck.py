"""The gradient checker itself: it must pass right gradients and catch wrong ones."""

import importlib.util

import numpy as np
import pytest

from dlcourse import functional as F
from dlcourse.gradcheck import (
    TOLERANCES,
    check_against_jax,
    check_against_tensorflow,
    check_against_torch,
    check_gradients,
    numerical_gradient,
    random_dout,
    rel_error,
    tolerance,
)


def square_forward(x):
    return x * x, x


def square_backward(dout, x):
    return 2 * x * dout


def test_numerical_gradient_of_a_known_function(rng):
    x = rng.standard_normal((3, 4))
    dout = rng.standard_normal((3, 4))
    grad = numerical_gradient(lambda z: z**3, x, dout)
    np.testing.assert_allclose(grad, 3 * x**2 * dout, rtol=1e-7, atol=1e-9)


def test_numerical_gradient_of_a_scalar_uses_dout_one(rng):
    x = rng.standard_normal(5)
    np.testing.assert_allclose(numerical_gradient(lambda z: np.sum(z**2), x), 2 * x, rtol=1e-8)


def test_numerical_gradient_does_not_touch_x(rng):
    x = rng.standard_normal((2, 3))
    before = x.copy()
    numerical_gradient(np.tanh, x)
    np.testing.assert_array_equal(x, before)


def test_random_dout_is_never_all_ones_and_is_reproducible():
    a, b = random_dout((4, 3), seed=1), random_dout((4, 3), seed=1)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, 1.0)


def test_random_dout_catches_a_backward_that_ignores_dout(rng):
    def forgetful_backward(dout, x):
        return 2 * x  # forgot the chain rule's dout factor

    report = check_gradients(square_forward, forgetful_backward, {"x": rng.standard_normal((3, 3))})
    assert not report.passed


def test_rel_error_values():
    assert rel_error(np.array([1.0]), np.array([1.0])) == 0.0
    assert rel_error(np.array([1.0]), np.array([3.0])) == pytest.approx(0.5)  # 2 / (1 + 3)
    assert rel_error(np.array([0.0]), np.array([0.0])) == 0.0
    assert rel_error(np.zeros(0), np.zeros(0)) == 0.0


def test_tolerance_by_dtype():
    import torch

    assert tolerance(np.float64) == TOLERANCES["float64"] < tolerance(np.float32)
    assert tolerance(torch.float32) == tolerance(np.dtype("float32"))
    with pytest.raises(ValueError, match="no gradient tolerance for int64"):
        tolerance(np.int64)


def test_report_names_the_wrong_argument_and_its_worst_element(rng):
    def backward_with_wrong_db(dout, cache):
        dx, dw, db = F.dense_backward(dout, cache)
        return dx, dw, db / dout.shape[0]

    inputs = {"x": rng.standard_normal((5, 3)), "w": rng.standard_normal((3, 2)), "b": np.zeros(2)}
    report = check_gradients(F.dense_forward, backward_with_wrong_db, inputs)
    assert not report.passed
    assert report["dx"].passed and report["dw"].passed and not report["db"].passed
    text = str(report)
    assert "FAIL db" in text and "worst at index" in text
    assert report.errors["db"] > 0.5  # off by a factor of 5: |1/5 - 1| / (1/5 + 1)


def test_float32_gradients_are_judged_with_the_float32_tolerance(rng):
    x = rng.standard_normal((4, 4)).astype(np.float32)
    report = check_gradients(square_forward, square_backward, {"x": x})
    assert report.passed and report.dtype == "float32"
    assert report["dx"].tolerance == TOLERANCES["float32"]


def test_wrong_number_of_gradients_is_explained(rng):
    inputs = {"x": rng.standard_normal((2, 3)), "w": rng.standard_normal((3, 2)), "b": np.zeros(2)}
    with pytest.raises(ValueError, match="backward returned 2 gradient"):
        check_gradients(F.dense_forward, lambda d, c: F.dense_backward(d, c)[:2], inputs)


def test_wrong_shape_fails_with_a_hint(rng):
    inputs = {"x": rng.standard_normal((2, 3)), "w": rng.standard_normal((3, 4)), "b": np.zeros(4)}

    def transposed_dw(dout, cache):
        dx, dw, db = F.dense_backward(dout, cache)
        return dx, dw.T, db

    report = check_gradients(F.dense_forward, transposed_dw, inputs)
    assert not report["dw"].passed
    assert "transposed" in report["dw"].hint


def test_kwargs_may_be_made_afresh_for_each_call(rng):
    x = rng.standard_normal((6, 5))
    report = check_gradients(
        F.dropout_forward,
        F.dropout_backward,
        {"x": x},
        kwargs=lambda: {"p": 0.5, "training": True, "rng": np.random.default_rng(3)},
    )
    assert report.passed, report
    shared_rng = np.random.default_rng(3)  # one generator: a new mask at every call
    drifting = check_gradients(
        F.dropout_forward,
        F.dropout_backward,
        {"x": x},
        kwargs={"p": 0.5, "training": True, "rng": shared_rng},
        avoid_kinks=False,
    )
    assert not drifting.passed


def test_max_ties_are_moved_apart():
    x = np.ones((1, 1, 2, 2))  # every element ties for the max
    report = check_gradients(F.maxpool2d_forward, F.maxpool2d_backward, {"x": x})
    assert report.passed and report.nudged > 0, report


def test_oracles_agree_on_a_correct_gradient(rng):
    inputs = {"x": rng.standard_normal((3, 4))}
    assert check_against_torch(square_forward, square_backward, inputs).passed
    if importlib.util.find_spec("jax"):
        assert check_against_jax(square_forward, square_backward, inputs).passed


def test_oracles_catch_a_wrong_gradient(rng):
    inputs = {"x": rng.standard_normal((3, 4))}

    def wrong(dout, x):
        return x * dout

    assert not check_against_torch(square_forward, wrong, inputs).passed
    if importlib.util.find_spec("jax"):
        assert not check_against_jax(square_forward, wrong, inputs).passed
    if importlib.util.find_spec("tensorflow"):
        report = check_against_tensorflow(square_forward, wrong, inputs, reference=lambda x: x * x)
        assert not report.passed and not report.skipped


def test_missing_framework_gives_a_skipped_report(monkeypatch, rng):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "jax" else real_find_spec(name, *a),
    )
    report = check_against_jax(square_forward, square_backward, {"x": rng.standard_normal(3)})
    assert report.skipped and not report.passed
    assert 'pip install "dlcourse[jax]"' in str(report)
