"""Changing the learning rate during training: any schedule per epoch, or one cycle per run."""

import math

from dlcourse.nn.callbacks.base import Callback

__all__ = ["LearningRateScheduler", "OneCycle", "one_cycle"]


class LearningRateScheduler(Callback):
    """Sets the learning rate at the start of every epoch to ``schedule(epoch, lr)``.

    ``epoch`` counts from 0 and ``lr`` is the current rate, e.g.
    ``LearningRateScheduler(lambda epoch, lr: lr * 0.9)`` for a 10% decay per epoch.
    The rate used is logged as ``learning_rate``.
    """

    def __init__(self, schedule):
        super().__init__()
        self.schedule = schedule

    def on_epoch_begin(self, epoch, logs=None):
        optimizer = self.model.optimizer
        lr = float(self.schedule(epoch, optimizer.learning_rate))
        if not lr > 0:
            raise ValueError(f"the schedule gave learning rate {lr!r} for epoch {epoch}.")
        optimizer.learning_rate = lr

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = self.model.optimizer.learning_rate


def one_cycle(max_lr, total_steps, pct_start=0.25, div_factor=25.0, final_div_factor=1e4):
    """The one-cycle schedule (Smith, 2018) as a function ``step -> learning rate``.

    The rate climbs from ``max_lr / div_factor`` to ``max_lr`` over the first
    ``pct_start`` of the steps, then falls to ``max_lr / (div_factor *
    final_div_factor)``, both along half a cosine. The warm-up lets the weights
    settle before large steps; the long descent ends in fine steps.
    """
    if not max_lr > 0:
        raise ValueError(f"max_lr: expected a positive number, got {max_lr!r}.")
    if total_steps < 2:
        raise ValueError(f"total_steps: expected at least 2, got {total_steps!r}.")
    if not 0 < pct_start < 1:
        raise ValueError(f"pct_start: expected a fraction in (0, 1), got {pct_start!r}.")
    start = max_lr / div_factor
    end = start / final_div_factor
    peak = max(1, round(pct_start * (total_steps - 1)))

    def cosine(a, b, fraction):
        return b + (a - b) * (1 + math.cos(math.pi * fraction)) / 2

    def schedule(step):
        step = min(max(step, 0), total_steps - 1)
        if step <= peak:
            return cosine(start, max_lr, step / peak)
        return cosine(max_lr, end, (step - peak) / (total_steps - 1 - peak))

    return schedule


class OneCycle(Callback):
    """Follows :func:`one_cycle` batch by batch over the whole ``fit`` call."""

    def __init__(self, max_lr, pct_start=0.25, div_factor=25.0, final_div_factor=1e4):
        super().__init__()
        self.max_lr, self.pct_start = max_lr, pct_start
        self.div_factor, self.final_div_factor = div_factor, final_div_factor
        self.lrs = []

    def on_train_begin(self, logs=None):
        total = self.params["epochs"] * self.params["steps"]
        self._schedule = one_cycle(
            self.max_lr, max(total, 2), self.pct_start, self.div_factor, self.final_div_factor
        )
        self._step = 0

    def on_train_batch_begin(self, batch, logs=None):
        lr = self._schedule(self._step)
        self.model.optimizer.learning_rate = lr
        self.lrs.append(lr)
        self._step += 1

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = self.model.optimizer.learning_rate
