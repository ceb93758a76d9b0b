"""compile / fit / evaluate / predict: learning the digits, and the errors beginners meet."""

import numpy as np
import pytest

import dlcourse
from dlcourse import ops
from dlcourse.data import load_digits
from dlcourse.nn import (
    SGD,
    Adam,
    Callback,
    Dense,
    Layer,
    NonFiniteLossError,
    NotCompiledError,
    Sequential,
    SparseCategoricalCrossentropy,
)

BACKENDS = ["manual", "torch"]


def use(name):
    if name == "torch":
        pytest.importorskip("torch", reason="the torch backend needs PyTorch")
    return dlcourse.backend(name)


@pytest.fixture(scope="module")
def digits():
    return load_digits(seed=0)


def classifier(backend, hidden=32, seed=0, **kwargs):
    with use(backend):
        model = Sequential([Dense(hidden, activation="relu"), Dense(10)], seed=seed, **kwargs)
    model.compile(
        optimizer=Adam(learning_rate=0.01),
        loss=SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


# ------------------------------------------------------------------ learning
@pytest.mark.parametrize("backend", BACKENDS)
def test_learns_the_digits(backend, digits):
    model = classifier(backend)
    history = model.fit(
        digits.x_train,
        digits.y_train,
        epochs=8,
        batch_size=64,
        validation_data=(digits.x_test, digits.y_test),
        verbose=0,
    )
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    loss, accuracy = model.evaluate(digits.x_test, digits.y_test)
    assert accuracy > 0.92
    assert history.history["val_accuracy"][-1] == pytest.approx(accuracy)
    predicted = model.predict(digits.x_test).argmax(1)
    assert np.mean(predicted == digits.y_test) == pytest.approx(accuracy)


def test_the_same_seed_gives_the_same_run(digits):
    runs = [
        classifier("manual", seed=4).fit(digits.x_train, digits.y_train, epochs=2, verbose=0)
        for _ in range(2)
    ]
    assert runs[0].history == runs[1].history
    other = classifier("manual", seed=5).fit(digits.x_train, digits.y_train, epochs=2, verbose=0)
    assert other.history != runs[0].history


def test_softmax_output_with_probability_loss_and_binary_and_mse():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 2)).astype(np.float32)
    above = (x[:, 0] + x[:, 1] > 0).astype(np.float32)
    cases = [
        (Dense(2, activation="softmax"), "sparse_categorical_crossentropy", above.astype(int)),
        (Dense(1, activation="sigmoid"), "binary_crossentropy", above),
        (Dense(1), "mse", x[:, 0] - 2 * x[:, 1]),
    ]
    for last, loss, y in cases:
        model = Sequential([Dense(8, activation="tanh"), last], seed=0)
        metrics = ["accuracy"] if loss != "mse" else None
        model.compile(optimizer=Adam(0.05), loss=loss, metrics=metrics)
        history = model.fit(x, y, epochs=15, batch_size=20, verbose=0)
        assert history.history["loss"][-1] < 0.35 * history.history["loss"][0], loss
        if metrics:
            assert history.history["accuracy"][-1] > 0.9


def test_validation_split_holds_out_the_last_examples(digits):
    model = classifier("manual")
    seen = []

    class CountSamples(Callback):
        def on_train_begin(self, logs=None):
            seen.append(self.params["samples"])

    history = model.fit(
        digits.x_train,
        digits.y_train,
        epochs=1,
        validation_split=0.25,
        callbacks=[CountSamples()],
        verbose=0,
    )
    assert seen == [len(digits.x_train) - round(0.25 * len(digits.x_train))]
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}


def test_evaluate_returns_what_was_compiled(digits):
    model = classifier("manual")
    scores = model.evaluate(digits.x_test, digits.y_test, return_dict=True)
    assert set(scores) == {"loss", "accuracy"}
    model.compile(optimizer="sgd", loss=SparseCategoricalCrossentropy(from_logits=True))
    assert isinstance(model.evaluate(digits.x_test, digits.y_test), float)


def test_keras_style_verbose_is_accepted_and_prints_nothing(digits, capsys):
    model = classifier("manual")
    quiet = model.evaluate(digits.x_test, digits.y_test, verbose=0)
    assert quiet == model.evaluate(digits.x_test, digits.y_test)
    np.testing.assert_array_equal(
        model.predict(digits.x_test, verbose=0), model.predict(digits.x_test)
    )
    assert capsys.readouterr().out == ""


