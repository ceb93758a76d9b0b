"""Recurrent states inside a Functional graph: ``return_state=True`` and ``initial_state``.

An encoder's final states start a decoder (``LSTM(...)(seq, initial_state=[h, c])``),
a GRU's state starts a SimpleRNN, and a state is also used directly. Checked:

- on ``manual`` (hand-written backpropagation through time) the gradient that
  reaches the encoder only through h and c equals centred finite differences;
- the compiled backends give the same predictions (1e-6) and the same weights
  after two epochs of SGD (1e-8) as ``manual``, in float64;
- Keras 3, given our weights, gives our predictions (its float32 steps inside
  float64 layers: ``KERAS_FLOAT32_STEP``, as in test_nn_sequence_layers_keras.py),
  in a fresh interpreter on its numpy backend;
- a saved model loads back with the same outputs.
"""

import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

import dlcourse
from dlcourse.nn import GRU, LSTM, SGD, Concatenate, Dense, Input, Model, SimpleRNN

BACKENDS = ("manual", "autodiff", "torch", "tensorflow", "jax", "pytensor")
PACKAGES = {"torch": "torch", "tensorflow": "tensorflow", "jax": "jax", "pytensor": "pytensor"}
PREDICTIONS = 1e-6
WEIGHTS = 1e-8
FINITE_DIFFERENCES = 1e-7
KERAS_FLOAT32_STEP = 1e-6
WORKER_TIMEOUT_S = 240

RNG = np.random.default_rng(0)
X = RNG.standard_normal((8, 5, 3))
TARGETS = RNG.standard_normal((8, 2))
OTHER = RNG.standard_normal((8, 4, 3))  # a decoder's own input sequence


def needs(backend):
    package = PACKAGES.get(backend)
    if package and importlib.util.find_spec(package) is None:
        pytest.skip(f"the {backend} backend needs {package}, which is not installed")


def encoder_decoder(backend, layers=None):
    """Every state used downstream: as a decoder's start, and directly."""
    layers = layers or {
        "LSTM": LSTM,
        "GRU": GRU,
        "SimpleRNN": SimpleRNN,
        "Dense": Dense,
        "Concatenate": Concatenate,
        "Input": Input,
        "Model": Model,
    }
    with dlcourse.backend(backend) if isinstance(backend, str) else _nothing():
        x = layers["Input"]((5, 3), name="x")
        seq, h, c = layers["LSTM"](4, return_sequences=True, return_state=True, name="enc")(x)
        decoded = layers["LSTM"](4, name="dec")(seq, initial_state=[h, c])
        _, g = layers["GRU"](3, return_state=True, name="gru")(seq)
        ran = layers["SimpleRNN"](3, name="rnn")(seq, initial_state=[g])
        joined = layers["Concatenate"](name="join")([decoded, h, ran])
        out = layers["Dense"](2, name="head")(joined)
        if isinstance(backend, str):
            return layers["Model"](x, out, dtype="float64", seed=2)
        return layers["Model"](x, out)


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *args):
        return False


def perturbed(model):
    # non-zero biases and larger weights, so that a dropped gradient shows
    noise = np.random.default_rng(5)
    model.set_weights([w + noise.standard_normal(w.shape) * 0.3 for w in model.get_weights()])
    return model


def trained(backend):
    model = perturbed(encoder_decoder(backend))
    model.compile(optimizer=SGD(learning_rate=0.1), loss="mse")
    before = model.predict(X)
    model.fit(X, TARGETS, epochs=2, batch_size=4, shuffle=False, verbose=0)
    return before, model.get_weights()


@pytest.fixture(scope="module")
def reference():
    return trained("manual")


@pytest.mark.parametrize("backend", [b for b in BACKENDS if b != "manual"])
def test_every_backend_trains_as_manual(reference, backend):
    needs(backend)
    before, weights = trained(backend)
    np.testing.assert_allclose(before, reference[0], rtol=0, atol=PREDICTIONS)
    for ours, theirs in zip(weights, reference[1]):
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=WEIGHTS)


def test_the_encoder_learns(reference):
    start = perturbed(encoder_decoder("manual")).get_weights()
    # the encoder's kernel (first weight) moves: its gradient came back through h and c
    assert np.max(np.abs(reference[1][0] - start[0])) > 1e-4


