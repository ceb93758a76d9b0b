"""Layers: shapes, weights, activations, beginner errors, and a student's own layer."""

import math

import numpy as np
import pytest

import dlcourse
from dlcourse import backends, ops
from dlcourse.nn import (
    Activation,
    BatchNorm,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    Layer,
    MaxPool2D,
    MissingBackwardError,
    NotBuiltError,
    ReLU,
    Sequential,
    Sigmoid,
    Softmax,
    Tanh,
)

BACKENDS = ["manual", "torch"]


def use(name):
    if name == "torch":
        pytest.importorskip("torch", reason="the torch backend needs PyTorch")
    return dlcourse.backend(name)


def to_numpy(model, value):
    return model.backend.to_numpy(value)


# --------------------------------------------------------------------- shapes
def test_dense_infers_its_input_size_at_the_first_call():
    layer = Dense(5)
    assert not layer.built
    out = layer(np.ones((3, 7), dtype=np.float32))
    assert layer.kernel.shape == (7, 5) and layer.bias.shape == (5,)
    assert out.shape == (3, 5)
    assert (layer.input_shape, layer.output_shape) == ((None, 7), (None, 5))


@pytest.mark.parametrize(
    "layer, in_shape, out_shape",
    [
        (Conv2D(4, 3), (2, 3, 8, 8), (2, 4, 6, 6)),
        (Conv2D(4, 3, padding="same"), (2, 3, 8, 8), (2, 4, 8, 8)),
        (Conv2D(4, 3, strides=2, padding=1), (2, 3, 8, 8), (2, 4, 4, 4)),
        (MaxPool2D(2), (2, 3, 8, 8), (2, 3, 4, 4)),
        (MaxPool2D(3, strides=1), (2, 3, 8, 8), (2, 3, 6, 6)),
        (Flatten(), (2, 3, 4, 5), (2, 60)),
        (BatchNorm(), (6, 3, 4, 4), (6, 3, 4, 4)),
        (Dropout(0.3), (2, 9), (2, 9)),
        (Dense(4, use_bias=False), (5, 3), (5, 4)),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Layer) else str(v),
)
def test_output_shapes(layer, in_shape, out_shape):
    out = layer(np.zeros(in_shape, dtype=np.float32))
    assert tuple(out.shape) == out_shape


def test_model_records_every_layer_output_shape():
    model = Sequential([Conv2D(2, 3), MaxPool2D(2), Flatten(), Dense(10)], input_shape=(1, 8, 8))
    assert [layer.output_shape for layer in model.layers] == [
        (None, 2, 6, 6),
        (None, 2, 3, 3),
        (None, 18),
        (None, 10),
    ]
    assert model.output_shape == (None, 10)


# -------------------------------------------------------------- initialisation
def test_glorot_uniform_kernel_zero_bias_and_seeded():
    model = Sequential([Dense(300)], seed=7, input_shape=(200,))
    kernel, bias = model.get_weights()
    limit = math.sqrt(6 / (200 + 300))
    assert np.all(np.abs(kernel) <= limit)
    assert abs(kernel.std() - limit / math.sqrt(3)) < 0.02 * limit  # uniform's std
    np.testing.assert_array_equal(bias, 0)
    again = Sequential([Dense(300)], seed=7, input_shape=(200,)).get_weights()[0]
    other = Sequential([Dense(300)], seed=8, input_shape=(200,)).get_weights()[0]
    np.testing.assert_array_equal(kernel, again)
    assert not np.array_equal(kernel, other)


def test_conv_kernel_uses_the_receptive_field_for_its_fans():
    model = Sequential([Conv2D(8, 3)], seed=0, input_shape=(4, 9, 9))
    kernel = model.get_weights()[0]
    assert kernel.shape == (8, 4, 3, 3)
    limit = math.sqrt(6 / (4 * 9 + 8 * 9))
    assert np.all(np.abs(kernel) <= limit) and np.abs(kernel).max() > 0.9 * limit


def test_set_seed_fixes_models_built_without_a_seed():
    dlcourse.nn.set_seed(11)
    try:
        a = Sequential([Dense(3)], input_shape=(2,)).get_weights()[0]
        b = Sequential([Dense(3)], input_shape=(2,)).get_weights()[0]
    finally:
        dlcourse.nn.set_seed(None)
    np.testing.assert_array_equal(a, b)


