"""Looking at any array from outside: where it lives, its dtype, its values in float64.

``diagnose`` compares arrays from different libraries and devices, so it first
asks each one what it is (a NumPy array? a PyTorch tensor on cuda:0?) and then
copies the values into float64 NumPy, where one comparison fits all.
"""

import numpy as np
from array_api_compat import (
    is_cupy_array,
    is_jax_array,
    is_numpy_array,
    is_torch_array,
)

from dlcourse.functional._common import device

# The same yardstick as the gradient checker, so that a gradient it rejects is
# never called "ok" here (and the other way round).
from dlcourse.gradcheck.tolerance import TOLERANCES, floor_for, rel_errors
from dlcourse.gradcheck.tolerance import tolerance as _tolerance_of

_LIBRARY_LABELS = {
    "numpy": "a NumPy array",
    "torch": "a PyTorch tensor",
    "jax": "a JAX array",
    "cupy": "a CuPy array",
    "tensorflow": "a TensorFlow tensor",
}


def library(x) -> str:
    """Which library ``x`` belongs to: "numpy", "torch", "jax", ..., or "sequence"/"other"."""
    if is_torch_array(x):
        return "torch"
    if is_numpy_array(x) or isinstance(x, int | float | bool):
        return "numpy"  # NumPy takes Python numbers as 0-d arrays without complaint
    if is_jax_array(x):
        return "jax"
    if is_cupy_array(x):
        return "cupy"
    if type(x).__module__.startswith("tensorflow"):
        return "tensorflow"
    if isinstance(x, list | tuple):
        return "sequence"
    return "other"


def describe_library(x) -> str:
    """A phrase for messages: "a PyTorch tensor", "a Python list", ..."""
    return _LIBRARY_LABELS.get(library(x), f"a Python {type(x).__name__}")


def device_name(x) -> str:
    """The device ``x`` lives on as a string, such as "cpu" or "cuda:0"."""
    if library(x) == "tensorflow":
        return str(getattr(x, "device", "") or "cpu")
    if library(x) in ("numpy", "sequence", "other"):
        return "cpu"
    return str(device(x))


def placement(x) -> tuple[str, str]:
    """(library, device): two arrays can only be compared when these agree."""
    return library(x), device_name(x)


def shape_of(x) -> tuple[int, ...]:
    shape = x.shape if hasattr(x, "shape") else np.shape(x)
    return tuple(int(n) for n in shape)


def dtype_name(x) -> str:
    """The dtype as a plain name, "float32" for NumPy and PyTorch alike."""
    dtype = getattr(x, "dtype", None)
    if dtype is None:
        dtype = np.asarray(x).dtype
    name = getattr(dtype, "name", None)
    return (name if isinstance(name, str) else str(dtype)).removeprefix("torch.")


def to_float64(x) -> np.ndarray:
    """A float64 NumPy copy of ``x``, moved to the CPU and detached from autograd."""
    if is_torch_array(x):
        return x.detach().cpu().double().numpy()
    if is_cupy_array(x):
        x = x.get()
    return np.array(x, dtype=np.float64, copy=True)


def comparison_dtype(*dtypes: str) -> str:
    """The least precise floating dtype among ``dtypes``: the one that sets the tolerance.

    Integer and boolean dtypes carry no rounding of their own, so they are
    left out; with no floating dtype at all, float64 is used.
    """
    floating = [d for d in dtypes if d in TOLERANCES]
    return max(floating, key=TOLERANCES.__getitem__, default="float64")


def tolerance(dtype: str) -> float:
    """The largest relative error a correct gradient of ``dtype`` shows."""
    return _tolerance_of(dtype)


def relative_errors(got: np.ndarray, expected: np.ndarray, dtype: str, noise=0.0) -> np.ndarray:
    """Element-wise |got - expected| / (|got| + |expected|), in [0, inf].

    Near zero the denominator stops shrinking at a floor (a small fraction of
    the largest expected value, by ``dtype``), so rounding noise on elements
    that should be 0 is not mistaken for a wrong gradient. ``noise`` is the
    absolute rounding error a correct result may carry when it is a small
    difference of large terms (a softmax gradient from large logits): the
    floor rises so that such noise stays within the tolerance. Identical NaN
    or inf pairs count as equal; any other non-finite pair is infinitely wrong.
    """
    finite = np.isfinite(expected)
    scale = float(np.max(np.abs(expected[finite]), initial=0.0))
    with np.errstate(all="ignore"):
        errors = rel_errors(got, expected, floor_for(dtype, scale, noise))
    same = (np.isnan(got) & np.isnan(expected)) | (np.isinf(got) & (got == expected))
    errors = np.where(same, 0.0, errors)
    return np.where(np.isnan(errors), np.inf, errors)


def format_index(name: str, index: tuple[int, ...]) -> str:
    """``dw[3, 4]`` (or just ``dw`` for a 0-d array)."""
    return f"{name}[{', '.join(str(i) for i in index)}]" if index else name


def format_number(value: float) -> str:
    return f"{value:.4g}"


def format_shape(shape: tuple[int, ...]) -> str:
    return str(tuple(shape))
