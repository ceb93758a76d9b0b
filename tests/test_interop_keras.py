"""``to_keras`` and ``from_keras`` on each Keras backend: same weights, same predictions.

Keras picks its backend (TensorFlow, JAX or PyTorch) once, when it is first
imported, from ``KERAS_BACKEND``. So every Keras backend gets its own fresh
interpreter running this file as a script (``python test_interop_keras.py``,
see ``worker_report``); the three start together and report JSON, and the tests
below check the reports. Checks that need no Keras run in this process.

Tolerances (relative to the largest value):
- weights copied into Keras and back: exactly equal (a copy, no arithmetic);
- predictions: 1e-5. Keras computes in float32 in places even for a float64
  model (its type promotion turns 64-bit results into 32-bit ones, as JAX does
  by default, and ``predict`` casts float64 NumPy inputs to float32), so both
  dtypes agree to float32 precision: about 1e-7 here, 1e-5 leaves room for the
  different summation orders of each library's convolution.
"""

import json
import warnings

import numpy as np
import pytest

from dlcourse import ops
from dlcourse.interop import UnsupportedLayerError, to_keras
from dlcourse.nn import (
    BatchNorm,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    Layer,
    MaxPool2D,
    Sequential,
    Sigmoid,
    Softmax,
)
from keras_workers import KERAS_BACKENDS, report_for, worker_reports

PREDICTION_RTOL = 1e-5
WORKER_TIMEOUT_S = 300


