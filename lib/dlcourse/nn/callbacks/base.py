"""``Callback``: code that ``fit`` runs at fixed moments of training.

Override any of the ``on_...`` methods. ``self.model`` is the model being
trained; ``self.params`` holds ``epochs`` and ``steps`` (batches per epoch).
``logs`` is a dict of the numbers so far (``loss``, ``accuracy``, ``val_loss``,
...). Setting ``self.model.stop_training = True`` ends training after the
current epoch; assigning ``self.model.optimizer.learning_rate`` changes the step
size from the next batch on.
"""

__all__ = ["Callback", "CallbackList"]


class Callback:
    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_train_batch_begin(self, batch, logs=None):
        pass

    def on_train_batch_end(self, batch, logs=None):
        pass


def _overrides(callback, method):
    return getattr(type(callback), method) is not getattr(Callback, method)


class CallbackList:
    """Calls every callback in order; the per-batch hooks only of those that define them,
    so that a training step pays nothing for hooks nobody uses."""

    def __init__(self, callbacks, model, params):
        self.callbacks = list(callbacks)
        for callback in self.callbacks:
            callback.set_model(model)
            callback.set_params(params)
        self._batch_begin = [c for c in self.callbacks if _overrides(c, "on_train_batch_begin")]
        self._batch_end = [c for c in self.callbacks if _overrides(c, "on_train_batch_end")]

    @property
    def wants_batch_begin(self):
        return bool(self._batch_begin)

    @property
    def wants_batch_end(self):
        return bool(self._batch_end)

    def on_train_begin(self, logs=None):
        for c in self.callbacks:
            c.on_train_begin(logs)

    def on_train_end(self, logs=None):
        for c in self.callbacks:
            c.on_train_end(logs)

    def on_epoch_begin(self, epoch, logs=None):
        for c in self.callbacks:
            c.on_epoch_begin(epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        for c in self.callbacks:
            c.on_epoch_end(epoch, logs)

    def on_train_batch_begin(self, batch, logs=None):
        for c in self._batch_begin:
            c.on_train_batch_begin(batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        for c in self._batch_end:
            c.on_train_batch_end(batch, logs)
