"""Callbacks, learning-rate schedules, lr_find and History.plot."""

import numpy as np
import pytest

import dlcourse
from dlcourse.nn import (
    SGD,
    Callback,
    Dense,
    EarlyStopping,
    LearningRateScheduler,
    ModelCheckpoint,
    OneCycle,
    Sequential,
    SparseCategoricalCrossentropy,
    load_model,
    lr_find,
    one_cycle,
)


def use(name):
    if name == "torch":
        pytest.importorskip("torch", reason="the torch backend needs PyTorch")
    return dlcourse.backend(name)


def problem(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 4)).astype(np.float32)
    return x, (x[:, 0] > x[:, 1]).astype(np.int64)


def model_for(backend="manual", lr=0.1):
    with use(backend):
        model = Sequential([Dense(8, activation="relu"), Dense(2)], seed=0)
    model.compile(
        optimizer=SGD(learning_rate=lr),
        loss=SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


class RecordWeights(Callback):
    """Keeps the weights at the end of every epoch."""

    def __init__(self):
        super().__init__()
        self.per_epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.per_epoch.append(self.model.get_weights())


# -------------------------------------------------------------- early stopping
def test_early_stopping_stops_after_patience_epochs_without_improvement():
    x, y = problem()
    stopper = EarlyStopping(monitor="loss", patience=2, min_delta=1e9)  # nothing can improve
    history = model_for().fit(x, y, epochs=20, callbacks=[stopper], verbose=0)
    # epoch 0 improves on "nothing yet"; epochs 1, 2 wait; epoch 3 is one too many
    assert history.epoch == [0, 1, 2, 3]
    assert (stopper.stopped_epoch, stopper.best_epoch) == (3, 0)


def test_early_stopping_runs_on_while_improving():
    x, y = problem()
    stopper = EarlyStopping(monitor="loss", patience=0)
    history = model_for().fit(x, y, epochs=5, callbacks=[stopper], verbose=0)
    assert history.epoch == [0, 1, 2, 3, 4] and stopper.stopped_epoch is None


@pytest.mark.parametrize("backend", ["manual", "torch"])
def test_early_stopping_restores_the_best_weights(backend):
    x, y = problem()
    recorder = RecordWeights()
    # with mode="max" on a falling loss, epoch 0 stays the best
    stopper = EarlyStopping(monitor="loss", mode="max", patience=1, restore_best_weights=True)
    model = model_for(backend)
    model.fit(x, y, epochs=10, callbacks=[recorder, stopper], verbose=0)
    assert len(recorder.per_epoch) == 3
    for got, best in zip(model.get_weights(), recorder.per_epoch[0]):
        np.testing.assert_array_equal(got, best)
    assert any(
        not np.array_equal(a, b) for a, b in zip(recorder.per_epoch[2], recorder.per_epoch[0])
    )


def test_watching_val_loss_without_validation_data_is_explained():
    x, y = problem()
    with pytest.raises(ValueError, match="validation_split=0.2"):
        model_for().fit(x, y, epochs=2, callbacks=[EarlyStopping()], verbose=0)


# ---------------------------------------------------------------- checkpoints
def test_checkpoint_writes_only_the_best(tmp_path):
    x, y = problem()
    recorder = RecordWeights()
    path = tmp_path / "best.npz"
    checkpoint = ModelCheckpoint(path, monitor="loss", mode="max", save_best_only=True)
    model_for().fit(x, y, epochs=4, callbacks=[recorder, checkpoint], verbose=0)
    assert checkpoint.saved == [str(path)]  # the loss only fell: epoch 1 was the "best"
    for got, best in zip(load_model(path).get_weights(), recorder.per_epoch[0]):
        np.testing.assert_array_equal(got, best)


def test_checkpoint_names_files_after_epoch_and_logs(tmp_path):
    x, y = problem()
    pattern = str(tmp_path / "ckpt-{epoch:02d}-{loss:.2f}")
    checkpoint = ModelCheckpoint(pattern, monitor="loss", save_best_only=True)
    history = model_for().fit(x, y, epochs=3, callbacks=[checkpoint], verbose=0)
    losses = history.history["loss"]
    assert losses[0] > losses[1] > losses[2]  # improving every epoch: three files
    expected = [str(tmp_path / f"ckpt-{e + 1:02d}-{loss:.2f}.npz") for e, loss in enumerate(losses)]
    assert checkpoint.saved == expected
    assert all((tmp_path / p).exists() for p in expected)


# ---------------------------------------------------------- learning rates
@pytest.mark.parametrize("backend", ["manual", "torch"])
def test_scheduler_sets_the_rate_that_the_steps_use(backend):
    x, y = problem()
    model = model_for(backend)
    scheduler = LearningRateScheduler(lambda epoch, lr: 0.2 * 0.5**epoch)
    history = model.fit(x, y, epochs=3, callbacks=[scheduler], verbose=0)
    assert history.history["learning_rate"] == [0.2, 0.1, 0.05]
    assert model.optimizer.learning_rate == 0.05
    # the steps read the rate: a rate of (almost) zero leaves the weights where they are
    before = model.get_weights()
    frozen = LearningRateScheduler(lambda epoch, lr: 1e-30)
    model.fit(x, y, epochs=1, callbacks=[frozen], verbose=0)
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-20)


