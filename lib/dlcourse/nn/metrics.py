"""Metrics: numbers to watch during training, computed in NumPy from each batch.

A metric is updated with NumPy arrays (``update(y_true, y_pred)``) and reports
the value over everything seen since ``reset()``. Working in NumPy keeps metrics
out of the backends: all a backend has to provide is ``to_numpy``.
"""

import numpy as np

__all__ = [
    "BinaryAccuracy",
    "CategoricalAccuracy",
    "Metric",
    "SparseCategoricalAccuracy",
    "get",
]


class Metric:
    """Running mean of a per-example score."""

    name = "metric"

    def __init__(self, name=None):
        if name is not None:
            self.name = name
        self.reset()

    def reset(self):
        self.total, self.count = 0.0, 0

    def scores(self, y_true, y_pred):
        """One score per example (NumPy)."""
        raise NotImplementedError

    def update(self, y_true, y_pred):
        s = self.scores(np.asarray(y_true), np.asarray(y_pred))
        self.total += float(np.sum(s))
        self.count += s.size

    def result(self):
        return self.total / self.count if self.count else float("nan")


class SparseCategoricalAccuracy(Metric):
    """Share of examples whose largest output is at the label's index."""

    name = "accuracy"

    def scores(self, y_true, y_pred):
        return np.argmax(y_pred, axis=-1) == y_true.reshape(-1)


class CategoricalAccuracy(Metric):
    """Share of examples whose largest output is where the one-hot target has its 1."""

    name = "accuracy"

    def scores(self, y_true, y_pred):
        return np.argmax(y_pred, axis=-1) == np.argmax(y_true, axis=-1)


class BinaryAccuracy(Metric):
    """Share of outputs on the right side of ``threshold`` (0.5 for probabilities, 0 for logits)."""

    name = "accuracy"

    def __init__(self, threshold=0.5, name=None):
        self.threshold = threshold
        super().__init__(name)

    def scores(self, y_true, y_pred):
        return (y_pred > self.threshold) == (y_true > 0.5)


def get(metric, loss):
    """A Metric for ``metric``; "accuracy" picks the kind of accuracy that suits ``loss``."""
    if isinstance(metric, Metric):
        return metric
    if metric in ("accuracy", "acc"):
        name = getattr(loss, "name", "")
        if name == "sparse_categorical_crossentropy":
            return SparseCategoricalAccuracy()
        if name == "categorical_crossentropy":
            return CategoricalAccuracy()
        if name == "binary_crossentropy":
            return BinaryAccuracy(threshold=0.0 if loss.from_logits else 0.5)
        raise ValueError(
            f"metrics: 'accuracy' needs a classification loss, got {name or loss!r}; "
            "for regression watch the loss (mse) instead."
        )
    raise ValueError(f"metrics: unknown {metric!r}; 'accuracy' is the one available.")
