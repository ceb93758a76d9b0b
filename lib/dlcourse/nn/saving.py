"""Saving a model to one ``.npz`` file and reading it back, without pickle.

The file (see ``dlcourse.nn.model_file``) holds the weights as plain arrays in
``get_weights`` order and a JSON text with the architecture: for a
``Sequential``, each layer's class and ``get_config()``; for a Functional
model, the inputs, the layers and the nodes that connect them; for a
subclassed ``Model``, its class and ``get_config()`` (its ``__init__`` makes
its layers again). A model used as a layer is stored inside, as its layers'
config (a Sequential or Functional one) or its ``get_config()`` (subclassed).
``np.load(path, allow_pickle=False)`` reads it, so opening a model file can
never run code.

Optimizer state (momentum, Adam's averages) is not saved: a loaded model
resumes training with a fresh optimizer.
"""

from dlcourse.nn import model_file
from dlcourse.nn.layers.base import layer_class
from dlcourse.nn.models import Input, Model, Sequential
from dlcourse.nn.models.functional import Functional

__all__ = ["FORMAT", "load_model", "save_model"]

FORMAT = model_file.SEQUENTIAL  # the format of Sequential models (the first one there was)


def save_model(model, path):
    """Write ``model`` to ``path`` (".npz" added when missing); returns the path."""
    return model.save(path)


def _class(name, custom_objects, what="layer", module=None):
    cls = (custom_objects or {}).get(name) or layer_class(name, module)
    if cls is None:
        raise ValueError(
            f"the file uses the {what} class {name!r}, which is not defined in this session: "
            f"run the cell that defines it, or pass custom_objects={{{name!r}: {name}}}."
        )
    return cls


def _rebuild_layer(entry, custom_objects):
    name = entry["class"]
    cls = _class(name, custom_objects, module=entry.get("module"))  # files before it: none
    if cls is Sequential:  # a model used as a layer: rebuilt from its own layers
        return _sequential({"model": entry["config"], "input_shape": None}, custom_objects)
    if cls is Functional:
        return _functional({"model": entry["config"]}, custom_objects)
    try:
        return cls.from_config(dict(entry["config"]))
    except TypeError as err:
        raise ValueError(
            f"could not rebuild layer {entry['config'].get('name')!r} ({name}) from its saved "
            f"config {entry['config']}: {err}. Give {name} a get_config() that returns every "
            "argument of its __init__."
        ) from None


def _sequential(config, custom_objects):
    spec = config["model"]
    layers = [_rebuild_layer(entry, custom_objects) for entry in spec["layers"]]
    return Sequential(
        layers,
        name=spec["name"],
        seed=spec["seed"],
        dtype=spec["dtype"],
        input_shape=None if config["input_shape"] is None else tuple(config["input_shape"]),
    )


def _functional(config, custom_objects):
    spec = config["model"]
    tensors = {}
    inputs = []
    for entry in spec["inputs"]:
        tensor = Input(tuple(entry["shape"]), dtype=entry["dtype"], name=entry["name"])
        tensors[(entry["name"],)] = tensor
        inputs.append(tensor)
    layers = {}
    for entry in spec["layers"]:
        layer = _rebuild_layer(entry, custom_objects)
        layers[layer.name] = layer
    for i, node in enumerate(spec["nodes"]):
        args = [tensors[tuple(ref)] for ref in node["inputs"]]
        layer = layers[node["layer"]]
        out = layer(args if node["list"] else args[0])
        if isinstance(out, list):  # a layer with several outputs (return_state=True)
            for j, t in enumerate(out):
                tensors[(node["layer"], i, j)] = t
        else:
            tensors[(node["layer"], i)] = out
    outputs = [tensors[tuple(ref)] for ref in spec["outputs"]]
    return Functional(
        inputs,
        outputs[0] if spec["single_output"] else outputs,
        name=spec["name"],
        seed=spec["seed"],
        dtype=spec["dtype"],
    )


def _subclassed(config, custom_objects):
    cls = _class(config["class"], custom_objects, "model", config.get("module"))
    try:
        model = cls.from_config(dict(config["model"]))
    except TypeError as err:
        raise ValueError(
            f"could not rebuild model {config['class']} from its saved config "
            f"{config['model']}: {err}. Give it a get_config() that returns every argument "
            "of its __init__."
        ) from None
    if not isinstance(model, Model):
        raise ValueError(f"{config['class']} is not a Model subclass.")
    model.build((None, *config["input_shape"]))
    return model


_LOADERS = {
    model_file.SEQUENTIAL: _sequential,
    model_file.FUNCTIONAL: _functional,
    model_file.SUBCLASSED: _subclassed,
}


def load_model(path, custom_objects=None):
    """The model saved at ``path``, rebuilt on the backend chosen now.

    ``custom_objects`` maps class names to classes for layers (and subclassed
    models) defined outside ``dlcourse`` (classes defined in this session are
    found without it).
    """
    from dlcourse.nn import losses, optimizers

    config, weights = model_file.read(path)
    model = _LOADERS[config["format"]](config, custom_objects)
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
