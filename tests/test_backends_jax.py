"""The jax backend against the hand-written one: same ops, same model, same numbers.

The whole-model checks (an MLP and a CNN from the same weights: predictions,
loss, gradients, and weights after two epochs of SGD) run for every backend
in tests/test_backend_matrix.py; this file covers what is particular to it.

Tolerances (as in tests/test_backends_torch.py, whose cases and models are reused):
- float64 ops: 1e-12 (with x64 on, XLA computes in float64 like NumPy; only the
  order of sums differs);
- float64 predictions, losses and gradients from the same weights: 1e-6 relative
  (the issue's figure; they agree to ~1e-14);
- float64 weights after two epochs of SGD with momentum (or Adam, RMSprop): 1e-8
  relative to the largest weight;
- float32 predictions: 1e-4 relative.

float64 on JAX needs ``jax_enable_x64``; the backend switches it on the first
time a float64 array is asked for (see dlcourse.backends.jax_backend).
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
    Callback,
    Dense,
    Dropout,
    Layer,
    LearningRateScheduler,
    NonFiniteLossError,
    RMSprop,
    Sequential,
    SparseCategoricalCrossentropy,
    training,
)

jax = pytest.importorskip("jax", reason="the jax backend needs JAX (pip install 'dlcourse[jax]')")

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


@pytest.fixture(scope="module", autouse=True)
def compile_once(tmp_path_factory):
    """Share XLA's compiled programs between this file's models.

    Every model gets its own jitted step, but models of the same architecture
    compile to the same program; JAX's compilation cache (in a temporary folder,
    for this file only) then compiles it once instead of once per model.
    """
    names = (
        "jax_compilation_cache_dir",
        "jax_persistent_cache_min_compile_time_secs",
        "jax_persistent_cache_min_entry_size_bytes",
    )
    saved = {name: getattr(jax.config, name) for name in names}
    jax.config.update(names[0], str(tmp_path_factory.mktemp("xla_cache")))
    jax.config.update(names[1], 0.0)
    jax.config.update(names[2], 0)
    yield
    for name, value in saved.items():
        jax.config.update(name, value)


@pytest.fixture(scope="module", autouse=True)
def restore_x64():
    """float64 models switch JAX's x64 mode on; leave it as the other test files found it."""
    was_on = jax.config.jax_enable_x64
    yield
    jax.config.update("jax_enable_x64", was_on)


@pytest.fixture(scope="module")
def digits():
    return load_digits(seed=0)


