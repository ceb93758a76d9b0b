"""Timing a row's epochs from inside one training run.

A row trains all its timed epochs in one call (one ``fit``, one loop), and the
trainer tells an ``EpochTimer`` when each epoch begins and ends. What a
training call does once, before its first step (checking the data, converting
them to the library's arrays), is then outside every timed epoch, just as the
plain PyTorch loop converts its data once: ms per step is the cost of steps.
"""

import time

__all__ = ["EpochTimer"]


class EpochTimer:
    """Seconds per epoch, and when to stop: after ``budget_s`` seconds of timed epochs.

    ``sync`` waits until the work queued so far is done (a GPU's), before each
    clock reading.
    """

    def __init__(self, sync, budget_s):
        self.sync, self.budget_s = sync, budget_s
        self.seconds, self._start = [], None

    def begin(self):
        self.sync()
        self._start = time.perf_counter()

    def end(self):
        """Record the epoch that just ended; True when no further epoch should start."""
        self.sync()
        self.seconds.append(time.perf_counter() - self._start)
        return sum(self.seconds) > self.budget_s
