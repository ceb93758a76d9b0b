"""The Functional API: ``Input``, ``Model(inputs, outputs)``, merging layers, graph errors.

The numbers of these models on every backend are compared with ``manual`` in
``test_backend_matrix.py``; here: structure, data handling, messages, saving.
"""

import numpy as np
import pytest

import dlcourse
from dlcourse.nn import (
    SGD,
    Add,
    Concatenate,
    Dense,
    Input,
    Model,
    Multiply,
    Sequential,
    SparseCategoricalCrossentropy,
    load_model,
)
from dlcourse.nn.models import Functional
from graph_cases import residual_subclassed, two_input_model


def data(n=10, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 12)), rng.standard_normal((n, 4)), rng.integers(0, 5, n)


def compiled(model):
    model.compile(
        optimizer=SGD(learning_rate=0.1), loss=SparseCategoricalCrossentropy(from_logits=True)
    )
    return model


@pytest.fixture(autouse=True)
def manual():
    with dlcourse.backend("manual"):
        yield


def test_model_of_inputs_and_outputs_is_a_functional_model_built_at_once():
    model = two_input_model(seed=0, dtype="float64")
    assert isinstance(model, Functional) and isinstance(model, Model)
    assert model.built and model.input_names == ["a", "b"]
    assert model.input_shape == [(None, 12), (None, 4)] and model.output_shape == (None, 5)
    assert isinstance(Sequential([Dense(2)]), Model)


