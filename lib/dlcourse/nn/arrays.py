"""User data as NumPy, and the two shapes model inputs take: one array, or a tuple of them.

A model with one input takes one array; a model with several takes a tuple
of arrays, one per input, in the order of ``model.inputs`` (NumPy before the
data reach the backend, native arrays after). These helpers apply a function
to either form, so that the training loop never needs to ask which one it has.
"""

import numpy as np

__all__ = ["as_numpy", "first_array", "map_arrays", "num_examples", "rows", "take_rows"]


def as_numpy(name, x):
    """User data as a NumPy array (lists, NumPy, CPU or GPU tensors)."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # a torch tensor
        return x.detach().cpu().numpy()
    try:
        return np.asarray(x)
    except Exception as err:
        raise ValueError(f"{name}: expected an array, got {type(x).__name__} ({err}).") from None


def map_arrays(fn, x):
    """``fn`` applied to the array ``x``, or to each array of the tuple ``x``."""
    if isinstance(x, tuple):
        return tuple(fn(a) for a in x)
    return fn(x)


def rows(x, lo, hi):
    """Rows ``lo`` to ``hi - 1`` of each array."""
    return map_arrays(lambda a: a[lo:hi], x)


def take_rows(backend, x, index):
    """The rows ``index`` (a native index array) of each array, with ``backend.take``."""
    return map_arrays(lambda a: backend.take(a, index), x)


def first_array(x):
    """The array itself, or the first of a tuple of arrays."""
    return x[0] if isinstance(x, tuple) else x


def num_examples(x):
    """How many examples (rows of the batch axis) ``x`` holds."""
    return len(first_array(x))
