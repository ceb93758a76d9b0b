"""Activation functions and their derivatives, each forward beside its backward.

The cache of each forward holds what its backward needs: the input for ReLU
(its slope depends on the sign of x), the output for sigmoid, tanh and softmax
(their derivatives are cheapest to write in terms of the output).
"""

from dlcourse.functional._common import namespace, require_float, require_shape


def _check_dout(dout, reference):
    require_shape("dout", dout, tuple(reference.shape))


def relu_forward(x):
    """max(0, x), elementwise."""
    require_float("x", x)
    xp = namespace(x)
    return xp.maximum(x, xp.zeros_like(x)), x


def relu_backward(dout, cache):
    """The slope is 1 where x > 0 and 0 elsewhere (0 is also used at x == 0)."""
    x = cache
    _check_dout(dout, x)
    return dout * (x > 0)


def leaky_relu_forward(x, alpha=0.01):
    """x where x > 0, alpha * x elsewhere: negative inputs keep a small slope."""
    require_float("x", x)
    xp = namespace(x)
    return xp.where(x > 0, x, alpha * x), (x, alpha)


def leaky_relu_backward(dout, cache):
    x, alpha = cache
    _check_dout(dout, x)
    xp = namespace(x, dout)
    return xp.where(x > 0, dout, alpha * dout)


def sigmoid_forward(x):
    """1 / (1 + exp(-x)), written so that no exp ever overflows.

    With e = exp(-|x|) <= 1: for x >= 0 the value is 1 / (1 + e); for x < 0 it
    is e / (1 + e), the same number rearranged. |x| is spelled with ``where`` so
    that an autodiff framework running this code sees slope 1 at x = 0, where
    ``abs`` would give it 0.
    """
    require_float("x", x)
    xp = namespace(x)
    e = xp.exp(-xp.where(x >= 0, x, -x))
    out = xp.where(x >= 0, 1 / (1 + e), e / (1 + e))
    return out, out


def sigmoid_backward(dout, cache):
    """d sigmoid / dx = s * (1 - s), with s the forward output."""
    s = cache
    _check_dout(dout, s)
    return dout * s * (1 - s)


def tanh_forward(x):
    require_float("x", x)
    xp = namespace(x)
    out = xp.tanh(x)
    return out, out


def tanh_backward(dout, cache):
    """d tanh / dx = 1 - tanh(x)**2."""
    t = cache
    _check_dout(dout, t)
    return dout * (1 - t * t)


def softmax_forward(x, axis=-1):
    """exp(x) / sum(exp(x)) along ``axis``; the max is subtracted first so exp cannot overflow."""
    require_float("x", x)
    xp = namespace(x)
    e = xp.exp(x - xp.max(x, axis=axis, keepdims=True))
    out = e / xp.sum(e, axis=axis, keepdims=True)
    return out, (out, axis)


def softmax_backward(dout, cache):
    """Softmax couples every output to every input of its row: ds_i/dx_j = s_i (δij - s_j).

    Multiplying that Jacobian by dout gives s * (dout - sum(dout * s)) without
    ever forming the matrix.
    """
    s, axis = cache
    _check_dout(dout, s)
    xp = namespace(s, dout)
    return s * (dout - xp.sum(dout * s, axis=axis, keepdims=True))
