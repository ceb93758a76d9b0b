"""save/load: one .npz file with the weights and a JSON config, readable without pickle."""

import json

import numpy as np
import pytest

import dlcourse
from dlcourse import ops
from dlcourse.nn import (
    Adam,
    BatchNorm,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    Layer,
    MaxPool2D,
    Sequential,
    SparseCategoricalCrossentropy,
    load_model,
)


def cnn():
    model = Sequential(
        [
            Conv2D(3, 3, padding="same", activation="relu"),
            BatchNorm(momentum=0.8),
            MaxPool2D(2),
            Flatten(),
            Dropout(0.25),
            Dense(10, activation="softmax", use_bias=False),
        ],
        seed=0,
        name="digits_cnn",
    )
    model.compile(
        optimizer=Adam(learning_rate=0.003),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    rng = np.random.default_rng(0)
    x = rng.random((32, 1, 8, 8), dtype=np.float32)
    model.fit(
        x, rng.integers(0, 10, 32), epochs=1, verbose=0
    )  # moves the batch-norm statistics too
    return model, x


def test_round_trip_gives_the_same_model(tmp_path):
    model, x = cnn()
    path = model.save(tmp_path / "model")
    assert path == str(tmp_path / "model.npz")
    loaded = load_model(path)
    assert [type(layer).__name__ for layer in loaded.layers] == [
        type(layer).__name__ for layer in model.layers
    ]
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]
    assert (loaded.name, loaded.dtype, loaded.input_shape) == (
        "digits_cnn",
        "float32",
        (None, 1, 8, 8),
    )
    for got, want in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    # compile settings come back, so training can go on
    assert type(loaded.optimizer).__name__ == "Adam" and loaded.optimizer.learning_rate == 0.003
    assert type(loaded.loss).__name__ == "SparseCategoricalCrossentropy"
    assert [m.name for m in loaded.metrics] == ["accuracy"]
    assert loaded.layers[1].momentum == 0.8 and loaded.layers[4].rate == 0.25


def test_the_file_is_plain_arrays_and_json(tmp_path):
    model, _ = cnn()
    path = model.save(tmp_path / "model.npz")
    with np.load(path, allow_pickle=False) as data:  # raises if anything needs pickle
        names = set(data.files)
        config = json.loads(str(data["config"]))
        first = data["weight_000"]
    assert names == {"config"} | {f"weight_{i:03d}" for i in range(7)}
    assert config["format"] == "dlcourse.nn.Sequential/1"
    assert [layer["class"] for layer in config["model"]["layers"]] == [
        "Conv2D",
        "BatchNorm",
        "MaxPool2D",
        "Flatten",
        "Dropout",
        "Dense",
    ]
    assert config["weight_names"][:2] == ["conv2d/kernel", "conv2d/bias"]
    np.testing.assert_array_equal(first, model.get_weights()[0])


def test_a_model_saved_on_one_backend_loads_on_another(tmp_path):
    pytest.importorskip("torch", reason="the torch backend needs PyTorch")
    model, x = cnn()
    path = model.save(tmp_path / "model.npz")
    with dlcourse.backend("torch", device="cpu"):
        loaded = load_model(path)
    assert loaded.backend.name == "torch"
    np.testing.assert_allclose(loaded.predict(x), model.predict(x), rtol=1e-5, atol=1e-6)


class Scale(Layer):
    """x * scale + shift with a constructor argument, for save/load."""

    def __init__(self, shift=0.0, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.shift = shift

    def build(self, input_shape):
        self.add_weight("scale", (input_shape[-1],), initializer="ones")

    def call(self, x, training=False):
        return ops.multiply(x, self.scale) + self.shift

    def get_config(self):
        return {**super().get_config(), "shift": self.shift}


def test_custom_layers_are_found_or_can_be_named(tmp_path):
    model = Sequential([Dense(3), Scale(shift=2.0)], seed=0, input_shape=(4,))
    model.set_weights([w + 0.5 for w in model.get_weights()])
    path = model.save(tmp_path / "custom.npz")
    x = np.ones((2, 4), dtype=np.float32)
    loaded = load_model(path)  # Scale is defined in this session
    assert loaded.layers[1].shift == 2.0
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))

    class Renamed(Scale):
        pass

    loaded = load_model(path, custom_objects={"Scale": Renamed})
    assert type(loaded.layers[1]) is Renamed


@pytest.fixture
def namesake_of_scale():
    """A second layer class called Scale, from another module (as another notebook or
    test file would define it), removed again afterwards."""
    from dlcourse.nn.layers import base

    namesake = type("Scale", (Layer,), {"__module__": "another_notebook"})
    yield namesake
    del base._REGISTRY["Scale"]["another_notebook"]


def _edit_layer_entry(path, target, **changes):
    with np.load(path, allow_pickle=False) as data:
        arrays = dict(data)
    config = json.loads(str(arrays["config"]))
    config["model"]["layers"][1].update(changes)
    arrays["config"] = np.array(json.dumps(config))
    np.savez(target, **arrays)
    return target


def test_namesake_layer_classes_load_as_the_one_saved(tmp_path, namesake_of_scale):
    model = Sequential([Dense(3), Scale(shift=2.0)], seed=0, input_shape=(4,))
    path = model.save(tmp_path / "custom.npz")
    assert type(load_model(path).layers[1]) is Scale  # the newer namesake does not win

    moved = _edit_layer_entry(path, tmp_path / "moved.npz", module="a_module_gone_since")
    with pytest.raises(ValueError, match=r"several layer classes called 'Scale'.*custom_objects"):
        load_model(moved)
    assert type(load_model(moved, custom_objects={"Scale": Scale}).layers[1]) is Scale


def test_an_unknown_layer_class_says_how_to_load_it(tmp_path):
    model = Sequential([Dense(3)], seed=0, input_shape=(4,))
    path = model.save(tmp_path / "m.npz")
    with np.load(path, allow_pickle=False) as data:
        arrays = dict(data)
    config = json.loads(str(arrays["config"]))
    config["model"]["layers"][0]["class"] = "NotDefinedAnywhere"
    arrays["config"] = np.array(json.dumps(config))
    np.savez(tmp_path / "edited.npz", **arrays)
    with pytest.raises(ValueError, match=r"custom_objects=\{'NotDefinedAnywhere'"):
        load_model(tmp_path / "edited.npz")


def test_a_model_with_a_function_loss_saves_without_compile_settings(tmp_path):
    model = Sequential([Dense(2)], seed=0, input_shape=(3,))
    model.compile(optimizer="sgd", loss=lambda y, p: ops.mean((y - p) ** 2))
    loaded = load_model(model.save(tmp_path / "f.npz"))
    assert not loaded.compiled


def test_saving_an_unbuilt_model_is_explained(tmp_path):
    model = Sequential([Dense(2)])
    model.compile(optimizer="sgd", loss=SparseCategoricalCrossentropy())
    with pytest.raises(Exception, match="no weights yet"):
        model.save(tmp_path / "x.npz")
