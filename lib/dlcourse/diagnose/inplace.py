"""``check_not_modified``: catch a backward function that changes its inputs in place.

``dout *= mask`` looks harmless inside a ReLU backward, but ``dout`` belongs to
the caller: the layer below, or the next call of a gradient check, then sees
the changed values and gets a wrong gradient far from the line that broke it.
"""

import copy
import dataclasses
import inspect
import types

import numpy as np
from array_api_compat import is_array_api_obj, is_numpy_array, is_torch_array

from dlcourse.diagnose.arrays import format_index, format_number, shape_of, to_float64
from dlcourse.diagnose.diagnosis import Diagnosis


def _copy_array(x):
    if is_torch_array(x):
        return x.detach().clone().requires_grad_(x.requires_grad)
    if is_numpy_array(x):
        return np.array(x, copy=True)
    try:
        return copy.deepcopy(x)
    except Exception:  # an immutable array type (JAX) that need not be copied
        return x


def _copy_tracked(value, path, arrays, memo):
    """A copy of ``value`` with fresh arrays; appends (path, original, copy) to ``arrays``.

    Tuples, named tuples, lists, dicts, dataclasses and SimpleNamespaces are
    walked; any other object is passed on as it is. ``memo`` keeps an array that
    appears twice (say, ``cache = (x, x)``) one shared copy.
    """
    if id(value) in memo:
        return memo[id(value)]
    if is_array_api_obj(value) and not isinstance(value, np.generic):
        fresh = _copy_array(value)
        arrays.append((path, value, fresh))
    elif isinstance(value, tuple) and hasattr(value, "_fields"):
        items = [
            _copy_tracked(getattr(value, f), f"{path}.{f}", arrays, memo) for f in value._fields
        ]
        fresh = type(value)(*items)
    elif isinstance(value, tuple):
        fresh = tuple(_copy_tracked(v, f"{path}[{i}]", arrays, memo) for i, v in enumerate(value))
    elif isinstance(value, list | dict):
        fresh = copy.copy(value)
        keys = value.keys() if isinstance(value, dict) else range(len(value))
        for key in keys:
            fresh[key] = _copy_tracked(value[key], f"{path}[{key!r}]", arrays, memo)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        fresh = copy.copy(value)
        for field in dataclasses.fields(value):
            item = _copy_tracked(getattr(value, field.name), f"{path}.{field.name}", arrays, memo)
            object.__setattr__(fresh, field.name, item)  # works on frozen dataclasses too
    elif isinstance(value, types.SimpleNamespace):
        fresh = types.SimpleNamespace(
            **{k: _copy_tracked(v, f"{path}.{k}", arrays, memo) for k, v in vars(value).items()}
        )
    else:
        return value
    memo[id(value)] = fresh
    return fresh


def _copied_call(function, args, kwargs, arrays):
    """Call ``function`` on tracked copies of its arguments; return the argument names."""
    memo = {}
    try:
        bound = inspect.signature(function).bind(*args, **kwargs)
    except (TypeError, ValueError):  # no signature to read names from (a builtin, say)
        args = [_copy_tracked(a, f"argument {i}", arrays, memo) for i, a in enumerate(args)]
        kwargs = {k: _copy_tracked(v, k, arrays, memo) for k, v in kwargs.items()}
        function(*args, **kwargs)
        return [f"argument {i}" for i in range(len(args))] + list(kwargs)
    for name, value in bound.arguments.items():
        bound.arguments[name] = _copy_tracked(value, name, arrays, memo)
    function(*bound.args, **bound.kwargs)
    return list(bound.arguments)


def _change(before, after):
    """None if ``after`` equals ``before``, else a dict describing the first change."""
    if shape_of(before) != shape_of(after):
        return {"what": f"changed shape from {shape_of(before)} to {shape_of(after)}"}
    old, new = to_float64(before), to_float64(after)
    changed = ~((old == new) | (np.isnan(old) & np.isnan(new)))
    if not changed.any():
        return None
    index = tuple(int(i) for i in np.argwhere(changed)[0])
    return {
        "what": f"{np.count_nonzero(changed)} of {old.size} elements changed",
        "index": index,
        "was": float(old[index]),
        "now": float(new[index]),
        "count": int(np.count_nonzero(changed)),
    }


def check_not_modified(backward, *args, **kwargs):
    """Call ``backward(*args, **kwargs)`` on copies and report any input it changed.

    The arguments (``dout``, a cache that may be a tuple, dict, named tuple or
    dataclass of arrays, nested at will) are copied first, so the caller's arrays
    stay intact whatever ``backward`` does. Returns a Diagnosis of kind
    ``"inplace"`` naming the first modified array (``dout``, ``cache[1]``,
    ``cache['x']``, ...) or of kind ``"ok"``. Exceptions from ``backward``
    propagate unchanged.

    >>> import numpy as np
    >>> def relu_backward(dout, cache):
    ...     dout *= cache > 0
    ...     return dout
    >>> check_not_modified(relu_backward, np.ones(3), np.array([-1.0, 2.0, 3.0])).name
    'dout'
    """
    function_name = getattr(backward, "__name__", "backward")
    arrays = []
    names = _copied_call(backward, args, kwargs, arrays)

    changes = [(path, _change(old, new)) for path, old, new in arrays]
    changes = [(path, change) for path, change in changes if change is not None]
    if not changes:
        checked = ", ".join(names) or "nothing"
        message = f"{function_name} left its inputs ({checked}) unchanged."
        return Diagnosis(kind="ok", name=function_name, message=message)

    path, change = changes[0]
    detail = change["what"]
    if "index" in change:
        detail += (
            f"; first {format_index(path, change['index'])}: was {format_number(change['was'])}, "
            f"now {format_number(change['now'])}"
        )
    modified = " and ".join(p for p, _ in changes)
    message = (
        f"{function_name} modified its input {modified} in place ({detail}): a backward "
        f"function must not change its inputs; compute a new array (dx = dout * mask) "
        f"instead of updating one (dout *= mask, dout[mask] = 0, out=...)."
    )
    return Diagnosis(
        kind="inplace",
        name=path,
        message=message,
        worst_index=change.get("index"),
        got_value=change.get("now"),
        expected_value=change.get("was"),
        mismatches=change.get("count"),
    )
