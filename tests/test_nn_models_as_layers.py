"""Models used as layers, as in Keras: ``inner(x)`` in a graph, a model in a Sequential,
a model held by a layer. Counted, ordered, seeded, saved, and differentiated by hand.

The same numbers on all six backends are asserted in ``test_backend_matrix.py``
("nested model"), and that every nested weight trains in ``test_nn_nested.py``.
"""

import numpy as np
import pytest

from backend_cases import use_backend
from dlcourse.nn import (
    SGD,
    Concatenate,
    Dense,
    Embedding,
    GlobalAveragePooling1D,
    Input,
    Layer,
    Model,
    Sequential,
    load_model,
)
from graph_cases import Wrapped, nested_model


def test_a_nested_model_is_counted_shown_and_its_weights_are_ordered_by_path():
    with use_backend("manual"):
        model = nested_model(3, "float64")
    # stem: 12*8+8, 8*8+8, 8*8+8; block (twice, counted once): 2 * 72; wrapped: 2 * 72; head: 45
    assert model.count_params() == 104 + 72 + 72 + 144 + 144 + 45
    assert [layer.name for layer in model.layers] == ["stem", "block", "wrapped", "dense"]
    assert model.weight_names[:6] == [
        "stem/dense/kernel",
        "stem/dense/bias",
        "stem/deep/dense/kernel",
        "stem/deep/dense/bias",
        "stem/mix/dense/kernel",
        "stem/mix/dense/bias",
    ]
    assert model.weight_names[10] == "wrapped/body/dense/kernel"
    lines = []
    model.summary(print_fn=lines.append)
    rows = {line.split()[0]: line for line in lines[0].splitlines() if line[:1].isalpha()}
    assert rows["stem"].split()[1] == "(Sequential)" and rows["stem"].split()[-2] == "248"
    assert rows["block"].rstrip().endswith("stem | block")  # called on stem, then on itself
    assert "Total params: 581" in lines[0]


def test_get_and_set_weights_follow_the_documented_order():
    with use_backend("manual"):
        model = nested_model(3, "float64")
    weights = model.get_weights()
    stem = model.layers[0]
    np.testing.assert_array_equal(weights[2], stem.layers[1].layers[0].get_weights()[0])
    shifted = [w + i for i, w in enumerate(weights)]
    model.set_weights(shifted)
    np.testing.assert_array_equal(stem.layers[1].get_weights()[1], weights[3] + 3)
    np.testing.assert_array_equal(model.layers[2].body.get_weights()[0], weights[10] + 10)
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), shifted))


def test_the_outer_seed_fixes_a_nested_sequential_and_an_own_seed_is_kept():
    def make(outer_seed):
        inner = Sequential([Dense(4)], name="inner")
        own = Sequential([Dense(4)], name="own", seed=11)
        x = Input((3,))
        return Model(x, Dense(2)(own(inner(x))), seed=outer_seed, dtype="float64")

    with use_backend("manual"):
        first, again, other = make(0), make(0), make(1)
        alone = Sequential([Dense(4)], seed=11, dtype="float64", input_shape=(4,))
    assert all(np.array_equal(a, b) for a, b in zip(first.get_weights(), again.get_weights()))
    assert not np.array_equal(first.get_weights()[0], other.get_weights()[0])
    # the model with its own seed draws what it draws when built alone
    np.testing.assert_array_equal(first.layers[1].get_weights()[0], alone.get_weights()[0])
    assert first.layers[0].dtype == "float64"  # the inner Sequential took the outer dtype


def test_a_nested_model_saves_and_loads_without_pickle(tmp_path):
    x = np.random.default_rng(0).standard_normal((6, 12))
    with use_backend("manual"):
        model = nested_model(3, "float64")
    model.compile(optimizer="sgd", loss="mse")
    path = model.save(tmp_path / "nested")
    with np.load(path, allow_pickle=False) as data:  # no object arrays anywhere
        assert all(data[key].dtype != object for key in data.files)
    with use_backend("manual"):
        loaded = load_model(path)
    assert loaded.weight_names == model.weight_names
    assert [type(layer).__name__ for layer in loaded.layers] == [
        "Sequential",
        "Functional",
        "Wrapped",
        "Dense",
    ]
    assert type(loaded.layers[0].layers[2]).__name__ == "Functional"
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


