"""The tensorflow backend against the hand-written one: same ops, same model, same numbers.

The whole-model checks (an MLP and a CNN from the same weights: predictions,
loss, gradients, and weights after two epochs of SGD) run for every backend
in tests/test_backend_matrix.py; this file covers what is particular to it.

Tolerances (as in tests/test_backends_torch.py, whose cases and models are reused):
- float64 ops: 1e-12 (TensorFlow computes float64 as float64; only the order of
  sums differs);
- float64 predictions, losses and gradients from the same weights: 1e-6 relative
  (the issue's figure; they agree to ~1e-14);
- float64 weights after two epochs of SGD with momentum (or Adam, RMSprop): 1e-8
  relative to the largest weight;
- float32 predictions: 1e-4 relative.
"""

import numpy as np
import pytest

import dlcourse
from dlcourse import backends, ops
from dlcourse.data import load_digits
from dlcourse.nn import (
    SGD,
    Adam,
    BatchNorm,
    Dense,
    Dropout,
    Layer,
    LearningRateScheduler,
    NonFiniteLossError,
    RMSprop,
    Sequential,
    SparseCategoricalCrossentropy,
)

tf = pytest.importorskip(
    "tensorflow",
    reason="the tensorflow backend needs TensorFlow (pip install 'dlcourse[tensorflow]')",
)

from backend_cases import (  # noqa: E402
    LOSS_CASES,
    batch,
    build,
    loss_case,
    op_cases,
    rel_error,
    weights_after_two_epochs,
)

RTOL = 1e-6


@pytest.fixture(scope="module")
def digits():
    return load_digits(seed=0)


