"""Shared by the tests of embeddings, recurrences, attention, GELU and clipping.

The hand-written functions run on NumPy or PyTorch, in float32 or float64; the
references (torch.nn modules, torch.nn.functional) run in float64. These
helpers move arrays between the two and compare with a tolerance by dtype.
"""

import numpy as np
import torch
from hypothesis import strategies as st

from array_strategies import float_arrays
from dlcourse.gradcheck.convert import to_numpy

LIBRARIES = ("numpy", "torch")
DTYPES = (np.float32, np.float64)
# Relative to the reference's largest magnitude: float32 rounds at 6e-8 per operation,
# and a few dozen operations chained through time steps and sums stay well below 1e-4.
TOLERANCE = {np.float32: 1e-4, np.float64: 1e-10}

libraries = st.sampled_from(LIBRARIES)
dtypes = st.sampled_from(DTYPES)
dims = st.integers(min_value=1, max_value=4)


def as_library(array, library, dtype=None):
    """A fresh copy of ``array`` as a NumPy array or a CPU tensor (optionally cast)."""
    array = np.array(array, dtype=dtype, copy=True)
    return torch.from_numpy(array) if library == "torch" else array


def as_float64(array):
    return to_numpy(array, np.float64)


def assert_close(got, expected, dtype, name):
    """``got`` (any library) matches ``expected`` to the tolerance of ``dtype``."""
    got, expected = as_float64(got), as_float64(expected)
    assert got.shape == expected.shape, f"{name}: shape {got.shape}, expected {expected.shape}"
    scale = 1.0 + float(np.max(np.abs(expected), initial=0.0))
    worst = float(np.max(np.abs(got - expected), initial=0.0))
    assert worst <= TOLERANCE[dtype] * scale, f"{name}: off by {worst:.3g} (scale {scale:.3g})"


def assert_kind(array, library, dtype, name):
    """``array`` comes back in the library and dtype it was computed in."""
    if library == "torch":
        assert isinstance(array, torch.Tensor), f"{name} is a {type(array).__name__}"
        assert array.dtype == torch.from_numpy(np.zeros(1, dtype)).dtype, f"{name}: {array.dtype}"
    else:
        assert isinstance(array, np.ndarray), f"{name} is a {type(array).__name__}"
        assert array.dtype == dtype, f"{name}: {array.dtype}"


@st.composite
def float_inputs(draw, shapes, bound=1.5):
    """A dict of float64 NumPy arrays of the given shapes, values in [-bound, bound]."""
    return {name: draw(float_arrays(shape, np.float64, bound)) for name, shape in shapes.items()}


def assert_outputs(hs, grads, expected_hs, expected, names, library, dtype):
    """A sequence's states and gradients match the reference, in the library and dtype used."""
    for name, got, want in zip(("hs", *names), (hs, *grads), (expected_hs, *expected)):
        assert_kind(got, library, dtype, name)
        assert_close(got, want, dtype, name)


def assert_same_on_cuda(forward, backward, inputs, dhs, names, dtype):
    """``forward``/``backward`` on CUDA tensors give what they give on the NumPy ``inputs``."""
    hs, cache = forward(**inputs)
    grads = backward(dhs, cache)
    hs_c, cache_c = forward(**{k: torch.as_tensor(v, device="cuda") for k, v in inputs.items()})
    grads_c = backward(torch.as_tensor(dhs, device="cuda"), cache_c)
    for name, got, want in zip(("hs", *names), (hs_c, *grads_c), (hs, *grads)):
        assert got.device.type == "cuda", name
        assert_close(got, want, dtype, name)


def assert_loop_of_steps(forward, backward, step_forward, step_backward, x, h0, weights, dhs):
    """A whole-sequence pair equals its step pair run over time, forward then backward.

    Backpropagation through time: each step's dh is its own loss term plus what came
    back from the step after it; the weights' gradients are summed over the steps.
    """
    steps = x.shape[1]
    hs, cache = forward(x, h0, *weights)
    h, caches = h0, []
    for t in range(steps):
        h, step_cache = step_forward(x[:, t], h, *weights)
        np.testing.assert_allclose(hs[:, t], h, rtol=1e-12, atol=1e-14)
        caches.append(step_cache)
    dx, dh0, *dweights = backward(dhs, cache)
    dnext, sums = np.zeros_like(h0), [np.zeros_like(w) for w in weights]
    for t in reversed(range(steps)):
        dx_t, dnext, *step_grads = step_backward(dhs[:, t] + dnext, caches[t])
        np.testing.assert_allclose(dx[:, t], dx_t, rtol=1e-10, atol=1e-12)
        sums = [s + g for s, g in zip(sums, step_grads)]
    np.testing.assert_allclose(dh0, dnext, rtol=1e-10, atol=1e-12)
    for got, want in zip(dweights, sums):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
