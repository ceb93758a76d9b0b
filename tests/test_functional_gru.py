"""The GRU by hand (Keras' reset_after=True), against torch.nn.GRU and by hand.

torch.nn.GRU computes the same formula, with r applied after the recurrent
product, but stacks its blocks as (r, z, n) where Keras and dlcourse use
(z, r, h), and keeps (3H, D) matrices: the weights are reordered to copy them.
"""

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
def gru_inputs(draw):
    n, t, d, h = draw(dims), draw(dims), draw(dims), draw(dims)
    shapes = {"x": (n, t, d), "h0": (n, h), "wx": (d, 3 * h), "wh": (h, 3 * h), "b": (2, 3 * h)}
    return draw(float_inputs(shapes)), draw(float_inputs({"dhs": (n, t, h)}))["dhs"]


def to_torch_order(a):
    """Blocks (z, r, h) along the last axis -> torch's (r, z, n)."""
    z, r, h = np.split(a, 3, axis=-1)
    return np.concatenate([r, z, h], axis=-1)


def from_torch_order(a):
    """Blocks (r, z, n) along the last axis -> (z, r, h)."""
    r, z, n = torch.chunk(a, 3, dim=-1)
    return torch.cat([z, r, n], dim=-1)


def torch_gru(x, h0, wx, wh, b, dhs):
    gru = torch.nn.GRU(wx.shape[0], wh.shape[0], batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        gru.weight_ih_l0.copy_(torch.from_numpy(to_torch_order(wx).T))
        gru.weight_hh_l0.copy_(torch.from_numpy(to_torch_order(wh).T))
        gru.bias_ih_l0.copy_(torch.from_numpy(to_torch_order(b[0])))
        gru.bias_hh_l0.copy_(torch.from_numpy(to_torch_order(b[1])))
    xt = torch.tensor(x, requires_grad=True)
    h0t = torch.tensor(h0[None], requires_grad=True)
    hs, _ = gru(xt, h0t)
    hs.backward(torch.from_numpy(dhs))
    dwx = from_torch_order(gru.weight_ih_l0.grad.T)
    dwh = from_torch_order(gru.weight_hh_l0.grad.T)
    db = torch.stack([from_torch_order(gru.bias_ih_l0.grad), from_torch_order(gru.bias_hh_l0.grad)])
    return hs.detach(), (xt.grad, h0t.grad[0], dwx, dwh, db)


def torch_keras_step(x, h_prev, wx, wh, b):
    """Keras' GRUCell formula written with torch operations, for torch.autograd."""
    xz, xr, xh = torch.chunk(x @ wx + b[0], 3, dim=-1)
    hz, hr, hh = torch.chunk(h_prev @ wh + b[1], 3, dim=-1)
    z, r = torch.sigmoid(xz + hz), torch.sigmoid(xr + hr)
    return z * h_prev + (1 - z) * torch.tanh(xh + r * hh)


@settings(max_examples=25)
@given(gru_inputs(), libraries, dtypes)
def test_sequence_matches_torch_nn_gru(case, library, dtype):
    inputs, dhs = case
    hs, cache = F.gru_forward(**{k: as_library(v, library, dtype) for k, v in inputs.items()})
    grads = F.gru_backward(as_library(dhs, library, dtype), cache)
    expected_hs, expected = torch_gru(**inputs, dhs=dhs)
    assert_outputs(hs, grads, expected_hs, expected, NAMES, library, dtype)


@settings(max_examples=25)
@given(gru_inputs(), libraries, dtypes)
def test_step_matches_keras_formula_under_torch_autograd(case, library, dtype):
    inputs, dhs = case
    step = {"x": inputs["x"][:, 0], "h_prev": inputs["h0"]}
    step.update(wx=inputs["wx"], wh=inputs["wh"], b=inputs["b"])
    h, cache = F.gru_step_forward(**{k: as_library(v, library, dtype) for k, v in step.items()})
    grads = F.gru_step_backward(as_library(dhs[:, 0], library, dtype), cache)
    leaves = {k: torch.tensor(v, requires_grad=True) for k, v in step.items()}
    expected_h = torch_keras_step(**leaves)
    expected_h.backward(torch.from_numpy(dhs[:, 0]))
    assert_close(h, expected_h.detach(), dtype, "h")
    for (name, leaf), got in zip(leaves.items(), grads):
        assert_kind(got, library, dtype, f"d{name}")
        assert_close(got, leaf.grad, dtype, f"d{name}")


@settings(max_examples=12)
@given(gru_inputs())
def test_sequence_gradients_match_finite_differences(case):
    report = check_gradients(F.gru_forward, F.gru_backward, case[0])
    assert report.passed, report


@settings(max_examples=12)
@given(gru_inputs())
def test_step_gradients_match_finite_differences(case):
    inputs = case[0]
    step = {"x": inputs["x"][:, -1], "h_prev": inputs["h0"]}
    step.update(wx=inputs["wx"], wh=inputs["wh"], b=inputs["b"])
    report = check_gradients(F.gru_step_forward, F.gru_step_backward, step)
    assert report.passed, report


def test_gradients_match_torch_autograd_of_our_forward(rng):
    shapes = {"x": (2, 4, 3), "h0": (2, 2), "wx": (3, 6), "wh": (2, 6), "b": (2, 6)}
    inputs = {k: rng.standard_normal(s) for k, s in shapes.items()}
    report = check_against_torch(F.gru_forward, F.gru_backward, inputs)
    assert report.passed, report


def test_float32_gradients_pass_float32_tolerance(rng):
    shapes = {"x": (3, 5, 4), "h0": (3, 3), "wx": (4, 9), "wh": (3, 9), "b": (2, 9)}
    inputs = {k: (0.5 * rng.standard_normal(s)).astype(np.float32) for k, s in shapes.items()}
    report = check_gradients(F.gru_forward, F.gru_backward, inputs)
    assert report.passed and report.dtype == "float32", report


def test_sequence_is_a_loop_of_steps(rng):
    x, h0 = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 2))
    wx, wh, b = (
        rng.standard_normal((4, 6)),
        rng.standard_normal((2, 6)),
        rng.standard_normal((2, 6)),
    )
    dhs = rng.standard_normal((2, 3, 2))
    steps = (F.gru_step_forward, F.gru_step_backward)
    assert_loop_of_steps(F.gru_forward, F.gru_backward, *steps, x, h0, (wx, wh, b), dhs)


