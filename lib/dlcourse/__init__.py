"""dlcourse: deep learning from hand-written math up to Keras-style APIs.

Submodules load on first use, so ``import dlcourse`` stays fast and never
imports PyTorch, TensorFlow, JAX or Keras.
"""

import importlib

from dlcourse._version import __version__

_SUBMODULES = {
    "autodiff",
    "backends",
    "cli",
    "data",
    "diagnose",
    "doctor",
    "functional",
    "gradcheck",
    "interop",
    "nn",
    "ops",
}
_BACKEND_NAMES = {"set_backend", "get_backend", "backend"}

__all__ = ["__version__", *sorted(_SUBMODULES), *sorted(_BACKEND_NAMES)]


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"dlcourse.{name}")
    if name in _BACKEND_NAMES:
        return getattr(importlib.import_module("dlcourse.backends"), name)
    raise AttributeError(f"module 'dlcourse' has no attribute {name!r}")


def __dir__():
    return __all__
