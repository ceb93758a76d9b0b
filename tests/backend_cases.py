"""Models, batches and op cases shared by the backend tests (no framework imported here).

Every backend is compared with ``manual`` on the same cases; the tolerances are
documented in each test module.
"""

import importlib.util

import numpy as np
import pytest

import dlcourse
from dlcourse import ops
from dlcourse.backends import BACKENDS
from dlcourse.nn import (
    SGD,
    BatchNorm,
    BinaryCrossentropy,
    CategoricalCrossentropy,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    MaxPool2D,
    MeanSquaredError,
    Sequential,
    SparseCategoricalCrossentropy,
)


def rel_error(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def mlp():
    return [Dense(16, activation="relu"), Dropout(0.0), Dense(8, activation="tanh"), Dense(5)]


def cnn():
    return [
        Conv2D(3, 3, padding="same", activation="relu"),
        BatchNorm(),
        MaxPool2D(2),
        Conv2D(4, 2, strides=1, activation="sigmoid"),
        Flatten(),
        Dense(5, activation="softmax"),
    ]


ARCHITECTURES = {
    "mlp": (mlp, (12,), SparseCategoricalCrossentropy(from_logits=True)),
    "cnn": (cnn, (2, 6, 6), SparseCategoricalCrossentropy()),
}


def require_backend(name):
    """Skip the test, naming what to install, when backend ``name``'s framework is missing."""
    extra = BACKENDS[name]
    if extra and importlib.util.find_spec(extra) is None:
        pytest.skip(f"the {name} backend needs {extra}: pip install 'dlcourse[{extra}]'")


def use_backend(name):
    """``with use_backend(name):``, on the CPU (the GPU tests choose CUDA themselves)."""
    require_backend(name)
    return dlcourse.backend(name, **({"device": "cpu"} if name == "torch" else {}))


def build(backend, architecture, dtype="float64", **options):
    layers, shape, loss = ARCHITECTURES[architecture]
    with dlcourse.backend(backend, **options):
        model = Sequential(layers(), seed=3, dtype=dtype, input_shape=shape)
    model.compile(optimizer=SGD(learning_rate=0.1, momentum=0.9), loss=loss)
    return model


def batch(architecture, n=20, seed=0):
    rng = np.random.default_rng(seed)
    shape = ARCHITECTURES[architecture][1]
    return rng.standard_normal((n, *shape)), rng.integers(0, 5, n)


def op_cases(rng):
    x = rng.standard_normal((4, 6))
    images = rng.standard_normal((2, 3, 7, 7))
    kernel = rng.standard_normal((4, 3, 3, 3))
    labels = np.array([0, 5, 2, 1])
    ids = np.array([[3, 0, 3], [1, 1, 2]])  # repeated ids: a row looked up twice
    probs = np.exp(x) / np.exp(x).sum(1, keepdims=True)
    targets = (rng.random((4, 6)) > 0.5).astype(np.float64)
    return {
        "relu": lambda t: ops.relu(t(x)),
        "sigmoid": lambda t: ops.sigmoid(t(x * 30)),
        "tanh": lambda t: ops.tanh(t(x)),
        "softmax": lambda t: ops.softmax(t(x * 50)),
        "log_softmax": lambda t: ops.log_softmax(t(x * 50)),
        "exp_log_sqrt": lambda t: ops.log(ops.sqrt(ops.exp(t(x)))),
        "sum_axes": lambda t: ops.sum(t(images), axis=(0, 2, 3), keepdims=True),
        "mean_all": lambda t: ops.mean(t(images)),
        "max_axis": lambda t: ops.max(t(x), axis=1),
        "argmax": lambda t: ops.argmax(t(x), axis=-1),
        "reshape_transpose": lambda t: ops.transpose(ops.reshape(t(images), (2, 3, -1)), (2, 0, 1)),
        "matmul": lambda t: ops.matmul(t(x), t(x.T)),
        "dense": lambda t: ops.dense(t(x), t(x.T[:, :3]), t(x[0, :3])),
        "conv2d": lambda t: ops.conv2d(t(images), t(kernel), t(x[0, :4]), stride=2, padding=1),
        "maxpool2d": lambda t: ops.maxpool2d(t(images), 3, 2),
        "maximum_number": lambda t: ops.maximum(t(x), 0.25),
        "clip_where": lambda t: ops.where(t(x) > 0, ops.clip(t(x), -0.5, 0.5), t(x)),
        "take_along_axis": lambda t: ops.take_along_axis(t(x), t(labels[:, None]), axis=1),
        "embedding": lambda t: ops.embedding(t(ids), t(x)),
        "sparse_ce_logits": lambda t: ops.sparse_categorical_crossentropy(t(labels), t(x), True),
        "sparse_ce_probs": lambda t: ops.sparse_categorical_crossentropy(t(labels), t(probs)),
        "categorical_ce": lambda t: ops.categorical_crossentropy(t(targets), t(x), True),
        "binary_ce_logits": lambda t: ops.binary_crossentropy(t(targets), t(x * 10), True),
        "binary_ce_probs": lambda t: ops.binary_crossentropy(t(targets), t(probs)),
        "mse": lambda t: ops.mean_squared_error(t(targets), t(x)),
    }


# losses: (loss, kind of target, kind of prediction)
LOSS_CASES = [
    (SparseCategoricalCrossentropy(from_logits=True), "labels", "scores"),
    (SparseCategoricalCrossentropy(), "labels", "probs"),
    (CategoricalCrossentropy(from_logits=True), "one_hot", "scores"),
    (CategoricalCrossentropy(), "one_hot", "probs"),
    (BinaryCrossentropy(from_logits=True), "bits", "scores"),
    (BinaryCrossentropy(), "bits", "probs"),
    (MeanSquaredError(), "bits", "scores"),
]


def loss_case(target_kind, pred_kind):
    """Targets and predictions for a loss, with the awkward spots on purpose."""
    rng = np.random.default_rng(1)
    scores = rng.standard_normal((6, 4)) * 3
    scores[0, 0] = 0.0  # the kink of max(z, 0) and |z| in the binary formula
    probs = np.exp(scores) / np.exp(scores).sum(1, keepdims=True)
    probs[1] = [1.0, 0.0, 0.0, 0.0]  # clipped entries: their slope is zero
    labels = np.array([0, 1, 3, 2, 0, 1])
    targets = {
        "labels": labels,
        "one_hot": np.eye(4)[labels],
        "bits": (rng.random((6, 4)) > 0.5).astype(np.float64),
    }[target_kind]
    return targets, scores if pred_kind == "scores" else probs


def weights_after_two_epochs(model, optimizer, shuffle=False):
    """The weights of ``model`` after two epochs with ``optimizer`` on a fixed MLP batch set.

    Every backend test compares this with the same call on a ``manual`` model.
    """
    x, y = batch("mlp", n=32, seed=4)
    model.compile(optimizer=optimizer.copy(), loss=model.loss)
    model.fit(x, y, epochs=2, batch_size=8, shuffle=shuffle, verbose=0)
    return model.get_weights()