# --------------------------------------------------------------- activations
@pytest.mark.parametrize("backend", BACKENDS)
def test_activation_strings_and_layers_agree(backend):
    x = np.linspace(-3, 3, 12, dtype=np.float64).reshape(2, 6)
    expected = {
        "relu": np.maximum(x, 0),
        "sigmoid": 1 / (1 + np.exp(-x)),
        "tanh": np.tanh(x),
        "softmax": np.exp(x) / np.exp(x).sum(1, keepdims=True),
    }
    layers = {"relu": ReLU(), "sigmoid": Sigmoid(), "tanh": Tanh(), "softmax": Softmax()}
    with use(backend):
        for name, want in expected.items():
            for layer in (layers[name], Activation(name)):
                model = Sequential([layer], dtype="float64", input_shape=(6,))
                np.testing.assert_allclose(model.predict(x), want, rtol=1e-12)
            # and inside Dense, after an identity kernel
            dense = Dense(6, activation=name, kernel_initializer=lambda s, d, r: np.eye(6, dtype=d))
            model = Sequential([dense], dtype="float64", input_shape=(6,))
            np.testing.assert_allclose(model.predict(x), want, rtol=1e-12)


def test_unknown_activation_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown 'rellu'; choose one of: relu, sigmoid, tanh"):
        Dense(3, activation="rellu")