# ----------------------------------------------------------------------------- ops
@pytest.mark.parametrize("op", sorted(op_cases(np.random.default_rng(0))))
def test_each_op_gives_the_same_numbers(op):
    results = {}
    for name in ("manual", "tensorflow"):
        case = op_cases(np.random.default_rng(0))[op]
        with dlcourse.backend(name):
            results[name] = backends.current().to_numpy(case(ops.convert_to_tensor))
    assert results["tensorflow"].shape == results["manual"].shape
    np.testing.assert_allclose(results["tensorflow"], results["manual"], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("loss, target_kind, pred_kind", LOSS_CASES, ids=repr)
def test_hand_written_loss_gradients_match_gradient_tape(loss, target_kind, pred_kind):
    targets, pred = loss_case(target_kind, pred_kind)

    value, grad = loss.value_and_grad(targets, pred)
    with dlcourse.backend("tensorflow"):
        backend = backends.current()
        pred_t = tf.Variable(pred)
        with backends.running(backend), tf.GradientTape() as tape:
            value_t = loss(backend.asarray(targets), pred_t)
    grad_t = tape.gradient(value_t, pred_t)
    assert rel_error(value, float(value_t)) < 1e-12
    assert rel_error(grad, grad_t.numpy()) < 1e-10


# ------------------------------------------------------------------- whole models


@pytest.mark.parametrize(
    "optimizer",
    [
        Adam(learning_rate=0.01),
        RMSprop(learning_rate=0.01),
        SGD(learning_rate=0.05, momentum=0.9, nesterov=True, weight_decay=0.01),
    ],
    ids=repr,
)
def test_every_update_rule_takes_the_same_steps(optimizer):
    reference = weights_after_two_epochs(build("manual", "mlp"), optimizer)
    ours = weights_after_two_epochs(build("tensorflow", "mlp"), optimizer)
    for w_ours, w_reference in zip(ours, reference):
        assert rel_error(w_ours, w_reference) < 1e-8


class CountTracing(Layer):
    """Passes x through; counts how often its Python code runs in training mode.

    Inside a tf.function, Python runs only while TensorFlow traces the function
    into a graph, so this counts traces.
    """

    traced = 0

    def call(self, x, training=False):
        if training:
            CountTracing.traced += 1
        return x


def _train_on_both(layers, epochs, callbacks=()):
    """Weights after fitting the same model on manual and tensorflow, and TF's traces."""
    x, y = batch("mlp", n=40, seed=5)  # batches of 16, 16 and the last one of 8
    weights = []
    for name in ("manual", "tensorflow"):
        with dlcourse.backend(name):
            model = Sequential(layers(), seed=1, dtype="float64")
        model.compile(SGD(learning_rate=0.1), SparseCategoricalCrossentropy(from_logits=True))
        CountTracing.traced = 0
        model.fit(x, y, epochs=epochs, batch_size=16, callbacks=list(callbacks), verbose=0)
        weights.append(model.get_weights())
    return weights, CountTracing.traced


def test_one_trace_serves_every_batch_size_and_learning_rate():
    schedule = LearningRateScheduler(lambda epoch, lr: 0.1 / (epoch + 1))

    def layers():
        return [CountTracing(), Dense(8, activation="relu"), Dense(5)]

    (manual, tensorflow), traced = _train_on_both(layers, 3, [schedule])
    assert traced == 1  # not one per batch size, not one per learning rate
    for wm, wt in zip(manual, tensorflow):
        assert rel_error(wt, wm) < 1e-8  # so the new rate was read at every step


def test_batch_norm_needs_a_trace_per_batch_size_and_still_agrees():
    def layers():
        # no bias before batch norm: it would get a zero gradient, and only rounding noise
        return [CountTracing(), Dense(8, use_bias=False), BatchNorm(), Dense(5)]

    (manual, tensorflow), traced = _train_on_both(layers, 2)
    # one attempt with an open batch axis (batch norm needs it as a number), then
    # one trace for batches of 16 and one for the last batch of 8
    assert traced == 3
    for wm, wt in zip(manual, tensorflow):
        assert rel_error(wt, wm) < 1e-8


def test_float32_models_agree_to_float32_precision():
    manual, model = build("manual", "cnn", "float32"), build("tensorflow", "cnn", "float32")
    assert all(w.dtype == tf.float32 for w in model.trainable_weights)
    x, _ = batch("cnn")
    out = model.predict(x)
    assert out.dtype == np.float32
    assert rel_error(out, manual.predict(x)) < 1e-4


def test_a_nonfinite_loss_leaves_the_weights_as_they_were():
    x, y = batch("mlp", n=16)
    x[3, 0] = np.nan
    model = build("tensorflow", "mlp")
    before = model.get_weights()
    with pytest.raises(NonFiniteLossError, match="NaN"):
        model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)


def test_dropout_in_training_only_and_new_masks_each_call():
    with dlcourse.backend("tensorflow"):
        model = Sequential([Dropout(0.5)], seed=0, input_shape=(1000,))
    x = np.ones((4, 1000), dtype=np.float32)
    np.testing.assert_array_equal(model.predict(x), x)
    first = model(x, training=True).numpy()
    second = model(x, training=True).numpy()
    for out in (first, second):
        assert set(np.unique(out)) <= {0.0, 2.0}
        assert 0.4 < np.mean(out == 0.0) < 0.6
    assert np.any(first != second)  # the generator moved on


def test_dropout_masks_repeat_with_the_seed_in_fit():
    x, y = batch("mlp", n=32, seed=7)
    runs = []
    for seed in (0, 0, 1):
        with dlcourse.backend("tensorflow"):
            layers = [Dense(16, activation="relu"), Dropout(0.5), Dense(5)]
            model = Sequential(layers, seed=seed, input_shape=(12,))
        model.compile(SGD(0.1), SparseCategoricalCrossentropy(from_logits=True))
        runs.append(model.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0))
    losses = [run.history["loss"] for run in runs]
    assert losses[0] == losses[1]  # the same seed, the same masks
    assert losses[0] != losses[2]


