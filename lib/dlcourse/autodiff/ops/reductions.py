"""Reductions over axes: sum, mean, max (with ``keepdims`` as in NumPy).

The backward of a reduction spreads the gradient of each output element back
over the input elements it was computed from: to all of them for ``sum``
(each counted once), divided by their number for ``mean``, and only to the
largest for ``max``.
"""

import math

from dlcourse.autodiff.function import Function

__all__ = ["Sum", "Mean", "Max", "normalize_axes"]


def normalize_axes(axis, ndim):
    """``axis`` (None, an int or a tuple, negatives allowed) as a sorted tuple of axes."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    normalized = []
    for a in axes:
        if not -ndim <= a < ndim:
            raise ValueError(f"axis: {a} is out of range for an array with {ndim} dimensions.")
        normalized.append(a % ndim)
    if len(set(normalized)) != len(normalized):
        raise ValueError(f"axis: repeated axis in {axis}.")
    return tuple(sorted(normalized))


def _kept_shape(shape, axes):
    """The output shape with keepdims=True: reduced axes become size 1."""
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def _spread(xp, grad, shape, axes):
    """Reshape the output gradient to keepdims form and broadcast it over ``shape``."""
    grad = xp.reshape(grad, _kept_shape(shape, axes))
    return xp.broadcast_to(grad, shape)


class Sum(Function):
    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False):
        ctx.shape = a.shape
        ctx.axes = normalize_axes(axis, a.ndim)
        return ctx.xp.sum(a, axis=ctx.axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx, grad):  # every input element added into its sum with weight 1
        return _spread(ctx.xp, grad, ctx.shape, ctx.axes)


class Mean(Function):
    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False):
        ctx.shape = a.shape
        ctx.axes = normalize_axes(axis, a.ndim)
        ctx.count = math.prod(a.shape[i] for i in ctx.axes)
        return ctx.xp.mean(a, axis=ctx.axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx, grad):  # each element weighs 1/count in its mean
        return _spread(ctx.xp, grad / ctx.count, ctx.shape, ctx.axes)


class Max(Function):
    """The largest element along ``axis``.

    Where several elements tie for the maximum, the gradient is shared equally
    among them (as ``torch.amax`` does): the max is not differentiable there,
    and the even split is the symmetric choice.
    """

    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False):
        xp = ctx.xp
        axes = normalize_axes(axis, a.ndim)
        out_kept = xp.max(a, axis=axes, keepdims=True)
        ctx.save_for_backward(a, out_kept)
        ctx.axes = axes
        return out_kept if keepdims else xp.reshape(out_kept, _dropped(a.shape, axes))

    @staticmethod
    def backward(ctx, grad):
        xp = ctx.xp
        a, out_kept = ctx.saved_tensors
        winners = xp.astype(a == out_kept, a.dtype)
        share = winners / xp.sum(winners, axis=ctx.axes, keepdims=True)
        return share * xp.reshape(grad, out_kept.shape)


def _dropped(shape, axes):
    return tuple(n for i, n in enumerate(shape) if i not in axes)
