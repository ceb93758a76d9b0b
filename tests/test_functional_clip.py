"""Gradient clipping by global norm, against torch.nn.utils.clip_grad_norm_ and by hand."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from array_strategies import float_arrays
from dlcourse import functional as F
from functional_helpers import (
    as_float64,
    as_library,
    assert_close,
    assert_kind,
    dims,
    dtypes,
    libraries,
)

shapes = st.lists(st.lists(dims, min_size=0, max_size=3).map(tuple), min_size=1, max_size=4)


@settings(max_examples=25)
@given(st.data(), shapes, st.floats(0.01, 20.0), libraries, dtypes)
def test_matches_torch_clip_grad_norm(data, shape_list, max_norm, library, dtype):
    grads = [data.draw(float_arrays(s, bound=3.0)) for s in shape_list]
    clipped, total = F.clip_grad_norm([as_library(g, library, dtype) for g in grads], max_norm)
    params = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
    for p, g in zip(params, grads):
        p.grad = torch.from_numpy(g.copy())
    expected_total = float(torch.nn.utils.clip_grad_norm_(params, max_norm))
    assert math.isclose(total, expected_total, rel_tol=1e-5, abs_tol=1e-6)
    assert len(clipped) == len(grads)
    for index, (got, p) in enumerate(zip(clipped, params)):
        assert_kind(got, library, dtype, f"clipped[{index}]")
        # torch divides by total + 1e-6 to avoid 0/0, a relative difference below 1e-5 here
        np.testing.assert_allclose(got, p.grad.numpy(), rtol=2e-5, atol=1e-6)


@settings(max_examples=25)
@given(st.data(), shapes, st.floats(0.01, 20.0))
def test_clipped_norm_is_at_most_max_norm_and_direction_is_kept(data, shape_list, max_norm):
    grads = [data.draw(float_arrays(s, bound=3.0)) for s in shape_list]
    clipped, total = F.clip_grad_norm(grads, max_norm)
    flat = np.concatenate([g.ravel() for g in grads])
    assert math.isclose(total, float(np.linalg.norm(flat)), rel_tol=1e-12, abs_tol=1e-300)
    new_flat = np.concatenate([g.ravel() for g in clipped])
    assert np.linalg.norm(new_flat) <= max_norm * (1 + 1e-12) or total <= max_norm
    # one scale for all: the ratio is the same everywhere (and 1 when nothing is clipped)
    scale = min(1.0, max_norm / total) if total > 0 else 1.0
    np.testing.assert_allclose(new_flat, flat * scale, rtol=1e-12, atol=1e-15)


def test_known_answer():
    clipped, total = F.clip_grad_norm([np.array([3.0]), np.array([[4.0]])], max_norm=1.0)
    assert total == 5.0
    np.testing.assert_allclose(clipped[0], [0.6])
    np.testing.assert_allclose(clipped[1], [[0.8]])
    unclipped, total = F.clip_grad_norm((np.array([3.0]), np.array([[4.0]])), max_norm=10.0)
    assert total == 5.0
    np.testing.assert_array_equal(unclipped[0], [3.0])
    np.testing.assert_array_equal(unclipped[1], [[4.0]])


def test_none_entries_pass_through():
    clipped, total = F.clip_grad_norm([None, np.array([6.0, 8.0])], max_norm=5.0)
    assert clipped[0] is None and total == 10.0
    np.testing.assert_allclose(clipped[1], [3.0, 4.0])


def test_float32_does_not_overflow():
    g = np.full(4, 1e30, np.float32)  # g * g overflows float32; the norm (2e30) does not
    clipped, total = F.clip_grad_norm([g], max_norm=1.0)
    assert math.isclose(total, 2e30, rel_tol=1e-6)
    assert clipped[0].dtype == np.float32
    np.testing.assert_allclose(clipped[0], np.full(4, 0.5), rtol=1e-6)


@pytest.mark.parametrize("library", ["numpy", "torch"])
def test_inputs_are_not_modified_nor_returned(library):
    grads = [as_library(np.array([3.0, 4.0]), library), as_library(np.array([[12.0]]), library)]
    copies = [as_float64(g) for g in grads]
    for max_norm in (1.0, 100.0):  # clipped, and left alone
        clipped, _ = F.clip_grad_norm(grads, max_norm)
        for original, copy, new in zip(grads, copies, clipped):
            np.testing.assert_array_equal(np.asarray(original), copy)
            assert new is not original
            new[...] = 0  # writing into the result leaves the inputs alone
            np.testing.assert_array_equal(np.asarray(original), copy)


@pytest.mark.parametrize("max_norm", [0, 0.0, -1.0, float("nan"), True, "1", None])
def test_bad_max_norm_is_refused(max_norm):
    with pytest.raises(ValueError, match="max_norm: expected a positive number"):
        F.clip_grad_norm([np.ones(3)], max_norm)


def test_bad_grads_are_refused():
    with pytest.raises(ValueError, match="grads: expected a list or tuple of arrays, got ndarray"):
        F.clip_grad_norm(np.ones(3), 1.0)
    with pytest.raises(ValueError, match=r"grads\[1\]: expected floating-point values"):
        F.clip_grad_norm([np.ones(3), np.ones(3, int)], 1.0)
    with pytest.raises(ValueError, match=r"grads\[0\]: expected an array"):
        F.clip_grad_norm([[1.0, 2.0]], 1.0)
    with pytest.raises(ValueError, match=r"grads\[1\]: holds inf or NaN"):
        F.clip_grad_norm([np.ones(2), np.array([1.0, np.inf])], 1.0)


@pytest.mark.cuda
def test_cuda_stays_on_the_gpu():
    grads = [torch.full((3,), 2.0, device="cuda"), torch.full((2, 2), 1.0, device="cuda")]
    clipped, total = F.clip_grad_norm(grads, 1.0)
    assert math.isclose(total, 4.0, rel_tol=1e-6)  # sqrt(3 * 4 + 4 * 1)
    for got, g in zip(clipped, grads):
        assert got.device.type == "cuda"
        assert_close(got, g.cpu() / 4.0, np.float32, "clipped")
