"""The tanh RNN by hand: one step and a whole sequence, against torch.nn.RNN and by hand."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dlcourse import functional as F
from dlcourse.diagnose import check_not_modified
from dlcourse.gradcheck import check_against_torch, check_gradients
from functional_helpers import (
    as_library,
    assert_close,
    assert_kind,
    assert_loop_of_steps,
    assert_outputs,
    assert_same_on_cuda,
    dims,
    dtypes,
    float_inputs,
    libraries,
)

NAMES = ("dx", "dh0", "dwx", "dwh", "db")


@st.composite
def rnn_inputs(draw):
    n, t, d, h = draw(dims), draw(dims), draw(dims), draw(dims)
    shapes = {"x": (n, t, d), "h0": (n, h), "wx": (d, h), "wh": (h, h), "b": (h,)}
    inputs = draw(float_inputs(shapes))
    return inputs, draw(float_inputs({"dhs": (n, t, h)}))["dhs"]


def torch_rnn(x, h0, wx, wh, b, dhs):
    """torch.nn.RNN with our weights copied in: hs and (dx, dh0, dwx, dwh, db)."""
    rnn = torch.nn.RNN(wx.shape[0], wx.shape[1], batch_first=True, dtype=torch.float64)
    with torch.no_grad():  # torch keeps (H, D) matrices and two biases that add up
        rnn.weight_ih_l0.copy_(torch.from_numpy(wx.T))
        rnn.weight_hh_l0.copy_(torch.from_numpy(wh.T))
        rnn.bias_ih_l0.copy_(torch.from_numpy(b))
        rnn.bias_hh_l0.zero_()
    xt = torch.tensor(x, requires_grad=True)
    h0t = torch.tensor(h0[None], requires_grad=True)  # (layers, N, H)
    hs, _ = rnn(xt, h0t)
    hs.backward(torch.from_numpy(dhs))
    grads = (xt.grad, h0t.grad[0], rnn.weight_ih_l0.grad.T, rnn.weight_hh_l0.grad.T)
    return hs.detach(), (*grads, rnn.bias_ih_l0.grad)


@settings(max_examples=25)
@given(rnn_inputs(), libraries, dtypes)
def test_sequence_matches_torch_nn_rnn(case, library, dtype):
    inputs, dhs = case
    ours = {k: as_library(v, library, dtype) for k, v in inputs.items()}
    hs, cache = F.rnn_forward(**ours)
    grads = F.rnn_backward(as_library(dhs, library, dtype), cache)
    expected_hs, expected = torch_rnn(**inputs, dhs=dhs)
    assert_outputs(hs, grads, expected_hs, expected, NAMES, library, dtype)


@settings(max_examples=25)
@given(rnn_inputs(), libraries, dtypes)
def test_step_matches_one_step_of_torch_nn_rnn(case, library, dtype):
    inputs, dhs = case
    x, dh = inputs.pop("x")[:, 0, :], dhs[:, 0, :]
    step = {"x": x, "h_prev": inputs.pop("h0"), **inputs}
    h, cache = F.rnn_step_forward(**{k: as_library(v, library, dtype) for k, v in step.items()})
    grads = F.rnn_step_backward(as_library(dh, library, dtype), cache)
    expected_hs, expected = torch_rnn(x[:, None, :], step["h_prev"], **inputs, dhs=dh[:, None, :])
    assert_close(h, expected_hs[:, 0, :], dtype, "h")
    expected = (expected[0][:, 0, :], *expected[1:])
    for name, got, want in zip(("dx", "dh_prev", "dwx", "dwh", "db"), grads, expected):
        assert_kind(got, library, dtype, name)
        assert_close(got, want, dtype, name)


@settings(max_examples=15)
@given(rnn_inputs())
def test_sequence_gradients_match_finite_differences(case):
    report = check_gradients(F.rnn_forward, F.rnn_backward, case[0])
    assert report.passed, report


@settings(max_examples=15)
@given(rnn_inputs())
def test_step_gradients_match_finite_differences(case):
    inputs = case[0]
    step = {"x": inputs["x"][:, -1, :], "h_prev": inputs["h0"]}
    step.update(wx=inputs["wx"], wh=inputs["wh"], b=inputs["b"])
    report = check_gradients(F.rnn_step_forward, F.rnn_step_backward, step)
    assert report.passed, report


def test_sequence_gradients_match_torch_autograd_of_our_forward(rng):
    shapes = {"x": (3, 5, 4), "h0": (3, 2), "wx": (4, 2), "wh": (2, 2), "b": (2,)}
    inputs = {k: rng.standard_normal(s) for k, s in shapes.items()}
    report = check_against_torch(F.rnn_forward, F.rnn_backward, inputs)
    assert report.passed, report


def test_float32_gradients_pass_float32_tolerance(rng):
    shapes = {"x": (4, 6, 3), "h0": (4, 5), "wx": (3, 5), "wh": (5, 5), "b": (5,)}
    inputs = {k: (0.5 * rng.standard_normal(s)).astype(np.float32) for k, s in shapes.items()}
    report = check_gradients(F.rnn_forward, F.rnn_backward, inputs)
    assert report.passed and report.dtype == "float32", report


def test_sequence_is_a_loop_of_steps(rng):
    x, h0 = rng.standard_normal((2, 4, 3)), rng.standard_normal((2, 5))
    wx, wh, b = rng.standard_normal((3, 5)), rng.standard_normal((5, 5)), rng.standard_normal(5)
    dhs = rng.standard_normal((2, 4, 5))
    steps = (F.rnn_step_forward, F.rnn_step_backward)
    assert_loop_of_steps(F.rnn_forward, F.rnn_backward, *steps, x, h0, (wx, wh, b), dhs)


def known_sequence():
    """One feature, one unit, two steps; tanh(ln 2) = 3/5 and tanh(ln 3) = 4/5."""
    ln2, ln3 = math.log(2), math.log(3)
    x = np.array([[[1.0], [0.0]]])  # N=1, T=2, D=1
    # step 1 sees ln 2; step 2 sees 0.6 * wh = ln 3 (its input is 0)
    return x, np.zeros((1, 1)), np.array([[ln2]]), np.array([[ln3 / 0.6]]), np.zeros(1)


def test_known_sequence():
    x, h0, wx, wh, b = known_sequence()
    hs, cache = F.rnn_forward(x, h0, wx, wh, b)
    np.testing.assert_allclose(hs, [[[0.6], [0.8]]], atol=1e-12)
    # only step 2's state reaches the loss: da2 = 1 - 0.8^2 = 0.36, and step 1 gets
    # da1 = 0.36 * wh * (1 - 0.6^2) = 0.384 ln 3 through the recurrence
    dx, dh0, dwx, dwh, db = F.rnn_backward(np.array([[[0.0], [1.0]]]), cache)
    ln2, ln3 = math.log(2), math.log(3)
    da1 = 0.384 * ln3
    np.testing.assert_allclose(dx, [[[da1 * ln2], [0.36 * ln2]]], atol=1e-12)
    np.testing.assert_allclose(dh0, [[da1 * ln3 / 0.6]], atol=1e-12)
    np.testing.assert_allclose(dwx, [[da1]], atol=1e-12)  # x1 * da1 + x2 * da2, x2 = 0
    np.testing.assert_allclose(dwh, [[0.6 * 0.36]], atol=1e-12)  # h0 * da1 + h1 * da2
    np.testing.assert_allclose(db, [da1 + 0.36], atol=1e-12)


def test_known_step():
    h, cache = F.rnn_step_forward(
        np.array([[1.0, 2.0]]), np.array([[0.5]]), np.array([[0.1], [0.2]]), np.array([[2.0]]),
        np.array([-1.5]),
    )  # fmt: skip
    # a = 1*0.1 + 2*0.2 + 0.5*2 - 1.5 = 0, tanh(0) = 0 and its slope there is 1
    np.testing.assert_allclose(h, [[0.0]], atol=1e-15)
    dx, dh_prev, dwx, dwh, db = F.rnn_step_backward(np.array([[3.0]]), cache)
    np.testing.assert_allclose(dx, [[0.3, 0.6]])
    np.testing.assert_allclose(dh_prev, [[6.0]])
    np.testing.assert_allclose(dwx, [[3.0], [6.0]])
    np.testing.assert_allclose(dwh, [[1.5]])
    np.testing.assert_allclose(db, [3.0])


def test_inputs_are_not_modified(rng):
    inputs = [rng.standard_normal(s) for s in ((2, 3, 4), (2, 5), (4, 5), (5, 5), (5,))]
    copies = [a.copy() for a in inputs]
    hs, cache = F.rnn_forward(*inputs)
    for original, copy in zip(inputs, copies):
        np.testing.assert_array_equal(original, copy)
    report = check_not_modified(F.rnn_backward, rng.standard_normal(hs.shape), cache)
    assert report.ok, report.message
    h, step_cache = F.rnn_step_forward(inputs[0][:, 0], *inputs[1:])
    report = check_not_modified(F.rnn_step_backward, rng.standard_normal(h.shape), step_cache)
    assert report.ok, report.message


GOOD = {"x": (2, 3, 4), "h0": (2, 5), "wx": (4, 5), "wh": (5, 5), "b": (5,)}


@pytest.mark.parametrize(
    "name, shape, message",
    [
        ("x", (2, 4), "x: expected shape (N, T, D), got (2, 4)"),
        ("x", (2, 0, 4), "x: expected at least one time step"),
        ("h0", (3, 5), "h0: expected shape (N=2, H), got (3, 5)"),
        ("wx", (5, 5), "wx: expected shape (D=4, H=5), got (5, 5)"),
        ("wh", (5, 4), "wh: expected shape (H=5, H=5), got (5, 4)"),
        ("b", (4,), "b: expected shape (H=5,), got (4,)"),
    ],
)
def test_bad_shapes_name_the_argument(name, shape, message):
    arrays = {k: np.ones(shape if k == name else s) for k, s in GOOD.items()}
    with pytest.raises(ValueError) as err:
        F.rnn_forward(**arrays)
    assert message in str(err.value)


def test_bad_step_shape_and_dout_shape():
    with pytest.raises(ValueError, match=r"h_prev: expected shape \(N=2, H\), got \(2, 5, 1\)"):
        F.rnn_step_forward(np.ones((2, 4)), np.ones((2, 5, 1)), np.ones((4, 5)), np.ones((5, 5)),
                           np.ones(5))  # fmt: skip
    _, cache = F.rnn_forward(*(np.ones(s) for s in GOOD.values()))
    with pytest.raises(ValueError, match=r"dhs: expected shape \(2, 3, 5\), got \(2, 5\)"):
        F.rnn_backward(np.ones((2, 5)), cache)


def test_mixed_and_integer_dtypes_are_refused():
    arrays = {k: np.ones(s) for k, s in GOOD.items()}
    with pytest.raises(ValueError, match="wh: dtype float32 differs from x's float64"):
        F.rnn_forward(**{**arrays, "wh": arrays["wh"].astype(np.float32)})
    with pytest.raises(ValueError, match="x: expected floating-point values"):
        F.rnn_forward(**{**arrays, "x": np.ones((2, 3, 4), int)})


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cuda_matches_numpy(dtype, rng):
    inputs = {k: rng.standard_normal(s).astype(dtype) for k, s in GOOD.items()}
    dhs = rng.standard_normal((2, 3, 5)).astype(dtype)
    assert_same_on_cuda(F.rnn_forward, F.rnn_backward, inputs, dhs, NAMES, dtype)
