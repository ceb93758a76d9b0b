"""Faults planted in a DataParallel worker, and what the caller must see after one.

The layers are the identity in the caller and fail only where the model file
is rebuilt in a worker (``DLCOURSE_TRAIN_LAUNCHED``), so the same model trains
in one process and breaks in the engine's.
"""

import os
import time

import numpy as np
import pytest

from distributed_helpers import processes_mentioning
from dlcourse.distributed import WorkerFailed
from dlcourse.nn import Layer


class RefusesToLoadInAWorker(Layer):
    """The identity, but rebuilding it from the model file in a worker process raises."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        if "DLCOURSE_TRAIN_LAUNCHED" in os.environ:
            raise RuntimeError("this layer cannot be rebuilt in a worker")

    def call(self, x, training=False):
        return x


class HangsInAWorker(Layer):
    """The identity, but in a worker process its first call never returns."""

    def call(self, x, training=False):
        if "DLCOURSE_TRAIN_LAUNCHED" in os.environ:
            time.sleep(3600)
        return x


def failure_of(model, fit, worker, within_s):
    """The WorkerFailed message of ``fit(model)``, after checking that it came within
    ``within_s``, left the model's weights and shuffling as they were and no ``worker``."""
    before = model.get_weights()
    rng_state = model.shuffle_rng.bit_generator.state
    start = time.monotonic()
    with pytest.raises(WorkerFailed) as info:
        fit(model)
    assert time.monotonic() - start < within_s  # stopped, not waited for
    for w, w0 in zip(model.get_weights(), before, strict=True):
        np.testing.assert_array_equal(w, w0)
    assert model.shuffle_rng.bit_generator.state == rng_state
    assert processes_mentioning(worker) == []
    return str(info.value)
