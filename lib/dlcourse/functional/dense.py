"""The dense (fully connected) layer: out = x @ w + b, and its derivatives."""

from dlcourse.functional._common import (
    matmul_into,
    namespace,
    require_float,
    require_same_dtype,
    require_shape,
)


def dense_forward(x, w, b):
    """Affine map of a batch.

    x: (N, D) inputs, one row per example; w: (D, M) weights; b: (M,) bias.
    Returns ``out`` (N, M) and the cache ``(x, w)`` that the backward pass needs.
    """
    dims = require_shape("x", x, ("N", "D"))
    require_shape("w", w, ("D", "M"), dims)
    require_shape("b", b, ("M",), dims)
    for name, arr in (("x", x), ("w", w), ("b", b)):
        require_float(name, arr)
    require_same_dtype("w", w, "x", x)
    require_same_dtype("b", b, "x", x)
    out = x @ w
    out += b  # in place: x @ w is a new array, and a second one would cost a pass
    return out, (x, w)


def dense_backward(dout, cache, input_grad=True, dw_out=None):
    """Gradients of the loss with respect to x, w and b, given dout = dL/dout (N, M).

    Each row of x met every column of w, so dw sums the contributions of the
    whole batch (x.T @ dout) and db sums dout over the batch. Pass
    ``input_grad=False`` when x is data rather than the output of an earlier
    layer: dx is then not computed (that matmul is a fifth of a small MLP's
    step) and ``None`` is returned in its place. ``dw_out``, an array shaped
    like w, receives dw instead of a new array (see ``matmul_into``).
    """
    x, w = cache
    require_shape("dout", dout, (x.shape[0], w.shape[1]))
    dx = dout @ w.mT if input_grad else None
    if dw_out is None:
        dw = x.mT @ dout
    else:
        require_shape("dw_out", dw_out, tuple(w.shape))
        dw = matmul_into(x.mT, dout, dw_out)
    db = namespace(dout).sum(dout, axis=0)
    return dx, dw, db
