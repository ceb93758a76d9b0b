"""Scaled dot-product attention, forward and backward, with an optional boolean mask.

Each query row asks every key how well it matches (a dot product), turns the
scores into weights that sum to 1 (a softmax), and returns the weighted mean
of the values:

    s = q @ k^T / sqrt(d),    p = softmax(s) over the keys,    out = p @ v

Dividing by sqrt(d) keeps the scores' spread independent of the width d, so
the softmax does not saturate as d grows. Any leading axes (batch, heads) are
carried along by the matrix products; there is no loop over them.
"""

import math

from dlcourse.functional._common import (
    device,
    namespace,
    require_array,
    require_float,
    require_same_dtype,
    require_shape,
)

__all__ = ["attention_forward", "attention_backward"]


def _check_mask(xp, mask, shape, like):
    """The mask broadcast to the scores' shape; a row with no key to attend to is refused.

    A mask from another library (a NumPy np.tril for PyTorch tensors) is
    converted to ``like``'s library and device: it is a constant, not data.
    """
    require_array("mask", mask)
    try:
        namespace(like, mask)
    except TypeError:
        mask = xp.asarray(mask, device=device(like))
    if not xp.isdtype(mask.dtype, "bool"):
        raise ValueError(
            f"mask: expected booleans (True = may attend), got {mask.dtype}. "
            "Build it with a comparison, e.g. mask = keep != 0."
        )
    fits = mask.ndim <= len(shape) and all(
        m in (1, s) for m, s in zip(tuple(mask.shape)[::-1], shape[::-1])
    )
    if not fits:
        raise ValueError(
            f"mask: expected a shape that broadcasts to the scores' (..., Tq, Tk) = {shape}, "
            f"got {tuple(mask.shape)}."
        )
    mask = xp.broadcast_to(mask, shape)
    empty = ~xp.any(mask, axis=-1)
    if xp.any(empty):
        # a softmax over no keys at all is 0/0; say which row instead of returning NaN
        row = tuple(int(i[0]) for i in xp.nonzero(empty))
        raise ValueError(
            f"mask: query row {row} may attend to no key (its mask row is all False, "
            f"scores shape {shape}); every query needs at least one True."
        )
    return mask


def attention_forward(q, k, v, mask=None):
    """softmax(q @ k^T / sqrt(d)) @ v over the keys.

    q: (..., Tq, d), k: (..., Tk, d), v: (..., Tk, dv), with the same leading
    axes; mask: optional booleans broadcastable to (..., Tq, Tk), True where a
    query may attend to a key (a causal mask is the lower triangle).
    Returns ``out`` (..., Tq, dv) and the cache.
    """
    require_float("q", q)
    if q.ndim < 2 or q.shape[-1] == 0:
        raise ValueError(f"q: expected shape (..., Tq, d) with d >= 1, got {tuple(q.shape)}.")
    lead = tuple(q.shape[:-2])
    dims = require_shape("k", k, (*lead, "Tk", "d"), {"d": q.shape[-1]})
    if dims["Tk"] == 0:
        raise ValueError(f"k: expected at least one key, got shape {tuple(k.shape)}.")
    require_shape("v", v, (*lead, "Tk", "dv"), dims)
    for name, arr in (("k", k), ("v", v)):
        require_float(name, arr)
        require_same_dtype(name, arr, "q", q)
    xp = namespace(q, k, v)

    scale = 1.0 / math.sqrt(q.shape[-1])
    s = (q @ k.mT) * scale
    if mask is not None:
        mask = _check_mask(xp, mask, tuple(s.shape), s)
        # exp(-inf) = 0: a masked key gets exactly zero weight
        s = xp.where(mask, s, xp.asarray(-math.inf, dtype=s.dtype, device=device(s)))
    e = xp.exp(s - xp.max(s, axis=-1, keepdims=True))  # each row has a finite max
    p = e / xp.sum(e, axis=-1, keepdims=True)
    return p @ v, (q, k, v, p, scale)


def attention_backward(dout, cache, dp=None):
    """Gradients ``(dq, dk, dv)`` given dout = dL/dout (..., Tq, dv).

    ``dp``: dL/dp (..., Tq, Tk) when the attention weights p are used
    downstream too (a layer that returns its attention scores); it is added to
    the part of dL/dp that comes through ``out``.

    Back through p @ v (a matrix product), then the softmax row by row
    (ds = p * (dp - sum(dp * p))), then the scaled q @ k^T. A masked key has
    p = 0, so no gradient reaches it.
    """
    q, k, v, p, scale = cache
    require_shape("dout", dout, (*p.shape[:-1], v.shape[-1]))
    xp = namespace(dout, p)
    dv = p.mT @ dout
    dp = dout @ v.mT if dp is None else dout @ v.mT + dp
    ds = p * (dp - xp.sum(dp * p, axis=-1, keepdims=True))
    return (ds @ k) * scale, (ds.mT @ q) * scale, dv
