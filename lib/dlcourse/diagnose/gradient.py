"""``diagnose``: compare a gradient with the expected one and name the mistake.

The checks run in a fixed order, each one only when the ones before it passed,
because an earlier problem makes the later questions meaningless:

1. ``none``: nothing was returned, so there is nothing else to look at.
2. ``device``: a different library (NumPy vs PyTorch) or device (cpu vs cuda)
   is a different kind of object, even when the numbers are right.
3. ``shape`` / ``transposed``: values can only be compared element by element
   when the shapes agree (a reordering of the axes is tried first).
4. ``nan``: a NaN or inf where a number was expected; it would poison every
   comparison below.
5. ``dtype``: reported when the values are right but the dtype is not. When the
   values are wrong too, the value mistake is reported and the dtype is added as
   a note, since fixing the dtype alone would not fix the gradient.
6. ``ok``: every element within the tolerance of the less precise dtype.
7. ``sign``, ``batch_scale``, ``scale``: got is a constant multiple of expected;
   these explain every wrong element at once.
8. ``kink``: the elements that differ all sit where the input ``at`` is 0.
9. ``elementwise``: anything else, pointing at the worst element.
"""

import dataclasses
from functools import partial
from numbers import Real

from dlcourse.diagnose.arrays import (
    comparison_dtype,
    describe_library,
    device_name,
    dtype_name,
    library,
    placement,
    shape_of,
    to_float64,
    tolerance,
)
from dlcourse.diagnose.diagnosis import Diagnosis
from dlcourse.diagnose.shapes import shape_message, transposed_message, transpositions
from dlcourse.diagnose.values import judge_values
from dlcourse.functional._common import require_array, require_shape


def _validate(expected, batch_size, at, rtol, noise):
    require_array("expected", expected)
    if batch_size is not None and (
        isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1
    ):
        raise ValueError(f"batch_size: expected a positive int or None, got {batch_size!r}.")
    if at is not None:
        require_shape("at", at, shape_of(expected))
    if rtol is not None and not rtol > 0:
        raise ValueError(f"rtol: expected a positive number or None, got {rtol!r}.")
    if isinstance(noise, bool) or not (isinstance(noise, Real) and 0 <= noise < float("inf")):
        raise ValueError(f"noise: expected a finite number >= 0, got {noise!r}.")


def _none(name, expected):
    return Diagnosis(
        kind="none",
        name=name,
        message=(
            f"{name} is None but should be an array of shape {shape_of(expected)}: the "
            f"function returned nothing for it; check for a missing return statement or "
            f"a gradient left out of the returned tuple."
        ),
    )


def _device(name, got, expected):
    want = describe_library(expected)
    if library(expected) != "numpy":  # NumPy arrays are always on the CPU: no need to say so
        want += f" on {device_name(expected)}"
    if library(got) == library(expected):
        message = (
            f"{name} is on {device_name(got)} but should be on {device_name(expected)} like "
            f"the inputs: create new arrays on the inputs' device "
            f"(xp.zeros(shape, device=device(x))) instead of moving results with .cpu() or .cuda()."
        )
    elif library(got) in ("sequence", "other"):
        message = (
            f"{name} is {describe_library(got)} but should be {want}: compute it with array "
            f"operations on the inputs instead of building a Python object."
        )
    else:
        message = (
            f"{name} is {describe_library(got)} but should be {want} like the inputs: compute "
            f"it with the inputs' own array module (xp = namespace(x, dout)) rather than "
            f"np.* calls or conversions such as .numpy() or torch.tensor(...)."
        )
    return Diagnosis(kind="device", name=name, message=message)


def _dtype_advice(got_dtype, expected_dtype):
    if not got_dtype.startswith(("float", "bfloat", "complex")):
        return "integer or boolean arithmetic lost the fractions; start from a float array"
    if _bits(got_dtype) > _bits(expected_dtype):
        return (
            "a float64 constant or NumPy array mixed in upcast it; create constants with the "
            "inputs' dtype (xp.asarray(c, dtype=x.dtype))"
        )
    return "something cast it down (astype, .float()); keep the inputs' dtype"


def _bits(dtype):
    digits = "".join(ch for ch in dtype if ch.isdigit())
    return int(digits) if digits else 0


