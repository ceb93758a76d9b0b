"""Watching one logged number for improvement (shared by EarlyStopping and ModelCheckpoint)."""

import math

__all__ = ["Monitor"]


class Monitor:
    """Remembers the best value of ``logs[key]``; ``mode`` "min", "max" or "auto"
    ("max" for accuracies, "min" for everything else)."""

    def __init__(self, key, mode="auto", min_delta=0.0):
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode: expected 'auto', 'min' or 'max', got {mode!r}.")
        if mode == "auto":
            mode = "max" if "acc" in key else "min"
        self.key, self.mode, self.min_delta = key, mode, abs(float(min_delta))
        self.best = math.inf if mode == "min" else -math.inf

    def value(self, logs, owner):
        logs = logs or {}
        if self.key not in logs:
            available = ", ".join(logs) or "nothing"
            hint = ""
            if self.key.startswith("val_"):
                hint = " Pass validation_data=(x_val, y_val) or validation_split=0.2 to fit."
            raise ValueError(
                f"{owner} watches {self.key!r}, but training logs only {available}.{hint}"
            )
        return float(logs[self.key])

    def improved(self, value):
        """True (and remembered) when ``value`` beats the best by more than min_delta."""
        if self.mode == "min":
            better = value < self.best - self.min_delta
        else:
            better = value > self.best + self.min_delta
        if better:
            self.best = value
        return better