def rel_error(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, f"shapes differ: {a.shape} vs {b.shape}"
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


# ------------------------------------------------------------------ our models
def with_random_weights(model, seed):
    """Perturb every weight (zero biases and unit batch-norm statistics would hide mistakes)."""
    rng = np.random.default_rng(seed)
    values = []
    for layer in model.layers:
        for name, w in zip(layer.weight_names, layer.get_weights()):
            if name == "moving_variance":
                values.append(rng.uniform(0.5, 2.0, w.shape))
            else:
                values.append(w + 0.3 * rng.standard_normal(w.shape))
    model.set_weights(values)
    return model


def mlp(dtype="float32"):
    layers = [
        Dense(16, activation="relu"),
        Dropout(0.3),
        Dense(8, activation="tanh"),
        BatchNorm(momentum=0.8, epsilon=1e-3),
        Dense(6, use_bias=False),
        Sigmoid(),
        Dense(4),
        Softmax(),
    ]
    return with_random_weights(Sequential(layers, seed=1, dtype=dtype, input_shape=(10,)), 2)


def cnn(dtype="float32"):
    layers = [
        Conv2D(4, 3, padding="same", activation="relu"),
        BatchNorm(),
        MaxPool2D(2),
        Conv2D(5, 3, strides=2, padding=1, activation="tanh"),  # needs Keras's ZeroPadding2D
        Conv2D(3, 1),
        Flatten(),
        Dense(6, activation="softmax"),
    ]
    # height != width, so that a swapped pair of axes cannot go unnoticed
    return with_random_weights(Sequential(layers, seed=3, dtype=dtype, input_shape=(3, 9, 8)), 4)


def image_output(dtype="float32"):
    """Ends with images, and a softmax over our last axis (the width), which is not elementwise."""
    layers = [Conv2D(3, 3, padding=1, activation="softmax"), MaxPool2D(3, strides=2)]
    return with_random_weights(Sequential(layers, seed=5, dtype=dtype, input_shape=(2, 7, 6)), 6)


TO_KERAS_CASES = {
    "mlp_float32": lambda: mlp("float32"),
    "mlp_float64": lambda: mlp("float64"),
    "cnn_float32": lambda: cnn("float32"),
    "cnn_float64": lambda: cnn("float64"),
    "image_output": lambda: image_output("float32"),
}


def inputs_for(model, n=5, seed=0):
    shape = (n, *model.input_shape[1:])
    return np.random.default_rng(seed).standard_normal(shape).astype(model.dtype)


def expected_keras_weights(layer):
    """Our layer's weights laid out as Keras keeps them (conv kernels are (kh, kw, C, F))."""
    values = layer.get_weights()
    if isinstance(layer, Conv2D):
        values[0] = np.transpose(values[0], (2, 3, 1, 0))
    return values


# ------------------------------------------------------------- in the worker
def _keras_stack(keras):
    """A typical Keras tutorial model: images flattened, then Dense layers."""
    layers = keras.layers
    model = keras.Sequential(
        [
            keras.Input((4, 3)),
            layers.Flatten(),
            layers.Dense(16, activation="relu"),
            layers.Dropout(0.2),
            layers.BatchNormalization(momentum=0.9, epsilon=1e-4),
            layers.Activation("tanh"),
            layers.ReLU(),
            layers.Dense(5, activation="sigmoid"),
            layers.Dense(3),
            layers.Softmax(),
        ]
    )
    rng = np.random.default_rng(7)  # Keras's own initial biases and statistics are too tidy
    for layer in model.layers:
        values = layer.get_weights()
        if values:
            moving_variance = len(values) == 4
            values = [v + 0.2 * rng.standard_normal(v.shape) for v in values]
            if moving_variance:
                values[3] = rng.uniform(0.5, 2.0, values[3].shape)
            layer.set_weights([v.astype("float32") for v in values])
    return model


def _functional(keras):
    inputs = keras.Input((3,))
    return keras.Model(inputs, keras.layers.Dense(2)(inputs))


def _message_of(function):
    try:
        function()
    except Exception as err:  # the test asserts on the type and the words
        return f"{type(err).__name__}: {err}"
    return "no error"


def worker_report():
    """Run every Keras check on the Keras backend this process imported; a JSON-able dict."""
    import keras

    from dlcourse.interop import from_keras

    report = {"keras_backend": keras.backend.backend(), "to_keras": {}, "errors": {}}
    for case, make in TO_KERAS_CASES.items():
        model = make()
        keras_model = model.to_keras()  # the method delegates to interop.to_keras
        x = inputs_for(model)
        weights = [
            float(np.max(np.abs(ours - theirs)))
            for layer in model.layers
            if layer.weights
            for ours, theirs in zip(
                expected_keras_weights(layer), keras_model.get_layer(layer.name).get_weights()
            )
        ]
        report["to_keras"][case] = {
            "prediction": rel_error(keras_model.predict(x, verbose=0), model.predict(x)),
            "weights": max(weights),
            "keras_dtype": str(keras_model.get_weights()[0].dtype),
        }

    keras_model = _keras_stack(keras)
    ours = from_keras(keras_model)
    x = np.random.default_rng(8).standard_normal((6, 4, 3)).astype("float32")
    back = to_keras(ours)
    report["from_keras"] = {
        "prediction": rel_error(ours.predict(x), keras_model.predict(x, verbose=0)),
        "classes": [type(layer).__name__ for layer in ours.layers],
        "round_trip_weights": max(
            float(np.max(np.abs(a - b)))
            for a, b in zip(back.get_weights(), keras_model.get_weights())
        ),
        "round_trip_prediction": rel_error(back.predict(x, verbose=0), ours.predict(x)),
    }

    layers = keras.layers
    report["errors"] = {
        "gelu": _message_of(
            lambda: from_keras(keras.Sequential([keras.Input((3,)), layers.Dense(2, "gelu")]))
        ),
        "layer_norm": _message_of(
            lambda: from_keras(
                keras.Sequential(
                    [keras.Input((3,)), layers.LayerNormalization(rms_scaling=True, name="ln")]
                )
            )
        ),
        "functional": _message_of(lambda: from_keras(_functional(keras)).name),
        "unbuilt": _message_of(lambda: from_keras(keras.Sequential([layers.Dense(2)]))),
    }

    if report["keras_backend"] == "jax":  # float64 without x64: Keras would round quietly
        import jax

        jax.config.update("jax_enable_x64", False)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            to_keras(mlp("float64"))
        report["x64_warning"] = any("JAX_ENABLE_X64" in str(w.message) for w in caught)
    return report


# ------------------------------------------------------------ in the test run
@pytest.fixture(scope="module")
def reports():
    """backend -> the worker's report, or a string saying why there is none."""
    return worker_reports(__file__, WORKER_TIMEOUT_S)


@pytest.mark.parametrize("case", sorted(TO_KERAS_CASES))
@pytest.mark.parametrize("backend", KERAS_BACKENDS)
def test_to_keras_copies_the_weights_and_predicts_the_same(reports, backend, case):
    result = report_for(reports, backend)["to_keras"][case]
    assert result["weights"] == 0.0
    assert result["keras_dtype"] == ("float64" if case.endswith("float64") else "float32")
    assert result["prediction"] < PREDICTION_RTOL


@pytest.mark.parametrize("backend", KERAS_BACKENDS)
def test_from_keras_gives_an_equivalent_model(reports, backend):
    result = report_for(reports, backend)["from_keras"]
    assert result["classes"] == [
        "Flatten",
        "Dense",
        "Dropout",
        "BatchNorm",
        "Activation",
        "ReLU",
        "Dense",
        "Dense",
        "Softmax",
    ]
    assert result["prediction"] < PREDICTION_RTOL
    # and back to Keras: the very weights it started from
    assert result["round_trip_weights"] == 0.0
    assert result["round_trip_prediction"] < PREDICTION_RTOL


@pytest.mark.parametrize("backend", KERAS_BACKENDS)
def test_from_keras_says_what_it_cannot_convert(reports, backend):
    errors = report_for(reports, backend)["errors"]
    assert errors["gelu"].startswith("UnsupportedLayerError")
    assert "'gelu'" in errors["gelu"] and "dense" in errors["gelu"]
    assert errors["layer_norm"].startswith("UnsupportedLayerError")
    assert "'ln'" in errors["layer_norm"] and "LayerNormalization" in errors["layer_norm"]
    assert errors["functional"] == "no error"  # graphs come across (test_interop_keras_graphs.py)
    assert errors["unbuilt"].startswith("ValueError") and "keras.Input" in errors["unbuilt"]


def test_float64_on_keras_jax_without_x64_warns(reports):
    assert report_for(reports, "jax")["x64_warning"] is True


# ------------------------------------------------------- no Keras needed here
class Doubler(Layer):
    """A layer of one's own: Keras has no idea what it computes."""

    def call(self, x, training=False):
        return ops.multiply(x, 2.0)


def test_a_custom_layer_is_named_in_the_error():
    model = Sequential([Dense(3), Doubler(name="twice")], seed=0, input_shape=(4,))
    with pytest.raises(UnsupportedLayerError, match=r"'twice' \(Doubler\)") as info:
        to_keras(model)
    assert info.value.layer == "twice"
    assert "Dense" in str(info.value)  # and it lists what is supported


def test_a_subclass_of_a_built_in_layer_is_not_taken_for_it():
    class ScaledDense(Dense):
        def call(self, x, training=False):
            return ops.multiply(super().call(x, training), 3.0)

    model = Sequential([ScaledDense(3, name="scaled")], seed=0, input_shape=(4,))
    with pytest.raises(UnsupportedLayerError, match="'scaled'"):
        to_keras(model)


def test_an_unbuilt_model_is_refused_with_the_fix():
    with pytest.raises(ValueError, match=r"model\.build"):
        to_keras(Sequential([Dense(3)]))


if __name__ == "__main__":  # the worker: one Keras backend, chosen by KERAS_BACKEND
    print(json.dumps(worker_report()))
