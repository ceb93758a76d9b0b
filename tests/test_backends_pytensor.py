"""The pytensor backend (symbolic graphs, compiled once) against the hand-written one.

The whole-model checks (an MLP and a CNN from the same weights: predictions,
loss, gradients, and weights after two epochs of SGD) run for every backend
in tests/test_backend_matrix.py; this file covers what is particular to it.

Tolerances as for the torch backend (tests/test_backends_torch.py): float64
predictions, losses and gradients within 1e-6 relative (in practice ~1e-14),
weights after two epochs within 1e-8, float32 predictions within 1e-4.

The graphs are compiled in the backend's default mode, FAST_COMPILE, which
needs no compiler: a fresh machine runs this file in seconds. To run it in
another mode (Numba's first compilations take minutes on a cold cache):
``DLCOURSE_TEST_PYTENSOR_MODE=NUMBA pytest tests/test_backends_pytensor.py``.
"""

import importlib.util
import os

import numpy as np
import pytest

import dlcourse
from backend_cases import (
    LOSS_CASES,
    batch,
    build,
    loss_case,
    op_cases,
    rel_error,
    weights_after_two_epochs,
)
from dlcourse import backends, ops
from dlcourse.nn import (
    SGD,
    Adam,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    MaxPool2D,
    RMSprop,
    Sequential,
    SparseCategoricalCrossentropy,
)

pytensor = pytest.importorskip("pytensor", reason="the pytensor backend needs PyTensor")

MODE = os.environ.get("DLCOURSE_TEST_PYTENSOR_MODE", "FAST_COMPILE")
RTOL = 1e-6


def on_pytensor(architecture, dtype="float64"):
    return build("pytensor", architecture, dtype, mode=MODE)


@pytest.fixture(scope="module")
def backend():
    return backends.load("pytensor", mode=MODE)


# ------------------------------------------------------------------- the registry
def test_a_missing_pytensor_names_the_pip_extra(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "pytensor" else real(name, *a)
    )
    assert "pytensor" not in backends.available()
    with pytest.raises(ImportError, match=r'pip install "dlcourse\[pytensor\]"'):
        dlcourse.set_backend("pytensor")


# ---------------------------------------------------------------------------- ops
def _shared(value):
    """A symbolic input holding ``value``: ops on it build a graph instead of computing."""
    value = np.asarray(value)
    return pytensor.shared(value, shape=value.shape)


@pytest.mark.parametrize("converter", ["arrays", "graph"])
@pytest.mark.parametrize("op", sorted(op_cases(np.random.default_rng(0))))
def test_each_op_gives_the_same_numbers_as_manual(op, converter, backend):
    case = op_cases(np.random.default_rng(0))[op]
    with dlcourse.backend("manual"):
        expected = backends.current().to_numpy(case(ops.convert_to_tensor))
    case = op_cases(np.random.default_rng(0))[op]
    with backends.running(backend):
        if converter == "arrays":  # each op compiled for its inputs and run at once
            out = case(ops.convert_to_tensor)
            assert isinstance(out, (np.ndarray, np.generic))  # concrete values
        else:  # ops on symbols build one graph, evaluated at the end
            out = case(_shared)
            assert isinstance(out, pytensor.graph.basic.Variable)
        got = backend.to_numpy(out)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("loss, target_kind, pred_kind", LOSS_CASES, ids=repr)
def test_hand_written_loss_gradients_match_pytensor_grad(loss, target_kind, pred_kind, backend):
    targets, pred = loss_case(target_kind, pred_kind)
    value, grad = loss.value_and_grad(targets, pred)
    pred_var = pytensor.tensor.matrix("pred", dtype="float64")
    with backends.running(backend):
        value_var = loss(targets, pred_var)
    compute = pytensor.function(
        [pred_var], [value_var, pytensor.grad(value_var, pred_var)], mode=MODE
    )
    value_p, grad_p = compute(pred)
    assert rel_error(value, value_p) < 1e-12
    assert rel_error(grad, grad_p) < 1e-10


# ------------------------------------------------------------------ whole models


@pytest.mark.parametrize(
    "optimizer", [Adam(learning_rate=0.01), RMSprop(learning_rate=0.01)], ids=repr
)
def test_adaptive_optimizers_take_the_same_steps(optimizer):
    reference = weights_after_two_epochs(build("manual", "mlp"), optimizer)
    ours = weights_after_two_epochs(on_pytensor("mlp"), optimizer)
    for w_ours, w_reference in zip(ours, reference):
        assert rel_error(w_ours, w_reference) < 1e-8