def test_two_inputs_fit_evaluate_predict_with_a_list_or_a_dict():
    xa, xb, y = data()
    model = compiled(two_input_model(seed=0, dtype="float64"))
    history = model.fit([xa, xb], y, epochs=3, batch_size=4, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    by_list, by_dict = model.predict([xa, xb]), model.predict({"b": xb, "a": xa})
    assert by_list.shape == (10, 5)
    np.testing.assert_array_equal(by_list, by_dict)
    assert np.isfinite(model.evaluate({"a": xa, "b": xb}, y))
    model.fit([xa, xb], y, epochs=1, validation_split=0.3, verbose=0)
    model.fit([xa, xb], y, epochs=1, validation_data=((xa, xb), y), verbose=0)


def test_a_layer_used_twice_is_one_layer_with_one_set_of_weights():
    model = two_input_model(seed=0, dtype="float64")
    shared = [layer for layer in model.layers if layer.name == "shared"]
    assert len(shared) == 1
    calls = [node for node in model.nodes if node.layer is shared[0]]
    assert len(calls) == 2
    sizes = sum(w.size for w in model.get_weights())
    assert model.count_params() == sizes == 299


def test_the_weight_order_is_the_order_the_graph_runs():
    model = two_input_model(seed=0, dtype="float64")
    assert model.weight_names[:6] == [
        "dense/kernel",
        "dense/bias",
        "shared/kernel",
        "shared/bias",
        "dense_1/kernel",
        "dense_1/bias",
    ]
    again = two_input_model(seed=0, dtype="float64")
    assert again.weight_names == model.weight_names
    for a, b in zip(again.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_several_outputs_are_predicted_as_a_list():
    x = Input((3,), name="x")
    h = Dense(4, activation="relu")(x)
    model = Model(x, [Dense(2)(h), Dense(1)(h)], seed=0)
    out = model.predict(np.ones((5, 3)))
    assert [o.shape for o in out] == [(5, 2), (5, 1)]
    assert model.output_shape == [(None, 2), (None, 1)]
    model.compile(optimizer="sgd", loss="mse")
    # training takes one target per output (tests/test_nn_multi_output.py): one array is refused
    with pytest.raises(ValueError, match="has 2 outputs .* takes a list of 2 target arrays"):
        model.fit(np.ones((5, 3)), np.ones((5, 2)), verbose=0)


def test_add_multiply_concatenate_compute_what_they_say():
    a, b = Input((3,), name="a"), Input((3,), name="b")
    model = Model([a, b], [Add()([a, b]), Multiply()([a, b]), Concatenate()([a, b])])
    x1, x2 = np.arange(6.0).reshape(2, 3), np.ones((2, 3)) * 2
    added, multiplied, joined = model.predict([x1, x2])
    np.testing.assert_allclose(added, x1 + x2)
    np.testing.assert_allclose(multiplied, x1 * x2)
    np.testing.assert_allclose(joined, np.concatenate([x1, x2], axis=1))


def test_merging_layers_backward_by_hand_match_finite_differences():
    rng = np.random.default_rng(1)
    xs = [rng.standard_normal((3, 4)) for _ in range(3)]
    dout = rng.standard_normal((3, 4))
    layer = Multiply()
    layer(xs)
    layer.forward(xs)
    grads = layer.backward(dout)
    eps = 1e-6
    for i in range(3):
        bumped = [x.copy() for x in xs]
        bumped[i][1, 2] += eps
        numeric = (np.sum(layer.call(bumped) * dout) - np.sum(layer.call(xs) * dout)) / eps
        assert abs(numeric - grads[i][1, 2]) < 1e-4
    concat = Concatenate()
    parts = [rng.standard_normal((3, 2)), rng.standard_normal((3, 5))]
    concat(parts)
    concat.forward(parts)
    back = concat.backward(rng.standard_normal((3, 7)))
    assert [g.shape for g in back] == [(3, 2), (3, 5)]
    assert Add()(parts[:1] * 2) is not None  # two of the same tensor is fine


def test_shape_mismatch_in_add_names_the_layer_and_the_shapes():
    a, b = Input((3,), name="a"), Input((4,), name="b")
    with pytest.raises(ValueError, match=r"Add layer 'add'.*\(None, 3\), \(None, 4\).*same shape"):
        Model([a, b], Add()([a, b]))
    with pytest.raises(ValueError, match=r"Concatenate layer .* all sizes except along axis"):
        c, d = Input((2, 3)), Input((3, 3))
        Model([c, d], Concatenate(axis=-1)([c, d]))
    with pytest.raises(ValueError, match="list of at least two"):
        Model(a, Add()(a))


def test_an_output_not_reachable_from_the_inputs_is_refused():
    a, b = Input((3,), name="a"), Input((3,), name="b")
    out = Add()([Dense(3)(a), b])
    with pytest.raises(ValueError, match=r"not reachable from the model's inputs \('a'\).*'b'"):
        Model(a, out)


def test_inputs_must_be_inputs_with_distinct_names():
    a = Input((3,), name="a")
    with pytest.raises(ValueError, match="not an Input"):
        Model(Dense(2)(a), Dense(1)(Dense(2)(a)))
    with pytest.raises(ValueError, match="called the same"):
        Model([a, Input((3,), name="a")], Dense(1)(a))
    with pytest.raises(ValueError, match="mix of Input placeholders and real arrays"):
        Add()([a, np.ones((2, 3))])


def test_inputs_that_do_not_fit_the_model_get_a_message_with_the_fix():
    xa, xb, y = data()
    model = compiled(two_input_model(seed=0, dtype="float64"))
    with pytest.raises(ValueError, match=r"has no array for 'b'.*inputs are 'a', 'b'"):
        model.predict({"a": xa})
    with pytest.raises(ValueError, match=r"'c' is not an input of the model"):
        model.predict({"a": xa, "b": xb, "c": xb})
    with pytest.raises(ValueError, match=r"2 inputs \('a', 'b'\); pass a list of 2 arrays"):
        model.fit(xa, y, verbose=0)
    with pytest.raises(ValueError, match="got a list of 3 arrays"):
        model.predict([xa, xb, xb])
    with pytest.raises(ValueError, match=r"x\['b'\]: the model was built for inputs of shape"):
        model.predict([xa, xa])
    with pytest.raises(ValueError, match="different numbers of examples"):
        model.predict([xa, xb[:3]])


def test_dict_inputs_and_integer_inputs():
    ids = Input((2,), dtype="int64", name="ids")
    values = Input((2,), name="values")
    model = Model({"ids": ids, "values": values}, [Dense(2)(values), ids])
    assert model.input_signature == [((None, 2), "int64"), ((None, 2), "float32")]
    ids_in, values_in = model.prepare_inputs({"ids": [[1, 2]], "values": np.ones((1, 2), int)})
    assert ids_in.dtype == np.int64 and values_in.dtype == np.float32  # indices stay integers


def test_summary_shows_inputs_connections_and_totals():
    lines = []
    two_input_model(seed=0, dtype="float64").summary(print_fn=lines.append)
    text = lines[0]
    assert "a (Input)" in text and "Connected to" in text
    assert "dense, | dense_1" not in text and "dense | dense_1" in text  # shared: two calls
    assert "Total params: 299" in text


def test_a_functional_model_saves_and_loads_with_the_same_numbers(tmp_path):
    xa, xb, y = data()
    model = compiled(two_input_model(seed=0, dtype="float64"))
    model.fit([xa, xb], y, epochs=1, verbose=0)
    loaded = load_model(model.save(tmp_path / "graph"))
    assert isinstance(loaded, Functional) and loaded.weight_names == model.weight_names
    np.testing.assert_array_equal(loaded.predict([xa, xb]), model.predict([xa, xb]))
    assert len([n for n in loaded.nodes if n.layer.name == "shared"]) == 2
    loaded.fit([xa, xb], y, epochs=1, verbose=0)  # compiled again from the file


def test_conversions_of_subclassed_models_say_they_are_not_supported(tmp_path):
    # graphs convert (tests/test_interop_*_graphs.py); a subclassed call() cannot be read
    from dlcourse.interop import export_onnx, to_keras

    model = residual_subclassed(seed=0, dtype="float64")
    with pytest.raises(NotImplementedError, match="subclassed model .* Functional API"):
        to_keras(model)
    with pytest.raises(NotImplementedError, match="export_onnx: .* subclassed"):
        export_onnx(model, tmp_path / "graph.onnx")
    assert not (tmp_path / "graph.onnx").exists()
