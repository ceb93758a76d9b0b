"""SimpleRNN, LSTM and GRU: shapes, weights, states, errors, the hand-written
backpropagation through time against the autodiff engine, and the loop each
compiled backend runs (one loop construct, not one copy of the step per time step).

Whole models on all six backends are compared in ``test_backend_matrix.py``
("embedding lstm", "embedding rnn gru"); against Keras 3 in
``test_nn_sequence_layers_keras.py``.
"""

import numpy as np
import pytest

import dlcourse
from dlcourse import backends, ops
from dlcourse.nn import (
    GRU,
    LSTM,
    SGD,
    Dense,
    Embedding,
    Input,
    Model,
    Sequential,
    SimpleRNN,
    SparseCategoricalCrossentropy,
    load_model,
)

RNG = np.random.default_rng(0)
X = RNG.standard_normal((4, 5, 3))
LABELS = RNG.integers(0, 3, 4)
LAYERS = {"SimpleRNN": (SimpleRNN, 1), "LSTM": (LSTM, 4), "GRU": (GRU, 3)}


@pytest.mark.parametrize("kind", list(LAYERS))
def test_outputs_and_states_have_keras_shapes(kind):
    cls, _ = LAYERS[kind]
    assert tuple(cls(6, dtype="float64")(X).shape) == (4, 6)
    assert tuple(cls(6, return_sequences=True, dtype="float64")(X).shape) == (4, 5, 6)
    out, *states = cls(6, return_sequences=True, return_state=True, dtype="float64")(X)
    assert tuple(out.shape) == (4, 5, 6)
    assert [tuple(s.shape) for s in states] == [(4, 6)] * (2 if kind == "LSTM" else 1)
    np.testing.assert_allclose(states[0], out[:, -1, :])  # h is the last output


@pytest.mark.parametrize("kind", list(LAYERS))
def test_weights_in_keras_order_shapes_and_initial_values(kind):
    cls, gates = LAYERS[kind]
    layer = cls(4, dtype="float64")
    layer(X)
    assert layer.weight_names == ["kernel", "recurrent_kernel", "bias"]
    bias_shape = (2, 12) if kind == "GRU" else (gates * 4,)
    assert [w.shape for w in layer.get_weights()] == [(3, gates * 4), (4, gates * 4), bias_shape]
    r = layer.recurrent_kernel
    np.testing.assert_allclose(r @ r.T, np.eye(4), atol=1e-12)  # orthogonal rows
    expected_bias = np.zeros(bias_shape)
    if kind == "LSTM":
        expected_bias[4:8] = 1  # the forget gate starts open
    np.testing.assert_array_equal(layer.bias, expected_bias)
    # Keras's counts: G * (D*H + H*H + H), the GRU's bias twice as long
    assert layer.count_params() == gates * (3 * 4 + 4 * 4 + 4) + (12 if kind == "GRU" else 0)


def test_bad_arguments_and_shapes_say_what_to_do():
    with pytest.raises(ValueError, match="units: expected a positive integer"):
        LSTM(0)
    with pytest.raises(ValueError, match=r"expects sequences \(batch, steps, features\).*reshape"):
        GRU(3)(np.zeros((4, 5)))
    # an LSTM's initial state is [h, c] (tests/test_nn_initial_state.py)
    x = Input((5, 3))
    with pytest.raises(ValueError, match=r"initial_state needs 2 state\(s\) \(\[h, c\]\), got 1"):
        LSTM(3)(x, initial_state=[x])


