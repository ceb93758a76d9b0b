"""The sequence layers against Keras 3 itself: same weights in, same numbers out (float64).

Each case builds one of our layers and the Keras layer of the same name and
arguments, copies our (randomly perturbed) weights into Keras in our weight
order (which is therefore checked to be Keras's), and compares the outputs.
Keras runs in a fresh interpreter on its ``numpy`` backend (this file run as a
script), so no other test's Keras backend choice is disturbed and no GPU
library has to start. Tolerances, relative to the largest value:

- 1e-12 (``TOLERANCE``) for Embedding: a lookup, exact on both sides (measured 0);
- 1e-6 (``KERAS_FLOAT32_STEP``) for every other layer: Keras 3.15 loses float64
  precision inside them even for a float64 layer. ``keras.ops.mean`` of a
  float64 array differs from NumPy's by 1.9e-7 here (on the numpy and the jax
  backend, x64 on), and ``ops.rsqrt`` returns float32 for float64 on the numpy
  backend. Measured against Keras (two runs): GlobalAveragePooling1D 1.1e-7,
  LayerNormalization 5e-8 to 1.6e-7, SimpleRNN 2.8e-7 to 4.3e-7, LSTM 7e-8 to
  1.1e-7, GRU 1.2e-7 to 2.4e-7, MultiHeadAttention 1.9e-7 to 2.2e-7;
  ours match the exact float64 formulas to ~1e-15 (``test_nn_sequence_layers.py``)
  and the five other backends to ~1e-15 (``test_backend_matrix.py``).
  A wrong gate order or formula is off by far more than 1e-6 (the last test
  here shows that 1e-4 in one weight is seen).

``PositionEmbedding`` has no Keras 3 counterpart (it lives in keras_hub, which
is not installed here); its numbers are checked in ``test_nn_sequence_layers.py``.
"""

import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

TOLERANCE = 1e-12
KERAS_FLOAT32_STEP = 1e-6
WORKER_TIMEOUT_S = 240

RNG = np.random.default_rng(7)
TOKENS = RNG.integers(0, 11, (3, 5))
SEQUENCES = RNG.standard_normal((3, 5, 6)) * 2 + 1
MEMORY = RNG.standard_normal((3, 4, 7))  # another sequence: 4 steps of 7 features
KEYS = RNG.standard_normal((3, 4, 2))
# how each case calls its layer, on both sides (positional inputs, then options)
CALLS = {
    "MultiHeadAttention causal": ((SEQUENCES, SEQUENCES), {"use_causal_mask": True}),
    "MultiHeadAttention cross": ((SEQUENCES, MEMORY, KEYS), {}),
}


# name -> (our layer, its input); the Keras layer of each name is in keras_cases
def cases():
    from dlcourse import nn

    return {
        "Embedding": (
            lambda: nn.Embedding(11, 4, dtype="float64"),
            TOKENS,
        ),
        "LayerNormalization": (
            lambda: nn.LayerNormalization(epsilon=1e-3, dtype="float64"),
            SEQUENCES,
        ),
        "LayerNormalization no center": (
            lambda: nn.LayerNormalization(epsilon=1e-5, center=False, dtype="float64"),
            SEQUENCES,
        ),
        "LayerNormalization no scale": (
            lambda: nn.LayerNormalization(scale=False, dtype="float64"),
            SEQUENCES,
        ),
        "GlobalAveragePooling1D": (
            lambda: nn.GlobalAveragePooling1D(dtype="float64"),
            SEQUENCES,
        ),
        "SimpleRNN": (
            lambda: nn.SimpleRNN(4, return_sequences=True, dtype="float64"),
            SEQUENCES,
        ),
        "LSTM": (lambda: nn.LSTM(4, return_sequences=True, dtype="float64"), SEQUENCES),
        "LSTM states": (
            lambda: nn.LSTM(3, return_state=True, dtype="float64"),
            SEQUENCES,
        ),
        "GRU": (lambda: nn.GRU(4, return_sequences=True, dtype="float64"), SEQUENCES),
        "GRU states": (
            lambda: nn.GRU(3, return_sequences=True, return_state=True, dtype="float64"),
            SEQUENCES,
        ),
        "MultiHeadAttention causal": (
            lambda: nn.MultiHeadAttention(2, 3, dtype="float64"),
            None,
        ),
        "MultiHeadAttention cross": (
            lambda: nn.MultiHeadAttention(3, 2, value_dim=4, dtype="float64"),
            None,
        ),
    }