def test_the_train_step_is_compiled_once_and_reads_the_learning_rate(backend):
    model = on_pytensor("mlp")
    x, y = batch("mlp", n=32, seed=5)
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    train = model.train_step().__self__
    assert len(train.compiled) == 1
    assert {v.name for v in train.shared} >= {"param0", "param1"}  # weights are shared variables
    before = model.get_weights()
    model.optimizer.learning_rate = 1e-12  # a schedule's change reaches the compiled step
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    assert len(train.compiled) == 1  # the same function: no recompilation
    assert max(rel_error(w, w0) for w, w0 in zip(model.get_weights(), before)) < 1e-9


def test_weights_set_between_fits_reach_the_compiled_step():
    x, y = batch("cnn", n=16, seed=6)
    weights = []
    for model in (build("manual", "cnn"), on_pytensor("cnn")):
        start = model.get_weights()
        model.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
        model.set_weights(start)  # back to the start, from outside the compiled step
        model.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
        weights.append(model.get_weights())
    for wm, wp in zip(*weights):
        assert rel_error(wp, wm) < 1e-8


def test_a_non_finite_loss_leaves_the_weights_alone(backend):
    model = on_pytensor("mlp")
    x, y = batch("mlp")
    x[3, 0] = np.nan
    before = model.get_weights()
    with backends.running(backend):
        value, _ = model.train_step()(backend.asarray(x, "float64"), backend.asarray(y))
    assert not np.isfinite(value)
    for w, w0 in zip(model.get_weights(), before):
        np.testing.assert_array_equal(w, w0)


def test_float32_stays_float32():
    model, reference = on_pytensor("cnn", "float32"), build("manual", "cnn", "float32")
    x, y = batch("cnn")
    out = model.predict(x)
    assert out.dtype == np.float32
    assert rel_error(out, reference.predict(x)) < 1e-4
    for m in (model, reference):
        m.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    assert all(w.dtype == np.float32 for w in model.weights)
    for w, w_ref in zip(model.get_weights(), reference.get_weights()):
        assert rel_error(w, w_ref) < 1e-4


def test_dropout_draws_from_a_random_stream():
    with dlcourse.backend("pytensor", mode=MODE):
        model = Sequential([Dropout(0.5)], seed=0, input_shape=(1000,))
    x = np.ones((4, 1000), dtype=np.float32)
    np.testing.assert_array_equal(model.predict(x), x)
    first, second = (np.asarray(model(x, training=True)) for _ in range(2))
    for out in (first, second):
        assert set(np.unique(out)) <= {0.0, 2.0}
        assert 0.4 < np.mean(out == 0.0) < 0.6
    assert not np.array_equal(first, second)  # the generator moved on


def test_dropout_in_the_compiled_step_draws_new_masks_each_step():
    with dlcourse.backend("pytensor", mode=MODE):
        model = Sequential(
            [Dense(16, activation="relu"), Dropout(0.5), Dense(5)], seed=2, dtype="float64"
        )
    model.compile(optimizer=SGD(0.1), loss=SparseCategoricalCrossentropy(from_logits=True))
    x, y = batch("mlp", n=16)
    losses = [model.loss_and_gradients(x, y)[0] for _ in range(2)]
    assert losses[0] != losses[1]  # different masks
    without_dropout = model.loss_and_gradients(x, y, training=False)[0]
    assert without_dropout == pytest.approx(model.evaluate(x, y, batch_size=16), rel=1e-12)
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert np.isfinite(model.evaluate(x, y))


def test_training_on_digits_learns():
    from dlcourse.data import load_digits

    digits = load_digits(flat=False)
    with dlcourse.backend("pytensor", mode=MODE):
        model = Sequential(
            [
                Conv2D(8, 3, padding="same", activation="relu"),
                MaxPool2D(2),
                Flatten(),
                Dense(10),
            ],
            seed=0,
        )
    model.compile(
        optimizer=Adam(0.01),
        loss=SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(digits.x_train, digits.y_train, epochs=4, batch_size=32, verbose=0)
    loss, accuracy = model.evaluate(digits.x_test, digits.y_test)
    assert accuracy > 0.9, (loss, accuracy)
