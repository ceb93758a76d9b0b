"""Losses: how far the predictions are from the targets, averaged over the batch.

A loss object does three things:

- ``loss(y_true, y_pred)`` computes the value with ``dlcourse.ops`` (autodiff
  backends differentiate it);
- ``loss.value_and_grad(y_true, y_pred)`` returns the value *and* dL/dy_pred,
  written by hand for the ``manual`` backend (``dlcourse.functional`` where it has
  the formula);
- ``loss.prepare_targets(y, output_shape)`` checks the labels in NumPy before
  training and says what to change when they do not suit the loss.

``from_logits=True`` means the model's last layer has no softmax/sigmoid: the
loss applies it itself, in a numerically safer way. Probabilities are clipped to
[1e-7, 1 - 1e-7] before the log, as in Keras, so that log(0) never happens.
"""

import numpy as np

from dlcourse import functional as F
from dlcourse import ops
from dlcourse.functional._common import device, namespace

__all__ = [
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "Loss",
    "MeanSquaredError",
    "SparseCategoricalCrossentropy",
    "get",
]

EPSILON = 1e-7


def _inside(xp, p):
    """1 where clip(p) passed p through (its slope is 1), 0 where it cut it (slope 0)."""
    return xp.astype((p >= EPSILON) & (p <= 1 - EPSILON), p.dtype)


def _clipped(xp, p):
    return xp.clip(p, EPSILON, 1 - EPSILON)


class Loss:
    """Base class: subclasses write ``call`` (ops) and, for ``manual``, ``value_and_grad``."""

    name = "loss"

    def __call__(self, y_true, y_pred):
        return self.call(y_true, y_pred)

    def call(self, y_true, y_pred):
        raise NotImplementedError(f"{type(self).__name__} needs a call(y_true, y_pred) method.")

    def prepare_targets(self, y, output_shape):
        """``y`` (NumPy) checked and shaped for this loss; ``output_shape`` is (None, ...)."""
        return y

    def check_predictions(self, y_pred):
        """Raise a ValueError when the first predictions (NumPy) do not suit this loss."""

    def get_config(self):
        return {}

    def __repr__(self):
        return f"{type(self).__name__}({self.get_config()})"


def _probability_check(loss, y_pred, what):
    """Complain when from_logits=False but the model's outputs are not probabilities."""
    if loss.from_logits or not np.all(np.isfinite(y_pred)):
        return
    if y_pred.min() < 0 or y_pred.max() > 1:
        activation = "softmax" if what == "softmax" else "sigmoid"
        raise ValueError(
            f"{type(loss).__name__} expects probabilities, but the model's outputs go from "
            f"{y_pred.min():.3g} to {y_pred.max():.3g}. Give the last layer "
            f"activation='{activation}', or keep raw scores and use "
            f"{type(loss).__name__}(from_logits=True)."
        )


def _as_float(y, dtype):
    y = np.asarray(y)
    if not np.issubdtype(y.dtype, np.number) and y.dtype != bool:
        raise ValueError(f"labels: expected numbers, got an array of {y.dtype}.")
    return y.astype(dtype, copy=False)