def test_one_cycle_schedule_rises_then_falls():
    schedule = one_cycle(
        max_lr=1.0, total_steps=101, pct_start=0.3, div_factor=10, final_div_factor=100
    )
    lrs = np.array([schedule(s) for s in range(101)])
    peak = int(np.argmax(lrs))
    assert peak == 30 and lrs[peak] == pytest.approx(1.0)
    assert lrs[0] == pytest.approx(0.1) and lrs[-1] == pytest.approx(0.1 / 100)
    assert np.all(np.diff(lrs[: peak + 1]) > 0) and np.all(np.diff(lrs[peak:]) < 0)


def test_one_cycle_callback_drives_the_optimizer_batch_by_batch():
    x, y = problem(n=64)
    cycle = OneCycle(max_lr=0.5)
    model_for().fit(x, y, epochs=3, batch_size=16, callbacks=[cycle], verbose=0)
    assert len(cycle.lrs) == 3 * 4
    assert max(cycle.lrs) == pytest.approx(0.5, rel=0.05)
    assert cycle.lrs[0] == pytest.approx(0.5 / 25)


def test_lr_find_sweeps_rates_and_leaves_the_model_untouched():
    pytest.importorskip("matplotlib", reason="lr_find's plot needs matplotlib")
    from matplotlib.figure import Figure

    x, y = problem(n=256)
    model = model_for()
    model.build((None, 4))
    before = model.get_weights()
    result = lr_find(model, x, y, start_lr=1e-5, end_lr=100.0, num_steps=60)
    assert 10 < len(result.lrs) <= 60
    assert np.all(np.diff(result.lrs) > 0) and result.lrs[0] == pytest.approx(1e-5)
    assert 1e-5 <= result.suggestion <= 100
    # the sweep ends because the loss took off
    assert result.losses[-1] > min(result.losses)
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)
    assert isinstance(result.plot(), Figure)


# ------------------------------------------------------------------ history
def test_history_plot_returns_a_figure_with_a_panel_per_quantity():
    pytest.importorskip("matplotlib", reason="History.plot needs matplotlib")
    from matplotlib.figure import Figure

    x, y = problem()
    history = model_for().fit(x, y, epochs=3, validation_split=0.25, verbose=0)
    figure = history.plot()
    assert isinstance(figure, Figure)
    titles = [ax.get_title() for ax in figure.axes]
    assert titles == ["loss", "accuracy"]
    lines = figure.axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["training", "validation"]
    np.testing.assert_allclose(lines[0].get_ydata(), history.history["loss"])
