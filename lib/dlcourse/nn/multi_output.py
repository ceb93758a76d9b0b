"""Training a model with several outputs: one loss (and metrics) per output, as in Keras.

::

    model.compile(
        optimizer="sgd",
        loss={"out_a": "mse", "out_b": "sparse_categorical_crossentropy"},  # or a list,
        loss_weights={"out_a": 0.5, "out_b": 2.0},                         # or one loss
        metrics={"out_b": ["accuracy"]},
    )
    model.fit(x, {"out_a": y1, "out_b": y2})   # or [y1, y2], in the outputs' order

The loss minimised is ``sum(weight_i * loss_i)``. The logs (``History``,
``evaluate(return_dict=True)``) hold it as ``loss``, each output's own
(unweighted) loss as ``<output name>_loss`` and each metric as
``<output name>_<metric>``, in Keras's order: the total, the output losses,
then the metrics. Targets go through the training loop as a tuple of arrays,
one per output, the way several inputs do.
"""

import numpy as np

from dlcourse.nn import losses as losses_module
from dlcourse.nn import metrics as metrics_module
from dlcourse.nn.arrays import as_numpy

__all__ = ["OutputLosses", "compile_outputs", "split_targets"]


def _per_output(value, names, what, default):
    """``value`` (one item, a list in output order, or a dict by name) as one item per output."""
    if isinstance(value, dict):
        unknown = [k for k in value if k not in names]
        if unknown:
            raise ValueError(
                f"{what}: {', '.join(map(repr, unknown))} is not an output of the model; its "
                f"outputs are {', '.join(map(repr, names))}."
            )
        return [value.get(name, default) for name in names]
    if isinstance(value, (list, tuple)):
        if len(value) != len(names):
            raise ValueError(
                f"{what}: the model has {len(names)} outputs ({', '.join(map(repr, names))}), "
                f"got a list of {len(value)}; give one per output, or a dict by output name."
            )
        return list(value)
    return [value] * len(names)


class OutputLosses(losses_module.Loss):
    """``sum(weight_i * loss_i(y_i, y_pred_i))`` over a model's outputs."""

    name = "loss"

    def __init__(self, losses, weights, names):
        self.losses, self.weights, self.names = list(losses), list(weights), list(names)

    def call(self, y_true, y_pred):
        total = 0.0
        for loss, weight, y, p in zip(self.losses, self.weights, y_true, y_pred):
            total = total + weight * loss(y, p)
        return total

    def value_and_grad(self, y_true, y_pred):
        """For 'manual': the weighted sum and one gradient per output (each scaled)."""
        total, grads = 0.0, []
        for loss, weight, y, p in zip(self.losses, self.weights, y_true, y_pred):
            value, grad = loss.value_and_grad(y, p)
            total = total + weight * value
            grads.append(grad * weight)
        return total, grads

    def prepare_targets(self, y, output_shape):
        return tuple(
            loss.prepare_targets(t, shape) for loss, t, shape in zip(self.losses, y, output_shape)
        )

    def check_predictions(self, y_pred):
        for loss, p in zip(self.losses, y_pred):
            loss.check_predictions(np.asarray(p))

    def get_config(self):
        return {"names": self.names, "weights": self.weights}


class _OutputMetric(metrics_module.Metric):
    """A metric of one output, named ``<output>_<metric>``, updated from all the targets."""

    def __init__(self, metric, index, name):
        self.metric, self.index = metric, index
        super().__init__(name)

    def reset(self):
        if hasattr(self, "metric"):
            self.metric.reset()

    def update(self, y_true, y_pred):
        self.metric.update(y_true[self.index], y_pred[self.index])

    def result(self):
        return self.metric.result()


class _OutputLoss(metrics_module.Metric):
    """One output's own loss, averaged over the examples seen (``<output>_loss``)."""

    def __init__(self, loss, index, name):
        self.loss, self.index = loss, index
        super().__init__(name)

    def update(self, y_true, y_pred):
        y, p = np.asarray(y_true[self.index]), np.asarray(y_pred[self.index])
        if not hasattr(self.loss, "value_and_grad"):
            raise NotImplementedError(
                f"loss {self.loss.name!r} of output {self.name[:-5]!r} has no NumPy formula "
                "(value_and_grad), which the per-output logs need; use a built-in loss."
            )
        value, _ = self.loss.value_and_grad(y, p)
        self.total += float(value) * len(p)
        self.count += len(p)


def compile_outputs(names, loss, loss_weights, metrics):
    """``(OutputLosses, metrics)`` for a model whose outputs are called ``names``."""
    losses = [losses_module.get(item) for item in _per_output(loss, names, "loss", None)]
    weights = [1.0] * len(names)
    if loss_weights is not None:
        weights = [float(w) for w in _per_output(loss_weights, names, "loss_weights", 1.0)]
    total = OutputLosses(losses, weights, names)
    # Keras's order: each output's own loss, then each output's metrics
    tracked = [
        _OutputLoss(item, i, f"{name}_loss") for i, (item, name) in enumerate(zip(losses, names))
    ]
    wanted = _per_output(metrics, names, "metrics", []) if metrics else [[]] * len(names)
    for i, (items, name) in enumerate(zip(wanted, names)):
        items = [items] if isinstance(items, (str, metrics_module.Metric)) else list(items or [])
        for item in items:
            metric = metrics_module.get(item, losses[i])
            tracked.append(_OutputMetric(metric, i, f"{name}_{metric.name}"))
    return total, tracked


def split_targets(y, names, what="y"):
    """Targets for several outputs, as a tuple of NumPy arrays in the outputs' order."""
    if isinstance(y, dict):
        missing = [n for n in names if n not in y]
        unknown = [k for k in y if k not in names]
        if missing or unknown:
            raise ValueError(
                f"{what}: a dict of targets needs one array for each output "
                f"({', '.join(map(repr, names))}); missing {missing}, unknown {unknown}."
            )
        y = [y[n] for n in names]
    if not isinstance(y, (list, tuple)) or len(y) != len(names):
        got = f"a list of {len(y)}" if isinstance(y, (list, tuple)) else type(y).__name__
        raise ValueError(
            f"{what}: the model has {len(names)} outputs ({', '.join(map(repr, names))}), so it "
            f"takes a list of {len(names)} target arrays or a dict by output name; got {got}."
        )
    return tuple(as_numpy(f"{what}[{n!r}]", a) for a, n in zip(y, names))
