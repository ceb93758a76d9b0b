"""MultiHeadAttention: shapes, Keras's weights, the causal mask, errors, the
hand-written backward against the autodiff engine, and save/load.

The six-backend comparison is the "attention block" model of
``test_backend_matrix.py``; the comparison with Keras 3 is in
``test_nn_sequence_layers_keras.py``.
"""

import numpy as np
import pytest

import dlcourse
from dlcourse import ops
from dlcourse.nn import (
    SGD,
    Dense,
    GlobalAveragePooling1D,
    Input,
    Model,
    MultiHeadAttention,
    Sequential,
    SparseCategoricalCrossentropy,
    load_model,
)

RNG = np.random.default_rng(0)
X = RNG.standard_normal((3, 5, 6))
MEMORY = RNG.standard_normal((3, 4, 7))
KEYS = RNG.standard_normal((3, 4, 2))
LABELS = RNG.integers(0, 3, 3)


def test_self_and_cross_attention_shapes_and_keras_weights():
    mha = MultiHeadAttention(2, 3, dtype="float64")
    assert tuple(mha(X, X).shape) == (3, 5, 6)  # the query's shape
    assert mha.weight_names == [
        "query_kernel",
        "query_bias",
        "key_kernel",
        "key_bias",
        "value_kernel",
        "value_bias",
        "output_kernel",
        "output_bias",
    ]
    assert [w.shape for w in mha.get_weights()] == [
        (6, 2, 3), (2, 3), (6, 2, 3), (2, 3), (6, 2, 3), (2, 3), (2, 3, 6), (6,),
    ]  # fmt: skip
    assert mha.count_params() == 3 * (6 * 6 + 6) + 6 * 6 + 6
    cross = MultiHeadAttention(3, 2, value_dim=4, use_bias=False, dtype="float64")
    assert tuple(cross(X, MEMORY, KEYS).shape) == (3, 5, 6)
    assert [w.shape for w in cross.get_weights()] == [(6, 3, 2), (2, 3, 2), (7, 3, 4), (3, 4, 6)]


def test_the_causal_mask_hides_the_future():
    mha = MultiHeadAttention(2, 3, dtype="float64")
    out = np.asarray(mha(X, X, use_causal_mask=True))
    later = X.copy()
    later[:, 3:] += 10.0  # change steps 3 and 4 only
    changed = np.asarray(mha(later, later, use_causal_mask=True))
    np.testing.assert_allclose(changed[:, :3], out[:, :3], rtol=1e-12, atol=1e-12)
    assert np.max(np.abs(changed[:, 3:] - out[:, 3:])) > 1e-3
    free = MultiHeadAttention(2, 3, dtype="float64")
    free(X, X)
    free.set_weights(mha.get_weights())
    # without the mask the early steps do see the change
    seen = np.asarray(free(later, later))[:, :3] - np.asarray(free(X, X))[:, :3]
    assert np.max(np.abs(seen)) > 1e-3


def test_bad_arguments_and_shapes_say_what_to_do():
    with pytest.raises(ValueError, match="num_heads: expected a positive integer"):
        MultiHeadAttention(0, 4)
    with pytest.raises(ValueError, match=r"value is missing; call it as mha\(query, value\)"):
        MultiHeadAttention(2, 4)(X)
    with pytest.raises(ValueError, match=r"\(batch, steps, features\)"):
        MultiHeadAttention(2, 4)(X[:, 0], X[:, 0])
    with pytest.raises(ValueError, match="key and value must have the same number of steps"):
        MultiHeadAttention(2, 4)(X, MEMORY, X)
    with pytest.raises(ValueError, match="takes a query and a value.*Sequential"):
        Sequential([MultiHeadAttention(2, 4)], input_shape=(5, 6))
    mha = MultiHeadAttention(2, 4, dtype="float64")
    mha(X, X, use_causal_mask=True)
    with pytest.raises(ValueError, match="keeps one mask: make a second layer"):
        mha(X, X)


class CrossModel(Model):
    """Cross-attention with a separate key, then a classifier: every weight matters."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.mha = MultiHeadAttention(2, 3, value_dim=4)
        self.pool = GlobalAveragePooling1D()
        self.head = Dense(3)

    def call(self, x, training=False):
        n = x.shape[0]  # building runs a batch of 2
        memory, keys = ops.convert_to_tensor(MEMORY[:n]), ops.convert_to_tensor(KEYS[:n])
        attended = self.mha(x, memory, keys)
        return self.head(self.pool(attended))

    def backward(self, dout):
        dquery, _, _ = self.mha.backward(self.pool.backward(self.head.backward(dout)))
        return dquery


def causal_model(backend):
    with dlcourse.backend(backend):
        x = Input((5, 6))
        h = MultiHeadAttention(2, 3)(x, x, use_causal_mask=True)
        return Model(x, Dense(3)(GlobalAveragePooling1D()(h)), seed=1, dtype="float64")


@pytest.mark.parametrize("kind", ["causal self-attention", "cross-attention"])
def test_hand_written_gradients_match_the_autodiff_engine(kind):
    results = {}
    for backend in ("manual", "autodiff"):
        if kind == "cross-attention":
            with dlcourse.backend(backend):
                model = CrossModel(seed=1, dtype="float64")
                model.build((None, 5, 6))
        else:
            model = causal_model(backend)
        noise = np.random.default_rng(5)
        model.set_weights([w + noise.standard_normal(w.shape) * 0.3 for w in model.get_weights()])
        model.compile(optimizer=SGD(0.1), loss=SparseCategoricalCrossentropy(from_logits=True))
        results[backend] = model.loss_and_gradients(X, LABELS)
        names = model.trainable_weight_names
    (loss, grads), (loss_ad, grads_ad) = results["manual"], results["autodiff"]
    assert abs(loss - loss_ad) < 1e-12
    for name, g, g_ad in zip(names, grads, grads_ad):
        # the key bias's gradient is 0 up to rounding (a softmax ignores a shared shift)
        np.testing.assert_allclose(g, g_ad, rtol=1e-9, atol=1e-12, err_msg=name)
        assert name.endswith("key_bias") or np.max(np.abs(g)) > 1e-6, name


def test_save_and_load_keep_the_mask(tmp_path):
    model = causal_model("manual")
    again = load_model(model.save(tmp_path / "attention"))
    np.testing.assert_array_equal(again.predict(X), model.predict(X))
    assert again.layers[0].use_causal_mask is True
    assert again.layers[0].get_config() == model.layers[0].get_config()
