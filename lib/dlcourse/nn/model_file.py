"""The model file: one ``.npz`` with the weights and a JSON text, never a pickle.

The file holds the weights as plain arrays (``weight_000``, ``weight_001``, ...
in ``get_weights`` order) and one more array, ``config``: a JSON text with the
format, the architecture (see each model's ``file_config``), the weights'
names and the compile settings. ``np.load(path, allow_pickle=False)`` reads
it, so opening a model file can never run code.

This module knows the container only; ``Model.save`` fills it and
``dlcourse.nn.saving.load_model`` rebuilds models from it.
"""

import json
import os

import numpy as np

__all__ = ["FORMATS", "FUNCTIONAL", "SEQUENTIAL", "SUBCLASSED", "compile_config", "read", "write"]

SEQUENTIAL = "dlcourse.nn.Sequential/1"
FUNCTIONAL = "dlcourse.nn.Functional/1"
SUBCLASSED = "dlcourse.nn.Model/1"
FORMATS = (SEQUENTIAL, FUNCTIONAL, SUBCLASSED)


def compile_config(model):
    """The compile settings as JSON-friendly values, or None (not compiled, a plain
    function as the loss, which cannot be stored as text, or the losses of a model
    with several outputs, which are not stored yet: compile the loaded model again)."""
    if not model.compiled or type(model.loss).__name__ in ("FunctionLoss", "OutputLosses"):
        return None
    return {
        "optimizer": {
            "class": type(model.optimizer).__name__,
            "config": model.optimizer.get_config(),
        },
        "loss": {"class": type(model.loss).__name__, "config": model.loss.get_config()},
        "metrics": [metric.name for metric in model.metrics],
    }


def write(path, config, weights):
    """Write ``config`` (a dict) and ``weights`` (NumPy arrays) to ``path``; returns the path."""
    path = os.fspath(path)
    if not path.endswith(".npz"):
        path += ".npz"
    arrays = {f"weight_{i:03d}": w for i, w in enumerate(weights)}
    # write next to the target, then rename: a crash never leaves half a file behind
    temporary = path + ".partial"
    with open(temporary, "wb") as f:
        np.savez(f, config=np.array(json.dumps(config)), **arrays)
    os.replace(temporary, path)
    return path


def read(path):
    """``(config, weights)`` from a model file, checked to be one of ours."""
    with np.load(os.fspath(path), allow_pickle=False) as data:
        if "config" not in data:
            raise ValueError(f"{path}: not a dlcourse model file (it has no 'config' entry).")
        config = json.loads(str(data["config"]))
        count = len(config.get("weight_names", []))
        weights = [data[f"weight_{i:03d}"] for i in range(count)]
    if config.get("format") not in FORMATS:
        raise ValueError(
            f"{path}: unknown format {config.get('format')!r}; expected one of {FORMATS}."
        )
    return config, weights