def test_known_step_applies_the_reset_gate_after_the_product():
    # One unit, x = 0 and wh = 0, so every block is its biases: z = sigmoid(ln 3) = 3/4,
    # r = sigmoid(0) = 1/2, and the candidate tanh(0 + r * 2 ln 2) = tanh(ln 2) = 3/5.
    # (Applying r before the product, reset_after=False, would give tanh(2 ln 2) = 15/17.)
    ln2, ln3 = math.log(2), math.log(3)
    b = np.array([[ln3, 0.0, 0.0], [0.0, 0.0, 2 * ln2]])
    h_prev = np.array([[0.5]])
    h, cache = F.gru_step_forward(np.zeros((1, 1)), h_prev, np.zeros((1, 3)), np.zeros((1, 3)), b)
    np.testing.assert_allclose(h, [[0.75 * 0.5 + 0.25 * 0.6]], atol=1e-12)  # z h + (1 - z) hh
    dx, dh_prev, dwx, dwh, db = F.gru_step_backward(np.ones((1, 1)), cache)
    dz = (0.5 - 0.6) * 0.75 * 0.25  # dh/dz = h_prev - hh, times sigmoid'
    dcand = 0.25 * (1 - 0.36)  # (1 - z) times tanh'
    dr = dcand * 2 * ln2 * 0.25  # the candidate saw r * (recurrent term 2 ln 2)
    np.testing.assert_allclose(db, [[dz, dr, dcand], [dz, dr, dcand * 0.5]], atol=1e-12)
    np.testing.assert_allclose(dh_prev, [[0.75]], atol=1e-12)  # only z * h_prev, as wh = 0
    np.testing.assert_allclose(dwh, [[0.5 * dz, 0.5 * dr, 0.5 * dcand * 0.5]], atol=1e-12)
    np.testing.assert_allclose(dx, [[0.0]], atol=1e-15)
    np.testing.assert_allclose(dwx, [[0.0, 0.0, 0.0]], atol=1e-15)


def test_inputs_are_not_modified(rng):
    inputs = [rng.standard_normal(s) for s in ((2, 3, 4), (2, 2), (4, 6), (2, 6), (2, 6))]
    copies = [a.copy() for a in inputs]
    hs, cache = F.gru_forward(*inputs)
    for original, copy in zip(inputs, copies):
        np.testing.assert_array_equal(original, copy)
    report = check_not_modified(F.gru_backward, rng.standard_normal(hs.shape), cache)
    assert report.ok, report.message
    h, step_cache = F.gru_step_forward(inputs[0][:, 0], *inputs[1:])
    report = check_not_modified(F.gru_step_backward, rng.standard_normal(h.shape), step_cache)
    assert report.ok, report.message


GOOD = {"x": (2, 3, 4), "h0": (2, 5), "wx": (4, 15), "wh": (5, 15), "b": (2, 15)}


@pytest.mark.parametrize(
    "name, shape, message",
    [
        ("wx", (4, 20), "wx: expected shape (D=4, 3H=15), got (4, 20)"),
        ("wh", (15, 5), "wh: expected shape (H=5, 3H=15), got (15, 5)"),
        ("b", (15,), "b: expected shape (2, 3H=15), got (15,)"),
        ("b", (1, 15), "b: expected shape (2, 3H=15), got (1, 15)"),
    ],
)
def test_bad_shapes_name_the_argument(name, shape, message):
    arrays = {k: np.ones(shape if k == name else s) for k, s in GOOD.items()}
    with pytest.raises(ValueError) as err:
        F.gru_forward(**arrays)
    assert message in str(err.value)


def test_bad_dout_shape_is_named():
    _, cache = F.gru_step_forward(np.ones((2, 4)), *(np.ones(s) for s in list(GOOD.values())[1:]))
    with pytest.raises(ValueError, match=r"dh: expected shape \(2, 5\), got \(2, 15\)"):
        F.gru_step_backward(np.ones((2, 15)), cache)


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cuda_matches_numpy(dtype, rng):
    inputs = {k: (0.5 * rng.standard_normal(s)).astype(dtype) for k, s in GOOD.items()}
    dhs = rng.standard_normal((2, 3, 5)).astype(dtype)
    assert_same_on_cuda(F.gru_forward, F.gru_backward, inputs, dhs, NAMES, dtype)
