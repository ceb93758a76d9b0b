"""Layers for token sequences: Embedding, PositionEmbedding, GlobalAveragePooling1D,
LayerNormalization. Shapes, weights, integer inputs, errors, save/load, and the
hand-written backward against the course's autodiff engine.

The six-backend comparison of whole models built from them is in
``test_backend_matrix.py`` (the "embedding pool" and "embedding norm" models);
the comparison with Keras 3 itself in ``test_nn_sequence_layers_keras.py``.
"""

import numpy as np
import pytest

import dlcourse
from dlcourse.nn import (
    SGD,
    Dense,
    Embedding,
    GlobalAveragePooling1D,
    Input,
    LayerNormalization,
    Model,
    PositionEmbedding,
    Sequential,
    SparseCategoricalCrossentropy,
    load_model,
)

RNG = np.random.default_rng(0)
IDS = RNG.integers(0, 9, (5, 4))
LABELS = RNG.integers(0, 3, 5)


def classifier(backend, layers, steps=4):
    with dlcourse.backend(backend):
        model = Sequential(layers, seed=2, dtype="float64", input_shape=(steps,))
    model.compile(optimizer=SGD(0.1), loss=SparseCategoricalCrossentropy(from_logits=True))
    return model


# ------------------------------------------------------------------ Embedding
def test_embedding_looks_up_rows_and_keeps_ids_integer():
    layer = Embedding(9, 3)
    out = layer(IDS)
    assert tuple(out.shape) == (5, 4, 3)
    np.testing.assert_array_equal(out, layer.embeddings[IDS])
    assert layer.embeddings.shape == (9, 3)
    assert np.all(np.abs(layer.embeddings) <= 0.05)  # Keras's RandomUniform(-0.05, 0.05)
    assert layer.count_params() == 27


def test_a_model_starting_with_an_embedding_takes_integer_inputs():
    model = classifier("manual", [Embedding(9, 3), GlobalAveragePooling1D(), Dense(3)])
    assert model.input_signature == [((None, 4), "int64")]
    assert model.prepare_inputs(IDS.astype(np.int32)).dtype == np.int64
    # whole numbers stored as floats are ids too; anything else is refused
    assert model.prepare_inputs(IDS.astype(np.float64)).dtype == np.int64
    with pytest.raises(ValueError, match="integer ids.*whole numbers"):
        model.predict(IDS + 0.5)
    # a float model with no Embedding still casts its inputs to float
    plain = classifier("manual", [Dense(3)])
    assert plain.prepare_inputs(IDS).dtype == np.float64


def test_an_input_that_feeds_an_embedding_holds_ids_unless_it_says_otherwise():
    ids = Input((4,))
    model = Model(ids, Dense(2)(GlobalAveragePooling1D()(Embedding(9, 3)(ids))))
    assert model.input_signature == [((None, 4), "int64")]
    ids32 = Input((4,), dtype="int32")
    model32 = Model(ids32, GlobalAveragePooling1D()(Embedding(9, 3)(ids32)))
    assert model32.input_signature == [((None, 4), "int32")]
    assert model32.predict(IDS).shape == (5, 3)