# ----------------------------------------------------------------------------- ops
@pytest.mark.parametrize("op", sorted(op_cases(np.random.default_rng(0))))
def test_each_op_gives_the_same_numbers(op):
    results = {}
    for name in ("manual", "jax"):
        case = op_cases(np.random.default_rng(0))[op]
        with dlcourse.backend(name):
            results[name] = backends.current().to_numpy(case(ops.convert_to_tensor))
    assert results["jax"].shape == results["manual"].shape
    if np.issubdtype(results["manual"].dtype, np.floating):
        assert results["jax"].dtype == np.float64  # x64 is on: float64 stays float64
    np.testing.assert_allclose(results["jax"], results["manual"], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("loss, target_kind, pred_kind", LOSS_CASES, ids=repr)
def test_hand_written_loss_gradients_match_jax_grad(loss, target_kind, pred_kind):
    targets, pred = loss_case(target_kind, pred_kind)

    value, grad = loss.value_and_grad(targets, pred)
    with dlcourse.backend("jax"):
        backend = backends.current()
        t, p = backend.asarray(targets), backend.asarray(pred)
        with backends.running(backend):
            # jitted: one compilation instead of one per small op
            value_j, grad_j = jax.jit(jax.value_and_grad(lambda q: loss(t, q)))(p)
    assert rel_error(value, float(value_j)) < 1e-12
    assert rel_error(grad, np.asarray(grad_j)) < 1e-10


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
    ours = weights_after_two_epochs(build("jax", "mlp"), optimizer)
    for w_ours, w_reference in zip(ours, reference):
        assert rel_error(w_ours, w_reference) < 1e-8


class CountTracing(Layer):
    """Passes x through; counts how often its Python code runs in training mode.

    Inside a jitted step, Python runs only while JAX traces, so this counts traces.
    """

    traced = 0

    def call(self, x, training=False):
        if training:
            CountTracing.traced += 1
        return x


def test_a_schedule_changes_the_rate_without_recompiling():
    x, y = batch("mlp", n=40, seed=5)
    schedule = LearningRateScheduler(lambda epoch, lr: 0.1 / (epoch + 1))
    weights = []
    for name in ("manual", "jax"):
        with dlcourse.backend(name):
            layers = [CountTracing(), Dense(8, activation="relu"), Dense(5)]
            model = Sequential(layers, seed=1, dtype="float64")
        model.compile(SGD(learning_rate=0.1), SparseCategoricalCrossentropy(from_logits=True))
        CountTracing.traced = 0
        model.fit(x, y, epochs=3, batch_size=16, callbacks=[schedule], verbose=0)
        weights.append(model.get_weights())
        if name == "jax":
            # batches of 16, 16 and 8: one trace per batch size, none per new rate
            assert CountTracing.traced == 2
    for wm, wj in zip(*weights):
        assert rel_error(wj, wm) < 1e-8  # so the rate was read at every step


def test_float32_models_stay_float32_when_x64_is_on():
    build("jax", "mlp")  # a float64 model: x64 is on from here
    assert jax.config.jax_enable_x64
    manual, model = build("manual", "mlp", "float32"), build("jax", "mlp", "float32")
    assert all(w.dtype == np.float32 for w in model.trainable_weights)
    x, y = batch("mlp")
    out = model.predict(x)
    assert out.dtype == np.float32
    assert rel_error(out, manual.predict(x)) < 1e-4
    model.fit(x, y, epochs=1, batch_size=20, verbose=0)
    assert all(w.dtype == np.float32 for w in model.trainable_weights)
    assert model.predict(x).dtype == np.float32


def test_weights_read_after_each_step_are_the_current_ones():
    x, y = batch("mlp", n=24, seed=6)
    model = build("jax", "mlp")
    model.compile(SGD(learning_rate=0.1), model.loss)
    initial = model.get_weights()
    seen = []

    class Peek(Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(self.model.get_weights()[0])

    model.fit(x, y, epochs=1, batch_size=8, shuffle=False, callbacks=[Peek()], verbose=0)
    assert len(seen) == 3
    assert all(rel_error(a, b) > 0 for a, b in zip(seen, [initial[0], *seen[:-1]]))
    # set_weights between two fits is seen by the compiled step: the same run again
    after_first = model.get_weights()
    model.set_weights(initial)
    model.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    for a, b in zip(model.get_weights(), after_first):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


def aligned(shape):
    """Zeros in memory that starts on a 64-byte boundary, which JAX's CPU client
    would adopt as it is (and so share with NumPy) if it were handed it."""
    n = int(np.prod(shape))
    buffer = np.zeros(n * 8 + 64, dtype=np.uint8)
    start = -buffer.ctypes.data % 64
    return buffer[start : start + n * 8].view(np.float64).reshape(shape)


def test_jax_arrays_do_not_share_memory_with_the_callers_numpy():
    with dlcourse.backend("jax"):
        backend = backends.current()
        data = aligned((1000,))
        data[:] = np.arange(1000)
        native = backend.asarray(data)
        data[:] = -1.0  # the caller reuses their array
        assert float(native[5]) == 5.0
        model = Sequential([Dense(3)], seed=0, input_shape=(4,), dtype="float64")
    kernel = aligned((4, 3))
    kernel[:] = 1.0
    model.set_weights([kernel, aligned((3,))])
    kernel[:] = 7.0  # and their weights array
    np.testing.assert_array_equal(model.get_weights()[0], np.ones((4, 3)))


def test_integer_labels_do_not_switch_x64_on():
    was_on = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", False)
    try:
        with dlcourse.backend("jax"):
            backend = backends.current()
            labels = backend.asarray(np.array([1, 2, 3], dtype=np.int64))
            assert labels.dtype == np.int32  # 32 bits hold class labels
            assert not jax.config.jax_enable_x64  # only float64 switches it on
            assert backend.asarray(np.ones(2)).dtype == np.float64
            assert jax.config.jax_enable_x64
    finally:
        jax.config.update("jax_enable_x64", was_on)


def test_a_nonfinite_loss_leaves_the_weights_as_they_were():
    x, y = batch("mlp", n=16)
    x[3, 0] = np.nan
    model = build("jax", "mlp")
    before = model.get_weights()
    with pytest.raises(NonFiniteLossError, match="NaN"):
        model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)


def test_a_step_on_rows_matches_a_step_on_the_gathered_batch():
    """step(xs, ys, index) gathers inside the compiled step: the same update as a
    step on the batch picked beforehand."""
    x, y = batch("mlp", n=40)
    index = np.random.default_rng(1).permutation(40)[:16].astype(np.int32)
    results = []
    for on_rows in (True, False):
        model = build("jax", "mlp")
        backend = model.backend
        with backends.running(backend):
            xs, ys = backend.asarray(x, model.dtype), backend.asarray(y)
            step = model.train_step()
            if on_rows:
                value, _ = step(xs, ys, index)
            else:
                value, _ = step(backend.take(xs, index), backend.take(ys, index))
        results.append((float(value), model.get_weights()))
    (loss_rows, weights_rows), (loss_batch, weights_batch) = results
    assert loss_rows == loss_batch
    for a, b in zip(weights_rows, weights_batch):
        np.testing.assert_array_equal(a, b)


class _EveryBatchEnd(Callback):
    """A batch-end callback: fit must then run and read each step on its own."""

    def on_train_batch_end(self, batch, logs=None):
        pass


class _EveryBatchBegin(Callback):
    """A batch-begin callback only: fit runs one step per call and reads its loss late."""

    def on_train_batch_begin(self, batch, logs=None):
        pass


# the three epoch loops of fit on JAX: many steps per call (no batch callbacks), one
# step per call read one step late (batch-begin only), each step read at once
EPOCH_LOOPS = {
    "many per call": [],
    "read late": [_EveryBatchBegin()],
    "at once": [_EveryBatchEnd()],
}


@pytest.fixture(params=[64, 2], ids=["one call", "calls of 2 steps"])
def steps_per_call(request, monkeypatch):
    monkeypatch.setattr(training, "STEPS_PER_CALL", request.param)
    return request.param


def test_the_epoch_loops_train_exactly_alike(steps_per_call):
    x, y = batch("mlp", n=60)  # 3 full batches of 16 and one of 12
    runs = {}
    for name, callbacks in EPOCH_LOOPS.items():
        model = build("jax", "mlp")
        history = model.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=callbacks)
        runs[name] = (history.history["loss"], model.get_weights())
    reference_loss, reference_weights = runs.pop("at once")
    for loss, weights in runs.values():
        np.testing.assert_allclose(loss, reference_loss, rtol=1e-12)
        for a, b in zip(weights, reference_weights):
            np.testing.assert_array_equal(a, b)


