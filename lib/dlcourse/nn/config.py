"""Global defaults of ``dlcourse.nn``: the seed for new weights and the float type."""

__all__ = ["floatx", "set_floatx", "set_seed", "get_seed"]

_FLOATS = ("float32", "float64")
_state = {"seed": None, "floatx": "float32"}


def set_seed(seed):
    """Seed for models built without ``seed=``: the same seed gives the same initial
    weights (on every backend, since weights are drawn in NumPy) and the same shuffles.
    ``None`` goes back to fresh randomness."""
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise ValueError(f"seed: expected a non-negative int or None, got {seed!r}.")
    _state["seed"] = seed


def get_seed():
    return _state["seed"]


def floatx():
    """The float type of new models: "float32" (the default) or "float64"."""
    return _state["floatx"]


def set_floatx(dtype):
    """Make new models use ``dtype`` ("float32" or "float64"); float64 is for checking."""
    dtype = str(dtype)
    if dtype not in _FLOATS:
        raise ValueError(f"dtype: expected one of {_FLOATS}, got {dtype!r}.")
    _state["floatx"] = dtype
