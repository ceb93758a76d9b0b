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


def _shifted(f, x, i, step):
    """f at x with element i moved by ``step`` (x is restored afterwards)."""
    saved = x[i]
    x[i] = saved + step
    out = _as_output(f(x.copy()))
    x[i] = saved
    return out


def centred_differences(f, x, dout=None, h=None, seed=0):
    """Numerical gradient, a mask of elements where f has a kink, and the reference's own error.

    At each element the slopes to the right, (f(x+h) - f(x)) / h, and to the
    left, (f(x) - f(x-h)) / h, are compared: for a smooth f they differ by
    about h * f'', at a kink (ReLU at 0, a tie inside a max) by the jump in
    slope itself.

    The error of the finite difference itself is estimated two ways, and the
    larger is kept: by repeating it with step 2h (truncation error and
    rounding inside f, e.g. log(1 + 1e-6), both show as a disagreement), and
    from the outputs' magnitude (eps * |value| per output x_i reaches, over
    2h; an output too little changed to alter any bit still carries it).
    Returns ``(grad, kinks, error)``; x is never modified.
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
    error = np.zeros_like(x)
    kinks = np.zeros(x.shape, dtype=bool)
    for i in np.ndindex(x.shape):
        plus, minus = _shifted(f, x, i, h), _shifted(f, x, i, -h)
        right = np.sum((plus - base) * dout) / h
        left = np.sum((base - minus) * dout) / h
        grad[i] = (right + left) / 2
        kinks[i] = abs(right - left) > 1e-3 * max(1.0, abs(right), abs(left))
        wide = np.sum((_shifted(f, x, i, 2 * h) - _shifted(f, x, i, -2 * h)) * dout) / (4 * h)
        weighted = np.abs(dout) * (np.abs(plus) + np.abs(minus))
        reached = (plus != base) | (minus != base)
        magnitude = max(np.sum(weighted[reached]), np.max(weighted, initial=0.0))
        # one sample of random rounding can fall small by chance: allow a margin of 4
        error[i] = max(4 * abs(grad[i] - wide), EPS64 * magnitude / (2 * h))
    return grad, kinks, error


def numerical_gradient(f, x, dout=None, h=None, seed=0):
    """The gradient of sum(f(x) * dout) with respect to x, by centred differences in float64.

    f: a function of one array returning an array (or a scalar for a loss);
    dout: the upstream gradient, random by default (see ``random_dout``);
    h: the step, 1e-5 by default. x is copied, never modified.
    """
    return centred_differences(f, x, dout, h, seed)[0]
