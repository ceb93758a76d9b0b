"""Comparing one computed gradient with its reference, and running the code under test."""

import numpy as np

from dlcourse.gradcheck.convert import like, to_numpy
from dlcourse.gradcheck.numerical import random_dout
from dlcourse.gradcheck.report import ArgumentCheck
from dlcourse.gradcheck.tolerance import dtype_name, floor_for, rel_errors, tolerance


def call_kwargs(kwargs):
    """``kwargs`` may be a function that makes them afresh, e.g. a new seeded rng per call."""
    return dict(kwargs()) if callable(kwargs) else dict(kwargs or {})


def as_tuple(grads, wrt):
    """The backward's result as one gradient per name in ``wrt``."""
    grads = grads if isinstance(grads, tuple | list) else (grads,)
    if len(grads) != len(wrt):
        raise ValueError(
            f"backward returned {len(grads)} gradient(s) but {len(wrt)} were checked "
            f"({', '.join(wrt)}); return them in that order, or pass wrt=... to name "
            f"the inputs its results belong to."
        )
    return tuple(grads)


def analytic_gradients(forward, backward, inputs, wrt, kwargs, dout, seed):
    """Run the code under test once. Returns (grads, dout as float64 NumPy, output dtype)."""
    out, cache = forward(**inputs, **call_kwargs(kwargs))
    if dout is None:
        shape = tuple(out.shape)
        dout = np.ones(()) if shape == () else random_dout(shape, seed)
    dout = to_numpy(dout, np.float64)
    grads = as_tuple(backward(like(dout, out), cache), wrt)
    return grads, dout, dtype_name(out.dtype)


def _hint(name, got, expected):
    try:
        from dlcourse.diagnose import diagnose
    except ImportError:  # diagnosis is optional extra help
        return ""
    try:
        return diagnose(
            got, like(expected, got) if got is not None else expected, name=name
        ).message
    except Exception:  # a hint must never hide the check's own result
        return ""


def compare(name, got, expected, dtype, tol=None, noise=0.0):
    """An ArgumentCheck of ``got`` (any library) against ``expected`` (float64 NumPy).

    noise: the reference's own error estimate (finite differences have one).
    """
    tol = tolerance(dtype) if tol is None else tol
    label = f"d{name}"
    if got is None or tuple(got.shape) != expected.shape:
        shape = None if got is None else tuple(got.shape)
        return ArgumentCheck(
            label,
            False,
            float("inf"),
            tol,
            hint=_hint(label, got, expected)
            or f"{label} has shape {shape}, expected {expected.shape}.",
        )
    got_np = to_numpy(got, np.float64)
    scale = np.max(np.abs(expected)) if expected.size else 0.0
    errors = rel_errors(got_np, expected, floor_for(dtype, scale, noise))
    if not errors.size:
        return ArgumentCheck(label, True, 0.0, tol)
    errors = np.where(np.isnan(errors), np.inf, errors)
    worst = np.unravel_index(int(np.argmax(errors)), errors.shape)
    err = float(errors[worst])
    passed = err <= tol
    return ArgumentCheck(
        label,
        passed,
        err,
        tol,
        tuple(int(i) for i in worst),
        float(got_np[worst]),
        float(expected[worst]),
        "" if passed else _hint(label, got, expected),
    )
