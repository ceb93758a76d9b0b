"""``ModelCheckpoint``: save the model during training, every epoch or when it improves."""

from dlcourse.nn.callbacks._monitor import Monitor
from dlcourse.nn.callbacks.base import Callback

__all__ = ["ModelCheckpoint"]


class ModelCheckpoint(Callback):
    """Saves the model (``model.save``, a ``.npz`` file) at the end of epochs.

    ``filepath`` may contain fields such as ``"ckpt-{epoch:02d}-{val_loss:.3f}.npz"``
    (``epoch`` counts from 1). With ``save_best_only=True`` a file is written only
    when ``monitor`` improves, so a fixed name always holds the best model so far.
    ``saved`` lists the files written.
    """

    def __init__(self, filepath, monitor="val_loss", save_best_only=False, mode="auto"):
        super().__init__()
        self.filepath = str(filepath)
        self.monitor, self.save_best_only, self.mode = monitor, save_best_only, mode
        self.saved = []

    def on_train_begin(self, logs=None):
        self._watch = Monitor(self.monitor, self.mode)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.save_best_only:
            if not self._watch.improved(self._watch.value(logs, "ModelCheckpoint")):
                return
        path = self.filepath.format(epoch=epoch + 1, **logs)
        self.saved.append(self.model.save(path))
