"""``lr_find``: try learning rates from tiny to huge and see where the loss falls fastest.

The learning-rate range test (Smith, 2015; popularised by fastai): train for a
few dozen batches while the rate grows geometrically from ``start_lr`` to
``end_lr``, and record the (smoothed) loss. Too small a rate barely moves the
loss; too large a rate makes it explode. A good rate sits where the curve
descends most steeply, somewhat before its minimum. The model's weights are put
back afterwards, so the test leaves no trace.
"""

import math

import numpy as np

from dlcourse import backends
from dlcourse.nn.arrays import num_examples, take_rows

__all__ = ["LRFinderResult", "lr_find"]


class LRFinderResult:
    """The rates tried (``lrs``), the smoothed losses (``losses``) and a ``suggestion``."""

    def __init__(self, lrs, losses):
        self.lrs, self.losses = list(lrs), list(losses)

    @property
    def suggestion(self):
        """The rate where the smoothed loss falls fastest (per factor of rate)."""
        if len(self.lrs) < 3:
            return self.lrs[0] if self.lrs else None
        slopes = np.gradient(np.asarray(self.losses), np.log(np.asarray(self.lrs)))
        return float(self.lrs[int(np.argmin(slopes))])

    def __repr__(self):
        return f"<LRFinderResult: {len(self.lrs)} rates tried, suggestion {self.suggestion:.3g}>"

    def plot(self):
        """A matplotlib Figure of loss against learning rate (log scale), suggestion marked."""
        import matplotlib.pyplot  # noqa: F401  (lets Jupyter display a returned Figure)
        from matplotlib.figure import Figure

        fig = Figure(figsize=(5, 3.4), layout="constrained")
        ax = fig.subplots()
        ax.plot(self.lrs, self.losses)
        ax.set_xscale("log")
        ax.set_xlabel("learning rate")
        ax.set_ylabel("loss (smoothed)")
        if self.suggestion is not None:
            ax.axvline(self.suggestion, color="C1", linestyle="--", label=f"{self.suggestion:.2g}")
            ax.legend()
        ax.grid(alpha=0.3)
        return fig


def lr_find(
    model,
    x,
    y,
    start_lr=1e-7,
    end_lr=10.0,
    num_steps=100,
    batch_size=32,
    stop_factor=4.0,
    smoothing=0.9,
):
    """Run the range test on a compiled model; returns an :class:`LRFinderResult`.

    Stops early once the smoothed loss exceeds ``stop_factor`` times its best.
    """
    from dlcourse.nn.training import prepare_targets

    model.require_compiled("lr_find")
    if not 0 < start_lr < end_lr:
        raise ValueError(f"expected 0 < start_lr < end_lr, got {start_lr} and {end_lr}.")
    if num_steps < 2:
        raise ValueError(f"num_steps: expected at least 2, got {num_steps}.")
    x = model.prepare_inputs(x)
    y = prepare_targets(model, y)
    backend = model.backend
    saved = model.get_weights()
    optimizer = model.optimizer.copy()  # its own state, so the real optimizer is untouched
    growth = (end_lr / start_lr) ** (1 / (num_steps - 1))
    lrs, losses = [], []
    average, best = 0.0, math.inf
    n = num_examples(x)
    shuffle = np.random.default_rng(model.seed)  # leaves the model's own shuffling alone
    try:
        with backends.running(backend):
            step = backend.make_train_step(model, model.loss, optimizer)
            xs, ys = model.native_inputs(x), backend.asarray(y)
            order, position = shuffle.permutation(n), 0
            for i in range(num_steps):
                if position >= n:
                    order, position = shuffle.permutation(n), 0
                index = backend.batch_index(order[position : position + batch_size])
                position += batch_size
                optimizer.learning_rate = start_lr * growth**i
                value, _ = step(take_rows(backend, xs, index), backend.take(ys, index))
                value = float(value)
                if not math.isfinite(value):
                    break
                average = smoothing * average + (1 - smoothing) * value
                smoothed = average / (1 - smoothing ** (i + 1))  # undo the start at 0
                lrs.append(optimizer.learning_rate)
                losses.append(smoothed)
                best = min(best, smoothed)
                if smoothed > stop_factor * best:
                    break
    finally:
        model.set_weights(saved)
    return LRFinderResult(lrs, losses)