def test_without_batch_callbacks_fit_runs_its_full_batches_in_few_calls(steps_per_call):
    x, y = batch("mlp", n=60)
    model = build("jax", "mlp")
    step = model.train_step()
    calls, many = [], step.many
    step.many = lambda xs, ys, rows: calls.append(rows.shape) or many(xs, ys, rows)
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    expected = [(3, 16)] if steps_per_call >= 3 else [(2, 16), (1, 16)]
    assert calls == expected


@pytest.mark.parametrize("loop", ["many per call", "read late"])
@pytest.mark.parametrize("bad", [2, 3])
def test_a_nonfinite_loss_leaves_the_weights_of_the_last_good_step(loop, bad, steps_per_call):
    """Batch ``bad`` of 4 is NaN; later steps were queued, or ran in the same call,
    before its loss was read. The error names it, and the weights are those after
    the batches before it alone."""
    x, y = batch("mlp", n=32)
    x[8 * bad + 4, 0] = np.nan
    reference = build("jax", "mlp")
    reference.fit(x[: 8 * bad], y[: 8 * bad], epochs=1, batch_size=8, shuffle=False, verbose=0)
    model = build("jax", "mlp")
    with pytest.raises(NonFiniteLossError) as err:
        model.fit(
            x, y, epochs=1, batch_size=8, shuffle=False, verbose=0, callbacks=EPOCH_LOOPS[loop]
        )
    assert (err.value.epoch, err.value.batch) == (0, bad)
    for a, b in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_dropout_in_training_only_and_new_masks_each_step():
    with dlcourse.backend("jax"):
        model = Sequential([Dropout(0.5)], seed=0, input_shape=(1000,))
    x = np.ones((4, 1000), dtype=np.float32)
    np.testing.assert_array_equal(model.predict(x), x)
    first = np.asarray(model(x, training=True))
    second = np.asarray(model(x, training=True))
    for out in (first, second):
        assert set(np.unique(out)) <= {0.0, 2.0}
        assert 0.4 < np.mean(out == 0.0) < 0.6
    assert np.any(first != second)  # the key moved on between the two calls


