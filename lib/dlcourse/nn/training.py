"""The training loop behind ``model.fit``, and ``evaluate`` and ``predict``.

The loop is the same for every backend, and it uses only the model's public
surface (``prepare_inputs``, ``native_inputs``, ``train_step``, ``loss``,
``metrics``, ``bind``, ...), never its insides; it imports no model class.
Before the first step, the data are checked in NumPy (shapes, labels that
suit the loss) and converted once to the backend's arrays; each step then
picks a batch by index and calls the backend's train step. The Python work
per step is kept to a few lines, so that ``fit`` costs little more than a
hand-written loop in the same library. A backend that can (JAX) runs many
steps in one compiled call when nothing looks at single batches, and then
Python works once per call, not once per step.
"""

import math

import numpy as np

from dlcourse import backends
from dlcourse.nn.arrays import as_numpy, map_arrays, num_examples, rows, take_rows
from dlcourse.nn.callbacks import CallbackList, EpochLogger, ProgressBar
from dlcourse.nn.errors import NonFiniteLossError
from dlcourse.nn.history import History
from dlcourse.nn.multi_output import split_targets

__all__ = [
    "default_callbacks",
    "evaluate",
    "evaluate_native",
    "fit",
    "predict",
    "prepare_fit_data",
    "prepare_targets",
]

#: the most steps one call runs on a backend with ``many_steps_per_call``:
#: Ctrl-C waits for the call to end, and every new length compiles once more
STEPS_PER_CALL = 64


def _targets_numpy(model, y, name="y"):
    """``y`` as NumPy: one array, or (several outputs) a tuple of them in output order."""
    if isinstance(model.output_shape, list):
        return split_targets(y, model.output_names, name)
    return as_numpy(name, y)


def _float_like_model(model, y):
    if np.issubdtype(y.dtype, np.floating):
        return y.astype(model.dtype, copy=False)
    return y


def prepare_targets(model, y, name="y"):
    """``y`` as NumPy, checked against the loss and the model's outputs (several
    outputs: a list or a dict by output name in, a tuple in output order out)."""
    y = model.loss.prepare_targets(_targets_numpy(model, y, name), model.output_shape)
    return map_arrays(lambda a: _float_like_model(model, a), y)


def _numpy_outputs(backend, y_pred):
    """The backend's predictions as NumPy (a list of them for several outputs)."""
    if isinstance(y_pred, (list, tuple)):
        return [backend.to_numpy(p) for p in y_pred]
    return backend.to_numpy(y_pred)


def _pick(y, index):
    """Rows ``index`` (a slice or an int array) of the NumPy targets."""
    return map_arrays(lambda a: a[index], y)


def _check_lengths(x, y, what=""):
    n = num_examples(x)
    if n != num_examples(y):
        raise ValueError(
            f"{what}x has {n} examples but {what}y has {num_examples(y)}; they must pair up "
            "one to one."
        )
    if n == 0:
        raise ValueError(f"{what}x is empty: there is nothing to train on.")


def _split(x, y, validation_data, validation_split):
    """Training and validation arrays; validation_split takes the *last* examples, as Keras."""
    if validation_data is not None:
        if len(validation_data) != 2:
            raise ValueError("validation_data: expected a pair (x_val, y_val).")
        return x, y, tuple(validation_data)
    if not validation_split:
        return x, y, None
    if not 0 < validation_split < 1:
        raise ValueError(
            f"validation_split: expected a fraction in (0, 1), got {validation_split}."
        )
    n = num_examples(x)
    cut = n - int(round(n * validation_split))
    if cut <= 0 or cut >= n:
        raise ValueError(f"validation_split={validation_split} leaves no training or no val data.")
    head, tail = rows(x, 0, cut), rows(x, cut, n)
    return head, rows(y, 0, cut), (tail, rows(y, cut, n))


