"""The autodiff backend (the course's own Tensor engine) against the hand-written one.

The whole-model checks (an MLP and a CNN from the same weights: predictions,
loss, gradients, and weights after two epochs of SGD) run for every backend
in tests/test_backend_matrix.py; this file covers what is particular to it.

Tolerances, as for the torch backend (see tests/test_backends_torch.py):
float64 predictions, losses and gradients from the same weights within 1e-6
relative (in practice they agree to ~1e-14: both run the same NumPy forward
math), weights after two epochs of training within 1e-8 relative.
"""

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
from dlcourse.autodiff import Tensor
from dlcourse.nn import (
    SGD,
    Adam,
    Dense,
    Dropout,
    Layer,
    RMSprop,
    Sequential,
    SparseCategoricalCrossentropy,
)

RTOL = 1e-6


def test_autodiff_needs_no_extra_package():
    assert backends.BACKENDS["autodiff"] is None
    assert "autodiff" in backends.available()
    assert backends.load("autodiff").name == "autodiff"


@pytest.mark.parametrize("op", sorted(op_cases(np.random.default_rng(0))))
def test_each_op_gives_the_same_numbers_as_manual(op):
    results = {}
    for name in ("manual", "autodiff"):
        case = op_cases(np.random.default_rng(0))[op]
        with dlcourse.backend(name):
            out = case(ops.convert_to_tensor)
            if name == "autodiff":
                assert isinstance(out, Tensor)
            results[name] = backends.current().to_numpy(out)
    assert results["autodiff"].shape == results["manual"].shape
    assert results["autodiff"].dtype == results["manual"].dtype
    np.testing.assert_allclose(results["autodiff"], results["manual"], rtol=1e-12, atol=1e-12)


def test_weights_are_tensors_that_require_grad():
    model = build("autodiff", "cnn")
    assert all(isinstance(w, Tensor) and w.requires_grad for w in model.trainable_weights)
    batchnorm = model.layers[1]
    assert not batchnorm.moving_mean.requires_grad  # statistics are state, not learned


@pytest.mark.parametrize("loss, target_kind, pred_kind", LOSS_CASES, ids=repr)
def test_hand_written_loss_gradients_match_the_engine(loss, target_kind, pred_kind):
    targets, pred = loss_case(target_kind, pred_kind)
    value, grad = loss.value_and_grad(targets, pred)
    with dlcourse.backend("autodiff"):
        pred_t = Tensor(pred, requires_grad=True)
        value_t = loss(Tensor(targets), pred_t)
    value_t.backward()
    assert rel_error(value, value_t.item()) < 1e-12
    assert rel_error(grad, pred_t.grad) < 1e-10


def test_loss_and_gradients_leaves_weights_and_grads_alone():
    model = build("autodiff", "mlp")
    x, y = batch("mlp")
    before = model.get_weights()
    marker = np.full(model.trainable_weights[0].shape, 7.0)
    model.trainable_weights[0].grad = marker
    first = model.loss_and_gradients(x, y)
    second = model.loss_and_gradients(x, y)  # no accumulation between calls
    for g1, g2 in zip(first[1], second[1]):
        np.testing.assert_array_equal(g1, g2)
    assert model.trainable_weights[0].grad is marker
    for w, w0 in zip(model.get_weights(), before):
        np.testing.assert_array_equal(w, w0)


@pytest.mark.parametrize(
    "optimizer", [Adam(learning_rate=0.01), RMSprop(learning_rate=0.01)], ids=repr
)
def test_adaptive_optimizers_take_the_same_steps(optimizer):
    reference = weights_after_two_epochs(build("manual", "mlp"), optimizer, shuffle=True)
    ours = weights_after_two_epochs(build("autodiff", "mlp"), optimizer, shuffle=True)
    for w_ours, w_reference in zip(ours, reference):
        assert rel_error(w_ours, w_reference) < 1e-8


def _dropout_model(name):
    with dlcourse.backend(name):
        model = Sequential(
            [Dense(32, activation="relu"), Dropout(0.5), Dense(5)],
            seed=11,
            dtype="float64",
            input_shape=(6,),
        )
    model.compile(optimizer=SGD(0.1), loss=SparseCategoricalCrossentropy(from_logits=True))
    return model


