"""``MultiHeadAttention`` with ``attention_mask=`` and ``return_attention_scores=True``.

As in Keras 3: the mask (batch, Tq, Tk), True where a query may attend to a
key, combines with ``use_causal_mask``; the scores are the attention weights
(batch, heads, Tq, Tk). Checked:

- Keras 3, given our weights, gives our outputs and scores (a fresh
  interpreter on its numpy backend; its float32 steps inside float64 layers:
  ``KERAS_FLOAT32_STEP``, as in test_nn_sequence_layers_keras.py), for
  self-attention with mask and causal mask, and cross-attention with a key;
- a Functional model whose mask is an ``Input`` and whose loss also uses the
  scores trains the same on every backend as on ``manual`` (weights after two
  epochs of SGD within 1e-8, float64): the scores' gradient is followed back;
- a masked pair gets a weight of exactly 0.
"""

import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

import dlcourse
from dlcourse import ops
from dlcourse.nn import SGD, GlobalAveragePooling1D, Input, Model, MultiHeadAttention

BACKENDS = ("manual", "autodiff", "torch", "tensorflow", "jax", "pytensor")
PACKAGES = {"torch": "torch", "tensorflow": "tensorflow", "jax": "jax", "pytensor": "pytensor"}
PREDICTIONS = 1e-6
WEIGHTS = 1e-8
KERAS_FLOAT32_STEP = 1e-6
WORKER_TIMEOUT_S = 240

RNG = np.random.default_rng(0)
B, T, S, D = 6, 5, 4, 4
X = RNG.standard_normal((B, T, D))
MEMORY = RNG.standard_normal((B, S, 3))
KEYS = RNG.standard_normal((B, S, 2))
SELF_MASK = RNG.random((B, T, T)) > 0.4
SELF_MASK[:, :, 0] = True  # every query keeps a key, also under the causal mask
CROSS_MASK = RNG.random((B, T, S)) > 0.4
CROSS_MASK[:, :, -1] = True
CAUSAL = np.tril(np.ones((T, T), dtype=bool))
# name -> (inputs, call options)
CASES = {
    "self, mask and causal": (
        (X, X),
        {"attention_mask": SELF_MASK, "use_causal_mask": True},
    ),
    "self, mask only": ((X, X), {"attention_mask": SELF_MASK}),
    "cross with a key, mask": ((X, MEMORY, KEYS), {"attention_mask": CROSS_MASK}),
}


def needs(backend):
    package = PACKAGES.get(backend)
    if package and importlib.util.find_spec(package) is None:
        pytest.skip(f"the {backend} backend needs {package}, which is not installed")


def call(layer, inputs, options):
    return layer(*inputs, **options, return_attention_scores=True)


def ours(backend="manual"):
    """name -> (weights, output, scores); the weights drawn here, the same on every backend."""
    noise = np.random.default_rng(4)
    results = {}
    with dlcourse.backend(backend):
        for name, (inputs, options) in CASES.items():
            layer = MultiHeadAttention(2, 3, dtype="float64")
            call(layer, inputs, options)
            weights = [noise.standard_normal(w.shape) * 0.5 for w in layer.get_weights()]
            layer.set_weights(weights)
            out, scores = call(layer, inputs, options)
            results[name] = (weights, ops.convert_to_numpy(out), ops.convert_to_numpy(scores))
    return results


# ------------------------------------------------------------- against Keras 3
@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    if importlib.util.find_spec("keras") is None:
        pytest.skip("Keras 3 is not installed (pip install keras)")
    results = ours()
    folder = tmp_path_factory.mktemp("keras")
    arrays = {f"{i}/{j}": w for i, r in enumerate(results.values()) for j, w in enumerate(r[0])}
    np.savez(folder / "in.npz", **arrays)
    env = {**os.environ, "KERAS_BACKEND": "numpy", "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, os.path.abspath(__file__), str(folder)],
        env=env,
        capture_output=True,
        text=True,
        timeout=WORKER_TIMEOUT_S,
    )
    assert done.returncode == 0, f"the Keras worker failed:\n{done.stderr[-3000:]}"
    with np.load(folder / "out.npz") as out:
        keras_out = {k: out[k] for k in out.files}
    return results, keras_out


@pytest.mark.parametrize("index, name", list(enumerate(CASES)))
def test_outputs_and_scores_are_those_of_keras(compared, index, name):
    results, keras_out = compared
    _, out, scores = results[name]
    for what, ours_, theirs in (
        ("output", out, keras_out[f"{index}/out"]),
        ("scores", scores, keras_out[f"{index}/scores"]),
    ):
        assert ours_.shape == theirs.shape, what
        difference = np.max(np.abs(ours_ - theirs)) / np.max(np.abs(theirs))
        assert difference <= KERAS_FLOAT32_STEP, f"{name}, {what}: {difference:.1e} from Keras"


