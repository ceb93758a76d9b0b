"""Sending the caller's model to worker processes as a model file, never a pickle.

The caller writes the model with ``model.save`` (architecture, weights and
compile settings; see ``dlcourse.nn.model_file``) and the data with
``np.savez``; each worker rebuilds the model with ``load_model``. A worker is
a fresh interpreter, so every layer class that is not dlcourse's own must be
importable there: :func:`custom_classes` names the module of each, and
refuses, with the fix, a class that lives only in a notebook (``__main__``)
or inside a function.
"""

import importlib
import sys
from pathlib import Path

import numpy as np

from dlcourse.nn import model_file

__all__ = ["custom_classes", "load_custom_classes", "read_data", "write_data", "write_model"]

MODEL_FILE = "model.npz"
DATA_FILE = "data.npz"


def _not_importable(cls, where):
    return ValueError(
        f"layer class {cls.__name__!r} is defined {where}, so the worker processes of "
        "DataParallel cannot import it (the model reaches them as a file, not as Python "
        f"objects). Move the class into a .py file next to the notebook (e.g. "
        f"my_layers.py), run `from my_layers import {cls.__name__}` and build the model "
        "again from that class."
    )


def custom_classes(model):
    """``{class name: "module:qualname"}`` of every layer (and model) class not dlcourse's own."""
    found = {}
    for _, layer in model._walk():
        cls = type(layer)
        module = cls.__module__
        if module == "dlcourse" or module.startswith("dlcourse."):
            continue
        if module == "__main__":
            raise _not_importable(cls, "in __main__ (a notebook cell or the script being run)")
        if "<locals>" in cls.__qualname__:
            raise _not_importable(cls, f"inside a function ({cls.__qualname__})")
        found[cls.__name__] = f"{module}:{cls.__qualname__}"
    return found


def load_custom_classes(classes, search_path):
    """Import the modules named by :func:`custom_classes`; their classes, for ``load_model``.

    ``search_path`` is the caller's ``sys.path``: a module found next to the
    notebook is found the same way here.
    """
    sys.path[:0] = [entry for entry in search_path if entry not in sys.path]
    found = {}
    for name, where in classes.items():
        module, qualname = where.split(":")
        value = importlib.import_module(module)
        for part in qualname.split("."):  # a class inside a class: Outer.Inner
            value = getattr(value, part)
        found[name] = value
    return found


def write_model(model, folder):
    """The model's file in ``folder``; refuses a model whose compile settings cannot travel."""
    if model_file.compile_config(model) is None:
        raise ValueError(
            "DataParallel: the model was compiled with a plain Python function as its loss, "
            "which cannot be written to the model file the workers read. Compile it with a "
            "loss name (loss='mse') or a dlcourse.nn.losses object instead."
        )
    return model.save(Path(folder) / MODEL_FILE)


def write_data(folder, x, y, orders, validation=None):
    """The prepared inputs (one array or a tuple), targets, epoch orders and the
    validation pair (``None``: none), in one file; returns how many inputs there are."""
    arrays = _inputs("x", x)
    if orders is not None:
        arrays["orders"] = orders
    if validation is not None:
        arrays |= _inputs("val_x", validation[0])
        arrays["val_y"] = validation[1]
    np.savez(Path(folder) / DATA_FILE, y=y, **arrays)
    return len(x) if isinstance(x, tuple) else 1


def _inputs(prefix, x):
    return {f"{prefix}{i}": a for i, a in enumerate(x if isinstance(x, tuple) else (x,))}


def read_data(folder, inputs):
    """``(x, y, orders, validation)`` as :func:`write_data` wrote them (None: absent)."""
    with np.load(Path(folder) / DATA_FILE, allow_pickle=False) as data:

        def joined(prefix):
            x = tuple(data[f"{prefix}{i}"] for i in range(inputs))
            return x[0] if inputs == 1 else x

        orders = data["orders"] if "orders" in data else None
        validation = (joined("val_x"), data["val_y"]) if "val_y" in data else None
        return joined("x"), data["y"], orders, validation
