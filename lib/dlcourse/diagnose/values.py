"""Explaining a gradient of the right shape whose values are wrong.

``judge_values`` works on float64 NumPy arrays and tries, in order:
nan, ok, transposed (square), sign, batch_scale, scale, kink, elementwise.
NaN comes first because a NaN poisons every comparison after it; the
whole-array patterns (sign, factors) come before kink and elementwise because
they explain every wrong element at once and name a single fix.
"""

import numpy as np

from dlcourse.diagnose.arrays import format_index, format_number, relative_errors
from dlcourse.diagnose.diagnosis import Diagnosis
from dlcourse.diagnose.shapes import square_transposed_message

# An input this close to zero sits on the kink of ReLU, abs, max, ...
KINK_ATOL = 1e-12


def _worst(errors, mask):
    """Index of the largest error among ``mask`` (a tuple of Python ints)."""
    masked = np.where(mask, errors, -1.0)
    flat = int(np.argmax(masked))
    return tuple(int(i) for i in np.unravel_index(flat, errors.shape))


def _diagnosis(kind, message, name, got, expected, errors, mask, **extra):
    index = _worst(errors, mask)
    return Diagnosis(
        kind=kind,
        message=message,
        name=name,
        worst_index=index,
        got_value=float(got[index]),
        expected_value=float(expected[index]),
        max_rel_error=float(np.max(errors, initial=0.0)),
        mismatches=int(np.count_nonzero(mask)),
        **extra,
    )


def _at_worst(name, got, expected, errors, mask):
    index = _worst(errors, mask)
    return (
        f"{format_index(name, index)}: got {format_number(got[index])}, "
        f"expected {format_number(expected[index])}"
    )


def _nan(name, got, expected, errors):
    broken = ~np.isfinite(got) & np.isfinite(expected)
    if not broken.any():
        return None
    first = tuple(int(i) for i in np.argwhere(broken)[0])
    what = "NaN" if np.isnan(got[broken]).any() else "inf"
    message = (
        f"{name} contains {what} at {np.count_nonzero(broken)} of {got.size} elements "
        f"(first {format_index(name, first)}, where {format_number(expected[first])} was "
        f"expected): an intermediate overflowed or divided by zero; use a numerically "
        f"stable formula (subtract the row max before exp in softmax, clip before log)."
    )
    return Diagnosis(
        kind="nan",
        message=message,
        name=name,
        worst_index=first,
        got_value=float(got[first]),
        expected_value=float(expected[first]),
        max_rel_error=float("inf"),
        mismatches=int(np.count_nonzero(broken)),
    )


def _fitted_factor(got, expected, bad):
    """The least-squares c in got ≈ c * expected, or None when it means nothing."""
    finite = np.isfinite(got) & np.isfinite(expected)
    if not finite[bad].all():
        return None
    scale = float(np.max(np.abs(expected[finite]), initial=0.0))
    if scale == 0.0:
        return None
    # Divide by the scale first so the sums of squares cannot overflow.
    g, e = got[finite] / scale, expected[finite] / scale
    with np.errstate(all="ignore"):
        c = float(np.sum(g * e) / np.sum(e * e))
    return c if np.isfinite(c) and c != 0.0 else None


def _candidates(c, batch_size):
    """(kind, factor) pairs worth testing against the fitted factor ``c``, in order.

    A factor is only called the batch size when the batch size is known: a
    factor of 4 on a batch of one row has another cause, and guessing "the
    batch size" sends the learner to the wrong line.
    """
    sign = -1.0 if c < 0 else 1.0
    yield "sign", -1.0
    if batch_size is not None and batch_size > 1:
        yield "batch_scale", sign * batch_size
        yield "batch_scale", sign / batch_size
    yield "scale", sign * 2.0
    yield "scale", sign * 0.5
    yield "scale", c


def _ratio_phrase(factor):
    """``8 times`` / ``1/8 of`` / ``-2 times``: how big got is next to expected."""
    size = abs(factor)
    minus = "-" if factor < 0 else ""
    if size < 1 and abs(1 / size - round(1 / size)) < 1e-9:
        return f"{minus}1/{round(1 / size)} of"
    if abs(size - round(size)) < 1e-9:
        return f"{minus}{round(size)} times"
    return f"{format_number(factor)} times"


def _whole_factor(size):
    """K when ``size`` is K or 1/K for a whole number K >= 2, else None."""
    for whole in (size, 1 / size):
        if round(whole) >= 2 and abs(whole - round(whole)) < 1e-9:
            return round(whole)
    return None


