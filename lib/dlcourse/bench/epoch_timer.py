"""Timing a row's epochs from inside one training run.

A row trains its warm-up and timed epochs in one call (one ``fit``, one loop), and the
trainer tells an ``EpochTimer`` when each epoch begins and ends. What a
training call does once, before its first step (checking the data, converting
them to the library's arrays), is then outside every timed epoch, just as the
plain PyTorch loop converts its data once: ms per step is the cost of steps.
"""

import time

__all__ = ["EpochTimer", "timing_callback"]


class EpochTimer:
    """Seconds per epoch, and when to stop: after ``budget_s`` seconds of timed epochs.

    ``sync`` waits until the work queued so far is done (a GPU's), before each
    clock reading. The first ``untimed`` epochs are a warm-up: they run the same
    steps on data of the same shape, so every compilation and first call
    (a library may compile once per epoch length) happens there, and they are
    not recorded.
    """

    def __init__(self, sync, budget_s, untimed=0):
        self.sync, self.budget_s, self.untimed = sync, budget_s, untimed
        self.seconds, self._start = [], None

    def begin(self):
        self.sync()
        self._start = time.perf_counter()

    def end(self):
        """Record the epoch that just ended; True when no further epoch should start."""
        self.sync()
        if self.untimed:
            self.untimed -= 1
            return False
        self.seconds.append(time.perf_counter() - self._start)
        return sum(self.seconds) > self.budget_s


def timing_callback(base, timer, settle=None):
    """A callback of the class ``base`` (dlcourse's or Keras's) that times each epoch.

    ``settle(logs)``, when given, runs at each epoch's end before the clock is read:
    it waits for work still queued. The training stops once ``timer`` says so.
    """

    class Timing(base):
        def on_epoch_begin(self, epoch, logs=None):
            timer.begin()

        def on_epoch_end(self, epoch, logs=None):
            if settle is not None:
                settle(logs)
            if timer.end():
                self.model.stop_training = True

    return Timing()