def prepare_fit_data(model, x, y, batch_size, validation_data=None, validation_split=0.0):
    """``(x, y, validation)`` as ``fit`` trains on them, checked, in NumPy.

    ``validation`` is None or ``(x_val, y_val)``; ``validation_split`` takes
    the last examples. Shared with ``dlcourse.distributed``, so that training
    on several processes sees the very arrays one process would.
    """
    x, y = model.prepare_inputs(x), _targets_numpy(model, y)
    _check_lengths(x, y)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size: expected a positive int, got {batch_size!r}.")
    x, y, validation = _split(x, y, validation_data, validation_split)
    y = prepare_targets(model, y)
    if validation is not None:
        validation = (
            model.prepare_inputs(validation[0], "x_val"),
            _targets_numpy(model, validation[1], "y_val"),
        )
        _check_lengths(*validation, what="validation ")
        validation = (validation[0], prepare_targets(model, validation[1], "y_val"))
    return x, y, validation


def default_callbacks(verbose):
    if verbose == 1:
        return [ProgressBar()]
    if verbose == 2:
        return [EpochLogger()]
    if verbose != 0:
        raise ValueError(
            "verbose: expected 0 (silent), 1 (a progress bar) or 2 (one line per epoch), "
            f"got {verbose!r}."
        )
    return []


def fit(
    model,
    x,
    y,
    epochs=1,
    batch_size=32,
    validation_data=None,
    validation_split=0.0,
    shuffle=True,
    callbacks=None,
    verbose=1,
):
    """Train ``model`` on (x, y) for ``epochs`` passes; returns a ``History``.

    Each epoch visits the examples in batches of ``batch_size``, in a new random
    order when ``shuffle`` (drawn from the model's seed, so runs repeat), in the
    given order otherwise. ``validation_data=(x_val, y_val)`` or
    ``validation_split=0.2`` (the last 20%) adds ``val_`` numbers after each epoch.
    ``verbose``: 0 silent, 1 a progress bar per epoch, 2 one line per epoch.

    A NaN or infinite loss stops training with a ``NonFiniteLossError`` that
    names the first layer whose output was not finite.
    """
    model.require_compiled("fit")
    x, y, validation = prepare_fit_data(model, x, y, batch_size, validation_data, validation_split)

    backend = model.backend
    n = num_examples(x)
    steps = math.ceil(n / batch_size)
    history = History()
    params = {"epochs": epochs, "steps": steps, "batch_size": batch_size, "samples": n}
    user = list(callbacks or [])
    # History after the user's callbacks, so that it records what they add to the logs
    callbacks = CallbackList([*user, history, *default_callbacks(verbose)], model, params)

    with backends.running(backend):
        first_batch = model.native_inputs(rows(x, 0, batch_size))
        first = backend.make_predict(model)(first_batch)
        model.loss.check_predictions(_numpy_outputs(backend, first))
        xs, ys = model.native_inputs(x), map_arrays(backend.asarray, y)
        if validation is not None:
            validation = (
                model.native_inputs(validation[0]),
                map_arrays(backend.asarray, validation[1]),
                validation[1],
            )
        step = model.train_step()
        model.stop_training = False
        callbacks.on_train_begin()
        try:
            for epoch in range(epochs):
                callbacks.on_epoch_begin(epoch)
                logs = _train_epoch(model, step, xs, ys, y, batch_size, shuffle, callbacks, epoch)
                if validation is not None:
                    scores = evaluate_native(model, *validation, batch_size)
                    logs.update({f"val_{k}": v for k, v in scores.items()})
                callbacks.on_epoch_end(epoch, logs)
                if model.stop_training:
                    break
        except NonFiniteLossError as err:
            err.history = history  # what was learned up to the last whole epoch
            raise
        finally:
            callbacks.on_train_end()
    model.history = history
    return history


def _logs(loss, metrics):
    logs = {"loss": loss}
    for metric in metrics:
        logs[metric.name] = metric.result()
    return logs


