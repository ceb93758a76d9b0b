"""Gradients by centred finite differences: the slow, reliable reference.

For f mapping an array x to an output array, the gradient of the scalar
sum(f(x) * dout) with respect to x is, element by element,

    (f(x + h e_i) - f(x - h e_i)) . dout / (2 h)

``dout`` plays the role of the upstream gradient. It is random by default and
never all ones: with all ones, a backward that forgot to multiply by dout would
pass. A function with a scalar output (a loss) gets dout = 1.
"""

import numpy as np

DEFAULT_STEP = 1e-5  # balances truncation (~h^2) and rounding (~1e-16 / h) in float64
EPS64 = float(np.finfo(np.float64).eps)


def random_dout(shape, seed=0):
    """A standard-normal upstream gradient, reproducible from ``seed``."""
    return np.random.default_rng(seed).standard_normal(shape)


def _as_output(value):
    from dlcourse.gradcheck.convert import to_numpy

    return to_numpy(value, np.float64)


def centred_differences(f, x, dout=None, h=None, seed=0):
    """Numerical gradient plus a mask of elements where f has a kink.

    At each element the slopes to the right, (f(x+h) - f(x)) / h, and to the
    left, (f(x) - f(x-h)) / h, are compared: for a smooth f they differ by
    about h * f'', at a kink (ReLU at 0, a tie inside a max) by the jump in
    slope itself. Also estimates each element's rounding noise: outputs that
    x_i does not reach cancel exactly; those it does carry float64 rounding of
    about eps * |value| each, divided by 2h (at least one output is assumed
    reached, since a change too small to alter any bit still hides there).
    Returns ``(grad, kinks, noise)``; x is never modified.
    """
    h = DEFAULT_STEP if h is None else h
    x = np.array(x, dtype=np.float64, copy=True)
    base = _as_output(f(x.copy()))
    if dout is None:
        # a scalar output is a loss: its own gradient is 1
        dout = np.ones(()) if base.shape == () else random_dout(base.shape, seed)
    dout = _as_output(dout)
    if dout.shape != base.shape:
        raise ValueError(f"dout: expected shape {base.shape} (the output's), got {dout.shape}.")
    grad = np.zeros_like(x)
    noise = np.zeros_like(x)
    kinks = np.zeros(x.shape, dtype=bool)
    for i in np.ndindex(x.shape):
        original = x[i]
        x[i] = original + h
        plus = _as_output(f(x.copy()))
        x[i] = original - h
        minus = _as_output(f(x.copy()))
        x[i] = original
        right = np.sum((plus - base) * dout) / h
        left = np.sum((base - minus) * dout) / h
        grad[i] = (right + left) / 2
        kinks[i] = abs(right - left) > 1e-3 * max(1.0, abs(right), abs(left))
        weighted = np.abs(dout) * (np.abs(plus) + np.abs(minus))
        reached = (plus != base) | (minus != base)
        # an output that x_i reaches may still round to the same bits: count the largest one
        magnitude = max(np.sum(weighted[reached]), np.max(weighted, initial=0.0))
        noise[i] = EPS64 * magnitude / (2 * h)
    return grad, kinks, noise


def numerical_gradient(f, x, dout=None, h=None, seed=0):
    """The gradient of sum(f(x) * dout) with respect to x, by centred differences in float64.

    f: a function of one array returning an array (or a scalar for a loss);
    dout: the upstream gradient, random by default (see ``random_dout``);
    h: the step, 1e-5 by default. x is copied, never modified.
    """
    return centred_differences(f, x, dout, h, seed)[0]
