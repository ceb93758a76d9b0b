"""``EarlyStopping``: stop when the watched number has stopped improving."""

from dlcourse.nn.callbacks._monitor import Monitor
from dlcourse.nn.callbacks.base import Callback

__all__ = ["EarlyStopping"]


class EarlyStopping(Callback):
    """Stops training after ``patience`` epochs without improvement of ``monitor``.

    An improvement must beat the best value by more than ``min_delta``. With
    ``restore_best_weights=True`` the model gets back the weights of its best
    epoch when training stops. ``stopped_epoch`` tells when it stopped (0-based,
    None if it never did).
    """

    def __init__(
        self, monitor="val_loss", patience=0, min_delta=0.0, mode="auto", restore_best_weights=False
    ):
        super().__init__()
        self.monitor, self.patience, self.mode = monitor, int(patience), mode
        self.min_delta = min_delta
        self.restore_best_weights = restore_best_weights

    def on_train_begin(self, logs=None):
        self._watch = Monitor(self.monitor, self.mode, self.min_delta)
        self.wait = 0
        self.stopped_epoch = None
        self.best_epoch = None
        self._best_weights = None

    def on_epoch_end(self, epoch, logs=None):
        value = self._watch.value(logs, "EarlyStopping")
        if self._watch.improved(value):
            self.wait, self.best_epoch = 0, epoch
            if self.restore_best_weights:
                self._best_weights = self.model.get_weights()
            return
        self.wait += 1
        if self.wait > self.patience:
            self.stopped_epoch = epoch
            self.model.stop_training = True
            if self._best_weights is not None:
                self.model.set_weights(self._best_weights)

    @property
    def best(self):
        return self._watch.best