def _train_epoch(model, step, xs, ys, y, batch_size, shuffle, callbacks, epoch):
    """One pass over the data (native ``xs``, ``ys``; ``y`` in NumPy for the metrics)."""
    backend, metrics = model.backend, model.metrics
    for metric in metrics:
        metric.reset()
    batches = _Batches(backend, step, xs, ys, batch_size, model.shuffle_rng if shuffle else None)
    per_batch = metrics or callbacks.wants_batch_end
    if backend.many_steps_per_call and not per_batch and not callbacks.wants_batch_begin:
        return _logs(_train_epoch_in_calls(model, batches, y, epoch), metrics)
    if backend.asynchronous_steps and not per_batch:
        return _logs(_train_epoch_read_late(model, batches, y, callbacks, epoch), metrics)
    total, seen = 0.0, 0
    for b in range(len(batches)):
        if callbacks.wants_batch_begin:
            callbacks.on_train_batch_begin(b)
        value, y_pred = batches.run(b)
        total += _weighted_loss(model, batches, b, value, y, epoch)
        seen += batches.count(b)
        if metrics:
            predicted, picked = _numpy_outputs(backend, y_pred), _pick(y, batches.rows(b))
            for metric in metrics:
                metric.update(picked, predicted)
        if callbacks.wants_batch_end:
            callbacks.on_train_batch_end(b, _logs(total / seen, metrics))
    return _logs(total / seen, metrics)


def _train_epoch_read_late(model, batches, y, callbacks, epoch):
    """The epoch's mean loss, each step's loss read only after the next step is queued.

    A step of an asynchronous backend (JAX) returns at once and computes in the
    background; reading its loss waits for it. Read one step late, the loss of
    step b is awaited while step b + 1 is already queued, so the processor never
    waits for Python to prepare a step. Used only when nothing looks at a
    batch's result (no metrics, no batch-end callbacks). The weights from before
    each step are kept (immutable arrays: no copy), so that after a non-finite
    loss the model still holds the weights that produced it.
    """
    total, pending = 0.0, None
    for b in range(len(batches)):
        before = (model.trainable_weights, model.state_variables)
        if callbacks.wants_batch_begin:
            callbacks.on_train_batch_begin(b)
        value = batches.run(b)[0]
        if pending is not None:
            total += _weighted_loss(model, batches, *pending, y, epoch, undo=before)
        pending = (b, value)
    return (total + _weighted_loss(model, batches, *pending, y, epoch)) / num_examples(y)


def _train_epoch_in_calls(model, batches, y, epoch):
    """The epoch's mean loss, up to ``STEPS_PER_CALL`` full batches run in each call.

    Python then works once per call, not once per step; on a machine with few
    cores that work would otherwise take a core from the arithmetic. Used only
    when nothing looks at single batches (no metrics, no batch callbacks). A
    last, smaller batch is a step of its own. After a non-finite loss the call
    changes no weight any more, so the model holds the weights that produced it.
    """
    total, full = 0.0, batches.full
    for first in range(0, full, STEPS_PER_CALL):
        values = batches.run_many(first, min(full, first + STEPS_PER_CALL))
        for b, value in enumerate(np.asarray(values).tolist(), first):  # waits for the call
            total += _weighted_loss(model, batches, b, value, y, epoch)
    if full < len(batches):
        total += _weighted_loss(model, batches, full, batches.run(full)[0], y, epoch)
    return total / num_examples(y)


def _weighted_loss(model, batches, b, value, y, epoch, undo=None):
    """Batch ``b``'s loss times its size; a NonFiniteLossError if it is NaN or infinite.

    ``undo``: weights to put back first (those of a step queued after batch ``b``).
    """
    value = float(value)
    if not math.isfinite(value):
        from dlcourse.nn.nonfinite import nonfinite_loss_error

        if undo is not None:
            model.bind(*undo)
        x_batch, y_batch = batches.native(b), _pick(y, batches.rows(b))
        raise nonfinite_loss_error(model, x_batch, y_batch, value, epoch, b)
    return value * batches.count(b)


