"""Helpers shared by the hand-written math: the array namespace and input checks.

Every function in ``dlcourse.functional`` asks its inputs which array library
they belong to (NumPy, PyTorch, ...) and computes with that library only, so the
same code runs on NumPy arrays and on PyTorch tensors on any device.
"""

import array_api_compat.numpy as _numpy_namespace
import numpy as np
from array_api_compat import array_namespace, device, is_array_api_obj, size

__all__ = [
    "namespace",
    "device",
    "matmul_into",
    "require_array",
    "require_float",
    "require_same_dtype",
    "require_same_shape",
    "require_shape",
    "size",
]


def namespace(*arrays):
    """The array-API namespace shared by ``arrays`` (``None`` entries are ignored)."""
    # Plain NumPy arrays are the common case; answering it directly keeps a small
    # training step from spending a tenth of its time asking which library it uses.
    present = [a for a in arrays if a is not None]
    if present and all(type(a) is np.ndarray for a in present):
        return _numpy_namespace
    return array_namespace(*present)


def matmul_into(a, b, out):
    """``a @ b`` written into ``out``, an existing array of the result's shape; returns it.

    A training step that writes a weight's gradient into the same array every
    step spares the memory allocator: a fresh array of a megabyte or so is
    often handed back to the operating system when freed, and the next step
    then pays for zeroed pages again, which costs a small network a fifth of
    its step time.
    """
    if type(out) is np.ndarray:
        return np.matmul(a, b, out=out)
    if type(out).__module__.startswith("torch"):
        import torch  # already imported: out is a tensor

        return torch.matmul(a, b, out=out)
    out[...] = a @ b
    return out


def require_array(name, x):
    """Raise a ValueError naming ``name`` unless ``x`` is an array (not a list, not None)."""
    if type(x) is not np.ndarray and not is_array_api_obj(x):
        raise ValueError(
            f"{name}: expected an array (NumPy array or PyTorch tensor), "
            f"got {type(x).__name__}. Convert it with np.asarray({name})."
        )


def _format(spec, dims):
    parts = []
    for s in spec:
        if isinstance(s, str) and s in dims:
            parts.append(f"{s}={dims[s]}")
        else:
            parts.append(str(s))
    return "(" + ", ".join(parts) + (",)" if len(parts) == 1 else ")")


def require_shape(name, x, spec, dims=None):
    """Check ``x.shape`` against ``spec``, a tuple of ints and dimension names.

    ``dims`` maps names already seen (from earlier arguments) to sizes, so
    ``require_shape("w", w, ("D", "M"), dims)`` after ``x`` of shape (N, D)
    checks that ``w`` has as many rows as ``x`` has columns. New names are
    added to ``dims``. Returns ``dims``.
    """
    dims = {} if dims is None else dims
    require_array(name, x)
    shape = tuple(x.shape)
    ok = len(shape) == len(spec)
    if ok:
        bound = dict(dims)
        for got, s in zip(shape, spec):
            if isinstance(s, int):
                ok = ok and got == s
            elif s in bound:
                ok = ok and got == bound[s]
            else:
                bound[s] = got
    if not ok:
        raise ValueError(f"{name}: expected shape {_format(spec, dims)}, got {shape}.")
    dims.update(bound)
    return dims


def require_same_shape(name, x, other_name, other):
    """Raise a ValueError unless ``x`` and ``other`` have the same shape."""
    require_array(name, x)
    require_array(other_name, other)
    if tuple(x.shape) != tuple(other.shape):
        raise ValueError(
            f"{name}: expected the same shape as {other_name} {tuple(other.shape)}, "
            f"got {tuple(x.shape)}."
        )


def require_float(name, x):
    """Raise a ValueError unless ``x`` holds floating-point numbers."""
    require_array(name, x)
    if type(x) is np.ndarray:
        floating = x.dtype.kind == "f"
    else:
        floating = namespace(x).isdtype(x.dtype, "real floating")
    if not floating:
        raise ValueError(
            f"{name}: expected floating-point values (float32 or float64), got {x.dtype}. "
            f"Convert it first, e.g. {name}.astype(np.float32) or {name}.float()."
        )


def require_same_dtype(name, x, other_name, other):
    """Raise a ValueError when two arrays that are combined have different dtypes."""
    if x.dtype != other.dtype:
        raise ValueError(
            f"{name}: dtype {x.dtype} differs from {other_name}'s {other.dtype}; "
            f"cast one of them so both are the same (float32 is the usual choice)."
        )
