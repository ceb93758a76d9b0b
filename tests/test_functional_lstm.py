"""The LSTM by hand: one step and a whole sequence, against torch.nn.LSTM and by hand."""

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
    assert_outputs,
    assert_same_on_cuda,
    dims,
    dtypes,
    float_inputs,
    libraries,
)

NAMES = ("dx", "dh0", "dc0", "dwx", "dwh", "db")


@st.composite
def lstm_inputs(draw):
    n, t, d, h = draw(dims), draw(dims), draw(dims), draw(dims)
    shapes = {
        "x": (n, t, d),
        "h0": (n, h),
        "c0": (n, h),
        "wx": (d, 4 * h),
        "wh": (h, 4 * h),
        "b": (4 * h,),
    }
    return draw(float_inputs(shapes)), draw(float_inputs({"dhs": (n, t, h)}))["dhs"]


def torch_lstm(x, h0, c0, wx, wh, b, dhs):
    """torch.nn.LSTM with our weights copied in (same gate order i, f, g, o)."""
    lstm = torch.nn.LSTM(wx.shape[0], wh.shape[0], batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(torch.from_numpy(wx.T))
        lstm.weight_hh_l0.copy_(torch.from_numpy(wh.T))
        lstm.bias_ih_l0.copy_(torch.from_numpy(b))
        lstm.bias_hh_l0.zero_()
    xt = torch.tensor(x, requires_grad=True)
    h0t, c0t = (torch.tensor(s[None], requires_grad=True) for s in (h0, c0))
    hs, (h_last, c_last) = lstm(xt, (h0t, c0t))
    hs.backward(torch.from_numpy(dhs))
    grads = (xt.grad, h0t.grad[0], c0t.grad[0], lstm.weight_ih_l0.grad.T)
    return hs.detach(), c_last.detach()[0], (*grads, lstm.weight_hh_l0.grad.T, lstm.bias_ih_l0.grad)


@settings(max_examples=25)
@given(lstm_inputs(), libraries, dtypes)
def test_sequence_matches_torch_nn_lstm(case, library, dtype):
    inputs, dhs = case
    hs, cache = F.lstm_forward(**{k: as_library(v, library, dtype) for k, v in inputs.items()})
    grads = F.lstm_backward(as_library(dhs, library, dtype), cache)
    expected_hs, _, expected = torch_lstm(**inputs, dhs=dhs)
    assert_outputs(hs, grads, expected_hs, expected, NAMES, library, dtype)


@settings(max_examples=25)
@given(lstm_inputs(), libraries, dtypes)
def test_step_matches_one_step_of_torch_nn_lstm(case, library, dtype):
    inputs, dhs = case
    x, dh = inputs.pop("x")[:, 0, :], dhs[:, 0, :]
    h0, c0 = inputs.pop("h0"), inputs.pop("c0")
    args = [as_library(a, library, dtype) for a in (x, h0, c0, inputs["wx"], inputs["wh"])]
    h, c, cache = F.lstm_step_forward(*args, as_library(inputs["b"], library, dtype))
    # only h reaches the loss in torch's sequence, so dc = 0 here
    grads = F.lstm_step_backward(
        as_library(dh, library, dtype), as_library(np.zeros_like(dh), library, dtype), cache
    )
    expected_hs, expected_c, expected = torch_lstm(x[:, None], h0, c0, **inputs, dhs=dh[:, None])
    assert_close(h, expected_hs[:, 0], dtype, "h")
    assert_close(c, expected_c, dtype, "c")
    expected = (expected[0][:, 0], *expected[1:])
    for name, got, want in zip(("dx", "dh_prev", "dc_prev", "dwx", "dwh", "db"), grads, expected):
        assert_kind(got, library, dtype, name)
        assert_close(got, want, dtype, name)


@settings(max_examples=12)
@given(lstm_inputs())
def test_sequence_gradients_match_finite_differences(case):
    report = check_gradients(F.lstm_forward, F.lstm_backward, case[0])
    assert report.passed, report


def step_as_layer(x, h_prev, c_prev, wx, wh, b):
    """One step with both states as one output, so a single dout checks dh and dc together."""
    h, c, cache = F.lstm_step_forward(x, h_prev, c_prev, wx, wh, b)
    both = torch.cat([h, c], dim=1) if isinstance(h, torch.Tensor) else np.concatenate([h, c], 1)
    return both, cache


def step_as_layer_backward(dout, cache):
    H = dout.shape[1] // 2
    return F.lstm_step_backward(dout[:, :H], dout[:, H:], cache)


@settings(max_examples=12)
@given(lstm_inputs())
def test_step_gradients_match_finite_differences(case):
    inputs = case[0]
    step = {"x": inputs["x"][:, 0], "h_prev": inputs["h0"], "c_prev": inputs["c0"]}
    step.update(wx=inputs["wx"], wh=inputs["wh"], b=inputs["b"])
    report = check_gradients(step_as_layer, step_as_layer_backward, step)
    assert report.passed, report


def test_gradients_match_torch_autograd_of_our_forward(rng):
    shapes = {"x": (3, 4, 2), "h0": (3, 3), "c0": (3, 3), "wx": (2, 12), "wh": (3, 12)}
    inputs = {k: rng.standard_normal(s) for k, s in shapes.items()}
    inputs["b"] = rng.standard_normal(12)
    assert check_against_torch(F.lstm_forward, F.lstm_backward, inputs).passed
    step = {"x": inputs["x"][:, 0], "h_prev": inputs["h0"], "c_prev": inputs["c0"]}
    step.update(wx=inputs["wx"], wh=inputs["wh"], b=inputs["b"])
    report = check_against_torch(step_as_layer, step_as_layer_backward, step)
    assert report.passed, report


def test_float32_gradients_pass_float32_tolerance(rng):
    shapes = {"x": (4, 5, 3), "h0": (4, 2), "c0": (4, 2), "wx": (3, 8), "wh": (2, 8), "b": (8,)}
    inputs = {k: (0.5 * rng.standard_normal(s)).astype(np.float32) for k, s in shapes.items()}
    report = check_gradients(F.lstm_forward, F.lstm_backward, inputs)
    assert report.passed and report.dtype == "float32", report


def test_sequence_is_a_loop_of_steps(rng):
    x, h0, c0 = (
        rng.standard_normal((2, 3, 4)),
        rng.standard_normal((2, 2)),
        rng.standard_normal((2, 2)),
    )
    wx, wh, b = rng.standard_normal((4, 8)), rng.standard_normal((2, 8)), rng.standard_normal(8)
    dhs = rng.standard_normal((2, 3, 2))
    hs, cache = F.lstm_forward(x, h0, c0, wx, wh, b)
    h, c, caches = h0, c0, []
    for t in range(3):
        h, c, step_cache = F.lstm_step_forward(x[:, t], h, c, wx, wh, b)
        np.testing.assert_allclose(hs[:, t], h, rtol=1e-12, atol=1e-14)
        caches.append(step_cache)
    dx, dh0, dc0, dwx, dwh, db = F.lstm_backward(dhs, cache)
    dh, dc = np.zeros_like(h0), np.zeros_like(c0)
    sums = [np.zeros_like(wx), np.zeros_like(wh), np.zeros_like(b)]
    for t in reversed(range(3)):
        dx_t, dh, dc, *weights = F.lstm_step_backward(dhs[:, t] + dh, dc, caches[t])
        np.testing.assert_allclose(dx[:, t], dx_t, rtol=1e-10, atol=1e-12)
        sums = [s + w for s, w in zip(sums, weights)]
    np.testing.assert_allclose(dh0, dh, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dc0, dc, rtol=1e-10, atol=1e-12)
    for got, want in zip((dwx, dwh, db), sums):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_known_step():
    # One unit, inputs 0, so the gates are the sigmoids and tanh of the bias alone:
    # sigmoid(0) = 1/2, sigmoid(ln 3) = 3/4, tanh(ln 2) = 3/5.
    ln2, ln3 = math.log(2), math.log(3)
    b = np.array([0.0, ln3, ln2, 0.0])  # i = 1/2, f = 3/4, g = 3/5, o = 1/2
    c_prev = (ln2 - 0.3) / 0.75  # so that c = f c_prev + i g = ln 2 exactly
    zeros = np.zeros((1, 1))
    h, c, cache = F.lstm_step_forward(zeros, zeros, np.array([[c_prev]]), np.zeros((1, 4)),
                                      np.zeros((1, 4)), b)  # fmt: skip
    np.testing.assert_allclose(c, [[ln2]], atol=1e-12)
    np.testing.assert_allclose(h, [[0.3]], atol=1e-12)  # o * tanh(ln 2)
    _, _, dc_prev, _, _, db = F.lstm_step_backward(np.ones((1, 1)), np.zeros((1, 1)), cache)
    # dL/dc = o (1 - tanh(c)^2) = 0.32; then each gate's share times its own slope
    np.testing.assert_allclose(dc_prev, [[0.32 * 0.75]], atol=1e-12)
    da = [0.32 * 0.6 * 0.25, 0.32 * c_prev * 0.1875, 0.32 * 0.5 * 0.64, 0.6 * 0.25]
    np.testing.assert_allclose(db, da, atol=1e-12)


def test_cell_state_carries_gradient_when_forget_gate_is_open():
    # f = sigmoid(30) ~ 1 and i = sigmoid(-30) ~ 0: c is copied from step to step, so the
    # gradient at the last step reaches c0 undiminished (the reason LSTMs exist)
    n, t, h = 1, 20, 1
    b = np.array([-30.0, 30.0, 0.0, 30.0])
    hs, cache = F.lstm_forward(np.zeros((n, t, 1)), np.zeros((n, h)), np.full((n, h), 0.5),
                               np.zeros((1, 4)), np.zeros((1, 4)), b)  # fmt: skip
    dhs = np.zeros((n, t, h))
    dhs[0, -1, 0] = 1.0
    _, _, dc0, *_ = F.lstm_backward(dhs, cache)
    np.testing.assert_allclose(dc0, [[1 - math.tanh(0.5) ** 2]], rtol=1e-9)


def test_inputs_are_not_modified(rng):
    shapes = ((2, 3, 4), (2, 2), (2, 2), (4, 8), (2, 8), (8,))
    inputs = [rng.standard_normal(s) for s in shapes]
    copies = [a.copy() for a in inputs]
    hs, cache = F.lstm_forward(*inputs)
    for original, copy in zip(inputs, copies):
        np.testing.assert_array_equal(original, copy)
    report = check_not_modified(F.lstm_backward, rng.standard_normal(hs.shape), cache)
    assert report.ok, report.message
    h, c, step_cache = F.lstm_step_forward(inputs[0][:, 0], *inputs[1:])
    report = check_not_modified(F.lstm_step_backward, np.ones_like(h), np.ones_like(c), step_cache)
    assert report.ok, report.message


GOOD = {"x": (2, 3, 4), "h0": (2, 5), "c0": (2, 5), "wx": (4, 20), "wh": (5, 20), "b": (20,)}


@pytest.mark.parametrize(
    "name, shape, message",
    [
        ("c0", (2, 4), "c0: expected shape (N=2, H=5), got (2, 4)"),
        ("wx", (4, 5), "wx: expected shape (D=4, 4H=20), got (4, 5)"),
        ("wh", (5, 15), "wh: expected shape (H=5, 4H=20), got (5, 15)"),
        ("b", (2, 20), "b: expected shape (4H=20,), got (2, 20)"),
    ],
)
def test_bad_shapes_name_the_argument(name, shape, message):
    arrays = {k: np.ones(shape if k == name else s) for k, s in GOOD.items()}
    with pytest.raises(ValueError) as err:
        F.lstm_forward(**arrays)
    assert message in str(err.value)


def test_bad_dout_shapes_are_named():
    h, c, cache = F.lstm_step_forward(
        np.ones((2, 4)), *(np.ones(s) for s in list(GOOD.values())[1:])
    )
    with pytest.raises(ValueError, match=r"dc: expected shape \(2, 5\), got \(5, 2\)"):
        F.lstm_step_backward(np.ones((2, 5)), np.ones((5, 2)), cache)
    _, cache = F.lstm_forward(*(np.ones(s) for s in GOOD.values()))
    with pytest.raises(ValueError, match=r"dhs: expected shape \(2, 3, 5\)"):
        F.lstm_backward(np.ones((2, 3, 20)), cache)


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cuda_matches_numpy(dtype, rng):
    inputs = {k: (0.5 * rng.standard_normal(s)).astype(dtype) for k, s in GOOD.items()}
    dhs = rng.standard_normal((2, 3, 5)).astype(dtype)
    assert_same_on_cuda(F.lstm_forward, F.lstm_backward, inputs, dhs, NAMES, dtype)
