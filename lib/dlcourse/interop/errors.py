"""What goes wrong when a model moves to another tool, said so that it can be fixed."""

__all__ = ["UnsupportedLayerError", "require_built", "require_graph", "unsupported_layer"]


class UnsupportedLayerError(ValueError):
    """A layer that the target format has no counterpart for; ``layer`` is its name."""

    def __init__(self, message, layer=None):
        super().__init__(message)
        self.layer = layer


def unsupported_layer(layer, target, supported, why=None):
    """The error for ``layer`` (ours or Keras's), listing what ``target`` can take."""
    reason = f": {why}" if why else ""
    return UnsupportedLayerError(
        f"layer {layer.name!r} ({type(layer).__name__}) cannot be converted to {target}{reason}. "
        f"Supported layers: {', '.join(supported)}.",
        layer=layer.name,
    )


def require_graph(model, action):
    """Conversions read a model's graph of layers: a subclassed model has none to read."""
    from dlcourse.nn.models import Functional, Sequential

    if isinstance(model, (Sequential, Functional)):
        return
    raise NotImplementedError(
        f"{action}: model {model.name!r} is a subclassed model ({type(model).__name__}): its "
        f"call() is Python code, not a graph of layers, so {action} cannot tell what it "
        "computes. Draw the same computation with the Functional API (Model(inputs, outputs)) "
        "or as a Sequential, copy the weights layer by layer "
        "(new_layer.set_weights(old_layer.get_weights())), and convert that model."
    )


def require_built(model, action):
    """Conversions copy weights, so the model must have them already."""
    if not model.built:
        raise ValueError(
            f"{action}: the model has no weights yet (they are created at its first input); "
            "call model.build((None, ...)) with the shape of your inputs, or fit it, first."
        )
