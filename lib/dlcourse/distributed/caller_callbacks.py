"""The callbacks of ``DataParallel.fit``: run once, in the caller, as rank 0's epochs come in.

A callback works across processes when it acts at the start or the end of an
epoch: those moments are the same on every rank, and the caller's model then
holds that epoch's weights (rank 0 sends them, see ``handoff``). So
``EarlyStopping`` (with ``restore_best_weights``), ``ModelCheckpoint``,
``LearningRateScheduler``, ``History`` and the user's epoch callbacks run
here exactly as in one-process fit, and only here: a checkpoint is written
once, not once per rank. What they decide (stop; the next learning rate)
goes back to rank 0, which broadcasts it to every rank.

A callback that acts at every *batch* cannot: the batches run in the
workers, and waiting for this process at every step would serialise the
run. It is refused before any process starts, with the reason. The progress
bar is the one exception: it only counts batches, and it counts rank 0's.
"""

from dlcourse.distributed import handoff, progress
from dlcourse.nn.callbacks import Callback, ProgressBar

__all__ = ["EpochDriver", "check_callbacks"]

_BATCH_HOOKS = ("on_train_batch_begin", "on_train_batch_end")


def _overrides(callback, hook):
    return getattr(type(callback), hook) is not getattr(Callback, hook)


def check_callbacks(callbacks):
    """Refuse, naming it, a callback that cannot run across processes."""
    for callback in callbacks:
        name = type(callback).__name__
        if not isinstance(callback, Callback):
            raise TypeError(
                f"callbacks: {name} is not a dlcourse.nn.callbacks.Callback; subclass it."
            )
        hooks = [hook for hook in _BATCH_HOOKS if _overrides(callback, hook)]
        if hooks and not isinstance(callback, ProgressBar):
            raise ValueError(
                f"DataParallel: the callback {name} acts at every batch ({', '.join(hooks)}), "
                "which cannot run across processes: the batches run in the worker processes, "
                "and stopping them all at every step to call back here would serialise the "
                "run. Use a callback that acts per epoch (on_epoch_begin/on_epoch_end; "
                "LearningRateScheduler instead of OneCycle), or fit without distribute=."
            )


class EpochDriver:
    """Feeds rank 0's epochs to ``callbacks`` (a ``CallbackList``) on the caller's ``model``.

    ``sync``: rank 0 sends the weights and waits for a decision after every
    epoch (the callbacks may need the model, or change the run). Call
    :meth:`begin` before the workers start, :meth:`poll` while they run.
    """

    def __init__(self, model, callbacks, folder, epochs, steps, sync):
        self.model, self.callbacks, self.folder = model, callbacks, folder
        self.epochs, self.steps, self.sync = epochs, steps, sync
        self.bars = [c for c in callbacks.callbacks if isinstance(c, ProgressBar)]
        self.epoch, self.counted, self.done = 0, 0, False

    def begin(self):
        self.model.stop_training = False
        self.callbacks.on_train_begin()
        self.callbacks.on_epoch_begin(0)

    def poll(self):
        """Count rank 0's new batches; run the callbacks of every epoch rank 0 finished."""
        while not self.done:
            got = handoff.read_epoch(self.folder, self.epoch)
            if got is None:
                break
            self._epoch_end(*got)
        if not self.done:
            self._count_batches()

    def _count_batches(self, upto=None):
        if not self.bars:
            return
        if upto is None:
            slot = progress.read(self.folder, 1)[0]
            if slot is None or slot[0] < self.epoch:
                return
            upto = self.steps if slot[0] > self.epoch else slot[1]
        for batch in range(self.counted, upto):
            for bar in self.bars:
                bar.on_train_batch_end(batch)
        self.counted = max(self.counted, upto)

    def _epoch_end(self, logs, weights):
        epoch = self.epoch
        self._count_batches(upto=self.steps)
        if weights is not None:
            self.model.set_weights(weights)
        self.callbacks.on_epoch_end(epoch, logs)
        last = self.model.stop_training or epoch + 1 == self.epochs
        if not last:
            self.callbacks.on_epoch_begin(epoch + 1)
        if self.sync:
            rate = self.model.optimizer.learning_rate
            handoff.write_decision(self.folder, epoch, self.model.stop_training, rate)
        self.epoch, self.counted, self.done = epoch + 1, 0, last
