"""``model.fit(..., distribute=DataParallel("tensorflow", nproc=2))``: a real MirroredStrategy.

Each test compares the 2-replica run (a fresh process, the CPU split into 2
logical devices) with plain one-process ``fit`` of a twin model (same seed,
tensorflow backend, float64) on the same batches: the weights and the
History must agree to 1e-10; only the order of additions differs. Batches
that do not split evenly over the replicas, and a last batch of one row
(one replica gets no rows), are part of the comparisons.
"""

import os
import re
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip(
    "tensorflow", reason="DataParallel('tensorflow') needs TensorFlow (pip install tensorflow)"
)

import engine_cases  # noqa: E402
from distributed_helpers import processes_mentioning  # noqa: E402
from dlcourse import backends  # noqa: E402
from dlcourse.distributed import DataParallel  # noqa: E402
from dlcourse.nn.callbacks import (  # noqa: E402
    Callback,
    EarlyStopping,
    LearningRateScheduler,
    ModelCheckpoint,
)
from dlcourse.nn.saving import load_model  # noqa: E402
from engine_cases import assert_same_history, largest_difference, uneven_batches  # noqa: E402
from worker_faults import HangsInAWorker, RefusesToLoadInAWorker, failure_of  # noqa: E402

TWO = DataParallel("tensorflow", nproc=2)
WORKER = "dlcourse.distributed.tensorflow_fit_worker"


def classifier(*extra, seed=3):
    return engine_cases.classifier("tensorflow", *extra, seed=seed, device="cpu")


def two_inputs():
    return engine_cases.two_inputs("tensorflow", device="cpu")


@pytest.fixture(scope="module")
def data():
    return uneven_batches()


def test_two_replicas_train_a_sequential_model_as_one_process_does(data):
    x, y, _ = data
    distributed, single = classifier(), classifier()
    before = distributed.get_weights()
    history = distributed.fit(x, y, epochs=2, batch_size=32, verbose=0, distribute=TWO)
    expected = single.fit(x, y, epochs=2, batch_size=32, verbose=0)
    difference = largest_difference(distributed, single)
    print(f"Sequential, 2 replicas vs one process: max |difference| {difference:.3g}")
    assert difference < 1e-10
    assert max(np.abs(w - w0).max() for w, w0 in zip(distributed.get_weights(), before)) > 1e-3
    assert distributed.history is history and history.epoch == [0, 1]
    assert_same_history(history, expected)  # loss and accuracy
    # the caller's shuffling generator moved on as one-process fit moves it
    assert distributed.shuffle_rng.integers(1 << 30) == single.shuffle_rng.integers(1 << 30)


def test_two_replicas_train_a_two_input_functional_model_as_one_process_does(capsys):
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((40, 5)), rng.standard_normal((40, 3))
    y = rng.standard_normal((40, 2))
    distributed, single = two_inputs(), two_inputs()
    # batches of 13, 13, 13 and 1 rows, in the given order: 13 splits 7 + 6, and in
    # the last batch the second replica has no rows at all
    history = distributed.fit(
        (a, b), y, epochs=2, batch_size=13, shuffle=False, verbose=2, distribute=TWO,
    )  # fmt: skip
    printed = capsys.readouterr().out
    expected = single.fit((a, b), y, epochs=2, batch_size=13, shuffle=False, verbose=2)
    assert printed == capsys.readouterr().out  # the epoch lines, printed here, as one process
    assert printed.count("Epoch") == 2
    difference = largest_difference(distributed, single)
    print(f"Functional, 2 replicas vs one process: max |difference| {difference:.3g}")
    assert difference < 1e-10
    assert_same_history(history, expected)


def test_validation_gives_the_val_numbers_of_one_process(data, capsys):
    x, y, validation = data
    distributed, single = classifier(), classifier()
    got = distributed.fit(x, y, epochs=2, batch_size=8, validation_data=validation, distribute=TWO)
    bar = capsys.readouterr().err
    expected = single.fit(x, y, epochs=2, batch_size=8, validation_data=validation, verbose=0)
    assert "val_loss" in got.history and "val_accuracy" in got.history
    assert_same_history(got, expected)
    assert largest_difference(distributed, single) < 1e-10
    assert "Epoch 1/2" in bar and "Epoch 2/2" in bar and bar.count("12/12") >= 2
    # validation_split: the last rows held out, as in one process
    distributed, single = classifier(), classifier()
    got = distributed.fit(x, y, epochs=1, validation_split=0.2, verbose=0, distribute=TWO)
    expected = single.fit(x, y, epochs=1, validation_split=0.2, verbose=0)
    assert "val_loss" in got.history
    assert_same_history(got, expected)


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


def test_checkpoints_and_a_schedule_run_here_on_each_epochs_weights(data, tmp_path):
    x, y, validation = data
    runs = []
    for name, distribute in (("two", TWO), ("one", None)):
        (tmp_path / name).mkdir()
        checkpoint = ModelCheckpoint(tmp_path / name / "ckpt-{epoch}.npz", monitor="val_loss")
        schedule = LearningRateScheduler(lambda epoch, lr: 0.05 / (1 + epoch))
        history = classifier().fit(
            x, y, epochs=3, batch_size=16, validation_data=validation, verbose=0,
            callbacks=[schedule, checkpoint], distribute=distribute,
        )  # fmt: skip
        runs.append((checkpoint, history))
    (checkpoint, history), (twin_checkpoint, expected) = runs
    assert_same_history(history, expected)  # learning_rate too: the replicas took the new rate
    np.testing.assert_allclose(history.history["learning_rate"], [0.05, 0.025, 0.05 / 3])
    assert len(checkpoint.saved) == len(twin_checkpoint.saved) == 3  # written once, here
    for path, twin_path in zip(checkpoint.saved, twin_checkpoint.saved, strict=True):
        assert largest_difference(load_model(path), load_model(twin_path)) < 1e-10


