"""Callbacks: small objects that ``fit`` calls at the start and end of epochs and batches."""

from dlcourse.nn.callbacks.base import Callback, CallbackList
from dlcourse.nn.callbacks.checkpoint import ModelCheckpoint
from dlcourse.nn.callbacks.early_stopping import EarlyStopping
from dlcourse.nn.callbacks.progress import EpochLogger, ProgressBar
from dlcourse.nn.callbacks.schedules import LearningRateScheduler, OneCycle, one_cycle

__all__ = [
    "Callback",
    "CallbackList",
    "EarlyStopping",
    "EpochLogger",
    "LearningRateScheduler",
    "ModelCheckpoint",
    "OneCycle",
    "ProgressBar",
    "one_cycle",
]
