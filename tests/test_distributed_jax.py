"""``model.fit(..., distribute=DataParallel("jax", nproc=2))``: one fresh process, 2 XLA devices.

Each test compares the 2-device run with plain one-process ``fit`` of a twin
model (same seed, jax backend, float64) on the same batches: the weights and
the History must agree to 1e-10; only the order of additions differs (they
agree to about 1e-16). Batches that do not split evenly over the devices
are part of every comparison: XLA pads them inside the step.
"""

import os
import re
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("jax", reason="DataParallel('jax') needs JAX (pip install 'dlcourse[jax]')")

import engine_cases  # noqa: E402
from dlcourse import backends  # noqa: E402
from dlcourse.distributed import DataParallel  # noqa: E402
from dlcourse.nn import (  # noqa: E402
    BatchNorm,
    Dropout,
)
from dlcourse.nn.callbacks import Callback, EarlyStopping  # noqa: E402
from engine_cases import assert_same_history, largest_difference, uneven_batches  # noqa: E402
from worker_faults import HangsInAWorker, RefusesToLoadInAWorker, failure_of  # noqa: E402

TWO = DataParallel("jax", nproc=2)
WORKER = "dlcourse.distributed.jax_fit_worker"


def classifier(*extra, seed=3):
    return engine_cases.classifier("jax", *extra, seed=seed)


def two_inputs():
    return engine_cases.two_inputs("jax")


@pytest.fixture(scope="module")
def data():
    return uneven_batches()


def test_two_devices_train_a_sequential_model_as_one_process_does(data):
    x, y, _ = data
    distributed, single = classifier(), classifier()
    before = distributed.get_weights()
    history = distributed.fit(x, y, epochs=2, batch_size=32, verbose=0, distribute=TWO)
    expected = single.fit(x, y, epochs=2, batch_size=32, verbose=0)
    assert largest_difference(distributed, single) < 1e-10
    assert max(np.abs(w - w0).max() for w, w0 in zip(distributed.get_weights(), before)) > 1e-3
    assert distributed.history is history
    assert_same_history(history, expected)
    # the caller's shuffling generator moved on as one-process fit moves it
    assert distributed.shuffle_rng.integers(1 << 30) == single.shuffle_rng.integers(1 << 30)


def test_two_devices_train_a_two_input_functional_model_as_one_process_does(capsys):
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((40, 5)), rng.standard_normal((40, 3))
    y = rng.standard_normal((40, 2))
    distributed, single = two_inputs(), two_inputs()
    # batches of 15, 15 and 10 rows, in the given order: 15 does not split in two
    history = distributed.fit(
        (a, b), y, epochs=2, batch_size=15, shuffle=False, verbose=2,
        distribute=DataParallel("jax", nproc=2),
    )  # fmt: skip
    printed = capsys.readouterr().out
    expected = single.fit((a, b), y, epochs=2, batch_size=15, shuffle=False, verbose=2)
    assert printed == capsys.readouterr().out  # the epoch lines, printed here, as one process
    assert largest_difference(distributed, single) < 1e-10
    assert_same_history(history, expected)


def test_batch_statistics_and_dropout_masks_are_those_of_one_process(data):
    """The step is the one-process step, split by XLA: batch norm sees the whole batch."""
    x, y, _ = data
    layers = (BatchNorm, lambda: Dropout(0.25))
    distributed, single = classifier(*(f() for f in layers)), classifier(*(f() for f in layers))
    distributed.fit(x, y, epochs=2, batch_size=32, verbose=0, distribute=TWO)
    single.fit(x, y, epochs=2, batch_size=32, verbose=0)
    assert largest_difference(distributed, single) < 1e-10  # moving mean and variance too


def test_validation_data_gives_the_val_numbers_of_one_process(data, capsys):
    x, y, validation = data
    distributed, single = classifier(), classifier()
    got = distributed.fit(x, y, epochs=2, batch_size=8, validation_data=validation, distribute=TWO)
    bar = capsys.readouterr().err
    expected = single.fit(x, y, epochs=2, batch_size=8, validation_data=validation, verbose=0)
    assert "val_loss" in got.history and "val_accuracy" in got.history
    assert_same_history(got, expected)
    assert largest_difference(distributed, single) < 1e-10
    assert "Epoch 1/2" in bar and "Epoch 2/2" in bar and bar.count("12/12") >= 2