def test_float_ids_into_an_embedding_say_how_to_fix_them():
    with pytest.raises(ValueError, match=r"integer token ids.*astype\('int64'\)"):
        Embedding(9, 3)(np.zeros((2, 4), dtype=np.float32))


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: Embedding(0, 3), "input_dim: expected a positive integer"),
        (lambda: Embedding(9, 2.5), "output_dim: expected a positive integer"),
        (lambda: PositionEmbedding(-1), "sequence_length: expected a positive integer"),
        (lambda: LayerNormalization(epsilon=0), "epsilon: expected a positive number"),
        (lambda: LayerNormalization(axis="last"), "axis: expected -1"),
    ],
)
def test_bad_arguments_name_the_argument(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize(
    "layer, shape, match",
    [
        (Embedding(9, 3), (2, 3, 4), r"\(batch, sequence_length\)"),
        (PositionEmbedding(3), (2, 4, 5), "longer than sequence_length=3; raise"),
        (PositionEmbedding(3), (2, 3), r"\(batch, sequence_length, features\)"),
        (GlobalAveragePooling1D(), (2, 3), r"\(batch, steps, features\)"),
        (LayerNormalization(axis=1), (2, 3, 4), "axis=1 is not supported"),
    ],
    ids=lambda v: type(v).__name__ if not isinstance(v, (tuple, str)) else str(v),
)
def test_bad_shapes_say_what_to_do(layer, shape, match):
    x = np.zeros(shape, dtype=np.int64 if isinstance(layer, Embedding) else np.float64)
    with pytest.raises(ValueError, match=match):
        layer(x)


# ------------------------------------------------------- the other three layers
def test_position_embedding_adds_the_first_rows_of_its_table():
    x = RNG.standard_normal((2, 3, 4))
    layer = PositionEmbedding(5, dtype="float64")
    out = layer(x)
    assert layer.embeddings.shape == (5, 4)
    np.testing.assert_allclose(out, x + layer.embeddings[:3])


def test_global_average_pooling_1d_averages_the_steps():
    x = RNG.standard_normal((2, 3, 4))
    np.testing.assert_allclose(GlobalAveragePooling1D(dtype="float64")(x), x.mean(axis=1))
    assert tuple(GlobalAveragePooling1D(keepdims=True)(x).shape) == (2, 1, 4)


@pytest.mark.parametrize(
    "center, scale, count", [(True, True, 8), (False, True, 4), (True, False, 4), (False, False, 0)]
)
def test_layer_normalization_normalizes_each_example(center, scale, count):
    x = RNG.standard_normal((2, 3, 4)) * 5 + 2
    layer = LayerNormalization(epsilon=1e-6, center=center, scale=scale, dtype="float64")
    out = np.asarray(layer(x))
    centred = x - x.mean(-1, keepdims=True)
    expected = centred / np.sqrt((centred**2).mean(-1, keepdims=True) + 1e-6)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)  # gamma 1, beta 0
    assert layer.count_params() == count
    assert layer.weight_names == [n for n, keep in (("gamma", scale), ("beta", center)) if keep]


# -------------------------------------------- hand-written backward vs autodiff
CASES = {
    # T = 3 < sequence_length = 5: only the first rows of the table learn
    "short sequences": lambda: [
        Embedding(9, 4),
        PositionEmbedding(5),
        LayerNormalization(),
        GlobalAveragePooling1D(),
        Dense(3),
    ],
    "no center": lambda: [
        Embedding(9, 4),
        LayerNormalization(center=False),
        GlobalAveragePooling1D(keepdims=True),
        LayerNormalization(scale=False),
        GlobalAveragePooling1D(),
        Dense(3),
    ],
}


@pytest.mark.parametrize("case", list(CASES))
def test_hand_written_gradients_match_the_autodiff_engine(case):
    ids, labels = IDS[:, :3], LABELS
    manual = classifier("manual", CASES[case](), steps=3)
    engine = classifier("autodiff", CASES[case](), steps=3)
    weights = [w + RNG.standard_normal(w.shape) * 0.3 for w in manual.get_weights()]
    manual.set_weights(weights)
    engine.set_weights(weights)
    loss, grads = manual.loss_and_gradients(ids, labels)
    loss_ad, grads_ad = engine.loss_and_gradients(ids, labels)
    assert abs(loss - loss_ad) < 1e-12
    for name, g, g_ad in zip(manual.trainable_weight_names, grads, grads_ad):
        np.testing.assert_allclose(g, g_ad, rtol=1e-9, atol=1e-12, err_msg=name)
    if case == "short sequences":  # rows 3 and 4 of the position table were never used
        position = manual.trainable_weight_names.index("position_embedding/embeddings")
        assert np.all(grads[position][3:] == 0) and np.any(grads[position][:3] != 0)


# ---------------------------------------------------------- save, load, summary
def test_save_load_and_summary(tmp_path):
    layers = [
        Embedding(9, 4, name="tokens"),
        PositionEmbedding(4),
        LayerNormalization(epsilon=1e-4, center=False),
        GlobalAveragePooling1D(),
        Dense(3),
    ]
    model = classifier("manual", layers)
    model.fit(IDS, LABELS, epochs=1, batch_size=5, verbose=0)
    path = model.save(tmp_path / "tokens")
    again = load_model(path)
    np.testing.assert_array_equal(again.predict(IDS), model.predict(IDS))
    assert again.layers[2].get_config() == layers[2].get_config()
    assert again.input_signature == [((None, 4), "int64")]
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    for row in ("tokens (Embedding)", "(None, 4, 4)", "36", "16", "position_embedding"):
        assert row in text
    assert model.count_params() == 9 * 4 + 4 * 4 + 4 + 4 * 3 + 3
