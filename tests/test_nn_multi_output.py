"""Training a Functional model with several outputs, as in Keras 3.

``compile`` takes one loss for all outputs, a list, or a dict by output
name, with ``loss_weights`` and per-output metrics; ``fit``/``evaluate``
take the targets as a list or a dict; the logs are named as Keras names
them (``loss``, ``out_a_loss``, ``out_b_loss``, ``out_b_accuracy``).

Keras 3 itself runs the same model, with the same starting weights, in a
fresh interpreter on its torch backend (this file run as a script), in
float64: the losses of ``evaluate`` and of each epoch, and the weights after
two epochs of SGD. Keras's logged numbers pass through its float32 metric
trackers, hence ``KERAS_LOG`` (relative); the weights are float64 on both
sides (``WEIGHTS``).
"""

import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

import dlcourse
from dlcourse.nn import SGD, Dense, Input, Model

BACKENDS = ("manual", "autodiff", "torch", "tensorflow", "jax", "pytensor")
PACKAGES = {"torch": "torch", "tensorflow": "tensorflow", "jax": "jax", "pytensor": "pytensor"}
KERAS_LOG = 1e-6
WEIGHTS = 1e-8
WORKER_TIMEOUT_S = 300

RNG = np.random.default_rng(0)
X = RNG.standard_normal((10, 3))
Y_A = RNG.standard_normal((10, 2))
Y_B = RNG.integers(0, 3, 10)
LOSS = {"out_a": "mse", "out_b": "sparse_categorical_crossentropy"}
LOSS_WEIGHTS = {"out_a": 0.5, "out_b": 2.0}
METRICS = {"out_b": ["accuracy"]}
KEYS = ["loss", "out_a_loss", "out_b_loss", "out_b_accuracy"]


def needs(backend):
    package = PACKAGES.get(backend)
    if package and importlib.util.find_spec(package) is None:
        pytest.skip(f"the {backend} backend needs {package}, which is not installed")


def two_headed(backend, seed=1):
    with dlcourse.backend(backend):
        x = Input((3,), name="x")
        h = Dense(4, activation="tanh", name="h")(x)
        out_a = Dense(2, name="out_a")(h)
        out_b = Dense(3, activation="softmax", name="out_b")(h)
        return Model(x, [out_a, out_b], dtype="float64", seed=seed)


def trained(backend, targets=None, **compile_args):
    model = two_headed(backend)
    args = {"loss": LOSS, "loss_weights": LOSS_WEIGHTS, "metrics": METRICS, **compile_args}
    model.compile(optimizer=SGD(learning_rate=0.1), **args)
    first = model.evaluate(X, [Y_A, Y_B], return_dict=True)
    targets = {"out_a": Y_A, "out_b": Y_B} if targets is None else targets
    history = model.fit(X, targets, epochs=2, batch_size=5, shuffle=False, verbose=0)
    return model, first, history.history


# ------------------------------------------------------------- against Keras 3
def run_keras(tmp_path, weights):
    np.savez(tmp_path / "in.npz", *weights)
    env = {**os.environ, "KERAS_BACKEND": "torch", "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, os.path.abspath(__file__), str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=WORKER_TIMEOUT_S,
    )
    assert done.returncode == 0, f"the Keras worker failed:\n{done.stderr[-3000:]}"
    with np.load(tmp_path / "out.npz") as out:
        results = {k: out[k] for k in out.files}
    results["weights"] = [results.pop(f"w{i}") for i in range(len(weights))]
    return results


@pytest.fixture(scope="module")
def keras_run(tmp_path_factory):
    for package in ("keras", "torch"):
        if importlib.util.find_spec(package) is None:
            pytest.skip(f"the comparison runs Keras 3 on torch; {package} is not installed")
    return run_keras(tmp_path_factory.mktemp("keras"), two_headed("manual").get_weights())


@pytest.mark.parametrize("backend", BACKENDS)
def test_losses_and_weights_are_those_of_keras(keras_run, backend):
    needs(backend)
    model, first, history = trained(backend)
    assert list(first) == KEYS and list(history) == KEYS
    np.testing.assert_allclose([first[k] for k in KEYS], keras_run["first"], rtol=KERAS_LOG)
    for key in KEYS:
        np.testing.assert_allclose(history[key], keras_run[key], rtol=KERAS_LOG, err_msg=key)
    for ours, theirs in zip(model.get_weights(), keras_run["weights"]):
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=WEIGHTS)


def test_keras_sees_other_loss_weights(keras_run):
    # the comparison is not blind: other weights give other losses
    model, first, _ = trained("manual", loss_weights={"out_a": 1.0, "out_b": 2.0})
    assert abs(first["loss"] - keras_run["first"][0]) > 0.1


# ------------------------------------------------------------------ behaviour
def test_the_loss_is_the_weighted_sum_of_the_output_losses():
    _, first, history = trained("manual")
    assert first["loss"] == pytest.approx(0.5 * first["out_a_loss"] + 2 * first["out_b_loss"])
    for epoch in range(2):
        parts = 0.5 * history["out_a_loss"][epoch] + 2 * history["out_b_loss"][epoch]
        assert history["loss"][epoch] == pytest.approx(parts, rel=1e-12)
    assert history["loss"][1] < history["loss"][0]


