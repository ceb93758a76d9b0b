import numpy as np
import pytest
import torch
from hypothesis import assume, given

from array_strategies import matrices
from dlcourse import functional as F
from dlcourse.gradcheck import (
    check_against_jax,
    check_against_tensorflow,
    check_against_torch,
    check_gradients,
)

PAIRS = {
    "relu": (F.relu_forward, F.relu_backward),
    "leaky_relu": (F.leaky_relu_forward, F.leaky_relu_backward),
    "sigmoid": (F.sigmoid_forward, F.sigmoid_backward),
    "tanh": (F.tanh_forward, F.tanh_backward),
    "softmax": (F.softmax_forward, F.softmax_backward),
}


def tf_reference(name):
    tf = pytest.importorskip("tensorflow", reason="the tf.GradientTape oracle needs tensorflow")
    op = {
        "relu": tf.nn.relu,
        "leaky_relu": lambda x: tf.nn.leaky_relu(x, alpha=0.01),
        "sigmoid": tf.sigmoid,
        "tanh": tf.tanh,
        "softmax": lambda x: tf.nn.softmax(x, axis=-1),
    }[name]
    return lambda x: op(x)  # the oracle passes inputs by name


@pytest.mark.parametrize("name", PAIRS)
@given(x=matrices())
def test_finite_differences(name, x):
    report = check_gradients(*PAIRS[name], {"x": x})
    assert report.passed, report


@pytest.mark.parametrize("name", PAIRS)
@given(x=matrices())
def test_torch_autograd(name, x):
    # At exactly 0 ReLU has no derivative; torch.maximum's autograd splits the
    # tie (0.5) where relu_backward uses 0. Both are valid; compare off the kink.
    assume(name != "relu" or np.all(x != 0))
    report = check_against_torch(*PAIRS[name], {"x": x})
    assert report.passed, report


@pytest.mark.parametrize("name", PAIRS)
def test_jax_vjp(name, rng):
    pytest.importorskip("jax", reason="the jax.vjp oracle needs jax")
    report = check_against_jax(*PAIRS[name], {"x": rng.standard_normal((5, 4))})
    assert report.passed, report


@pytest.mark.parametrize("name", PAIRS)
def test_tensorflow_gradient_tape(name, rng):
    reference = tf_reference(name)
    report = check_against_tensorflow(
        *PAIRS[name], {"x": rng.standard_normal((5, 4))}, reference=reference
    )
    assert report.passed, report


def test_relu_known_answer():
    x = np.linspace(-0.5, 0.5, 6)  # -.5 -.3 -.1 .1 .3 .5
    out, cache = F.relu_forward(x)
    np.testing.assert_allclose(out, [0, 0, 0, 0.1, 0.3, 0.5], atol=1e-15)
    dx = F.relu_backward(np.arange(1.0, 7.0), cache)
    np.testing.assert_array_equal(dx, [0, 0, 0, 4, 5, 6])


def test_leaky_relu_known_answer():
    out, _ = F.leaky_relu_forward(np.array([-2.0, 3.0]), alpha=0.1)
    np.testing.assert_allclose(out, [-0.2, 3.0])


def test_sigmoid_and_tanh_known_values():
    s, _ = F.sigmoid_forward(np.array([0.0, np.log(3.0)]))
    np.testing.assert_allclose(s, [0.5, 0.75])  # 1 / (1 + 1/3) = 3/4
    t, _ = F.tanh_forward(np.array([0.0, np.log(2.0)]))
    np.testing.assert_allclose(t, [0.0, 0.6])  # (4 - 1) / (4 + 1)


def test_sigmoid_is_stable_for_huge_inputs():
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        s, cache = F.sigmoid_forward(np.array([-1e4, 1e4]))
        ds = F.sigmoid_backward(np.ones(2), cache)
    np.testing.assert_array_equal(s, [0.0, 1.0])
    np.testing.assert_array_equal(ds, [0.0, 0.0])


def test_softmax_rows_sum_to_one_even_for_huge_logits():
    out, _ = F.softmax_forward(np.array([[1e4, 0.0, -1e4], [1.0, 1.0, 1.0]]))
    np.testing.assert_allclose(out.sum(axis=1), [1.0, 1.0])
    np.testing.assert_allclose(out[1], [1 / 3] * 3)
    assert out[0, 0] == 1.0


def test_softmax_along_another_axis(rng):
    x = rng.standard_normal((3, 4))
    out, _ = F.softmax_forward(x, axis=0)
    np.testing.assert_allclose(out.sum(axis=0), np.ones(4))
    report = check_gradients(F.softmax_forward, F.softmax_backward, {"x": x}, kwargs={"axis": 0})
    assert report.passed, report


def test_relu_at_zero_needs_kink_avoidance():
    x = np.array([[0.0, 1.0, -1.0, 0.0]])
    strict = check_gradients(F.relu_forward, F.relu_backward, {"x": x}, avoid_kinks=False)
    assert not strict.passed  # finite differences see half a slope at exactly 0
    report = check_gradients(F.relu_forward, F.relu_backward, {"x": x})
    assert report.passed and report.nudged == 2, report


@pytest.mark.parametrize("name", PAIRS)
def test_wrong_dout_shape_is_named(name):
    forward, backward = PAIRS[name]
    _, cache = forward(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"dout: expected shape \(2, 3\), got \(3, 2\)"):
        backward(np.ones((3, 2)), cache)


@pytest.mark.parametrize("name", PAIRS)
def test_numpy_and_torch_agree(name, rng):
    forward, backward = PAIRS[name]
    x = rng.standard_normal((4, 5)).astype(np.float32)
    dout = rng.standard_normal((4, 5)).astype(np.float32)
    out_np, cache_np = forward(x)
    out_t, cache_t = forward(torch.from_numpy(x))
    np.testing.assert_allclose(out_t.numpy(), out_np, rtol=1e-6, atol=1e-7)
    dx_t = backward(torch.from_numpy(dout), cache_t)
    assert dx_t.dtype == torch.float32
    np.testing.assert_allclose(dx_t.numpy(), backward(dout, cache_np), rtol=1e-5, atol=1e-7)
