"""Models and checks that the DataParallel engines' tests share: each engine trains
the same float64 models, and must give what one process gives to 1e-10."""

import numpy as np

import dlcourse
from dlcourse.nn import Concatenate, Dense, Input, Model, Sequential
from dlcourse.nn.losses import SparseCategoricalCrossentropy
from dlcourse.nn.optimizers import SGD, Adam


def classifier(backend, *extra, seed=3, **options):
    """Dense 16 (tanh), the ``extra`` layers, Dense 3; Adam on 6 features, 3 classes."""
    with dlcourse.backend(backend, **options):
        model = Sequential(
            [Dense(16, activation="tanh"), *extra, Dense(3)],
            seed=seed,
            dtype="float64",
            input_shape=(6,),
        )
    model.compile(
        optimizer=Adam(0.05),
        loss=SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def two_inputs(backend, **options):
    """Inputs a (5) and b (3) through one shared Dense, concatenated; SGD with momentum."""
    with dlcourse.backend(backend, **options):
        a, b = Input((5,), name="a"), Input((3,), name="b")
        shared = Dense(4, activation="tanh", name="shared")
        joined = Concatenate()([shared(Dense(4)(a)), shared(Dense(4)(b))])
        model = Model([a, b], Dense(2)(joined), seed=7, dtype="float64")
    model.compile(optimizer=SGD(0.05, momentum=0.9), loss="mse")
    return model


def uneven_batches():
    """91 rows (batches of 32 leave 27, which does not split in two) and 21 validation rows."""
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((91, 6)), rng.integers(0, 3, 91)
    return x, y, (rng.standard_normal((21, 6)), rng.integers(0, 3, 21))


def largest_difference(a, b):
    pairs = zip(a.get_weights(), b.get_weights(), strict=True)
    return max(float(np.abs(wa - wb).max()) for wa, wb in pairs)


def assert_same_history(got, expected):
    assert got.epoch == expected.epoch
    assert list(got.history) == list(expected.history)
    for key, values in expected.history.items():
        np.testing.assert_allclose(got.history[key], values, rtol=0, atol=1e-10, err_msg=key)
