"""``model.fit(..., distribute=DataParallel("torch", nproc=2))``: real gloo processes.

Each test compares a 2-process run with plain one-process ``fit`` of a twin
model (same seed, torch backend, float64) on the same batches: the weights
and the History must agree to 1e-10, only the order of additions differs.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="DataParallel('torch') needs PyTorch")
if not torch.distributed.is_available() or not torch.distributed.is_gloo_available():
    pytest.skip("needs torch.distributed with the gloo backend", allow_module_level=True)

import dlcourse  # noqa: E402
import engine_cases  # noqa: E402
from dlcourse import ops  # noqa: E402
from dlcourse.distributed import DataParallel  # noqa: E402
from dlcourse.nn import Dense, Layer, Sequential  # noqa: E402
from dlcourse.nn.callbacks import OneCycle  # noqa: E402
from dlcourse.nn.losses import SparseCategoricalCrossentropy  # noqa: E402


class ScaledTanh(Layer):
    """A layer of the test's own, importable from this module, with one weight."""

    def __init__(self, factor=1.5, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}

    def build(self, input_shape):
        self.add_weight("scale", (input_shape[-1],), initializer="ones")

    def call(self, x, training=False):
        return ops.multiply(ops.tanh(x), ops.multiply(self.scale, self.factor))


def mlp():
    with dlcourse.backend("torch"):
        model = Sequential(
            [Dense(16, activation="relu"), ScaledTanh(), Dense(3)],
            seed=3,
            dtype="float64",
            input_shape=(6,),
        )
    model.compile(
        optimizer="adam",
        loss=SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def two_inputs():
    return engine_cases.two_inputs("torch")


@pytest.fixture(scope="module")
def classes():
    rng = np.random.default_rng(0)
    return rng.standard_normal((90, 6)), rng.integers(0, 3, 90)


def assert_same_weights(a, b):
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_allclose(wa, wb, rtol=0, atol=1e-10)


def test_two_processes_train_a_sequential_mlp_as_one_does(classes):
    x, y = classes
    distributed, single = mlp(), mlp()
    before = [w.copy() for w in distributed.get_weights()]
    # 90 rows in batches of 32: the last batch (26 rows) splits 13 + 13, shuffled per epoch
    history = distributed.fit(
        x, y, epochs=3, batch_size=32, verbose=0, distribute=DataParallel("torch", nproc=2)
    )
    expected = single.fit(x, y, epochs=3, batch_size=32, verbose=0)
    assert_same_weights(distributed, single)
    assert max(np.abs(w - w0).max() for w, w0 in zip(distributed.get_weights(), before)) > 1e-3
    assert distributed.history is history and history.epoch == [0, 1, 2]
    np.testing.assert_allclose(history.history["loss"], expected.history["loss"], atol=1e-10)
    np.testing.assert_allclose(history.history["accuracy"], expected.history["accuracy"])
    # the caller's shuffling generator moved on as one-process fit moves it
    assert distributed.shuffle_rng.integers(1 << 30) == single.shuffle_rng.integers(1 << 30)


def test_two_processes_train_a_two_input_functional_model_as_one_does(capsys):
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((40, 5)), rng.standard_normal((40, 3))
    y = rng.standard_normal((40, 2))
    distributed, single = two_inputs(), two_inputs()
    # batches of 15: 15, 15, 10 rows; 15 splits unevenly (8 + 7), in the given order
    history = distributed.fit(
        (a, b), y, epochs=2, batch_size=15, shuffle=False, verbose=2,
        distribute=DataParallel("torch", nproc=2),
    )  # fmt: skip
    printed = capsys.readouterr().out
    expected = single.fit((a, b), y, epochs=2, batch_size=15, shuffle=False, verbose=2)
    assert printed == capsys.readouterr().out  # rank 0's lines, printed here, as one process
    assert printed.count("Epoch") == 2
    assert_same_weights(distributed, single)
    np.testing.assert_allclose(history.history["loss"], expected.history["loss"], atol=1e-10)


class NotebookLayer(Layer):
    def call(self, x, training=False):
        return x


NotebookLayer.__module__ = "__main__"  # as a class defined in a notebook cell is


def test_a_layer_defined_in_a_notebook_is_refused_with_the_fix(classes):
    x, y = classes
    with dlcourse.backend("torch"):
        model = Sequential([NotebookLayer(), Dense(3)], seed=0, input_shape=(6,))
    model.compile(optimizer="adam", loss=SparseCategoricalCrossentropy(from_logits=True))
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(ValueError, match=r"'NotebookLayer' is defined in __main__.*\.py file"):
        model.fit(x, y, verbose=0, distribute=DataParallel("torch", nproc=2))
    for w, w0 in zip(model.get_weights(), before, strict=True):
        np.testing.assert_array_equal(w, w0)


def test_what_cannot_cross_processes_is_refused_before_any_starts(classes):
    x, y = classes
    with pytest.raises(ValueError, match=r"callback OneCycle acts at every batch"):
        mlp().fit(x, y, callbacks=[OneCycle(0.1)], distribute=DataParallel("torch", nproc=2))
    with pytest.raises(ValueError, match=r"engine 'mxnet' is not available yet"):
        DataParallel("mxnet", nproc=2)
    with pytest.raises(ValueError, match=r"nproc must be a positive int"):
        DataParallel("torch", nproc=0)
    with pytest.raises(ValueError, match=r"epochs: expected a positive int"):
        mlp().fit(x, y, epochs=0, distribute=DataParallel("torch", nproc=2))
