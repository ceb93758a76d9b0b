"""Flatten: the bridge from convolution feature maps to dense layers.

A dense layer wants one row of numbers per example; a convolution produces
(N, C, H, W). Flattening keeps the batch axis and lays everything else out in
one row, in C-then-H-then-W order (the order PyTorch's ``nn.Flatten`` uses).
Nothing is computed, so the backward pass only puts the gradient back into
the original shape.
"""

import math

from dlcourse.functional._common import namespace, require_array, require_shape

__all__ = ["flatten_forward", "flatten_backward"]


def flatten_forward(x):
    """Reshape ``x`` (N, ...) to (N, D) with D the product of the other sizes.

    Returns ``(out, cache)``; the cache is the original shape. ``out`` may
    share memory with ``x`` (a reshape, not a copy), as NumPy's reshape does.
    """
    require_array("x", x)
    if x.ndim < 1:
        raise ValueError(f"x: expected shape (N, ...) with at least 1 axis, got {tuple(x.shape)}.")
    shape = tuple(int(s) for s in x.shape)
    out = namespace(x).reshape(x, (shape[0], math.prod(shape[1:])))
    return out, shape


def flatten_backward(dout, cache):
    """Gradient of flatten: ``dout`` (N, D) reshaped back to the input's shape."""
    shape = cache
    require_shape("dout", dout, (shape[0], math.prod(shape[1:])))
    return namespace(dout).reshape(dout, shape)