def test_batch_norm_learns_its_statistics_in_fit_and_uses_them_in_predict():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((64, 3)) * [1.0, 5.0, 0.2] + [2.0, -1.0, 0.5]
    with dlcourse.backend("tensorflow"):
        model = Sequential([BatchNorm(momentum=0.5)], seed=0, dtype="float64")
    model.compile(SGD(1e-9), "mse")  # a tiny step: gamma and beta stay put
    model.fit(x, np.zeros_like(x), epochs=20, batch_size=64, verbose=0)
    _, _, moving_mean, moving_var = model.get_weights()
    np.testing.assert_allclose(moving_mean, x.mean(0), rtol=1e-4)
    np.testing.assert_allclose(moving_var, x.var(0, ddof=1), rtol=1e-4)
    out = model.predict(x)
    np.testing.assert_allclose(out.mean(0), 0, atol=1e-4)
    np.testing.assert_allclose(out.std(0, ddof=1), 1, rtol=1e-3)


def test_an_eager_training_call_before_fit_is_kept():
    # model(x, training=True) outside fit leaves batch norm's statistics as plain
    # tensors on the layer; fit must carry on from them, as manual does
    x, y = batch("mlp", n=16, seed=3)
    weights = []
    for name in ("manual", "tensorflow"):
        with dlcourse.backend(name):
            layers = [Dense(6, use_bias=False), BatchNorm(), Dense(5)]
            model = Sequential(layers, seed=2, dtype="float64")
        model.compile(SGD(0.1), SparseCategoricalCrossentropy(from_logits=True))
        model.fit(x, y, epochs=1, batch_size=16, verbose=0)  # the step exists now
        model(x, training=True)
        model.fit(x, y, epochs=1, batch_size=16, verbose=0)
        weights.append(model.get_weights())
    for wm, wt in zip(*weights):
        assert rel_error(wt, wm) < 1e-8


def test_learns_the_digits(digits):
    with dlcourse.backend("tensorflow"):
        model = Sequential([Dense(32, activation="relu"), Dense(10)], seed=0)
    model.compile(
        Adam(learning_rate=0.01), SparseCategoricalCrossentropy(from_logits=True), ["accuracy"]
    )
    history = model.fit(digits.x_train, digits.y_train, epochs=8, batch_size=64, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    loss, accuracy = model.evaluate(digits.x_test, digits.y_test)
    assert accuracy > 0.92
    predicted = model.predict(digits.x_test).argmax(1)
    assert np.mean(predicted == digits.y_test) == pytest.approx(accuracy)


def test_devices_that_are_not_there_are_refused():
    with pytest.raises(ValueError, match="use 'cpu', 'gpu'"):
        backends.load("tensorflow", device="tpu")
    if not tf.config.list_physical_devices("GPU"):
        with pytest.raises(ValueError, match="TensorFlow sees no GPU"):
            backends.load("tensorflow", device="gpu")
    model = build("tensorflow", "mlp", device="cpu")
    assert "CPU" in model.trainable_weights[0].device
    x, y = batch("mlp")
    model.fit(x, y, epochs=1, batch_size=20, verbose=0)
    assert rel_error(model.predict(x), build("manual", "mlp").predict(x)) > 0  # it trained


@pytest.mark.cuda
def test_gpu_matches_the_cpu():
    if not tf.config.list_physical_devices("GPU"):
        pytest.skip("needs a GPU that TensorFlow sees (a CUDA build of TensorFlow); it sees none")
    x, y = batch("cnn")
    reference = build("manual", "cnn")
    model = build("tensorflow", "cnn", device="gpu")
    assert "GPU" in model.trainable_weights[0].device
    assert rel_error(model.predict(x), reference.predict(x)) < RTOL
    loss, grads = model.loss_and_gradients(x, y)
    loss_ref, grads_ref = reference.loss_and_gradients(x, y)
    assert abs(loss - loss_ref) <= RTOL * abs(loss_ref)
    for g, g_ref in zip(grads, grads_ref):
        assert rel_error(g, g_ref) < RTOL
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
