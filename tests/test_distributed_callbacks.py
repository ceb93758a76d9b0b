"""Validation and callbacks of ``DataParallel.fit`` on 2 real processes, against one process.

A twin model (same seed, torch, float64) trains in one process with the
same arguments; the History, the callbacks' findings and the weights must
agree to 1e-10 (only the order of additions differs). The callbacks run once,
in this process, so what they record is compared call for call.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="DataParallel('torch') needs PyTorch")
if not torch.distributed.is_available() or not torch.distributed.is_gloo_available():
    pytest.skip("needs torch.distributed with the gloo backend", allow_module_level=True)

import dlcourse  # noqa: E402
from distributed_helpers import processes_mentioning  # noqa: E402
from dlcourse.distributed import DataParallel  # noqa: E402
from dlcourse.nn import Dense, Sequential, load_model  # noqa: E402
from dlcourse.nn.callbacks import (  # noqa: E402
    Callback,
    EarlyStopping,
    LearningRateScheduler,
    ModelCheckpoint,
)
from dlcourse.nn.losses import SparseCategoricalCrossentropy  # noqa: E402
from dlcourse.nn.optimizers import Adam  # noqa: E402
from engine_cases import assert_same_history  # noqa: E402

TWO = DataParallel("torch", nproc=2)


def classifier():
    with dlcourse.backend("torch"):
        model = Sequential(
            [Dense(16, activation="tanh"), Dense(3)], seed=1, dtype="float64", input_shape=(4,)
        )
    model.compile(
        optimizer=Adam(0.05),
        loss=SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((40, 4)), rng.integers(0, 3, 40)
    # 21 validation rows: the ranks score 11 and 10
    return x, y, (rng.standard_normal((21, 4)), rng.integers(0, 3, 21))


def assert_same_weights(a, b):
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_allclose(wa, wb, rtol=0, atol=1e-10)


class Recorder(Callback):
    """Every epoch hook this process saw, with the logs and the model's weights then."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def on_epoch_begin(self, epoch, logs=None):
        self.calls.append(("begin", epoch, None, None))

    def on_epoch_end(self, epoch, logs=None):
        self.calls.append(("end", epoch, dict(logs), self.model.get_weights()))


def test_validation_data_gives_the_val_numbers_of_one_process_and_rank_0_progress(data, capsys):
    x, y, validation = data
    distributed, single = classifier(), classifier()
    got = distributed.fit(x, y, epochs=2, batch_size=8, validation_data=validation, distribute=TWO)
    bar = capsys.readouterr().err
    expected = single.fit(x, y, epochs=2, batch_size=8, validation_data=validation, verbose=0)
    assert "val_loss" in got.history and "val_accuracy" in got.history
    assert_same_history(got, expected)
    assert_same_weights(distributed, single)
    # verbose=1: one bar per epoch, drawn here from rank 0's count of its batches
    assert "Epoch 1/2" in bar and "Epoch 2/2" in bar and bar.count("5/5") >= 2


def test_validation_split_takes_the_same_last_rows_as_one_process(data):
    x, y, _ = data
    distributed, single = classifier(), classifier()
    got = distributed.fit(
        x, y, epochs=2, batch_size=8, validation_split=0.25, verbose=0, distribute=TWO
    )
    expected = single.fit(x, y, epochs=2, batch_size=8, validation_split=0.25, verbose=0)
    assert_same_history(got, expected)
    assert_same_weights(distributed, single)
    assert distributed.shuffle_rng.integers(1 << 30) == single.shuffle_rng.integers(1 << 30)


def test_early_stopping_stops_every_rank_at_the_epoch_of_one_process_and_restores_the_best(data):
    x, y, validation = data
    runs = []
    for distribute in (TWO, None):
        model, recorder = classifier(), Recorder()
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
    assert_same_weights(model, twin)  # the best epoch's weights, on both
    # the shuffling generator moved one draw per epoch run, not one per epoch asked for
    assert model.shuffle_rng.integers(1 << 30) == twin.shuffle_rng.integers(1 << 30)
    assert [c[:2] for c in recorder.calls] == [c[:2] for c in twin_recorder.calls]


def test_checkpoints_schedules_and_own_callbacks_run_once_here_on_each_epochs_weights(
    data, tmp_path
):
    x, y, validation = data
    runs = []
    for name, distribute in (("two", TWO), ("one", None)):
        (tmp_path / name).mkdir()
        checkpoint = ModelCheckpoint(tmp_path / name / "ckpt-{epoch}.npz", monitor="val_loss")
        recorder = Recorder()
        schedule = LearningRateScheduler(lambda epoch, lr: 0.05 / (1 + epoch))
        history = classifier().fit(
            x, y, epochs=3, batch_size=8, validation_data=validation, verbose=0,
            callbacks=[schedule, checkpoint, recorder], distribute=distribute,
        )  # fmt: skip
        runs.append((checkpoint, recorder, history))
    (checkpoint, recorder, history), (twin_checkpoint, twin_recorder, expected) = runs
    assert_same_history(history, expected)  # learning_rate too: every rank took the new rate
    np.testing.assert_allclose(history.history["learning_rate"], [0.05, 0.025, 0.05 / 3])
    # one file per epoch, written once, here: the weights of that epoch
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == [
        "ckpt-1.npz", "ckpt-2.npz", "ckpt-3.npz",
    ]  # fmt: skip
    assert len(checkpoint.saved) == len(twin_checkpoint.saved) == 3
    for path, twin_path in zip(checkpoint.saved, twin_checkpoint.saved, strict=True):
        assert_same_weights(load_model(path), load_model(twin_path))
    assert len(recorder.calls) == len(twin_recorder.calls) == 6  # each hook once per epoch
    for call, twin_call in zip(recorder.calls, twin_recorder.calls, strict=True):
        assert call[:2] == twin_call[:2]
        if call[0] == "end":
            assert call[2].keys() == twin_call[2].keys()
            for a, b in zip(call[3], twin_call[3], strict=True):
                np.testing.assert_allclose(a, b, rtol=0, atol=1e-10)


class StopsTheRunAtEpoch1(Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 1:
            raise RuntimeError("the callback gave up")


def test_a_callback_that_raises_stops_every_rank_and_the_model_keeps_its_weights(data):
    x, y, validation = data
    model = classifier()
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(RuntimeError, match="the callback gave up"):
        model.fit(x, y, epochs=5, verbose=0, callbacks=[StopsTheRunAtEpoch1()], distribute=TWO)
    for w, w0 in zip(model.get_weights(), before, strict=True):
        np.testing.assert_array_equal(w, w0)  # not epoch 1's, which the callback had seen
    assert processes_mentioning("dlcourse.distributed.fit_worker") == []


class CountsBatches(Callback):
    def on_train_batch_end(self, batch, logs=None):
        pass


def test_callbacks_that_cannot_run_across_processes_are_refused_with_the_reason(data):
    x, y, _ = data
    with pytest.raises(ValueError, match=r"callback CountsBatches acts at every batch \(on_train_"):
        classifier().fit(x, y, callbacks=[CountsBatches()], distribute=TWO)
    with pytest.raises(TypeError, match=r"callbacks: dict is not a dlcourse.nn.callbacks.Callback"):
        classifier().fit(x, y, callbacks=[{}], distribute=TWO)