# ------------------------------------------------- states in a subclassed model
class StateHead(Model):
    """Uses the output sequence and every state, so each of their gradients matters."""

    def __init__(self, cls, **kwargs):
        super().__init__(**kwargs)
        self.rnn = cls(4, return_sequences=True, return_state=True)
        self.head = Dense(3)

    def call(self, x, training=False):
        out, *states = self.rnn(x, training)
        return self.head(ops.concatenate([out[:, 0, :], *states], axis=-1), training)

    def backward(self, dout):
        dz = self.head.backward(dout)
        pieces = [dz[:, 4 * k : 4 * (k + 1)] for k in range(dz.shape[1] // 4)]
        dseq = np.zeros((dz.shape[0], 5, 4))
        dseq[:, 0, :] = pieces[0]
        return self.rnn.backward([dseq, *pieces[1:]])


@pytest.mark.parametrize("kind", list(LAYERS))
def test_hand_written_gradients_with_states_match_the_autodiff_engine(kind):
    results = {}
    for backend in ("manual", "autodiff"):
        with dlcourse.backend(backend):
            model = StateHead(LAYERS[kind][0], seed=1, dtype="float64")
            model.build((None, 5, 3))
        # the same perturbed weights on both (zero biases would hide mistakes)
        noise = np.random.default_rng(5)
        model.set_weights([w + noise.standard_normal(w.shape) * 0.3 for w in model.get_weights()])
        model.compile(optimizer=SGD(0.1), loss=SparseCategoricalCrossentropy(from_logits=True))
        results[backend] = model.loss_and_gradients(X, LABELS)
    (loss, grads), (loss_ad, grads_ad) = results["manual"], results["autodiff"]
    assert abs(loss - loss_ad) < 1e-12
    assert all(np.any(g != 0) for g in grads)
    for g, g_ad in zip(grads, grads_ad):
        np.testing.assert_allclose(g, g_ad, rtol=1e-9, atol=1e-12)


# -------------------------------------------- one loop construct when compiled
def lstm_classifier(backend, steps=7):
    with dlcourse.backend(backend):
        layers = [Embedding(9, 3), LSTM(4, return_sequences=True), GRU(2), Dense(3)]
        model = Sequential(layers, seed=0, input_shape=(steps,))
    return model


def test_jax_traces_one_scan_per_recurrent_layer():
    jax = pytest.importorskip("jax")
    model = lstm_classifier("jax")
    ids = np.zeros((2, 7), dtype=np.int32)
    with backends.running(model.backend):
        jaxpr = jax.make_jaxpr(lambda p, s: model.stateless_call(p, s, ids)[0])(
            model.trainable_weights, model.state_variables
        )
    text = str(jaxpr)
    assert text.count("scan[") == 2, text  # LSTM and GRU; T = 7 steps are not unrolled


def test_tensorflow_builds_one_while_loop_per_recurrent_layer():
    tf = pytest.importorskip("tensorflow")
    model = lstm_classifier("tensorflow")

    def forward(ids):
        with backends.running(model.backend):
            return model.call(ids)

    graph = tf.function(forward).get_concrete_function(tf.TensorSpec((None, 7), tf.int64)).graph
    loops = [op for op in graph.get_operations() if op.type in ("While", "StatelessWhile")]
    assert len(loops) == 2


def test_pytensor_builds_one_scan_per_recurrent_layer():
    pytest.importorskip("pytensor")
    import pytensor.tensor as pt
    from pytensor.graph.traversal import applys_between
    from pytensor.scan.op import Scan

    model = lstm_classifier("pytensor")
    ids = pt.tensor("ids", dtype="int64", shape=(None, 7))
    with backends.running(model.backend):
        out = model.call(ids)
    scans = [a for a in applys_between([ids], [out]) if isinstance(a.op, Scan)]
    assert len(scans) == 2


# ---------------------------------------------------------------- save and load
def test_save_load_and_summary(tmp_path):
    layers = [
        Embedding(9, 3),
        SimpleRNN(4, return_sequences=True),
        GRU(3, return_sequences=True),
        LSTM(2),
        Dense(3),
    ]
    model = Sequential(
        layers,
        seed=0,
        dtype="float64",
        input_shape=(5,),
    )
    ids = RNG.integers(0, 9, (4, 5))
    model.compile(optimizer=SGD(0.1), loss=SparseCategoricalCrossentropy(from_logits=True))
    model.fit(ids, LABELS, epochs=1, verbose=0)
    again = load_model(model.save(tmp_path / "rnn"))
    np.testing.assert_array_equal(again.predict(ids), model.predict(ids))
    assert [layer.get_config() for layer in again.layers] == [
        layer.get_config() for layer in model.layers
    ]
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    for row in ("(SimpleRNN)", "(None, 5, 4)", "(GRU)", "(None, 5, 3)", "(LSTM)", "(None, 2)"):
        assert row in text
    assert model.layers[3].count_params() == 4 * (3 * 2 + 2 * 2 + 2)