class _Batches:
    """The batches of one epoch: their rows, and one train step on each."""

    def __init__(self, backend, step, xs, ys, batch_size, shuffle_rng):
        self.backend, self.step, self.xs, self.ys = backend, step, xs, ys
        self.n, self.size = num_examples(xs), batch_size
        self.order = None if shuffle_rng is None else shuffle_rng.permutation(self.n)
        self.order_native = None if self.order is None else backend.batch_index(self.order)

    def __len__(self):
        return math.ceil(self.n / self.size)

    @property
    def full(self):
        """How many batches hold ``batch_size`` examples (all but a smaller last one)."""
        return self.n // self.size

    def _bounds(self, b):
        return b * self.size, min(self.n, (b + 1) * self.size)

    def count(self, b):
        """How many examples batch ``b`` holds."""
        lo, hi = self._bounds(b)
        return hi - lo

    def rows(self, b):
        """Batch ``b``'s rows of the NumPy data: a slice, or an index array when shuffled."""
        lo, hi = self._bounds(b)
        return slice(lo, hi) if self.order is None else self.order[lo:hi]

    def _index(self, b):
        """Batch ``b``'s rows as a native index array (shuffled epochs only)."""
        lo, hi = self._bounds(b)
        return self.order_native[lo:hi]

    def _pick(self, data, b):
        """Batch ``b``'s part of the native ``data``: a slice, or the shuffled rows."""
        if self.order is None:
            lo, hi = self._bounds(b)
            return rows(data, lo, hi)
        return take_rows(self.backend, data, self._index(b))

    def native(self, b):
        """Batch ``b``'s inputs as a native array."""
        return self._pick(self.xs, b)

    def run(self, b):
        """One train step on batch ``b``: ``(loss, y_pred)``."""
        if self.order is not None and self.backend.step_takes_rows:
            return self.step(self.xs, self.ys, self._index(b))
        return self.step(self._pick(self.xs, b), self._pick(self.ys, b))

    def run_many(self, first, stop):
        """Train steps on the full batches ``first`` to ``stop - 1`` in one call: their losses."""
        lo, hi = first * self.size, stop * self.size
        rows = np.arange(lo, hi) if self.order is None else self.order[lo:hi]
        rows = self.backend.batch_index(rows.reshape(stop - first, self.size))
        return self.step.many(self.xs, self.ys, rows)


def evaluate_native(model, xs, ys, y_numpy, batch_size):
    """Mean loss and metrics over native (xs, ys), in inference mode."""
    backend = model.backend
    step = backend.make_eval_step(model, model.loss)
    for metric in model.metrics:
        metric.reset()
    n = num_examples(y_numpy)
    total = 0.0
    for lo in range(0, n, batch_size):
        hi = min(n, lo + batch_size)
        value, y_pred = step(rows(xs, lo, hi), rows(ys, lo, hi))
        total += float(value) * (hi - lo)
        if model.metrics:
            predicted = _numpy_outputs(backend, y_pred)
            for metric in model.metrics:
                metric.update(rows(y_numpy, lo, hi), predicted)
    scores = {"loss": total / n}
    for metric in model.metrics:
        scores[metric.name] = metric.result()
    return scores


def evaluate(model, x, y, batch_size=32, return_dict=False):
    """The loss and metrics on (x, y), in inference mode (no dropout, running statistics).

    Returns the loss alone when there are no metrics, else ``[loss, metric, ...]``,
    or a dict with ``return_dict=True``.
    """
    model.require_compiled("evaluate")
    x, y = model.prepare_inputs(x), _targets_numpy(model, y)
    _check_lengths(x, y)
    y = prepare_targets(model, y)
    backend = model.backend
    with backends.running(backend):
        xs, ys = model.native_inputs(x), map_arrays(backend.asarray, y)
        scores = evaluate_native(model, xs, ys, y, batch_size)
    if return_dict:
        return scores
    values = list(scores.values())
    return values[0] if len(values) == 1 else values


def predict(model, x, batch_size=256):
    """The model's outputs for every example of ``x``, as one NumPy array."""
    x = model.prepare_inputs(x)
    backend = model.backend
    n = num_examples(x)
    with backends.running(backend):
        run = backend.make_predict(model)
        xs = model.native_inputs(x)
        outputs = [run(rows(xs, lo, lo + batch_size)) for lo in range(0, n, batch_size)]
    if isinstance(model.output_shape, list):  # several outputs: one array for each
        return [
            _joined(backend, [out[i] for out in outputs], shape, model.dtype)
            for i, shape in enumerate(model.output_shape)
        ]
    return _joined(backend, outputs, model.output_shape, model.dtype)


def _joined(backend, batches, shape, dtype):
    if not batches:
        return np.zeros((0, *shape[1:]), dtype=dtype)
    return np.concatenate([backend.to_numpy(b) for b in batches], axis=0)