def test_a_callback_can_stop_training():
    class StopAfterTwo(Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                self.model.stop_training = True

    model = Sequential([Dense(1)], seed=0)
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit(
        np.ones((8, 2)), np.ones(8), epochs=10, callbacks=[StopAfterTwo()], verbose=0
    )
    assert history.epoch == [0, 1]


# --------------------------------------------------------------- progress bar
def test_progress_bar_shows_epochs_and_numbers(capsys, digits):
    model = classifier("manual")
    model.fit(digits.x_train[:256], digits.y_train[:256], epochs=2, batch_size=64, verbose=1)
    err = capsys.readouterr().err
    assert "Epoch 1/2" in err and "Epoch 2/2" in err
    assert "4/4" in err  # four batches of 64
    assert "loss=" in err and "accuracy=" in err


def test_verbose_0_is_silent_and_2_prints_a_line_per_epoch(capsys, digits):
    model = classifier("manual")
    model.fit(digits.x_train[:128], digits.y_train[:128], epochs=2, verbose=0)
    assert capsys.readouterr() == ("", "")
    model.fit(digits.x_train[:128], digits.y_train[:128], epochs=2, verbose=2)
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and out[0].startswith("Epoch 1/2: loss=") and "accuracy=" in out[0]


# ---------------------------------------------------------- beginner errors
def test_fit_before_compile_says_compile():
    model = Sequential([Dense(2)])
    with pytest.raises(NotCompiledError, match=r"model.compile\(optimizer="):
        model.fit(np.ones((4, 3)), np.zeros(4), verbose=0)
    with pytest.raises(ValueError, match="give a loss"):
        model.compile(optimizer="adam")


def test_one_hot_labels_into_sparse_crossentropy(digits):
    model = classifier("manual")
    one_hot = np.eye(10)[digits.y_train]
    with pytest.raises(ValueError) as err:
        model.fit(digits.x_train, one_hot, verbose=0)
    assert "labels.argmax(1)" in str(err.value)
    assert "loss='categorical_crossentropy'" in str(err.value)
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    with pytest.raises(ValueError, match="loss='sparse_categorical_crossentropy'"):
        model.fit(digits.x_train, digits.y_train, verbose=0)


def test_labels_beyond_the_outputs_ask_for_more_units():
    model = Sequential([Dense(3, activation="softmax")], seed=0)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match="give the last layer 6 units"):
        model.fit(np.ones((4, 2)), np.array([0, 1, 5, 2]), verbose=0)


def test_scores_into_a_probability_loss_ask_for_softmax_or_from_logits():
    model = Sequential([Dense(3, kernel_initializer="ones")], seed=0)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match="activation='softmax'.*from_logits=True"):
        model.fit(np.full((4, 2), 3.0), np.array([0, 1, 2, 1]), verbose=0)


def test_mismatched_lengths_and_shapes():
    model = Sequential([Dense(1)], seed=0)
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="x has 4 examples but y has 3"):
        model.fit(np.ones((4, 2)), np.ones(3), verbose=0)
    with pytest.raises(ValueError, match="as many units as each target has numbers"):
        model.fit(np.ones((4, 2)), np.ones((4, 2)), verbose=0)


@pytest.mark.filterwarnings("ignore:overflow encountered", "ignore:invalid value encountered")
@pytest.mark.parametrize("backend", BACKENDS)
def test_nan_loss_names_the_layer_that_overflowed(backend):
    with use(backend):
        first = Dense(8, activation="relu", kernel_initializer="ones")
        model = Sequential([first, Dense(4), Dense(2)], seed=0)
    model.compile(optimizer=SGD(0.1), loss=SparseCategoricalCrossentropy(from_logits=True))
    x = np.ones((16, 64), dtype=np.float32)
    x[9] = 3e38  # one huge example: 64 * 3e38 overflows float32 in the first layer
    y = np.zeros(16, dtype=int)
    model.build((None, 64))
    before = model.get_weights()
    with pytest.raises(NonFiniteLossError) as err:
        model.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0)
    assert (err.value.epoch, err.value.batch, err.value.layer) == (0, 1, "dense")
    message = str(err.value)
    assert "epoch 1, batch 2" in message and "layer 'dense' (Dense, layer 1 of 3)" in message
    assert "learning rate too large" in message
    assert err.value.history is not None
    # the bad step was not applied: only the first (finite) batch moved the weights
    after = model.get_weights()
    assert all(np.all(np.isfinite(w)) for w in after)
    assert any(not np.array_equal(a, b) for a, b in zip(after, before))


@pytest.mark.filterwarnings("ignore:invalid value encountered")
@pytest.mark.parametrize("backend", BACKENDS)
def test_nan_from_a_custom_layer_is_traced_to_it(backend):
    class LogLayer(Layer):
        def call(self, x, training=False):
            self.x = x
            return ops.log(x)

        def backward(self, dout):
            return dout / self.x

    with use(backend):
        model = Sequential([Dense(3), LogLayer(name="my_log"), Dense(2)], seed=0)
    model.compile(optimizer="sgd", loss="mse")
    x = np.ones((4, 5), dtype=np.float32)
    with pytest.raises(NonFiniteLossError, match="'my_log' \\(LogLayer, layer 2 of 3\\)"):
        model.fit(-x, np.zeros((4, 2)), verbose=0)  # log of negative numbers


def test_nan_in_the_data_is_reported_as_such():
    model = Sequential([Dense(2)], seed=0)
    model.compile(optimizer="sgd", loss="mse")
    x = np.ones((4, 3))
    x[2, 1] = np.nan
    with pytest.raises(NonFiniteLossError, match="input batch itself holds 1 NaN/inf"):
        model.fit(x, np.zeros((4, 2)), verbose=0)


def test_manual_backward_reuses_the_kernel_gradient_array_but_hands_out_copies(digits):
    """Dense writes dL/dkernel into one array (no allocation per step); what
    loss_and_gradients returns must still survive the next call."""
    model = classifier("manual")
    x, y = digits.x_train[:32], digits.y_train[:32]
    first_loss, first = model.loss_and_gradients(x, y)
    kept = [np.array(g) for g in first]
    _, second = model.loss_and_gradients(digits.x_train[32:64], digits.y_train[32:64])
    for before, after in zip(first, kept):
        np.testing.assert_array_equal(before, after)  # not overwritten by the second call
    assert not np.allclose(first[0], second[0])
    layer = model.layers[0]
    buffer = layer.grads["kernel"]
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    assert layer.grads["kernel"] is buffer
