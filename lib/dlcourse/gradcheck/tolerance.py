"""How close is close enough: relative error and tolerances chosen by dtype.

A numerical gradient is computed in float64 by centred differences, whose own
error is about 1e-10 relative here; an analytic gradient computed in float32
carries rounding of about 1e-6 per operation, which grows through sums over a
batch. So the bar depends on the dtype the student's code computed in:

==========  =========  ================================================
dtype       tolerance  why
==========  =========  ================================================
float64     1e-6       correct code lands near 1e-9; a bug near 1e-1
float32     2e-3       rounding through a few hundred-term sums
float16     5e-2       only three decimal digits to start with
==========  =========  ================================================

``rel_error`` is the elementwise |a - b| / (|a| + |b|) of the CS231n
assignments, maximised over elements. Elements near zero would make it blow up
on pure rounding noise, so below a ``floor`` the denominator stops shrinking;
``check_gradients`` sets the floor to a small fraction of the gradient's
largest magnitude (``FLOOR_FRACTION``), never below ``ABSOLUTE_FLOOR`` nor
below what the finite differences' own rounding can explain.
"""

import numpy as np

TOLERANCES = {"float64": 1e-6, "float32": 2e-3, "float16": 5e-2, "bfloat16": 5e-2}
FLOOR_FRACTION = {"float64": 1e-3, "float32": 1e-2, "float16": 1e-1, "bfloat16": 1e-1}
# an all-zero gradient still meets rounding from x + h itself (about 1e-17 here)
ABSOLUTE_FLOOR = {"float64": 1e-10, "float32": 1e-6, "float16": 1e-3, "bfloat16": 1e-3}


def dtype_name(dtype):
    """'float32' for np.float32, np.dtype('float32') and torch.float32 alike."""
    try:
        return np.dtype(dtype).name
    except TypeError:  # not a NumPy dtype: torch.float32 prints as "torch.float32"
        return str(dtype).rsplit(".", 1)[-1]


def tolerance(dtype):
    """The largest relative error a correct gradient of this dtype shows."""
    name = dtype_name(dtype)
    if name not in TOLERANCES:
        raise ValueError(f"dtype: no gradient tolerance for {name}; use a floating dtype.")
    return TOLERANCES[name]


def floor_for(dtype, scale, noise=0.0):
    """The smallest denominator rel_error uses for each element.

    scale: the reference gradient's largest magnitude; noise: the numerical
    reference's own rounding error (a number or an array), which should not
    count against the gradient being checked.
    """
    name = dtype_name(dtype)
    floor = max(FLOOR_FRACTION[name] * float(scale), ABSOLUTE_FLOOR[name])
    return np.maximum(floor, np.asarray(noise) / TOLERANCES[name])


def rel_errors(a, b, floor=1e-8):
    """Elementwise |a - b| / max(floor, |a| + |b|) as a float64 NumPy array."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return np.abs(a - b) / np.maximum(floor, np.abs(a) + np.abs(b))


def rel_error(a, b, floor=1e-8):
    """The largest elementwise relative error between ``a`` and ``b`` (0.0 for empty arrays)."""
    errors = rel_errors(a, b, floor)
    return float(errors.max()) if errors.size else 0.0
