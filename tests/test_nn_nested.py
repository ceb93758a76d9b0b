"""Layers inside layers, and subclassed models: tracked, counted, saved and trained everywhere.

The bug this guards against: a residual block written as a ``Layer`` holding
two ``Dense`` layers ran without an error but its inner weights belonged to no
model, so ``count_params`` missed them and ``fit`` never changed them while
the loss still fell. ``test_every_weight_is_trained_on_every_backend`` fails if
any weight of any nested layer stays as it was after training, on each backend.
"""

import numpy as np
import pytest

from backend_cases import use_backend
from dlcourse import ops
from dlcourse.backends import BACKENDS
from dlcourse.nn import SGD, Dense, Layer, MissingBackwardError, Sequential, load_model
from graph_cases import (
    ResidualBlock,
    ResidualMLP,
    nested_model,
    residual_block_model,
    residual_subclassed,
    two_input_model,
)


class Residual(ResidualBlock):
    """The block of the bug report, without a backward (autodiff backends only)."""

    backward = Layer.backward


def test_the_weights_of_a_nested_block_are_counted_and_shown():
    with use_backend("manual"):
        model = Sequential([Dense(16), Residual(16), Dense(3)], seed=0, input_shape=(16,))
    assert model.count_params() == 867  # 272 + 2 * (16 * 16 + 16) + 51
    block = model.layers[1]
    assert block.count_params() == 544
    assert block.weight_names == ["inner/kernel", "inner/bias", "outer/kernel", "outer/bias"]
    assert len(model.trainable_weights) == 8
    assert model.weight_names[2:4] == ["residual/inner/kernel", "residual/inner/bias"]
    lines = []
    model.summary(print_fn=lines.append)
    row = next(line for line in lines[0].splitlines() if line.startswith("residual"))
    assert row.rstrip().endswith("544")
    assert "Total params: 867" in lines[0]


MODELS = {
    "block in a Sequential": (residual_block_model, lambda x: x),
    "subclassed Model": (residual_subclassed, lambda x: x),
    "graph with a shared layer": (two_input_model, lambda x: [x, x[:, :4]]),
    "models used as layers": (nested_model, lambda x: x),
}


@pytest.mark.parametrize("model_name", list(MODELS))
@pytest.mark.parametrize("backend", list(BACKENDS))
def test_every_weight_is_trained_on_every_backend(backend, model_name):
    make, inputs = MODELS[model_name]
    with use_backend(backend):
        model = make(seed=2, dtype="float64")
    model.compile(optimizer=SGD(learning_rate=0.1), loss="mse")
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((16, 12)), rng.standard_normal((16, 5))
    before = model.get_weights()
    model.fit(inputs(x), y, epochs=2, batch_size=8, verbose=0)
    after = model.get_weights()
    assert len(after) == len(before) == len(model.weight_names)
    frozen = [n for n, a, b in zip(model.weight_names, after, before) if np.array_equal(a, b)]
    assert not frozen, f"{backend}: these weights were never trained: {frozen}"


def test_a_layer_the_model_does_not_hold_is_refused_at_build():
    class Hidden(Layer):
        def __init__(self):
            super().__init__()
            self.parts = {"dense": Dense(3)}  # a dict: not tracked

        def call(self, x, training=False):
            return self.parts["dense"](x)

    with pytest.raises(ValueError, match=r"calls layer 'dense' .* does not hold it"):
        Sequential([Hidden()], input_shape=(4,))


def test_a_sublayer_assigned_before_super_init_is_explained():
    class Early(Layer):
        def __init__(self):
            self.dense = Dense(3)
            super().__init__()

    with pytest.raises(RuntimeError, match="call super\\(\\).__init__\\(\\) first"):
        Early()


def test_on_manual_a_block_needs_its_backward_and_sublayers_keep_their_caches():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((6, 16)), rng.standard_normal((6, 3))
    with use_backend("manual"):
        model = Sequential([Dense(16), Residual(16), Dense(3)], seed=0, input_shape=(16,))
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(MissingBackwardError, match="'residual' \\(Residual\\)"):
        model.fit(x, y, verbose=0)
    with use_backend("manual"):
        by_hand = Sequential([Dense(16), ResidualBlock(16), Dense(3)], seed=0, input_shape=(16,))
    with use_backend("autodiff"):
        derived = Sequential([Dense(16), Residual(16), Dense(3)], seed=0, input_shape=(16,))
    for model in (by_hand, derived):
        model.compile(optimizer="sgd", loss="mse")
    loss_hand, grads_hand = by_hand.loss_and_gradients(x, y)
    loss_auto, grads_auto = derived.loss_and_gradients(x, y)
    assert abs(loss_hand - loss_auto) < 1e-12
    for g_hand, g_auto in zip(grads_hand, grads_auto):
        np.testing.assert_allclose(g_hand, g_auto, rtol=1e-10, atol=1e-14)


def test_nested_and_subclassed_models_save_and_load(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 12))
    with use_backend("manual"):
        models = [residual_block_model(seed=1, dtype="float64"), residual_subclassed(1, "float64")]
    for i, model in enumerate(models):
        model.compile(optimizer="sgd", loss="mse")
        loaded = load_model(model.save(tmp_path / f"model{i}"))
        assert type(loaded) is type(model)
        assert loaded.weight_names == model.weight_names
        np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert isinstance(models[1], ResidualMLP) and len(models[1].layers) == 4


def test_a_layer_alone_gets_and_sets_its_nested_weights():
    with use_backend("manual"):
        block = ResidualBlock(3)
        out = block(np.ones((2, 3)))
    assert out.shape == (2, 3)
    weights = block.get_weights()
    assert [w.shape for w in weights] == [(3, 3), (3,), (3, 3), (3,)]
    block.set_weights([w + 1 for w in weights])
    np.testing.assert_array_equal(block.inner.bias, np.ones(3))
    np.testing.assert_array_equal(ops.convert_to_numpy(block.outer.bias), np.ones(3))
