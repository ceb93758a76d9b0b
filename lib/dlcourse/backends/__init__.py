"""Which computing library runs a model: chosen by name, once, before a model is built.

``set_backend(name)``, ``with backend(name):`` or the ``DLCOURSE_BACKEND``
environment variable choose it; nothing here imports the library itself.
"""

import os
from contextlib import contextmanager

# name -> the pip extra that installs what it needs (None: nothing beyond the core)
BACKENDS = {
    "manual": None,
    "autodiff": None,
    "torch": "torch",
    "tensorflow": "tensorflow",
    "jax": "jax",
    "pytensor": "pytensor",
}
DEFAULT = "manual"
_chosen = None


def _validate(name):
    if name not in BACKENDS:
        known = ", ".join(BACKENDS)
        raise ValueError(f"unknown backend {name!r}; choose one of: {known}.")
    return name


def get_backend():
    """The active backend's name: set_backend's choice, else $DLCOURSE_BACKEND, else 'manual'."""
    if _chosen is not None:
        return _chosen
    env = os.environ.get("DLCOURSE_BACKEND")
    if env:
        try:
            return _validate(env.strip().lower())
        except ValueError as err:
            raise ValueError(f"DLCOURSE_BACKEND: {err}") from None
    return DEFAULT


def set_backend(name):
    """Choose the backend for models built from now on."""
    global _chosen
    _chosen = _validate(name)
    return _chosen


@contextmanager
def backend(name):
    """Use backend ``name`` inside a ``with`` block, then restore the previous choice."""
    global _chosen
    previous = _chosen
    set_backend(name)
    try:
        yield name
    finally:
        _chosen = previous