SPLIT_STEP = """
import numpy as np
import tensorflow as tf
import dlcourse
from dlcourse.nn import Dense, Layer, Sequential
from dlcourse.nn.optimizers import SGD

class TimesRowsSeen(Layer):
    def call(self, x, training=False):  # x times the number of rows this call sees
        return x * tf.cast(tf.shape(x)[0], x.dtype)

with dlcourse.backend("tensorflow", device="cpu", data_parallel=2):
    model = Sequential([Dense(3), TimesRowsSeen()], seed=0, dtype="float64", input_shape=(4,))
model.compile(optimizer=SGD(1e-12), loss="mse")  # the weights hardly move
strategy = model.backend.strategy
x = np.random.default_rng(0).standard_normal((7, 4))
_, y_pred = model.train_step()(model.backend.asarray(x), model.backend.asarray(np.zeros((7, 3))))
whole = model.predict(x) / 7  # one call on all 7 rows: the Dense output
print(model.backend.describe())
print([d.rsplit("/", 1)[-1] for d in strategy.extended.worker_devices])
print(np.round(y_pred.numpy() / whole, 6)[:, 0].tolist())
copies = [strategy.experimental_local_results(w) for w in model.trainable_weights]
print(sorted({len(c) for c in copies}), all(np.array_equal(a, b) for a, b in copies),
      all(a.device != b.device for a, b in copies))
"""


def test_the_step_splits_the_batch_over_two_replicas_with_a_copy_of_each_weight():
    """What the engine's process does: two logical CPU devices, each with its own copies."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, "-c", SPLIT_STEP], capture_output=True, text=True, env=env, timeout=180
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.splitlines() == [
        "tensorflow (cpu, data parallel over 2 devices)",
        "['device:CPU:0', 'device:CPU:1']",
        "[4.0, 4.0, 4.0, 4.0, 3.0, 3.0, 3.0]",  # replica 0 saw rows 0-3, replica 1 rows 4-6
        "[2] True True",  # every weight: 2 equal copies, on different devices
    ]


def test_bad_arguments_are_refused_with_the_fix(data):
    with pytest.raises(ValueError, match=r"threads is for the torch engine.*Leave threads unset"):
        DataParallel("tensorflow", nproc=2, threads=1)
    with pytest.raises(ValueError, match=r"nproc must be a positive int, got 0"):
        DataParallel("tensorflow", nproc=0)
    with pytest.raises(ValueError, match=r"engine 'mxnet' is not available yet.*'tensorflow'"):
        DataParallel("mxnet")
    classifier()  # TensorFlow has started here, with one CPU device
    with pytest.raises(ValueError, match=r"started with 1 CPU device.*DataParallel\(\"tensorflow"):
        backends.load("tensorflow", device="cpu", data_parallel=64)


def test_a_worker_that_fails_leaves_the_model_as_it_was_and_names_the_cause(data):
    x, y, _ = data

    def fit(model):
        model.fit(x, y, epochs=2, verbose=0, distribute=TWO)

    message = failure_of(classifier(RefusesToLoadInAWorker()), fit, WORKER, within_s=120)
    assert "DataParallel('tensorflow', nproc=2)" in message
    assert "RuntimeError: this layer cannot be rebuilt in a worker" in message


def test_a_worker_that_hangs_is_stopped_at_the_timeout_and_named(data):
    x, y, _ = data
    distribute = DataParallel("tensorflow", nproc=2, timeout=20)

    def fit(model):
        model.fit(x, y, epochs=2, verbose=0, distribute=distribute)

    message = failure_of(classifier(HangsInAWorker()), fit, WORKER, within_s=20 + 10)
    assert re.search(r"nproc=2\).*timeout: the run did not finish within 20 s", message)


def test_two_worker_processes_on_a_loopback_cluster_train_as_one_process_does(data):
    """``workers="processes"``: MultiWorkerMirroredStrategy, TF_CONFIG on 127.0.0.1."""
    x, y, validation = data
    runs = []
    for distribute in (DataParallel("tensorflow", nproc=2, workers="processes"), None):
        model, recorder = classifier(), Recorder()  # an epoch callback: each epoch handed over
        history = model.fit(
            x, y, epochs=2, batch_size=32, validation_data=validation, verbose=0,
            callbacks=[recorder], distribute=distribute,
        )  # fmt: skip
        runs.append((model, recorder, history))
    (model, recorder, history), (twin, twin_recorder, expected) = runs
    difference = largest_difference(model, twin)
    print(f"2 worker processes vs one process: max |difference| {difference:.3g}")
    assert difference < 1e-10
    assert_same_history(history, expected)
    assert recorder.calls == twin_recorder.calls
    assert processes_mentioning(WORKER) == []


def test_workers_is_an_option_of_the_tensorflow_engine_only():
    with pytest.raises(ValueError, match=r"workers='processes' is not an option here.*unset"):
        DataParallel("torch", nproc=2, workers="processes")
    with pytest.raises(ValueError, match=r"workers='threads' is not an option here"):
        DataParallel("tensorflow", nproc=2, workers="threads")
    assert "workers='processes'" in repr(DataParallel("tensorflow", workers="processes"))