def test_dropout_keys_travel_through_the_compiled_step():
    x, y = batch("mlp", n=32, seed=7)
    runs = []
    for seed in (0, 0, 1):
        with dlcourse.backend("jax"):
            layers = [Dense(16, activation="relu"), Dropout(0.5), Dense(5)]
            model = Sequential(layers, seed=seed, input_shape=(12,))
        model.compile(SGD(0.1), SparseCategoricalCrossentropy(from_logits=True))
        key_before = np.asarray(model.layers[1].seed_state).copy()
        history = model.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
        assert np.any(np.asarray(model.layers[1].seed_state) != key_before)
        runs.append(history.history["loss"])
    assert runs[0] == runs[1]  # the same seed, the same masks
    assert runs[0] != runs[2]


def test_batch_norm_learns_its_statistics_in_fit_and_uses_them_in_predict():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((64, 3)) * [1.0, 5.0, 0.2] + [2.0, -1.0, 0.5]
    with dlcourse.backend("jax"):
        model = Sequential([BatchNorm(momentum=0.5)], seed=0, dtype="float64")
    model.compile(SGD(1e-9), "mse")  # a tiny step: gamma and beta stay put
    model.fit(x, np.zeros_like(x), epochs=20, batch_size=64, verbose=0)
    _, _, moving_mean, moving_var = model.get_weights()
    np.testing.assert_allclose(moving_mean, x.mean(0), rtol=1e-4)
    np.testing.assert_allclose(moving_var, x.var(0, ddof=1), rtol=1e-4)
    out = model.predict(x)
    np.testing.assert_allclose(out.mean(0), 0, atol=1e-4)
    np.testing.assert_allclose(out.std(0, ddof=1), 1, rtol=1e-3)


def test_learns_the_digits(digits):
    with dlcourse.backend("jax"):
        model = Sequential([Dense(32, activation="relu"), Dense(10)], seed=0)
    model.compile(
        Adam(learning_rate=0.01), SparseCategoricalCrossentropy(from_logits=True), ["accuracy"]
    )
    # whole batches only, and one batch to evaluate: each batch size is a compilation
    n, everything = 22 * 64, len(digits.x_test)
    history = model.fit(digits.x_train[:n], digits.y_train[:n], epochs=8, batch_size=64, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    loss, accuracy = model.evaluate(digits.x_test, digits.y_test, batch_size=everything)
    assert accuracy > 0.92
    predicted = model.predict(digits.x_test, batch_size=everything).argmax(1)
    assert np.mean(predicted == digits.y_test) == pytest.approx(accuracy)


def test_unknown_device_says_what_is_there():
    with pytest.raises(ValueError, match="JAX sees no such device"):
        backends.load("jax", device="tpu")


@pytest.mark.cuda
def test_gpu_matches_the_cpu():
    if not any(d.platform == "gpu" for d in jax.devices()):
        pytest.skip("needs a GPU that JAX sees (jaxlib with CUDA); jax.devices() has none")
    x, y = batch("cnn")
    reference = build("manual", "cnn")
    model = build("jax", "cnn", device="gpu")
    assert model.trainable_weights[0].devices().pop().platform == "gpu"
    assert rel_error(model.predict(x), reference.predict(x)) < RTOL
    loss, grads = model.loss_and_gradients(x, y)
    loss_ref, grads_ref = reference.loss_and_gradients(x, y)
    assert abs(loss - loss_ref) <= RTOL * abs(loss_ref)
    for g, g_ref in zip(grads, grads_ref):
        assert rel_error(g, g_ref) < RTOL
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