def _with_dtype(result, name, got_dtype, expected_dtype):
    """Fold a dtype mismatch into ``result`` (see step 5 of the module docstring)."""
    if result.kind in ("ok", "kink"):
        return Diagnosis(
            kind="dtype",
            name=name,
            message=(
                f"{name} has dtype {got_dtype} but should be {expected_dtype} like the "
                f"inputs (its values are right): {_dtype_advice(got_dtype, expected_dtype)}."
            ),
            max_rel_error=result.max_rel_error,
        )
    note = f" Also, {name} has dtype {got_dtype} but should be {expected_dtype}."
    return dataclasses.replace(result, message=result.message + note)


def _not_numbers(name, got_dtype, expected_dtype):
    return Diagnosis(
        kind="dtype",
        name=name,
        message=(
            f"{name} has dtype {got_dtype} but should be {expected_dtype}: its elements are "
            f"not numbers (arrays or tuples packed into an array?); return one numeric array."
        ),
    )


def _wrong_shape(name, got, got_shape, expected_shape, judge, batch_size):
    """A shape or transposed Diagnosis for arrays whose shapes differ."""
    for axes in transpositions(got_shape, expected_shape):
        inner = judge(got=got.transpose(axes))
        if inner.ok:
            message = transposed_message(name, got_shape, expected_shape, axes)
            return Diagnosis(kind="transposed", name=name, message=message)
    if len(got_shape) == 2 and got_shape == expected_shape[::-1]:
        inner = judge(got=got.T)
        message = transposed_message(name, got_shape, expected_shape, (1, 0))
        return Diagnosis(
            kind="transposed",
            name=name,
            message=f"{message} Even after transposing, {inner.message}",
        )
    message = shape_message(name, got_shape, expected_shape, batch_size)
    return Diagnosis(kind="shape", name=name, message=message)


def diagnose(got, expected, name="grad", *, batch_size=None, at=None, rtol=None, noise=0.0):
    """Compare the gradient ``got`` with ``expected`` and explain the difference.

    ``got`` and ``expected`` are NumPy arrays or PyTorch tensors (CPU or CUDA);
    ``name`` is how messages call the array ("dw", "dx", ...). Optional:

    - ``batch_size``: the number of samples N, so a factor of N or 1/N is
      reported as ``batch_scale`` (without it, every factor is a ``scale``:
      "off by a factor of K", with no guess at the cause);
    - ``at``: the input where the gradient was taken (same shape as
      ``expected``), so differences only where it is 0 are reported as a
      ``kink`` warning;
    - ``rtol``: the relative tolerance (default: by dtype, 1e-6 for float64,
      2e-3 for float32);
    - ``noise``: the absolute rounding error a correct ``got`` may carry,
      where each element is a small difference of much larger terms (so a
      different but correct order of operations is not called wrong).

    Returns a Diagnosis; ``str(d)`` reads as a sentence and ``d.ok`` says
    whether the gradient is acceptable.

    >>> import numpy as np
    >>> dw = np.arange(6.0).reshape(2, 3)
    >>> diagnose(dw.T, dw, "dw").kind
    'transposed'
    >>> diagnose(-dw, dw, "dw").kind
    'sign'
    """
    _validate(expected, batch_size, at, rtol, noise)
    if got is None:
        return _none(name, expected)
    if placement(got) != placement(expected):
        return _device(name, got, expected)

    got_dtype, expected_dtype = dtype_name(got), dtype_name(expected)
    dtype = comparison_dtype(got_dtype, expected_dtype)
    judge = partial(
        judge_values,
        name,
        expected=to_float64(expected),
        rtol=rtol if rtol is not None else tolerance(dtype),
        dtype=dtype,
        batch_size=batch_size,
        at=None if at is None else to_float64(at),
        noise=noise,
    )
    try:
        got_values = to_float64(got)
    except (TypeError, ValueError):  # an object array (of arrays, say) holds no numbers
        return _not_numbers(name, got_dtype, expected_dtype)
    got_shape, expected_shape = shape_of(got), shape_of(expected)
    if got_shape != expected_shape:
        result = _wrong_shape(name, got_values, got_shape, expected_shape, judge, batch_size)
    else:
        result = judge(got=got_values)
    if got_dtype != expected_dtype:
        result = _with_dtype(result, name, got_dtype, expected_dtype)
    return result