# ---------------------------------------------- the gradient through the states
def states_only(kind):
    """The encoder reaches the loss only through the states it hands the decoder."""
    with dlcourse.backend("manual"):
        x, other = Input((5, 3), name="x"), Input((4, 3), name="other")
        layer = {"LSTM": LSTM, "GRU": GRU, "SimpleRNN": SimpleRNN}[kind]
        _, *states = layer(4, return_state=True, name="enc")(x)
        decoded = layer(4, name="dec")(other, initial_state=states)
        model = Model([x, other], Dense(2, name="head")(decoded), dtype="float64", seed=1)
    model.compile(optimizer=SGD(learning_rate=0.1), loss="mse")
    return perturbed(model)


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "SimpleRNN"])
def test_the_gradient_through_the_states_is_the_slope(kind):
    model = states_only(kind)
    targets = np.random.default_rng(1).standard_normal((8, 2))
    _, grads = model.loss_and_gradients([X, OTHER], targets)
    weights = model.get_weights()
    for index in (0, 1, 2):  # every weight of the encoder
        numeric = np.zeros_like(weights[index])
        for pos in np.ndindex(weights[index].shape):
            values = []
            for step in (1e-6, -1e-6):
                changed = [w.copy() for w in weights]
                changed[index][pos] += step
                model.set_weights(changed)
                values.append(model.loss_and_gradients([X, OTHER], targets)[0])
            numeric[pos] = (values[0] - values[1]) / 2e-6
        model.set_weights(weights)
        assert np.max(np.abs(numeric)) > 1e-3  # the states carry a real gradient
        np.testing.assert_allclose(grads[index], numeric, rtol=0, atol=FINITE_DIFFERENCES)


# ---------------------------------------------------------------- interfaces
def test_a_saved_model_loads_with_its_states(tmp_path):
    model = perturbed(encoder_decoder("manual"))
    with dlcourse.backend("manual"):
        loaded = Model.load(model.save(tmp_path / "encoder_decoder"))
    np.testing.assert_array_equal(model.predict(X), loaded.predict(X))


def test_eager_initial_state_is_used():
    with dlcourse.backend("manual"):
        layer = LSTM(4, return_state=True)
        _, h, c = layer(X)
        _, h_zero, _ = layer(X, initial_state=[np.zeros((8, 4)), np.zeros((8, 4))])
        _, h_given, _ = layer(X, initial_state=[h, c])
    np.testing.assert_allclose(h_zero, h, atol=1e-15)
    assert np.max(np.abs(h_given - h)) > 1e-3


def test_a_wrong_number_of_states_is_named():
    x = Input((5, 3))
    with pytest.raises(ValueError, match=r"GRU layer .* needs 1 state\(s\) \(\[h\]\), got 2"):
        GRU(3)(x, initial_state=[x, x])


# ------------------------------------------------------------- against Keras 3
def test_keras_gives_our_predictions(tmp_path):
    if importlib.util.find_spec("keras") is None:
        pytest.skip("Keras 3 is not installed (pip install keras)")
    model = perturbed(encoder_decoder("manual"))
    weights = {layer.name: layer.get_weights() for layer in model.layers}
    arrays = {f"{name}/{i}": w for name, ws in weights.items() for i, w in enumerate(ws)}
    np.savez(tmp_path / "in.npz", **arrays)
    env = {**os.environ, "KERAS_BACKEND": "numpy", "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, os.path.abspath(__file__), str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=WORKER_TIMEOUT_S,
    )
    assert done.returncode == 0, f"the Keras worker failed:\n{done.stderr[-3000:]}"
    expected = np.load(tmp_path / "out.npy")
    ours = model.predict(X)
    difference = np.max(np.abs(ours - expected)) / np.max(np.abs(expected))
    assert difference <= KERAS_FLOAT32_STEP, f"{difference:.1e} from Keras"


def worker(folder):
    import keras

    keras.config.set_floatx("float64")
    layers = {
        "LSTM": keras.layers.LSTM,
        "GRU": keras.layers.GRU,
        "SimpleRNN": keras.layers.SimpleRNN,
        "Dense": keras.layers.Dense,
        "Concatenate": keras.layers.Concatenate,
        "Input": keras.Input,
        "Model": keras.Model,
    }
    model = encoder_decoder(None, layers)
    with np.load(os.path.join(folder, "in.npz")) as data:
        for layer in model.layers:
            count = len(layer.weights)
            if count:
                layer.set_weights([data[f"{layer.name}/{i}"] for i in range(count)])
    np.save(os.path.join(folder, "out.npy"), keras.ops.convert_to_numpy(model(X)))


if __name__ == "__main__":
    worker(sys.argv[1])
