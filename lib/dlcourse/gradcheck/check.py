"""check_gradients: a hand-written backward against finite differences."""

import numpy as np

from dlcourse.gradcheck.compare import analytic_gradients, call_kwargs, compare
from dlcourse.gradcheck.convert import is_float_array, like, to_numpy
from dlcourse.gradcheck.numerical import centred_differences
from dlcourse.gradcheck.report import GradientReport

MAX_NUDGE_ROUNDS = 5


def float64_inputs(inputs):
    """Every array input as NumPy (floats in float64), the numerical reference's working copy."""
    out = {}
    for key, value in inputs.items():
        if is_float_array(value):
            out[key] = to_numpy(value, np.float64)
        elif hasattr(value, "shape") and hasattr(value, "dtype"):
            out[key] = to_numpy(value)
        else:
            out[key] = value
    return out


def default_wrt(inputs):
    return tuple(k for k, v in inputs.items() if is_float_array(v))


def _numerical(forward, inputs, wrt, kwargs, dout, h, seed):
    """Numerical gradients of every argument in ``wrt``, the kinks met, and the rounding noise."""
    base = float64_inputs(inputs)
    grads, kinks, noise = {}, {}, {}
    for name in wrt:

        def f(z, name=name):
            return forward(**{**base, name: z}, **call_kwargs(kwargs))[0]

        grads[name], kinks[name], noise[name] = centred_differences(f, base[name], dout, h, seed)
    return grads, kinks, noise


def _nudge(inputs, kinks, rng):
    """Move the elements that sit on a kink a small random step (far larger than h) away."""
    moved = dict(inputs)
    for name, mask in kinks.items():
        if mask.any():
            values = to_numpy(inputs[name], np.float64)
            step = rng.uniform(0.01, 0.05, size=int(mask.sum())) * rng.choice(
                [-1, 1], int(mask.sum())
            )
            values[mask] += step * np.maximum(1.0, np.abs(values[mask]))
            moved[name] = like(values, inputs[name])
    return moved


def check_gradients(
    forward,
    backward,
    inputs,
    *,
    wrt=None,
    kwargs=None,
    dout=None,
    seed=0,
    h=None,
    tol=None,
    avoid_kinks=True,
):
    """Check every gradient ``backward`` returns against centred finite differences.

    forward: called as ``forward(**inputs, **kwargs)``, returns ``(out, cache)``;
    backward: called as ``backward(dout, cache)``, returns the gradients of the
    inputs named in ``wrt`` in that order (default: every floating-point input);
    kwargs: constant arguments (dict), or a function returning them afresh for
    each call (so a seeded rng gives the same dropout mask every time);
    dout: the upstream gradient, random by default; tol: defaults to the
    tolerance for the output's dtype (see ``dlcourse.gradcheck.tolerance``).

    Inputs that sit on a kink (ReLU at 0, a tie in a max) are detected by
    comparing left and right slopes, and moved slightly before checking, so a
    correct gradient never fails by bad luck. The returned report says how
    many elements were moved; ``inputs`` itself is never modified.
    """
    wrt = default_wrt(inputs) if wrt is None else tuple(wrt)
    rng = np.random.default_rng(seed + 1)
    inputs, nudged = dict(inputs), 0
    for _ in range(MAX_NUDGE_ROUNDS):
        grads, dout64, dtype = analytic_gradients(
            forward, backward, inputs, wrt, kwargs, dout, seed
        )
        expected, kinks, noise = _numerical(forward, inputs, wrt, kwargs, dout64, h, seed)
        on_kinks = sum(int(k.sum()) for k in kinks.values())
        if not (avoid_kinks and on_kinks):
            break
        inputs = _nudge(inputs, kinks, rng)
        nudged += on_kinks
    arguments = tuple(
        compare(name, got, expected[name], dtype, tol, noise[name]) for name, got in zip(wrt, grads)
    )
    note = ""
    if avoid_kinks and on_kinks:
        note = (
            f"{on_kinks} element(s) still sit on a kink after moving them; "
            "results there may differ."
        )
    return GradientReport("finite differences", arguments, nudged, note=note, dtype=dtype)