def test_the_mask_changes_the_numbers(compared):
    # without the mask Keras's numbers are not ours: the comparison sees the mask
    results, keras_out = compared
    with dlcourse.backend("manual"):
        layer = MultiHeadAttention(2, 3, dtype="float64")
        layer(X, X, use_causal_mask=True)
        layer.set_weights(results["self, mask and causal"][0])
        out = ops.convert_to_numpy(layer(X, X, use_causal_mask=True))
    assert np.max(np.abs(out - keras_out["0/out"])) > 1e-3


def test_masked_pairs_get_no_weight():
    _, _, scores = ours()["self, mask and causal"]
    hidden = np.broadcast_to(~(SELF_MASK[:, None] & CAUSAL), scores.shape)
    assert np.all(scores[hidden] == 0) and np.all(scores[~hidden] > 0)
    np.testing.assert_allclose(scores.sum(axis=-1), 1.0, atol=1e-12)


@pytest.mark.parametrize("backend", [b for b in BACKENDS if b != "manual"])
def test_every_backend_gives_the_numbers_of_manual(backend):
    needs(backend)
    reference, results = ours("manual"), ours(backend)
    for name in CASES:
        for ref, got in zip(reference[name][1:], results[name][1:]):
            np.testing.assert_allclose(got, ref, rtol=0, atol=PREDICTIONS, err_msg=name)


# ------------------------------------------ a graph whose loss uses the scores
def masked_model(backend):
    with dlcourse.backend(backend):
        x, mask = Input((T, D), name="x"), Input((T, T), name="mask")
        out, scores = MultiHeadAttention(2, 3, name="mha")(
            x, x, attention_mask=mask, use_causal_mask=True, return_attention_scores=True
        )
        pooled = GlobalAveragePooling1D(name="pool")(out)
        return Model([x, mask], [pooled, scores], dtype="float64", seed=3)


def trained(backend):
    model = masked_model(backend)
    model.compile(optimizer=SGD(learning_rate=0.5), loss="mse")
    targets = [np.random.default_rng(1).standard_normal((B, D)), np.full((B, 2, T, T), 0.3)]
    model.fit([X, SELF_MASK], targets, epochs=2, batch_size=3, shuffle=False, verbose=0)
    return model.get_weights()


@pytest.fixture(scope="module")
def reference_weights():
    return trained("manual")


@pytest.mark.parametrize("backend", [b for b in BACKENDS if b != "manual"])
def test_training_through_the_scores_matches_manual(reference_weights, backend):
    needs(backend)
    for ours_, theirs in zip(trained(backend), reference_weights):
        np.testing.assert_allclose(ours_, theirs, rtol=0, atol=WEIGHTS)


def test_a_saved_masked_model_loads(tmp_path):
    model = masked_model("manual")
    with dlcourse.backend("manual"):
        loaded = Model.load(model.save(tmp_path / "masked"))
    for a, b in zip(model.predict([X, SELF_MASK]), loaded.predict([X, SELF_MASK])):
        np.testing.assert_array_equal(a, b)


def test_a_mask_of_the_wrong_shape_is_named():
    x, mask = Input((T, D)), Input((T, T + 1))
    layer = MultiHeadAttention(2, 3)
    with pytest.raises(ValueError, match=r"attention_mask must have the shape .*\(batch, 5, 5\)"):
        Model([x, mask], layer(x, x, attention_mask=mask))


# --------------------------------------------------------------- Keras's side
def worker(folder):
    import keras

    keras.config.set_floatx("float64")
    out = {}
    with np.load(os.path.join(folder, "in.npz")) as data:
        for i, (inputs, options) in enumerate(CASES.values()):
            layer = keras.layers.MultiHeadAttention(2, 3)
            query, value, *key = inputs
            kwargs = {**options, "key": key[0] if key else None}
            layer(query, value, **kwargs)
            layer.set_weights([data[f"{i}/{j}"] for j in range(len(layer.weights))])
            result, scores = layer(query, value, **kwargs, return_attention_scores=True)
            out[f"{i}/out"] = keras.ops.convert_to_numpy(result)
            out[f"{i}/scores"] = keras.ops.convert_to_numpy(scores)
    np.savez(os.path.join(folder, "out.npz"), **out)


if __name__ == "__main__":
    worker(sys.argv[1])
