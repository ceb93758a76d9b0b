"""Operations that choose between values: maximum, minimum, where, clip, take_along_axis.

Their backward sends each output's gradient to the input that supplied the
value and nothing to the others. Where two inputs tie (``maximum(2, 2)``) the
gradient is split in half between them, as PyTorch does.
"""

from dlcourse.autodiff.function import Function
from dlcourse.autodiff.ops._broadcast import unbroadcast
from dlcourse.autodiff.ops.scatter import scatter_add

__all__ = [
    "Clip",
    "Maximum",
    "Minimum",
    "TakeAlongAxis",
    "Where",
    "maximum",
    "minimum",
    "take_along_axis",
    "where",
]


def _shape(x):
    return getattr(x, "shape", ())


def _pick(ctx, grad, a_wins, tie):
    """Gradients of a binary choice: a gets it where it won, b elsewhere, half each on ties."""
    xp = ctx.xp
    need_a, need_b = ctx.needs_input_grad
    sa, sb = ctx.shapes
    share_a = xp.where(tie, 0.5, xp.astype(a_wins, grad.dtype))
    return (
        unbroadcast(xp, grad * share_a, sa) if need_a else None,
        unbroadcast(xp, grad * (1 - share_a), sb) if need_b else None,
    )


class Maximum(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = (_shape(a), _shape(b))
        ctx.save_for_backward(a, b)
        return ctx.xp.maximum(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        return _pick(ctx, grad, a > b, a == b)


class Minimum(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = (_shape(a), _shape(b))
        ctx.save_for_backward(a, b)
        return ctx.xp.minimum(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        return _pick(ctx, grad, a < b, a == b)


class Where(Function):
    """``where(condition, a, b)``: a where condition holds, else b. The condition is a constant."""

    @staticmethod
    def forward(ctx, condition, a, b):
        ctx.shapes = (_shape(a), _shape(b))
        ctx.condition = condition
        return ctx.xp.where(condition, a, b)

    @staticmethod
    def backward(ctx, grad):
        xp = ctx.xp
        _, need_a, need_b = ctx.needs_input_grad
        sa, sb = ctx.shapes
        zero = xp.zeros_like(grad)
        return (
            None,
            unbroadcast(xp, xp.where(ctx.condition, grad, zero), sa) if need_a else None,
            unbroadcast(xp, xp.where(ctx.condition, zero, grad), sb) if need_b else None,
        )


class Clip(Function):
    """Limit to [low, high] (numbers; None for no limit). Slope 1 inside, 0 outside."""

    @staticmethod
    def forward(ctx, a, low=None, high=None):
        ctx.save_for_backward(a)
        ctx.low, ctx.high = low, high
        return ctx.xp.clip(a, low, high)

    @staticmethod
    def backward(ctx, grad):  # inclusive at the limits, as torch.clamp
        (a,) = ctx.saved_tensors
        inside = ctx.xp.ones_like(a, dtype=ctx.xp.bool)
        if ctx.low is not None:
            inside = inside & (a >= ctx.low)
        if ctx.high is not None:
            inside = inside & (a <= ctx.high)
        return grad * inside


def _along_axis_index(xp, a, indices, axis):
    """The index tuple that picks what ``take_along_axis`` picked: ``indices`` along
    ``axis``, and along every other axis k the position itself (an arange shaped to
    broadcast along k only)."""
    from array_api_compat import device

    index = []
    for k, n in enumerate(a.shape):
        if k == axis:
            index.append(indices)
        else:
            shape = [1] * a.ndim
            shape[k] = n
            index.append(xp.reshape(xp.arange(n, device=device(a)), tuple(shape)))
    return tuple(index)


class TakeAlongAxis(Function):
    """Pick ``a``'s elements at integer ``indices`` along ``axis`` (e.g. the true class's score)."""

    @staticmethod
    def forward(ctx, a, indices, axis=-1):
        ctx.save_for_backward(a, indices)
        ctx.axis = axis % a.ndim
        return ctx.xp.take_along_axis(a, indices, axis=axis)

    @staticmethod
    def backward(ctx, grad):  # an index may be picked twice: scatter-add the gradients
        a, indices = ctx.saved_tensors
        index = _along_axis_index(ctx.xp, a, indices, ctx.axis)
        return scatter_add(ctx.xp, a, index, grad), None


def maximum(a, b):
    """Elementwise larger of ``a`` and ``b`` (broadcast); ties split the gradient."""
    return Maximum.apply(a, b)


def minimum(a, b):
    """Elementwise smaller of ``a`` and ``b`` (broadcast); ties split the gradient."""
    return Minimum.apply(a, b)


def where(condition, a, b):
    """``a`` where ``condition`` (a boolean array) is true, else ``b``."""
    return Where.apply(condition, a, b)


def take_along_axis(a, indices, axis=-1):
    """Elements of ``a`` at integer ``indices`` along ``axis``, as ``numpy.take_along_axis``."""
    return TakeAlongAxis.apply(a, indices, axis=axis)