class Recorder(Callback):
    def __init__(self):
        super().__init__()
        self.calls = []

    def on_epoch_begin(self, epoch, logs=None):
        self.calls.append(("begin", epoch))

    def on_epoch_end(self, epoch, logs=None):
        self.calls.append(("end", epoch))


def test_early_stopping_stops_at_the_epoch_of_one_process_and_restores_the_best(data):
    x, y, validation = data
    runs = []
    for distribute in (TWO, None):
        model, recorder = classifier(seed=1), Recorder()
        stopper = EarlyStopping(patience=1, restore_best_weights=True)
        history = model.fit(
            x, y, epochs=20, batch_size=8, validation_data=validation, verbose=0,
            callbacks=[stopper, recorder], distribute=distribute,
        )  # fmt: skip
        runs.append((model, stopper, recorder, history))
    (model, stopper, recorder, history), (twin, twin_stopper, twin_recorder, expected) = runs
    assert twin_stopper.stopped_epoch is not None and twin_stopper.stopped_epoch < 19
    assert (stopper.stopped_epoch, stopper.best_epoch) == (
        twin_stopper.stopped_epoch,
        twin_stopper.best_epoch,
    )
    assert stopper.best_epoch != stopper.stopped_epoch  # the restored weights are not the last
    assert_same_history(history, expected)
    assert largest_difference(model, twin) < 1e-10  # the best epoch's weights, on both
    assert recorder.calls == twin_recorder.calls
    assert model.shuffle_rng.integers(1 << 30) == twin.shuffle_rng.integers(1 << 30)


SPLIT_STEP = """
import numpy as np
import dlcourse
from dlcourse.nn import Dense, Sequential

with dlcourse.backend("jax", device="cpu", data_parallel=2):
    model = Sequential([Dense(3)], seed=0, dtype="float64", input_shape=(4,))
model.compile(optimizer="sgd", loss="mse")
x, y = model.native_inputs(np.ones((8, 4))), model.backend.asarray(np.zeros((8, 3)))
_, y_pred = model.train_step()(x, y)
print(model.backend.describe())
print(sorted((shard.device.id, shard.data.shape) for shard in y_pred.addressable_shards))
print(sorted({len(w.addressable_shards) for w in model.trainable_weights}),
      sorted({w.sharding.is_fully_replicated for w in model.trainable_weights}))
"""


def test_the_step_really_splits_the_batch_and_copies_the_weights():
    """What the engine's process does: each device predicts its half of a batch of 8."""
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    done = subprocess.run(
        [sys.executable, "-c", SPLIT_STEP], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "jax (cpu, data parallel over 2 devices)",
        "[(0, (4, 3)), (1, (4, 3))]",  # device 0 and device 1: 4 rows each
        "[2] [True]",  # every weight: a full copy on each of the 2 devices
    ]


def test_bad_arguments_are_refused_with_the_fix(data):
    with pytest.raises(ValueError, match=r"threads is for the torch engine.*Leave threads unset"):
        DataParallel("jax", nproc=2, threads=1)
    with pytest.raises(ValueError, match=r"nproc must be a positive int, got 0"):
        DataParallel("jax", nproc=0)
    with pytest.raises(ValueError, match=r"engine 'mxnet' is not available yet.*'jax'"):
        DataParallel("mxnet")
    # in this process JAX started with one CPU device: the backend option says how to get more
    with pytest.raises(ValueError, match=r"xla_force_host_platform_device_count=64.*DataParallel"):
        backends.load("jax", device="cpu", data_parallel=64)


def test_a_worker_that_fails_leaves_the_model_as_it_was_and_names_the_cause(data):
    x, y, _ = data

    def fit(model):
        model.fit(x, y, epochs=2, verbose=0, distribute=TWO)

    message = failure_of(classifier(RefusesToLoadInAWorker()), fit, WORKER, within_s=120)
    assert "DataParallel('jax', nproc=2)" in message
    assert "RuntimeError: this layer cannot be rebuilt in a worker" in message


def test_a_worker_that_hangs_is_stopped_at_the_timeout_and_named(data):
    x, y, _ = data
    distribute = DataParallel("jax", nproc=2, timeout=15)

    def fit(model):
        model.fit(x, y, epochs=2, verbose=0, distribute=distribute)

    message = failure_of(classifier(HangsInAWorker()), fit, WORKER, within_s=15 + 10)
    assert re.search(r"nproc=2\).*timeout: the run did not finish within 15 s", message)
