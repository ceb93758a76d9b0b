"""Operations that move elements around: reshape, transpose, indexing.

They change no value, so their backward only puts each gradient back where
its element came from: reshape back, transpose with the inverse permutation,
and for indexing, write (scatter) the gradient into a zero array at the
indexed positions.
"""

import numbers

from dlcourse.autodiff.function import Function
from dlcourse.autodiff.ops.scatter import scatter_add

__all__ = ["Reshape", "Transpose", "GetItem"]


class Reshape(Function):
    @staticmethod
    def forward(ctx, a, shape):
        ctx.shape = a.shape
        return ctx.xp.reshape(a, shape)

    @staticmethod
    def backward(ctx, grad):
        return ctx.xp.reshape(grad, ctx.shape)


class Transpose(Function):
    """Permute the axes: output axis ``i`` is input axis ``axes[i]`` (NumPy's ``transpose``)."""

    @staticmethod
    def forward(ctx, a, axes=None):
        axes = tuple(reversed(range(a.ndim))) if axes is None else tuple(axes)
        if sorted(a_ % max(a.ndim, 1) for a_ in axes) != list(range(a.ndim)):
            raise ValueError(f"axes: expected a permutation of {tuple(range(a.ndim))}, got {axes}.")
        ctx.axes = axes
        return ctx.xp.permute_dims(a, axes)

    @staticmethod
    def backward(ctx, grad):
        # input axis axes[i] became output axis i, so output axis i goes back to axes[i]
        inverse = [0] * len(ctx.axes)
        for i, a in enumerate(ctx.axes):
            inverse[a % len(ctx.axes)] = i
        return ctx.xp.permute_dims(grad, tuple(inverse))


def is_basic_index(index):
    """True for ints, slices, None and ``...`` only: such an index never repeats an element."""
    items = index if isinstance(index, tuple) else (index,)
    return all(
        i is None
        or i is Ellipsis
        or isinstance(i, slice)
        or (isinstance(i, numbers.Integral) and not isinstance(i, bool))
        for i in items
    )


class GetItem(Function):
    @staticmethod
    def forward(ctx, a, index):
        ctx.save_for_backward(a)
        ctx.index = index
        return a[index]

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        if is_basic_index(ctx.index):  # every element picked at most once: plain write
            out = ctx.xp.zeros_like(a)
            out[ctx.index] = grad
            return out
        return scatter_add(ctx.xp, a, ctx.index, grad)
