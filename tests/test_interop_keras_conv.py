"""``from_keras`` for convolutional Keras models: channels-last images become NCHW ones.

Keras models are drawn the Keras way, channels last (NHWC): Conv2D ("same"
and "valid", strides, activations), ZeroPadding2D, MaxPooling2D,
BatchNormalization on the channels, Dropout, Flatten and Dense, as a
Sequential and as a graph with a Concatenate of two branches. Each is read
into dlcourse, whose model takes the same images as NCHW
(``x.transpose(0, 3, 1, 2)``), and both predict; the Dense after Flatten must
have its kernel rows reordered (Keras flattens row, column, channel; we
flatten channel, row, column), which a wrong reading would miss by order 1.

As in ``test_interop_keras_graphs.py``, each Keras backend runs in a fresh
interpreter (this file as a script) and reports JSON. Tolerances, relative to
the largest output: float32 1e-5 (measured 2e-7 to 5e-7); float64 1e-10 on
Keras's TensorFlow backend (measured ~1e-16), 1e-5 on its JAX and torch
backends, where Keras 3.15 computes float64 in float32 (see that file).
"""

import json
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # the worker runs as a script
from interop_cases import worst  # noqa: E402
from keras_workers import KERAS_BACKENDS, report_for, worker_reports  # noqa: E402

FLOAT32_RTOL, FLOAT64_RTOL_TENSORFLOW = 1e-5, 1e-10
WORKER_TIMEOUT_S = 400


# ------------------------------------------------------------- in the worker
def _perturbed(model, seed):
    """Every weight moved (variances kept positive): zeros and ones hide mistakes."""
    rng = np.random.default_rng(seed)
    values = []
    for variable, w in zip(model.weights, model.get_weights()):
        moved = rng.uniform(0.5, 2.0, w.shape) if "variance" in variable.path else None
        values.append(w + 0.3 * rng.standard_normal(w.shape) if moved is None else moved)
    model.set_weights(values)
    return model


def _sequential(keras, dtype):
    layers = keras.layers
    return keras.Sequential(
        [
            keras.Input((9, 8, 3), dtype=dtype),  # height != width: a swapped axis shows
            layers.Conv2D(4, 3, padding="same", activation="relu", dtype=dtype),
            layers.BatchNormalization(dtype=dtype),
            layers.MaxPooling2D(2, dtype=dtype),
            layers.Conv2D(5, 2, strides=1, activation="tanh", dtype=dtype),
            layers.Dropout(0.3, dtype=dtype),
            layers.Flatten(dtype=dtype),
            layers.Dense(6, activation="softmax", dtype=dtype),
        ],
        name="keras_cnn",
    )


def _branches(keras, dtype):
    layers = keras.layers
    image = keras.Input((8, 7, 2), dtype=dtype, name="image")
    left = layers.Conv2D(3, 3, padding="same", dtype=dtype)(image)
    padded = layers.ZeroPadding2D(1, dtype=dtype)(image)
    right = layers.Conv2D(3, 3, activation="sigmoid", dtype=dtype)(padded)
    joined = layers.Concatenate(dtype=dtype)([left, right])  # along the channels
    h = layers.MaxPooling2D(2, strides=2, dtype=dtype)(
        layers.BatchNormalization(dtype=dtype)(joined)
    )
    out = layers.Dense(2, dtype=dtype)(layers.Flatten(dtype=dtype)(h))
    return keras.Model(image, out, name="keras_branches")


def _refused(keras):
    """Keras models that cannot be read, with the error each gives."""
    from dlcourse.interop import from_keras

    layers = keras.layers

    def sequential(*body):
        return keras.Sequential([keras.Input((8, 8, 2)), *body])

    cases = {
        "average pooling": sequential(layers.AveragePooling2D(2), layers.Flatten()),
        "strided same": sequential(layers.Conv2D(2, 3, strides=2, padding="same")),
        "dilated": sequential(layers.Conv2D(2, 3, dilation_rate=2)),
        "dense on an image": sequential(layers.Dense(3)),
        "flat output": sequential(layers.Conv2D(2, 3), layers.Flatten()),
    }
    report = {}
    for name, model in cases.items():
        try:
            from_keras(model)
            report[name] = "no error"
        except Exception as err:  # the test asserts on the type and the words
            report[name] = f"{type(err).__name__}: {err}"
    return report


