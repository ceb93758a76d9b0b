"""Elementwise operations: + - * / ** neg exp log sqrt abs tanh relu sigmoid, and casts.

Binary operations broadcast like NumPy, so their backward sums each
gradient back to its input's shape (:func:`unbroadcast`). Inputs that do not
need a gradient (``ctx.needs_input_grad``) get ``None`` and cost nothing.
"""

from dlcourse.autodiff.function import Function
from dlcourse.autodiff.ops._broadcast import unbroadcast

__all__ = [
    "Abs",
    "Add",
    "Cast",
    "Div",
    "Exp",
    "Log",
    "Mul",
    "Neg",
    "Pow",
    "ReLU",
    "Sigmoid",
    "Sqrt",
    "Sub",
    "Tanh",
]


def _shape(x):
    return getattr(x, "shape", ())  # a Python number broadcasts like a 0-d array


class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = (_shape(a), _shape(b))
        return a + b

    @staticmethod
    def backward(ctx, grad):  # d(a + b) = da + db: the gradient passes through to both
        need_a, need_b = ctx.needs_input_grad
        sa, sb = ctx.shapes
        return (
            unbroadcast(ctx.xp, grad, sa) if need_a else None,
            unbroadcast(ctx.xp, grad, sb) if need_b else None,
        )


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = (_shape(a), _shape(b))
        return a - b

    @staticmethod
    def backward(ctx, grad):
        need_a, need_b = ctx.needs_input_grad
        sa, sb = ctx.shapes
        return (
            unbroadcast(ctx.xp, grad, sa) if need_a else None,
            unbroadcast(ctx.xp, -grad, sb) if need_b else None,
        )


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, grad):  # d(a * b) = b da + a db
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        return (
            unbroadcast(ctx.xp, grad * b, a.shape) if need_a else None,
            unbroadcast(ctx.xp, grad * a, b.shape) if need_b else None,
        )


class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        out = a / b
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, grad):  # d(a / b) = da / b - (a / b**2) db = (da - out db) / b
        a, b, out = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        grad_over_b = grad / b
        return (
            unbroadcast(ctx.xp, grad_over_b, _shape(a)) if need_a else None,
            unbroadcast(ctx.xp, -grad_over_b * out, b.shape) if need_b else None,
        )


class Neg(Function):
    @staticmethod
    def forward(ctx, a):
        return -a

    @staticmethod
    def backward(ctx, grad):
        return -grad


class Pow(Function):
    """``a ** exponent`` for a number ``exponent`` (a setting, not an input)."""

    @staticmethod
    def forward(ctx, a, exponent):
        ctx.save_for_backward(a)
        ctx.exponent = exponent
        return a**exponent

    @staticmethod
    def backward(ctx, grad):  # d(a**n)/da = n a**(n-1)
        (a,) = ctx.saved_tensors
        n = ctx.exponent
        if n == 2:  # the common square, without a general power
            return grad * (2 * a)
        return grad * (n * a ** (n - 1))


class Exp(Function):
    @staticmethod
    def forward(ctx, a):
        out = ctx.xp.exp(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):  # d exp(a)/da = exp(a): the output itself
        (out,) = ctx.saved_tensors
        return grad * out


class Log(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return ctx.xp.log(a)

    @staticmethod
    def backward(ctx, grad):  # d log(a)/da = 1/a
        (a,) = ctx.saved_tensors
        return grad / a


class Sqrt(Function):
    @staticmethod
    def forward(ctx, a):
        out = ctx.xp.sqrt(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):  # d sqrt(a)/da = 1 / (2 sqrt(a))
        (out,) = ctx.saved_tensors
        return grad / (2 * out)


class Abs(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return ctx.xp.abs(a)

    @staticmethod
    def backward(ctx, grad):  # the sign of a; 0 at a == 0, as in PyTorch
        (a,) = ctx.saved_tensors
        return grad * ctx.xp.sign(a)


class Tanh(Function):
    @staticmethod
    def forward(ctx, a):
        out = ctx.xp.tanh(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):  # d tanh(a)/da = 1 - tanh(a)**2
        (out,) = ctx.saved_tensors
        return grad * (1 - out * out)


class ReLU(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return ctx.xp.maximum(a, ctx.xp.zeros_like(a))

    @staticmethod
    def backward(ctx, grad):  # slope 1 where a > 0, 0 elsewhere (and at 0, like PyTorch)
        (a,) = ctx.saved_tensors
        return grad * (a > 0)


class Sigmoid(Function):
    @staticmethod
    def forward(ctx, a):
        # exp(-|a|) <= 1 cannot overflow; for a < 0, 1/(1 + exp(-a)) = e/(1 + e)
        xp = ctx.xp
        e = xp.exp(-xp.abs(a))
        out = xp.where(a >= 0, 1 / (1 + e), e / (1 + e))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):  # d sigmoid(a)/da = s (1 - s)
        (s,) = ctx.saved_tensors
        return grad * (s * (1 - s))


class Cast(Function):
    """Convert to another floating dtype; the gradient is converted back."""

    @staticmethod
    def forward(ctx, a, dtype):
        ctx.dtype = a.dtype
        return ctx.xp.astype(a, dtype)

    @staticmethod
    def backward(ctx, grad):
        return ctx.xp.astype(grad, ctx.dtype)
