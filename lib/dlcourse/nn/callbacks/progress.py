"""Showing training as it happens: a tqdm progress bar per epoch, or one line per epoch.

``tqdm.auto`` draws a text bar in a terminal and a widget in JupyterLab
(falling back to text when ipywidgets is missing).
"""

import sys
import time

from dlcourse.nn.callbacks.base import Callback

__all__ = ["EpochLogger", "ProgressBar", "format_logs"]


def format_logs(logs):
    """'loss=0.312 accuracy=0.912' with 3 significant digits (4 for small numbers)."""
    return " ".join(f"{k}={v:.4g}" for k, v in logs.items())


class ProgressBar(Callback):
    """One bar per epoch, with the running loss and metrics next to it.

    The numbers beside the bar are refreshed at most every ``refresh`` seconds,
    so that drawing costs nothing next to training.
    """

    def __init__(self, refresh=0.2, file=None):
        super().__init__()
        self.refresh = refresh
        self.file = file
        self._bar = None
        self._last = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        from tqdm.auto import tqdm

        self._bar = tqdm(
            total=self.params.get("steps"),
            desc=f"Epoch {epoch + 1}/{self.params.get('epochs')}",
            unit="batch",
            leave=True,
            dynamic_ncols=True,
            file=self.file if self.file is not None else sys.stderr,
        )
        self._last = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self._bar.update(1)
        now = time.perf_counter()
        if logs and now - self._last >= self.refresh:
            self._bar.set_postfix_str(format_logs(logs), refresh=False)
            self._last = now

    def on_epoch_end(self, epoch, logs=None):
        if self._bar is not None:
            self._bar.set_postfix_str(format_logs(logs or {}), refresh=False)
            self._bar.close()
            self._bar = None

    def on_train_end(self, logs=None):
        if self._bar is not None:  # training stopped inside an epoch
            self._bar.close()
            self._bar = None


class EpochLogger(Callback):
    """One printed line per epoch (``verbose=2``): for logs and scripts."""

    def __init__(self, print_fn=print):
        super().__init__()
        self.print_fn = print_fn

    def on_epoch_end(self, epoch, logs=None):
        self.print_fn(f"Epoch {epoch + 1}/{self.params.get('epochs')}: {format_logs(logs or {})}")