def _factor_message(kind, name, factor, where):
    start = f"{name} is {_ratio_phrase(factor)} the expected gradient everywhere ({where})"
    flipped = " and has the wrong sign" if factor < 0 and kind != "sign" else ""
    size = abs(factor)
    if kind == "sign":
        return (
            f"{name} has the right size but the opposite sign everywhere ({where}): a sign "
            f"is flipped; check the order of subtractions such as (pred - y), and signs in "
            f"derivatives such as sigmoid'(z) = s * (1 - s)."
        )
    if kind == "batch_scale":
        n = _whole_factor(size)
        if size > 1:
            fix = "divide by N once: a sum over the batch was taken where a mean was expected"
        else:
            fix = (
                "a 1/N too many: a mean over the batch where the gradient sums over it, or a "
                "mean's 1/N applied twice; divide by N in one place only"
            )
        return f"{start}{flipped}: off by a factor of {n}, the batch size; {fix}."
    if abs(size - 2.0) < 1e-9:
        fix = "the 2 from differentiating a square (d/dx x**2 = 2x) cancels a 1/2 in the loss"
        return f"{start}{flipped}: a factor of 2 is off; check whether {fix}."
    if abs(size - 0.5) < 1e-9:
        return (
            f"{start}{flipped}: a factor of 2 is missing; d/dx x**2 = 2x unless the loss "
            f"has a 1/2 in front."
        )
    # Not the batch size (or it is unknown): say how big the factor is, not why.
    n = _whole_factor(size)
    if n is not None:
        step = "multiplies" if size > 1 else "divides"
        return (
            f"{start}{flipped}: off by a factor of {n}; find the step that {step} every "
            f"element by {n}."
        )
    return (
        f"{start}{flipped}: off by a constant factor of {format_number(size)}; find the "
        f"step that scales every element by it."
    )


def _factor(name, got, expected, errors, bad, rtol, errors_of, batch_size):
    c = _fitted_factor(got, expected, bad)
    if c is None:
        return None
    for kind, factor in _candidates(c, batch_size):
        if np.all(errors_of(got, factor * expected) <= rtol):
            where = _at_worst(name, got, expected, errors, bad)
            message = _factor_message(kind, name, factor, where)
            return _diagnosis(kind, message, name, got, expected, errors, bad, factor=factor)
    return None


def _kink(name, got, expected, errors, bad, at):
    if not (np.abs(at[bad]) <= KINK_ATOL).all():
        return None
    count = int(np.count_nonzero(bad))
    message = (
        f"{name} differs from the expected gradient only where the input is 0, a "
        f"non-differentiable point ({count} element(s); "
        f"{_at_worst(name, got, expected, errors, bad)}): any subgradient there is usually "
        f"accepted (ReLU'(0) may be 0 or 1), so this is a warning, not an error."
    )
    return _diagnosis("kink", message, name, got, expected, errors, bad)


def _pattern(name, got, bad):
    """A hint about where the wrong elements sit, or '' when there is no clear one."""
    if np.all(got == 0):
        return (
            f" {name} is all zeros: nothing was accumulated into it; check that you "
            f"return the computed array, not the initial zeros."
        )
    if bad.all():
        return " Every element differs: re-derive the formula."
    if got.ndim >= 2 and np.count_nonzero(bad) > 1:
        rows = np.unique(np.argwhere(bad)[:, 0])
        cols = np.unique(np.argwhere(bad)[:, -1])
        if len(rows) == 1:
            return f" Only row {rows[0]} differs: check the loop or special case for it."
        if len(cols) == 1:
            return f" Only column {cols[0]} differs: check the loop or special case for it."
    return " Work that element out by hand and compare it with your formula."


def _elementwise(name, got, expected, errors, bad):
    index = _worst(errors, bad)
    message = (
        f"{name} differs from the expected gradient at {np.count_nonzero(bad)} of {got.size} "
        f"elements; the worst is {_at_worst(name, got, expected, errors, bad)} "
        f"(relative error {format_number(errors[index])})." + _pattern(name, got, bad)
    )
    return _diagnosis("elementwise", message, name, got, expected, errors, bad)


def judge_values(name, got, expected, *, rtol, dtype, batch_size=None, at=None, noise=0.0):
    """Diagnose ``got`` against ``expected``: float64 NumPy arrays of the same shape.

    ``dtype`` is the dtype the arrays were computed in (it sets the zero floor);
    ``noise``: the absolute rounding error a correct result may carry (it
    raises the floor; see ``relative_errors``).
    """

    def errors_of(g, e):
        return relative_errors(g, e, dtype, noise)

    errors = errors_of(got, expected)
    bad = errors > rtol

    found = _nan(name, got, expected, errors)
    if found is not None:
        return found
    if not bad.any():
        return Diagnosis(
            kind="ok",
            message=(
                f"{name} matches the expected gradient (max relative error "
                f"{format_number(float(np.max(errors, initial=0.0)))}, "
                f"tolerance {format_number(rtol)})."
            ),
            name=name,
            max_rel_error=float(np.max(errors, initial=0.0)),
            mismatches=0,
        )
    if got.ndim == 2 and got.shape[0] == got.shape[1] > 1:
        if np.all(errors_of(got.T, expected) <= rtol):
            message = square_transposed_message(name, got.shape)
            return _diagnosis("transposed", message, name, got, expected, errors, bad)
    found = _factor(name, got, expected, errors, bad, rtol, errors_of, batch_size)
    if found is None and at is not None:
        found = _kink(name, got, expected, errors, bad, at)
    return found if found is not None else _elementwise(name, got, expected, errors, bad)