class SparseCategoricalCrossentropy(Loss):
    """Cross-entropy with integer labels: -mean(log p[label]).

    Labels are class indices of shape (N,), one per example; the model outputs
    (N, classes) probabilities (softmax) or, with ``from_logits=True``, raw scores.
    A sequence model may predict one class per step, (N, T, classes) against
    labels (N, T): the mean is then over every step of every example, as in Keras.
    """

    name = "sparse_categorical_crossentropy"

    def __init__(self, from_logits=False):
        self.from_logits = bool(from_logits)

    def call(self, y_true, y_pred):
        # pytensor's symbolic shape has no len, a TensorFlow variable no ndim
        rank = y_pred.ndim if hasattr(y_pred, "ndim") else len(y_pred.shape)
        if rank > 2:  # one prediction per step: every step is an example
            classes = y_pred.shape[-1]
            y_true, y_pred = ops.reshape(y_true, (-1,)), ops.reshape(y_pred, (-1, classes))
        return ops.sparse_categorical_crossentropy(y_true, y_pred, self.from_logits)

    def value_and_grad(self, y_true, y_pred):
        if y_pred.ndim > 2:
            xp = namespace(y_pred)
            flat = xp.reshape(y_pred, (-1, y_pred.shape[-1]))
            loss, grad = self.value_and_grad(xp.reshape(y_true, (-1,)), flat)
            return loss, xp.reshape(grad, y_pred.shape)
        if self.from_logits:
            return F.softmax_cross_entropy(y_pred, y_true)
        xp = namespace(y_pred)
        n = y_pred.shape[0]
        index = xp.reshape(y_true, (-1, 1))
        picked = xp.take_along_axis(y_pred, index, axis=1)
        loss = -xp.sum(xp.log(_clipped(xp, picked))) / n
        classes = xp.arange(y_pred.shape[1], device=device(index))
        one_hot = xp.astype(index == classes, y_pred.dtype)
        # d(-log p_y)/dp_y = -1/p_y, only where the clip let p_y through
        dpicked = -_inside(xp, picked) / (n * _clipped(xp, picked))
        return loss, one_hot * dpicked

    def prepare_targets(self, y, output_shape):
        classes = output_shape[-1]
        y = np.asarray(y)
        flat = len(output_shape) == 2  # one class per example, not per step
        if flat and y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if flat and y.ndim == 2 and y.shape[1] == classes and classes > 1:
            raise ValueError(
                f"the labels look one-hot (shape {y.shape}), but "
                f"sparse_categorical_crossentropy wants one class index per example, "
                f"shape ({y.shape[0]},): use labels.argmax(1), or "
                f"loss='categorical_crossentropy' to keep them one-hot."
            )
        steps = tuple(output_shape[1:-1])  # a class per step of a sequence: (N, T)
        if y.shape[1:] != steps:
            want = f"(N, {', '.join(map(str, steps))})" if steps else "(N,)"
            raise ValueError(
                f"sparse_categorical_crossentropy wants one class index per example"
                f"{' and step' if steps else ''}, shape {want}, got labels of shape {y.shape}."
            )
        if not np.issubdtype(y.dtype, np.integer):
            whole = np.issubdtype(y.dtype, np.floating) and np.all(y == np.round(y))
            if not whole:
                raise ValueError(
                    f"sparse_categorical_crossentropy wants integer class indices, got "
                    f"{y.dtype} values such as {y.flat[0]!r}; for targets that are not "
                    "classes use loss='mse'."
                )
        y = y.astype(np.int64)
        if y.size and (y.min() < 0 or y.max() >= classes):
            raise ValueError(
                f"the labels go from {y.min()} to {y.max()}, but the model has {classes} "
                f"outputs, so classes must lie in 0..{classes - 1}: give the last layer "
                f"{y.max() + 1} units (one per class)."
            )
        return y

    def check_predictions(self, y_pred):
        _probability_check(self, y_pred, "softmax")

    def get_config(self):
        return {"from_logits": self.from_logits}


class CategoricalCrossentropy(Loss):
    """Cross-entropy with one-hot (or soft) targets of shape (N, classes)."""

    name = "categorical_crossentropy"

    def __init__(self, from_logits=False):
        self.from_logits = bool(from_logits)

    def call(self, y_true, y_pred):
        return ops.categorical_crossentropy(y_true, y_pred, self.from_logits)

    def value_and_grad(self, y_true, y_pred):
        xp = namespace(y_pred, y_true)
        n = y_pred.shape[0]
        if self.from_logits:
            probs, _ = F.softmax_forward(y_pred)
            shifted = y_pred - xp.max(y_pred, axis=1, keepdims=True)
            log_probs = shifted - xp.log(xp.sum(xp.exp(shifted), axis=1, keepdims=True))
            loss = -xp.sum(y_true * log_probs) / n
            # d/dz of -sum_k t_k log softmax(z)_k = softmax(z) * sum(t) - t
            return loss, (probs * xp.sum(y_true, axis=1, keepdims=True) - y_true) / n
        p = _clipped(xp, y_pred)
        loss = -xp.sum(y_true * xp.log(p)) / n
        return loss, -y_true * _inside(xp, y_pred) / (n * p)

    def prepare_targets(self, y, output_shape):
        classes = output_shape[-1]
        y = np.asarray(y)
        if y.ndim == 1 or (y.ndim == 2 and y.shape[1] == 1 and classes > 1):
            raise ValueError(
                f"categorical_crossentropy wants one-hot rows of shape (N, {classes}), got "
                f"labels of shape {y.shape} (class indices): use "
                f"loss='sparse_categorical_crossentropy', or one-hot encode them with "
                f"np.eye({classes})[labels]."
            )
        if y.shape[1:] != tuple(output_shape[1:]):
            raise ValueError(
                f"categorical_crossentropy: targets of shape {y.shape} do not match the "
                f"model's outputs (N, {', '.join(str(s) for s in output_shape[1:])})."
            )
        return y

    def check_predictions(self, y_pred):
        _probability_check(self, y_pred, "softmax")

    def get_config(self):
        return {"from_logits": self.from_logits}