def test_list_and_dict_forms_train_alike():
    by_name, _, history = trained("manual")
    listed, _, history_listed = trained(
        "manual",
        targets=[Y_A, Y_B],
        loss=["mse", "sparse_categorical_crossentropy"],
        loss_weights=[0.5, 2.0],
        metrics=[[], ["accuracy"]],
    )
    assert history == history_listed
    for a, b in zip(by_name.get_weights(), listed.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_one_loss_for_every_output():
    model = two_headed("manual")
    model.compile(optimizer=SGD(learning_rate=0.1), loss="mse")
    scores = model.evaluate(X, [Y_A, np.eye(3)[Y_B]], return_dict=True)
    assert list(scores) == ["loss", "out_a_loss", "out_b_loss"]
    assert scores["loss"] == pytest.approx(scores["out_a_loss"] + scores["out_b_loss"])
    assert model.evaluate(X, [Y_A, np.eye(3)[Y_B]]) == list(scores.values())


def test_loss_and_gradients_takes_several_targets():
    model = two_headed("manual")
    model.compile(optimizer=SGD(learning_rate=0.1), loss=LOSS, loss_weights=LOSS_WEIGHTS)
    value, grads = model.loss_and_gradients(X, {"out_a": Y_A, "out_b": Y_B})
    assert value == pytest.approx(model.evaluate(X, [Y_A, Y_B])[0])
    assert len(grads) == len(model.trainable_weights) and all(np.any(g != 0) for g in grads)


def test_validation_logs_every_output():
    model = two_headed("manual")
    model.compile(optimizer=SGD(learning_rate=0.1), loss=LOSS, metrics=METRICS)
    history = model.fit(X, [Y_A, Y_B], validation_split=0.2, epochs=1, verbose=0).history
    assert list(history) == KEYS + [f"val_{k}" for k in KEYS]


@pytest.mark.parametrize(
    "targets, words",
    [
        ([Y_A], "takes a list of 2 target arrays"),
        ({"out_a": Y_A, "out_c": Y_B}, "missing ['out_b'], unknown ['out_c']"),
        (Y_A, "got ndarray"),
    ],
)
def test_wrong_targets_say_what_the_model_takes(targets, words):
    model = two_headed("manual")
    model.compile(optimizer=SGD(learning_rate=0.1), loss=LOSS)
    with pytest.raises(ValueError, match="output") as err:
        model.fit(X, targets, verbose=0)
    assert words in str(err.value)


def test_a_loss_for_an_unknown_output_is_named():
    model = two_headed("manual")
    with pytest.raises(ValueError, match="'out_c' is not an output of the model"):
        model.compile(loss={"out_a": "mse", "out_c": "mse"})


def test_a_one_output_model_refuses_loss_weights():
    with dlcourse.backend("manual"):
        x = Input((3,))
        model = Model(x, Dense(2)(x))
    with pytest.raises(ValueError, match="has one output"):
        model.compile(loss="mse", loss_weights=[2.0])


def test_a_saved_two_headed_model_loads_with_its_weights(tmp_path):
    model, _, _ = trained("manual")
    with dlcourse.backend("manual"):
        loaded = Model.load(model.save(tmp_path / "two_headed"))
    for ours, theirs in zip(model.predict(X), loaded.predict(X)):
        np.testing.assert_array_equal(ours, theirs)
    assert loaded.output_names == ["out_a", "out_b"]


# --------------------------------------------------------------- Keras's side
def worker(folder):
    import keras

    keras.config.set_floatx("float64")
    x = keras.Input((3,), name="x")
    h = keras.layers.Dense(4, activation="tanh", name="h")(x)
    out_a = keras.layers.Dense(2, name="out_a")(h)
    out_b = keras.layers.Dense(3, activation="softmax", name="out_b")(h)
    model = keras.Model(x, [out_a, out_b])
    with np.load(os.path.join(folder, "in.npz")) as data:
        model.set_weights([data[f"arr_{i}"] for i in range(len(data.files))])
    model.compile(
        optimizer=keras.optimizers.SGD(0.1), loss=LOSS, loss_weights=LOSS_WEIGHTS, metrics=METRICS
    )
    first = model.evaluate(X, [Y_A, Y_B], return_dict=True, verbose=0)
    history = model.fit(
        X, {"out_a": Y_A, "out_b": Y_B}, epochs=2, batch_size=5, shuffle=False, verbose=0
    ).history
    out = {key: np.asarray(history[key], dtype=np.float64) for key in KEYS}
    out["first"] = np.array([first[k] for k in KEYS])
    for i, w in enumerate(model.weights):
        out[f"w{i}"] = keras.ops.convert_to_numpy(w)
    np.savez(os.path.join(folder, "out.npz"), **out)


if __name__ == "__main__":
    worker(sys.argv[1])
