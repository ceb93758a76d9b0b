"""Saving a model to one ``.npz`` file and reading it back, without pickle.

The file holds the weights as plain arrays (``weight_000``, ``weight_001``, ...
in ``get_weights`` order) and one more array, ``config``: a JSON text with the
architecture (each layer's class and ``get_config()``), the dtype, the seed,
the input shape and the compile settings. ``np.load(path, allow_pickle=False)``
reads it, so opening a model file can never run code.

Optimizer state (momentum, Adam's averages) is not saved: a loaded model
resumes training with a fresh optimizer.
"""

import json
import os

import numpy as np

from dlcourse.nn.layers.base import layer_class

__all__ = ["FORMAT", "load_model", "save_model"]

FORMAT = "dlcourse.nn.Sequential/1"


def _compile_config(model):
    if not model.compiled or type(model.loss).__name__ == "FunctionLoss":
        return None  # a loss written as a plain function cannot be stored as text
    return {
        "optimizer": {
            "class": type(model.optimizer).__name__,
            "config": model.optimizer.get_config(),
        },
        "loss": {"class": type(model.loss).__name__, "config": model.loss.get_config()},
        "metrics": [metric.name for metric in model.metrics],
    }


def save_model(model, path):
    """Write ``model`` to ``path`` (".npz" added when missing); returns the path."""
    model._require_built("save")
    path = os.fspath(path)
    if not path.endswith(".npz"):
        path += ".npz"
    weights = model.get_weights()
    config = {
        "format": FORMAT,
        "model": model.get_config(),
        "input_shape": list(model.input_shape[1:]),
        "weight_names": [
            f"{layer.name}/{name}" for layer in model.layers for name in layer.weight_names
        ],
        "compile": _compile_config(model),
    }
    arrays = {f"weight_{i:03d}": w for i, w in enumerate(weights)}
    # write next to the target, then rename: a crash never leaves half a file behind
    temporary = path + ".partial"
    with open(temporary, "wb") as f:
        np.savez(f, config=np.array(json.dumps(config)), **arrays)
    os.replace(temporary, path)
    return path


def _rebuild_layer(entry, custom_objects):
    name = entry["class"]
    cls = (custom_objects or {}).get(name) or layer_class(name)
    if cls is None:
        raise ValueError(
            f"the file uses the layer class {name!r}, which is not defined in this session: "
            f"run the cell that defines it, or pass custom_objects={{{name!r}: {name}}}."
        )
    try:
        return cls.from_config(dict(entry["config"]))
    except TypeError as err:
        raise ValueError(
            f"could not rebuild layer {entry['config'].get('name')!r} ({name}) from its saved "
            f"config {entry['config']}: {err}. Give {name} a get_config() that returns every "
            "argument of its __init__."
        ) from None


def load_model(path, custom_objects=None):
    """The model saved at ``path``, rebuilt on the backend chosen now.

    ``custom_objects`` maps class names to classes for layers defined outside
    ``dlcourse`` (classes defined in this session are found without it).
    """
    from dlcourse.nn import losses, optimizers
    from dlcourse.nn.model import Sequential

    with np.load(os.fspath(path), allow_pickle=False) as data:
        if "config" not in data:
            raise ValueError(f"{path}: not a dlcourse model file (it has no 'config' entry).")
        config = json.loads(str(data["config"]))
        count = len(config.get("weight_names", []))
        weights = [data[f"weight_{i:03d}"] for i in range(count)]
    if config.get("format") != FORMAT:
        raise ValueError(f"{path}: unknown format {config.get('format')!r}; expected {FORMAT!r}.")
    spec = config["model"]
    layers = [_rebuild_layer(entry, custom_objects) for entry in spec["layers"]]
    model = Sequential(
        layers,
        name=spec["name"],
        seed=spec["seed"],
        dtype=spec["dtype"],
        input_shape=tuple(config["input_shape"]),
    )
    model.set_weights(weights)
    compiled = config.get("compile")
    if compiled:
        model.compile(
            optimizer=optimizers.from_config(
                compiled["optimizer"]["class"], compiled["optimizer"]["config"]
            ),
            loss=losses.from_config(compiled["loss"]["class"], compiled["loss"]["config"]),
            metrics=compiled["metrics"],
        )
    return model
