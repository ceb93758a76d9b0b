"""Checking what a user hands a model as ``x``: one array, a list of arrays, or a dict.

A model with several inputs takes a list (or tuple) with one array per input,
in the order of ``model.inputs``, or a dict from input names to arrays. The
result is always NumPy of the right dtype: one array, or a tuple of arrays.
"""

import numpy as np

from dlcourse.nn.arrays import as_numpy

__all__ = ["split_inputs", "checked_array"]


def _names(names):
    return ", ".join(repr(n) for n in names)


def split_inputs(x, names, what="x"):
    """One NumPy array per input name, from an array, a list/tuple or a dict."""
    if isinstance(x, dict):
        missing = [n for n in names if n not in x]
        unknown = [k for k in x if k not in names]
        if missing or unknown:
            problems = []
            if missing:
                problems.append(f"it has no array for {_names(missing)}")
            if unknown:
                problems.append(f"{_names(unknown)} is not an input of the model")
            raise ValueError(
                f"{what}: {' and '.join(problems)}; the model's inputs are {_names(names)}: "
                f"pass a dict with exactly those keys."
            )
        return [as_numpy(f"{what}[{n!r}]", x[n]) for n in names]
    if len(names) == 1:
        return [as_numpy(what, x)]
    if not isinstance(x, (list, tuple)):
        raise ValueError(
            f"{what}: the model has {len(names)} inputs ({_names(names)}); pass a list of "
            f"{len(names)} arrays in that order, or a dict {{name: array}}, "
            f"not one {type(x).__name__}."
        )
    if len(x) != len(names):
        raise ValueError(
            f"{what}: the model has {len(names)} inputs ({_names(names)}), got a list of "
            f"{len(x)} arrays; pass one array per input, in that order."
        )
    return [as_numpy(f"{what}[{i}]", a) for i, a in enumerate(x)]


def checked_array(x, dtype, what):
    """``x`` checked to be a batch of numbers, as ``dtype`` (floats) or kept (integer inputs)."""
    if x.ndim == 0:
        raise ValueError(f"{what}: expected a batch of examples, got a single number.")
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise ValueError(f"{what}: expected numbers, got an array of {x.dtype}.")
    if np.dtype(dtype).kind in "iu" and x.dtype.kind == "f" and not np.all(x == np.round(x)):
        raise ValueError(
            f"{what}: the model reads integer ids ({dtype}) here, but got floats that are not "
            "whole numbers; pass the token ids themselves, e.g. x.astype('int64')."
        )
    return x.astype(dtype, copy=False)


def check_same_length(arrays, names, what="x"):
    lengths = {len(a) for a in arrays}
    if len(lengths) > 1:
        counts = ", ".join(f"{n!r}: {len(a)}" for n, a in zip(names, arrays))
        raise ValueError(
            f"{what}: the inputs hold different numbers of examples ({counts}); "
            "every input needs one row per example."
        )