def worker_report():
    import keras

    from dlcourse.interop import from_keras

    report = {"keras_backend": keras.backend.backend(), "cases": {}}
    rng = np.random.default_rng(0)
    for make in (_sequential, _branches):
        for dtype in ("float32", "float64"):
            keras_model = _perturbed(make(keras, dtype), seed=len(report["cases"]))
            ours = from_keras(keras_model)
            x = rng.standard_normal((5, *keras_model.input_shape[1:])).astype(dtype)
            theirs = keras.ops.convert_to_numpy(keras_model(x))
            report["cases"][f"{keras_model.name}_{dtype}"] = {
                "class": type(ours).__name__,
                "layers": [type(layer).__name__ for layer in ours.layers],
                "input_shape": list(ours.input_signature[0][0][1:]),
                "prediction": worst(ours.predict(x.transpose(0, 3, 1, 2)), theirs),
                # the same images, not turned NCHW: a model that ignored the layout
                # would pass with these
                "unturned": worst(ours.predict(x.reshape(5, *ours.input_shape[1:])), theirs),
                "dtype": str(ours.predict(x.transpose(0, 3, 1, 2)).dtype),
            }
    report["refused"] = _refused(keras)
    return report


# ------------------------------------------------------------ in the test run
@pytest.fixture(scope="module")
def reports():
    """backend -> the worker's report, or a string saying why there is none."""
    return worker_reports(__file__, WORKER_TIMEOUT_S)


CASES = [
    f"{name}_{dtype}"
    for name in ("keras_cnn", "keras_branches")
    for dtype in ("float32", "float64")
]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("backend", KERAS_BACKENDS)
def test_a_channels_last_keras_cnn_predicts_the_same_on_nchw_images(reports, backend, case):
    result = report_for(reports, backend)["cases"][case]
    float64 = case.endswith("float64")
    tolerance = FLOAT64_RTOL_TENSORFLOW if float64 and backend == "tensorflow" else FLOAT32_RTOL
    assert result["prediction"] < tolerance, result["prediction"]
    assert result["unturned"] > 1e-2  # the layout matters: the comparison can fail
    assert result["dtype"] == case.rsplit("_", 1)[1]
    if case.startswith("keras_cnn"):
        assert result["class"] == "Sequential"
        assert result["input_shape"] == [3, 9, 8]  # (height, width, channels) -> NCHW
        assert result["layers"] == [
            "Conv2D",
            "BatchNorm",
            "MaxPool2D",
            "Conv2D",
            "Dropout",
            "Flatten",
            "Dense",
        ]
    else:  # the ZeroPadding2D became the second convolution's padding
        assert result["class"] == "Functional"
        assert result["input_shape"] == [2, 8, 7]
        assert result["layers"].count("Conv2D") == 2 and "Concatenate" in result["layers"]


@pytest.mark.parametrize(
    "case, words",
    [
        ("average pooling", "AveragePooling2D has no dlcourse counterpart"),
        ("strided same", "padding='same' is supported with an odd kernel and strides 1 only"),
        ("dilated", "dilated convolutions are not supported"),
        ("dense on an image", "Dense on an image"),
        ("flat output", "flattened channels-last image"),
    ],
)
@pytest.mark.parametrize("backend", KERAS_BACKENDS)
def test_what_cannot_be_read_is_refused_naming_the_layer(reports, backend, case, words):
    message = report_for(reports, backend)["refused"][case]
    assert message.startswith("UnsupportedLayerError"), message
    assert words in message, message


def test_a_flattened_image_reorders_the_next_kernel_as_a_permutation():
    from dlcourse.interop.keras_image_import import Flat

    order = Flat(height=2, width=3, channels=4).order
    assert sorted(order) == list(range(24))
    # Keras's feature 1 is (row 0, column 0, channel 1): our feature 1 * 6 = 6
    assert order[1] == 6 and order[4] == 1


if __name__ == "__main__":  # the worker: one Keras backend, chosen by KERAS_BACKEND
    print(json.dumps(worker_report()))