# ------------------------------------------------------- batch norm, dropout
@pytest.mark.parametrize("backend", BACKENDS)
def test_batchnorm_normalises_in_training_and_uses_running_statistics_after(backend):
    rng = np.random.default_rng(0)
    x = rng.normal(5.0, 3.0, (64, 3)).astype(np.float64)
    with use(backend):
        model = Sequential([BatchNorm(momentum=0.0)], dtype="float64", input_shape=(3,))
    out = to_numpy(model, model(x, training=True))
    np.testing.assert_allclose(out.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(out.std(0), 1, atol=1e-3)
    # momentum 0: the running statistics are this batch's (variance unbiased)
    _, _, mean, var = model.get_weights()
    np.testing.assert_allclose(mean, x.mean(0), rtol=1e-12)
    np.testing.assert_allclose(var, x.var(0, ddof=1), rtol=1e-12)
    expected = (x[:2] - x.mean(0)) / np.sqrt(x.var(0, ddof=1) + 1e-5)
    np.testing.assert_allclose(model.predict(x[:2]), expected, rtol=1e-10)


def test_dropout_rate_is_checked():
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        Dropout(1.0)


# ---------------------------------------------------------- weights in and out
def test_get_and_set_weights_round_trip_and_check_shapes():
    model = Sequential([Dense(4), BatchNorm(), Dense(2)], seed=0, input_shape=(3,))
    weights = model.get_weights()
    assert [w.shape for w in weights] == [(3, 4), (4,), (4,), (4,), (4,), (4,), (4, 2), (2,)]
    new = [w + 1.0 for w in weights]
    model.set_weights(new)
    for got, want in zip(model.get_weights(), new):
        np.testing.assert_array_equal(got, want)
    weights[0][...] = 99  # get_weights hands out copies
    assert not np.any(model.get_weights()[0] == 99)
    with pytest.raises(ValueError, match="has 8 weight arrays, got 7"):
        model.set_weights(new[:-1])
    with pytest.raises(ValueError, match=r"weight 'kernel': expected shape \(3, 4\), got \(4, 3\)"):
        model.set_weights([new[0].T, *new[1:]])


def test_weights_before_building_are_explained():
    with pytest.raises(NotBuiltError, match="build"):
        Sequential([Dense(3)]).get_weights()


def test_stateless_call_uses_the_given_weights_and_changes_nothing():
    model = Sequential([Dense(3), BatchNorm()], seed=0, dtype="float64", input_shape=(2,))
    x = np.ones((4, 2))
    before = model.get_weights()
    params = [np.zeros_like(w) for w in model.trainable_weights]
    y, state = model.stateless_call(params, model.state_variables, x, training=True)
    np.testing.assert_array_equal(y, 0)  # zero gamma and beta
    assert len(state) == 2
    for got, want in zip(model.get_weights(), before):
        np.testing.assert_array_equal(got, want)


# ------------------------------------------------------------ beginner errors
def test_images_into_dense_ask_for_flatten():
    model = Sequential([Dense(10)])
    with pytest.raises(
        ValueError, match=r"expects \(batch, features\).*examples of shape \(8, 8\).*Flatten\(\)"
    ):
        model.predict(np.zeros((5, 8, 8)))


def test_rows_into_conv2d_ask_for_a_reshape():
    with pytest.raises(ValueError, match=r"expects images.*\(64,\).*reshape.*\(-1, 1, 8, 8\)"):
        Sequential([Conv2D(2, 3)]).predict(np.zeros((5, 64)))
    with pytest.raises(ValueError, match=r"channel axis: x\[:, None\]"):
        Sequential([Conv2D(2, 3)]).predict(np.zeros((5, 8, 8)))


def test_wrong_feature_count_after_building_is_explained():
    model = Sequential([Dense(2)], input_shape=(4,))
    with pytest.raises(ValueError, match=r"built for inputs of shape \(None, 4\), got \(3, 5\)"):
        model.predict(np.zeros((3, 5)))


def test_passing_a_class_instead_of_a_layer():
    with pytest.raises(TypeError, match=r"pass a layer object, e.g. Dense\(...\)"):
        Sequential([Dense])


# ---------------------------------------------------------- a student's layer
class Square(Layer):
    """x**2, with a hand-written backward."""

    def call(self, x, training=False):
        self.x = x
        return ops.multiply(x, x)

    def backward(self, dout):
        return 2 * self.x * dout


class ScaleNoBackward(Layer):
    """x * scale, a learned scale per feature; no backward."""

    def build(self, input_shape):
        self.scale = self.add_weight("scale", (input_shape[-1],), initializer="ones")

    def call(self, x, training=False):
        return ops.multiply(x, self.scale)


class Scale(ScaleNoBackward):
    def call(self, x, training=False):
        self.x = x
        return super().call(x, training)

    def backward(self, dout):
        self.grads["scale"] = ops.sum(dout * self.x, axis=0)
        return dout * self.scale


class ScaleWrongGrad(Scale):
    def backward(self, dout):
        dx = super().backward(dout)
        self.grads["scale"] = dout * self.x  # forgot the sum over the batch
        return dx


def custom_model(backend, layer):
    with use(backend):
        model = Sequential([Dense(4), layer, Dense(3)], seed=1, dtype="float64", input_shape=(5,))
    model.compile(optimizer="sgd", loss="mse")
    return model


@pytest.mark.parametrize("layer_class", [Square, Scale])
def test_custom_layer_with_backward_matches_torch(layer_class):
    pytest.importorskip("torch", reason="compares with the torch backend")
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((6, 5)), rng.standard_normal((6, 3))
    manual, auto = custom_model("manual", layer_class()), custom_model("torch", layer_class())
    loss_m, grads_m = manual.loss_and_gradients(x, y)
    loss_t, grads_t = auto.loss_and_gradients(x, y)
    assert abs(loss_m - loss_t) < 1e-12
    for gm, gt in zip(grads_m, grads_t):
        np.testing.assert_allclose(gm, gt, rtol=1e-10, atol=1e-14)
    manual.fit(x, y, epochs=2, batch_size=3, verbose=0)  # and it trains


def test_custom_layer_without_backward_runs_on_torch():
    pytest.importorskip("torch", reason="the torch backend needs PyTorch")
    model = custom_model("torch", ScaleNoBackward())
    x, y = np.ones((4, 5)), np.zeros((4, 3))
    history = model.fit(x, y, epochs=3, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    grads = model.loss_and_gradients(x, y)[1]
    assert grads[2].shape == (4,) and np.any(grads[2] != 0)  # the scale learns


def test_custom_layer_without_backward_on_manual_says_what_to_do():
    model = custom_model("manual", ScaleNoBackward(name="my_scale"))
    model.predict(np.ones((2, 5)))  # the forward pass needs no backward
    with pytest.raises(MissingBackwardError) as err:
        model.fit(np.ones((4, 5)), np.zeros((4, 3)), epochs=1, verbose=0)
    message = str(err.value)
    assert "'my_scale' (ScaleNoBackward)" in message
    assert "backward(self, dout)" in message and "set_backend('torch')" in message


def test_a_gradient_of_the_wrong_shape_is_caught_with_its_name():
    model = custom_model("manual", ScaleWrongGrad())
    with pytest.raises(
        ValueError,
        match=r"shape \(4, 4\) as the gradient of weight 'scale'.*missing sum over the batch",
    ):
        model.loss_and_gradients(np.ones((4, 5)), np.zeros((4, 3)))


def test_a_weightless_custom_layer_first_needs_no_backward_on_manual():
    class Double(Layer):
        def call(self, x, training=False):
            return x * 2

    with use("manual"):
        model = Sequential([Double(), Dense(1)], seed=0)
    model.compile(optimizer="sgd", loss="mse")
    model.fit(np.ones((4, 2)), np.ones(4), epochs=1, verbose=0)  # nothing upstream learns


# ------------------------------------------------------------------- summary
def test_summary_lists_layers_shapes_and_counts():
    model = Sequential([Dense(64, activation="relu"), BatchNorm(), Dense(10)], input_shape=(64,))
    lines = []
    model.summary(print_fn=lines.append)
    text = lines[0]
    assert "dense (Dense)" in text and "dense_1 (Dense)" in text
    assert "batch_norm (BatchNorm)" in text
    assert "(None, 64)" in text and "(None, 10)" in text
    assert "4,160" in text and "650" in text
    assert "Total params: 5,066" in text  # 4,160 + 4 * 64 + 650
    assert "Trainable params: 4,938" in text and "Non-trainable params: 128" in text
    assert backends.load("manual").describe() in text


def test_summary_before_building_says_how_to_build():
    lines = []
    Sequential([Dense(3)]).summary(print_fn=lines.append)
    assert "Not built yet" in lines[0] and "model.build" in lines[0]