class BinaryCrossentropy(Loss):
    """Cross-entropy for yes/no targets in [0, 1], averaged over every output."""

    name = "binary_crossentropy"

    def __init__(self, from_logits=False):
        self.from_logits = bool(from_logits)

    def call(self, y_true, y_pred):
        return ops.binary_crossentropy(y_true, y_pred, self.from_logits)

    def value_and_grad(self, y_true, y_pred):
        if self.from_logits:
            return F.binary_cross_entropy_with_logits(y_pred, y_true)
        xp = namespace(y_pred, y_true)
        n = y_pred.shape[0] * (y_pred.shape[1] if y_pred.ndim > 1 else 1)
        p = _clipped(xp, y_pred)
        loss = -xp.sum(y_true * xp.log(p) + (1 - y_true) * xp.log(1 - p)) / n
        grad = (-y_true / p + (1 - y_true) / (1 - p)) * _inside(xp, y_pred) / n
        return loss, grad

    def prepare_targets(self, y, output_shape):
        y = _targets_like_outputs(self, y, output_shape)
        if y.size and (y.min() < 0 or y.max() > 1):
            raise ValueError(
                f"binary_crossentropy wants targets between 0 and 1, got values from "
                f"{y.min()} to {y.max()}; for several classes use "
                "loss='sparse_categorical_crossentropy'."
            )
        return y

    def check_predictions(self, y_pred):
        _probability_check(self, y_pred, "sigmoid")

    def get_config(self):
        return {"from_logits": self.from_logits}


class MeanSquaredError(Loss):
    """mean((y_pred - y_true)**2) over every output: for regression."""

    name = "mean_squared_error"

    def call(self, y_true, y_pred):
        return ops.mean_squared_error(y_true, y_pred)

    def value_and_grad(self, y_true, y_pred):
        return F.mse_loss(y_pred, y_true)

    def prepare_targets(self, y, output_shape):
        return _targets_like_outputs(self, y, output_shape)


def _targets_like_outputs(loss, y, output_shape):
    """Targets shaped like the outputs: (N,) becomes (N, 1) for a one-output model."""
    y = _as_float(y, np.float64)
    if y.ndim == 1 and tuple(output_shape[1:]) == (1,):
        y = y[:, None]
    if y.shape[1:] != tuple(output_shape[1:]):
        raise ValueError(
            f"{loss.name}: targets of shape {y.shape} do not match the model's outputs "
            f"(N, {', '.join(str(s) for s in output_shape[1:])}); give the last layer as "
            "many units as each target has numbers."
        )
    return y


LOSSES = {
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "binary_crossentropy": BinaryCrossentropy,
    "mse": MeanSquaredError,
    "mean_squared_error": MeanSquaredError,
}


def get(loss):
    """A Loss object from a name ("mse", "sparse_categorical_crossentropy", ...) or a Loss."""
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, str) and loss.lower() in LOSSES:
        return LOSSES[loss.lower()]()
    if callable(loss) and not isinstance(loss, type):
        return FunctionLoss(loss)
    known = ", ".join(LOSSES)
    raise ValueError(f"loss: unknown {loss!r}; choose one of: {known}, or pass a Loss object.")


class FunctionLoss(Loss):
    """A plain function ``f(y_true, y_pred)`` written with ops, used as a loss."""

    def __init__(self, function):
        self.function = function
        self.name = getattr(function, "__name__", "loss")

    def call(self, y_true, y_pred):
        return self.function(y_true, y_pred)


def from_config(class_name, config):
    """The loss that ``get_config`` described (for load_model)."""
    classes = {cls.__name__: cls for cls in set(LOSSES.values())}
    if class_name not in classes:
        raise ValueError(f"cannot rebuild loss {class_name!r}: only built-in losses are saved.")
    return classes[class_name](**config)
