"""What goes wrong when a model moves to another tool, said so that it can be fixed."""

__all__ = ["UnsupportedLayerError", "require_built", "require_sequential", "unsupported_layer"]


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


def require_sequential(model, action):
    """Conversions know chains of layers only: a graph or a subclassed model is refused."""
    from dlcourse.nn.models import Sequential

    if not isinstance(model, Sequential):
        kind = "a Functional (graph) model" if hasattr(model, "nodes") else "a subclassed model"
        raise NotImplementedError(
            f"{action}: model {model.name!r} is {kind}, and {action} converts Sequential models "
            "only (a chain of built-in layers); graphs with several inputs, shared layers or "
            "merges, and subclassed models, are not supported yet. Rebuild it as a "
            "Sequential to convert it."
        )


def require_built(model, action):
    """Conversions copy weights, so the model must have them already."""
    if not model.built:
        raise ValueError(
            f"{action}: the model has no weights yet (they are created at its first input); "
            "call model.build((None, ...)) with the shape of your inputs, or fit it, first."
        )