def test_a_nested_model_with_two_inputs_and_two_outputs_is_one_node():
    rng = np.random.default_rng(1)
    xa, xb = rng.standard_normal((5, 4)), rng.standard_normal((5, 3))
    with use_backend("manual"):
        a, b = Input((4,), name="a"), Input((3,), name="b")
        inner = Model([a, b], [Dense(3)(a), Dense(2, activation="tanh")(b)], seed=0)
        p, q = Input((4,), name="p"), Input((3,), name="q")
        first, second = inner([p, q])
        outer = Model([p, q], Dense(1)(Concatenate()([first, second])), seed=1)
    head = outer.layers[-1]
    expected = np.concatenate(inner.predict([xa, xb]), axis=1) @ head.get_weights()[0]
    np.testing.assert_allclose(outer.predict([xa, xb]), expected + head.get_weights()[1], 1e-6)


def test_a_nested_embedding_model_gets_integer_ids():
    ids = np.random.default_rng(2).integers(0, 10, (4, 5))
    with use_backend("manual"):
        inner = Sequential([Embedding(10, 3), GlobalAveragePooling1D()], name="bag", seed=0)
        x = Input((5,))  # no dtype: the nested Embedding makes it an id input
        outer = Model(x, inner(x), seed=1)
    assert outer.input_signature[0][1] == "int64"
    table = inner.layers[0].get_weights()[0]
    np.testing.assert_allclose(outer.predict(ids), table[ids].mean(axis=1), rtol=1e-6)


class HoldsModels(Model):
    """A subclassed model whose parts are a Sequential and a Functional model."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.body = Sequential([Dense(6, activation="tanh")], name="body")
        i = Input((6,))
        self.head = Model(i, Dense(2)(i), name="head", seed=5, dtype=self.dtype)

    def call(self, x, training=False):
        return self.head(self.body(x, training), training)

    def backward(self, dout):
        return self.body.backward(self.head.backward(dout))


@pytest.mark.parametrize("backend", ["autodiff", "torch", "jax"])
def test_hand_written_and_automatic_gradients_agree_through_nested_models(backend):
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((7, 12)), rng.standard_normal((7, 5))
    x4, y2 = x[:, :4], y[:, :2]
    results = {}
    for name in ("manual", backend):
        with use_backend(name):
            graph = nested_model(3, "float64")
            held = HoldsModels(seed=4, dtype="float64")
            held.build((None, 4))
        for model, (xs, ys) in ((graph, (x, y)), (held, (x4, y2))):
            model.compile(optimizer=SGD(learning_rate=0.1), loss="mse")
            results.setdefault(name, []).append(model.loss_and_gradients(xs, ys))
    for (loss_m, grads_m), (loss_b, grads_b) in zip(results["manual"], results[backend]):
        assert abs(loss_m - loss_b) <= 1e-12 * abs(loss_m)
        assert len(grads_m) == len(grads_b) > 0
        for g_m, g_b in zip(grads_m, grads_b):
            assert np.any(g_m != 0)
            np.testing.assert_allclose(g_b, g_m, rtol=1e-9, atol=1e-12)


def test_a_layer_holding_a_model_tracks_its_weights():
    with use_backend("manual"):
        layer = Wrapped(3)
        out = layer(np.ones((2, 3)))
    assert out.shape == (2, 3)
    assert layer.weight_names == [
        "body/dense/kernel",
        "body/dense/bias",
        "body/dense_1/kernel",
        "body/dense_1/bias",
    ]
    assert layer.count_params() == 24


def test_a_model_of_another_float_type_is_refused_with_a_reason():
    with use_backend("manual"):
        i = Input((4,))
        inner = Model(i, Dense(2)(i), name="inner", dtype="float32")
        x = Input((4,))
        with pytest.raises(ValueError, match=r"'inner' .* float32 weights, but .* float64"):
            Model(x, inner(x), dtype="float64")
        with pytest.raises(ValueError, match=r"'inner' .* float32 weights"):
            Sequential([inner], dtype="float64")


def test_a_model_of_another_backend_is_refused():
    with use_backend("manual"):
        i = Input((4,))
        inner = Model(i, Dense(2)(i), name="inner")
    with use_backend("autodiff"):
        x = Input((4,))
        with pytest.raises(ValueError, match="runs on"):
            Model(x, inner(x))


class _Unheld(Layer):
    def __init__(self, model, **kwargs):
        super().__init__(**kwargs)
        self.models = {"inner": model}  # a dict: not tracked

    def call(self, x, training=False):
        return self.models["inner"](x, training)


def test_a_model_a_layer_does_not_hold_is_refused():
    with use_backend("manual"):
        inner = Sequential([Dense(2)], name="inner")
        with pytest.raises(ValueError, match=r"calls layer 'inner' .* does not hold it"):
            Sequential([_Unheld(inner)], input_shape=(3,))