def keras_cases():
    """The Keras half of ``cases`` (imports nothing of dlcourse: runs in the worker)."""
    return {
        "Embedding": lambda L: L.Embedding(11, 4, dtype="float64"),
        "LayerNormalization": lambda L: L.LayerNormalization(epsilon=1e-3, dtype="float64"),
        "LayerNormalization no center": lambda L: L.LayerNormalization(
            epsilon=1e-5, center=False, dtype="float64"
        ),
        "LayerNormalization no scale": lambda L: L.LayerNormalization(scale=False, dtype="float64"),
        "GlobalAveragePooling1D": lambda L: L.GlobalAveragePooling1D(dtype="float64"),
        "SimpleRNN": lambda L: L.SimpleRNN(4, return_sequences=True, dtype="float64"),
        "LSTM": lambda L: L.LSTM(4, return_sequences=True, dtype="float64"),
        "LSTM states": lambda L: L.LSTM(3, return_state=True, dtype="float64"),
        "GRU": lambda L: L.GRU(4, return_sequences=True, dtype="float64"),  # reset_after=True
        "GRU states": lambda L: L.GRU(3, return_sequences=True, return_state=True, dtype="float64"),
        "MultiHeadAttention causal": lambda L: L.MultiHeadAttention(2, 3, dtype="float64"),
        "MultiHeadAttention cross": lambda L: L.MultiHeadAttention(
            3, 2, value_dim=4, dtype="float64"
        ),
    }


def _flat(out):
    """One array from an output, or from a list of them (an output and its states)."""
    if isinstance(out, (list, tuple)):
        return np.concatenate([np.asarray(o, dtype=np.float64).ravel() for o in out])
    return np.asarray(out, dtype=np.float64)


def ours():
    """name -> (input, our weights, our output), weights perturbed away from 0 and 1."""
    results = {}
    for name, (make, x) in cases().items():
        layer = make()
        xs, options = CALLS.get(name, ((x,), {}))
        layer(*xs, **options)
        weights = [w + RNG.standard_normal(w.shape) * 0.5 for w in layer.get_weights()]
        layer.set_weights(weights)
        results[name] = (xs, weights, _flat(layer(*xs, **options)))
    return results


def run_worker(tmp_path, results):
    inputs = {}
    for i, (xs, weights, _) in enumerate(results.values()):
        for j, x in enumerate(xs):
            inputs[f"{i}/x{j}"] = x
        for j, w in enumerate(weights):
            inputs[f"{i}/w{j}"] = w
    names = list(results)
    np.savez(tmp_path / "in.npz", names=np.array(names), **inputs)
    env = {**os.environ, "KERAS_BACKEND": "numpy", "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, os.path.abspath(__file__), str(tmp_path / "in.npz"), str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=WORKER_TIMEOUT_S,
    )
    assert done.returncode == 0, f"the Keras worker failed:\n{done.stderr[-3000:]}"
    with np.load(tmp_path / "out.npz") as out:
        return {name: out[str(i)] for i, name in enumerate(names)}


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    if importlib.util.find_spec("keras") is None:
        pytest.skip("Keras 3 is not installed (pip install keras)")
    results = ours()
    return results, run_worker(tmp_path_factory.mktemp("keras"), results)


@pytest.mark.parametrize("name", list(keras_cases()))
def test_the_layer_gives_keras_numbers(compared, name):
    results, keras_out = compared
    _, _, out = results[name]
    expected = keras_out[name]
    assert out.shape == expected.shape
    difference = np.max(np.abs(out - expected)) / np.max(np.abs(expected))
    tolerance = TOLERANCE if name == "Embedding" else KERAS_FLOAT32_STEP
    assert difference <= tolerance, f"{name}: {difference:.1e} from Keras"


def test_the_comparison_sees_a_wrong_weight(compared, tmp_path):
    # the same checks fail when one weight is off by a little in Keras's copy
    results, _ = compared
    changed = {}
    for name, index, step in (("Embedding", 0, 1e-10), ("LayerNormalization", 1, 1e-4)):
        xs, weights, out = results[name]
        bad = [w.copy() for w in weights]
        bad[index].flat[0] += step
        changed[name] = (xs, bad, out)
    keras_out = run_worker(tmp_path, changed)
    for name, tolerance in (("Embedding", TOLERANCE), ("LayerNormalization", KERAS_FLOAT32_STEP)):
        out = changed[name][2]
        difference = np.max(np.abs(out - keras_out[name])) / np.max(np.abs(keras_out[name]))
        assert difference > tolerance, name


def worker(path, folder):
    import keras

    made = keras_cases()
    outputs = {}
    with np.load(path) as data:
        for i, name in enumerate(data["names"]):
            layer = made[str(name)](keras.layers)
            xs = [data[f"{i}/x{j}"] for j in range(3) if f"{i}/x{j}" in data]
            options = CALLS.get(str(name), (None, {}))[1]
            layer(*xs, **options)  # builds the weights
            weights = [data[f"{i}/w{j}"] for j in range(len(layer.weights))]
            layer.set_weights(weights)
            out = layer(*xs, **options)
            if isinstance(out, (list, tuple)):
                out = [keras.ops.convert_to_numpy(o) for o in out]
            else:
                out = keras.ops.convert_to_numpy(out)
            outputs[str(i)] = _flat(out)
    np.savez(os.path.join(folder, "out.npz"), **outputs)


if __name__ == "__main__":
    worker(sys.argv[1], sys.argv[2])
