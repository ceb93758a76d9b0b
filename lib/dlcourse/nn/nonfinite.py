"""When the loss turns NaN or infinite: find the first layer whose output went bad.

The train step does not apply an update computed from a non-finite loss, so the
weights are still those that produced it. The batch is run again through the
layers one at a time (in training mode, leaving the model's state as it was),
and each output is checked: the first non-finite one points at the culprit.
"""

import numpy as np

from dlcourse.nn.errors import NonFiniteLossError

__all__ = ["first_nonfinite_output", "nonfinite_loss_error"]


def _bad(array):
    """How many entries of ``array`` (NumPy) are NaN or infinite."""
    if not np.issubdtype(array.dtype, np.floating):
        return 0
    return int(np.size(array) - np.count_nonzero(np.isfinite(array)))


def first_nonfinite_output(model, x, training=True):
    """(index, layer, bad count, size) of the first layer with a non-finite output, or None.

    ``x`` is a native batch. The model's state (batch-norm statistics) is put back
    afterwards.
    """
    backend = model.backend
    saved = model.state_variables
    try:
        with backend.no_grad():
            outputs = model.layer_outputs(x, training)
            for i, (layer, out) in enumerate(outputs or ()):
                out = backend.to_numpy(out)
                bad = _bad(out)
                if bad:
                    return i, layer, bad, out.size
    finally:
        model.bind(model.trainable_weights, saved)
    return None


def nonfinite_loss_error(model, xb, y_batch, value, epoch, batch):
    """The NonFiniteLossError to raise, with a message that says where and why."""
    backend = model.backend
    where = f"the loss became {value} at epoch {epoch + 1}, batch {batch + 1}; training stopped."
    lr = getattr(model.optimizer, "learning_rate", None)
    lower = f" (now {lr:g}; try {lr / 10:g})" if lr else ""
    layer_name = None
    x_bad = sum(_bad(backend.to_numpy(a)) for a in (xb if isinstance(xb, tuple) else (xb,)))
    y_bad = _bad(np.asarray(y_batch))
    if x_bad:
        why = (
            f" The input batch itself holds {x_bad} NaN/inf values: clean the data first "
            "(np.isfinite(x).all(axis=1) finds the rows)."
        )
    elif y_bad:
        why = f" The labels of this batch hold {y_bad} NaN/inf values: clean them first."
    else:
        found = first_nonfinite_output(model, xb)
        if found is None and model.layer_outputs(xb) is None:
            why = (
                " The model's call() is its own code, so the layer that went wrong cannot be "
                f"found from here; lower the learning rate{lower} or check call() for a log, "
                "sqrt or division of a number <= 0."
            )
        elif found is None:
            why = (
                " Every layer's output is finite, so the loss itself overflowed: if the last "
                "layer already applies softmax or sigmoid, keep from_logits=False; otherwise "
                f"lower the learning rate{lower} or scale the targets."
            )
        else:
            i, layer, bad, size = found
            layer_name = layer.name
            weights = [backend.to_numpy(w) for w in layer.weights]
            broken = " Its weights are already non-finite." if any(map(_bad, weights)) else ""
            why = (
                f" The first non-finite output came from layer {layer.name!r} "
                f"({type(layer).__name__}, layer {i + 1} of {_steps(model)}): {bad} of "
                f"{size} values are NaN/inf although its input was finite.{broken} Usual "
                f"causes: a learning rate too large{lower}, inputs far from [-1, 1] "
                "(scale them), or a log, sqrt or division of a number <= 0 in that layer."
            )
    return NonFiniteLossError(where + why, epoch=epoch, batch=batch, layer=layer_name)


def _steps(model):
    """How many layer calls the model makes (a shared layer counts each time)."""
    nodes = getattr(model, "nodes", None)
    return len(nodes) if nodes is not None else len(model.layers)