def test_dropout_draws_the_same_masks_as_manual():
    # both backends draw the masks with dlcourse.functional from the layer's seeded generator
    x, y = batch("mlp", n=16)
    x = x[:, :6]
    manual, autodiff = _dropout_model("manual"), _dropout_model("autodiff")
    for _ in range(2):  # the generators advance in step
        loss_m, grads_m = manual.loss_and_gradients(x, y)
        loss_a, grads_a = autodiff.loss_and_gradients(x, y)
        assert abs(loss_m - loss_a) <= 1e-12 * abs(loss_m)
        for gm, ga in zip(grads_m, grads_a):
            assert rel_error(ga, gm) < 1e-10
    # and dropout really acted: training-mode outputs differ from inference
    out = backends.load("autodiff").to_numpy(autodiff(x, training=True))
    assert not np.allclose(out, autodiff.predict(x))


def test_float32_stays_float32():
    model, reference = build("autodiff", "cnn", "float32"), build("manual", "cnn", "float32")
    x, y = batch("cnn")
    assert model.predict(x).dtype == np.float32
    for m in (model, reference):  # (in training mode: both update their batch statistics)
        _, grads = m.loss_and_gradients(x, y)
        assert all(g.dtype == np.float32 for g in grads)
        m.fit(x, y, epochs=1, batch_size=8, verbose=0)
    assert all(w.data.dtype == np.float32 for w in model.weights)
    for w, w_ref in zip(model.get_weights(), reference.get_weights()):
        assert rel_error(w, w_ref) < 1e-4


def test_a_non_finite_loss_leaves_the_weights_alone():
    model = build("autodiff", "mlp")
    x, y = batch("mlp")
    x[3, 0] = np.nan
    before = model.get_weights()
    backend = model.backend
    with backends.running(backend):
        step = backend.make_train_step(model, model.loss, model.optimizer)
        value, _ = step(backend.asarray(x), backend.asarray(y))
    assert not np.isfinite(value)
    for w, w0 in zip(model.get_weights(), before):
        np.testing.assert_array_equal(w, w0)


class Scale(Layer):
    """A layer written with ops only: no backward, so only autodiff backends can train it."""

    def build(self, input_shape):
        self.add_weight("scale", (input_shape[-1],), initializer="ones")

    def call(self, x, training=False):
        return ops.multiply(x, ops.tanh(self.scale))


def test_a_layer_without_backward_gets_its_gradient_from_the_engine():
    with dlcourse.backend("autodiff"):
        model = Sequential([Scale(), Dense(3)], seed=1, dtype="float64", input_shape=(4,))
    model.compile(optimizer=SGD(0.1), loss="mse")
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((6, 4)), rng.standard_normal((6, 3))
    _, grads = model.loss_and_gradients(x, y)
    # centred differences on the layer's weight, from outside the engine
    scale = model.layers[0].scale.data
    numeric = np.zeros_like(scale)
    for i in range(scale.size):
        old = scale[i]
        scale[i] = old + 1e-6
        up = model.evaluate(x, y, batch_size=6)
        scale[i] = old - 1e-6
        down = model.evaluate(x, y, batch_size=6)
        scale[i] = old
        numeric[i] = (up - down) / 2e-6
    assert rel_error(grads[0], numeric) < 1e-6
    with dlcourse.backend("manual"):
        manual = Sequential([Scale(), Dense(3)], seed=1, input_shape=(4,))
    manual.compile(optimizer=SGD(0.1), loss="mse")
    with pytest.raises(NotImplementedError, match="backward"):
        manual.fit(x, y, verbose=0)


def test_comparisons_give_constant_boolean_tensors():
    backend = backends.load("autodiff")
    x = backend.variable(np.array([-1.0, 0.0, 2.0]))
    for mask, expected in ((x > 0, [0, 0, 1]), (x >= 0, [0, 1, 1]), (x < 0, [1, 0, 0])):
        assert isinstance(mask, Tensor) and not mask.requires_grad
        np.testing.assert_array_equal(mask.data, np.array(expected, dtype=bool))
    np.testing.assert_array_equal(backend.equal(x, x).data, [True, True, True])


def test_training_on_digits_learns():
    from dlcourse.data import load_digits

    digits = load_digits()
    with dlcourse.backend("autodiff"):
        model = Sequential([Dense(64, activation="relu"), Dense(10)], seed=0)
    model.compile(
        optimizer=Adam(0.01),
        loss=SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(digits.x_train, digits.y_train, epochs=5, batch_size=32, verbose=0)
    loss, accuracy = model.evaluate(digits.x_test, digits.y_test)
    assert accuracy > 0.9, (loss, accuracy)
