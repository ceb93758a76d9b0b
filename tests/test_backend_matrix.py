"""One model, same numbers: every backend against the hand-written one, ``manual``.

An MLP, a small CNN, three models that are not chains (a two-input graph
with a shared layer, ``Concatenate``, ``Multiply`` and ``Add``; a residual MLP
drawn with the Functional API; the same residual MLP whose blocks are a
subclassed ``Layer`` holding two ``Dense`` layers; models used as layers: a
Sequential and a Functional model inside a Sequential, a Functional block called
twice, a layer holding a Sequential, see ``graph_cases.py``) and
two models that read integer token ids (``Embedding`` + ``GlobalAveragePooling1D``
+ ``Dense``; the same with ``PositionEmbedding`` and ``LayerNormalization`` on an
int32 ``Input``; Embedding + ``LSTM`` + Dense; Embedding + ``SimpleRNN`` + ``GRU``
+ Dense as a graph; an Embedding + causal ``MultiHeadAttention`` + ``Add`` +
LayerNormalization block, see ``sequence_cases.py``) are built on each of the
six backends from the same seed.
Each backend must give what ``manual`` gives (NumPy and hand-written
derivatives), measured as the largest absolute difference divided by the
largest absolute value of manual's array:

======================  ==========  ==============================================
check                   tolerance   why
======================  ==========  ==============================================
initial weights         0 (exact)   drawn in NumPy from the seed and converted
                                    without arithmetic: any difference is a bug
predictions (float64)   1e-6        the issue's figure; the libraries only sum in
                                    different orders, which costs ~1e-15
predictions (float32)   1e-4        float32 keeps ~7 digits, and a convolution
                                    sums dozens of products in its own order
loss (float64)          1e-6        as predictions
gradients (float64)     1e-6        per weight array; hand-written and automatic
                                    derivatives are the same formulas, ~1e-14
weights after 2 epochs  1e-8        10 steps of SGD with momentum 0.9 over the
of SGD (float64)                    same batches in the same order (``shuffle=
                                    False``); rounding differences of ~1e-16 per
                                    step grow a little with each step but stay
                                    orders of magnitude below this
======================  ==========  ==============================================

The weights after training include batch norm's moving statistics, so compiled
backends must carry that state through their train step too. The ``manual``
row compares a second manual model with the first: it checks that the same seed
gives the same run.

A backend whose package is not installed, whose module is not written yet, or
which raises ``NotImplementedError`` for a piece it lacks is skipped with a
reason naming it, so the matrix fills in as backends land.
``benchmarks/backend_matrix.py`` prints the same measurements as a table.
"""

import functools
from contextlib import contextmanager

import numpy as np
import pytest

import dlcourse
from dlcourse import backends
from dlcourse.nn import (
    SGD,
    BatchNorm,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    MaxPool2D,
    Sequential,
    SparseCategoricalCrossentropy,
)
from graph_cases import nested_model, residual_block_model, residual_functional, two_input_model
from sequence_cases import (
    STEPS,
    VOCAB,
    Ids,
    attention_block_model,
    embedding_lstm_model,
    embedding_norm_model,
    embedding_pool_model,
    embedding_recurrent_model,
)

BACKENDS = ("manual", "autodiff", "torch", "tensorflow", "jax", "pytensor")
REFERENCE = "manual"
OPTIONS = {"torch": {"device": "cpu"}}  # the same hardware as the reference
SEED = 3

TOLERANCES = {
    "initial weights": 0.0,
    "predictions": 1e-6,
    "predictions float32": 1e-4,
    "loss": 1e-6,
    "gradients": 1e-6,
    "weights after 2 epochs": 1e-8,
}


# ------------------------------------------------------------------ the models
def mlp_layers():
    return [
        Dense(16, activation="relu"),
        Dropout(0.0),  # present, so that random states travel through every backend
        Dense(12, activation="tanh"),
        Dense(8, activation="sigmoid"),
        Dense(5),
    ]


def cnn_layers():
    return [
        Conv2D(3, 3, padding="same", activation="relu"),
        BatchNorm(),
        MaxPool2D(2),
        Conv2D(4, 2, activation="tanh"),
        Flatten(),
        Dense(5, activation="softmax"),
    ]


def sequential(layers, shape):
    return lambda dtype: Sequential(layers(), seed=SEED, dtype=dtype, input_shape=shape)


def logits():
    return SparseCategoricalCrossentropy(from_logits=True)


# name -> (model of a dtype, shapes of one example of each input, loss)
ARCHITECTURES = {
    "mlp": (sequential(mlp_layers, (12,)), [(12,)], logits),
    "cnn": (sequential(cnn_layers, (2, 7, 6)), [(2, 7, 6)], SparseCategoricalCrossentropy),
    "two-input": (lambda dtype: two_input_model(SEED, dtype), [(12,), (4,)], logits),
    "residual graph": (lambda dtype: residual_functional(SEED, dtype), [(12,)], logits),
    "residual block": (lambda dtype: residual_block_model(SEED, dtype), [(12,)], logits),
    "nested model": (lambda dtype: nested_model(SEED, dtype), [(12,)], logits),
    "embedding pool": (
        lambda dtype: embedding_pool_model(SEED, dtype),
        [Ids((STEPS,), VOCAB)],
        logits,
    ),
    "embedding norm": (
        lambda dtype: embedding_norm_model(SEED, dtype),
        [Ids((STEPS,), VOCAB, "int32")],
        logits,
    ),
    "embedding lstm": (
        lambda dtype: embedding_lstm_model(SEED, dtype),
        [Ids((STEPS,), VOCAB)],
        logits,
    ),
    "embedding rnn gru": (
        lambda dtype: embedding_recurrent_model(SEED, dtype),
        [Ids((STEPS,), VOCAB)],
        logits,
    ),
    "attention block": (
        lambda dtype: attention_block_model(SEED, dtype),
        [Ids((STEPS,), VOCAB)],
        logits,
    ),
}


def _example_batch(rng, n, spec):
    if isinstance(spec, Ids):  # token ids, the integer type the model's input declares
        return rng.integers(0, spec.vocab, (n, *spec.shape)).astype(spec.dtype)
    return rng.standard_normal((n, *spec))


def data(architecture, n=40, seed=0):
    """A fixed batch of inputs (a list for several) and integer labels (5 classes)."""
    rng = np.random.default_rng(seed)
    xs = [_example_batch(rng, n, spec) for spec in ARCHITECTURES[architecture][1]]
    return xs[0] if len(xs) == 1 else xs, rng.integers(0, 5, n)


def rel_error(a, b):
    """max |a - b| / max |b|: 0 for identical arrays, about 1e-16 for float64 rounding."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, f"shapes differ: {a.shape} vs {b.shape}"
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def max_rel_error(arrays, references):
    arrays, references = list(arrays), list(references)
    assert len(arrays) == len(references), f"{len(arrays)} arrays vs {len(references)}"
    return max(rel_error(a, b) for a, b in zip(arrays, references))


# ---------------------------------------------------------- backends not ready
class NotReady(Exception):
    """The backend cannot run yet: its package, its module or one of its methods is missing."""


@contextmanager
def not_ready_as_skip():
    try:
        yield
    except NotReady as err:
        pytest.skip(str(err))


@contextmanager
def _pending(name):
    """Turn a backend's 'not implemented yet' into NotReady (never for the reference)."""
    try:
        yield
    except NotImplementedError as err:
        if name == REFERENCE:
            raise
        raise NotReady(f"backend {name!r} is not ready: {err}") from err


def build(name, architecture, dtype="float64"):
    """A compiled model of ``architecture`` on backend ``name``, weights from SEED."""
    if name not in backends.available():
        extra = backends.BACKENDS[name]
        raise NotReady(
            f"backend {name!r} needs the {extra} package, which is not installed "
            f"(pip install 'dlcourse[{extra}]')"
        )
    make, _, loss = ARCHITECTURES[architecture]
    with _pending(name), dlcourse.backend(name, **OPTIONS.get(name, {})):
        model = make(dtype)
    model.compile(optimizer=SGD(learning_rate=0.1, momentum=0.9), loss=loss())
    return model


def train(model, architecture):
    x, y = data(architecture)
    model.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    return model.get_weights()


@functools.cache
def reference(architecture):
    """What ``manual`` computes, once per architecture.

    A fresh model for each check: a training-mode pass (``loss_and_gradients``)
    moves batch norm's running statistics, which predictions then use.
    """
    x, y = data(architecture)
    initial = build(REFERENCE, architecture).get_weights()
    loss, grads = build(REFERENCE, architecture).loss_and_gradients(x, y)
    float32 = build(REFERENCE, architecture, "float32")
    float32.set_weights(initial)  # the very numbers every backend's float32 model gets
    return {
        "initial": initial,
        "predictions": build(REFERENCE, architecture).predict(x),
        "predictions float32": float32.predict(x),
        "loss": loss,
        "gradients": grads,
        "trained": train(build(REFERENCE, architecture), architecture),
    }


# ------------------------------------------------------------------ the checks
# One float64 model per backend and architecture goes through every stage once
# (cached), and the checks compare what it gave with manual's numbers. Before
# each stage the model gets manual's initial weights back (set_weights also
# restores batch norm's running statistics, which a training-mode pass moves),
# so that one wrong step does not spoil the checks after it.
def _reset(name, model, architecture):
    with _pending(name):
        model.set_weights(reference(architecture)["initial"])


@functools.cache
def _run(name, architecture):
    """What backend ``name`` computes for every float64 check, as NumPy."""
    model = build(name, architecture)
    x, y = data(architecture)
    with _pending(name):
        built_with = model.get_weights()
        _reset(name, model, architecture)
        out = model.predict(x)
        loss, grads = model.loss_and_gradients(x, y)
        _reset(name, model, architecture)
        trained = train(model, architecture)
    return {
        "initial": built_with,
        "predictions": out,
        "loss": loss,
        "gradients": grads,
        "trained": trained,
    }


@functools.cache
def _predictions_float32(name, architecture):
    model = build(name, architecture, "float32")
    _reset(name, model, architecture)
    with _pending(name):
        return model.predict(data(architecture)[0])


def _fresh(name, architecture):
    """A new float64 model with manual's initial weights."""
    model = build(name, architecture)
    _reset(name, model, architecture)
    return model


def initial_weights(name, architecture):
    return max_rel_error(_run(name, architecture)["initial"], reference(architecture)["initial"])


def predictions(name, architecture):
    out = _run(name, architecture)["predictions"]
    assert out.dtype == np.float64, f"float64 predictions came back as {out.dtype}"
    return rel_error(out, reference(architecture)["predictions"])


def predictions_float32(name, architecture):
    out = _predictions_float32(name, architecture)
    assert out.dtype == np.float32, f"float32 predictions came back as {out.dtype}"
    return rel_error(out, reference(architecture)["predictions float32"])


def loss(name, architecture):
    value, expected = _run(name, architecture)["loss"], reference(architecture)["loss"]
    return abs(value - expected) / abs(expected)


def gradients(name, architecture):
    grads = _run(name, architecture)["gradients"]
    return max_rel_error(grads, reference(architecture)["gradients"])


def weights_after_training(name, architecture):
    return max_rel_error(_run(name, architecture)["trained"], reference(architecture)["trained"])


CHECKS = {
    "initial weights": initial_weights,
    "predictions": predictions,
    "predictions float32": predictions_float32,
    "loss": loss,
    "gradients": gradients,
    "weights after 2 epochs": weights_after_training,
}


def measure(name, architecture, check):
    """The check's largest relative difference; raises NotReady when the backend is not."""
    return CHECKS[check](name, architecture)


# ------------------------------------------------------------------- the tests
@pytest.mark.parametrize("check", list(CHECKS))
@pytest.mark.parametrize("architecture", list(ARCHITECTURES))
@pytest.mark.parametrize("backend", BACKENDS)
def test_backend_gives_manuals_numbers(backend, architecture, check):
    with not_ready_as_skip():
        difference = measure(backend, architecture, check)
    assert difference <= TOLERANCES[check], (
        f"{backend} vs manual, {architecture}, {check}: relative difference {difference:.2e} "
        f"> tolerance {TOLERANCES[check]:.0e}"
    )


@pytest.mark.parametrize("architecture", list(ARCHITECTURES))
def test_the_reference_is_worth_agreeing_with(architecture):
    ref = reference(architecture)
    # training moved the weights well beyond the tolerance
    assert max_rel_error(ref["trained"], ref["initial"]) > 1e-2
    # every gradient is non-zero somewhere, so comparing them compares something
    assert all(np.any(g != 0) for g in ref["gradients"])
    # float32 and float64 predictions differ, so the float32 check sees float32 numbers
    assert (
        0
        < rel_error(ref["predictions float32"], ref["predictions"])
        < TOLERANCES["predictions float32"]
    )


def test_a_small_change_in_one_weight_is_noticed():
    model = _fresh(REFERENCE, "cnn")
    weights = model.get_weights()
    weights[0] = weights[0].copy()
    weights[0].flat[0] += 1e-4
    model.set_weights(weights)
    difference = rel_error(model.predict(data("cnn")[0]), reference("cnn")["predictions"])
    assert difference > TOLERANCES["predictions"]


def test_a_missing_package_or_method_is_a_skip_with_a_reason(monkeypatch):
    monkeypatch.setattr(backends, "available", lambda: ["manual"])
    with pytest.raises(NotReady, match=r"'jax' needs the jax package"):
        build("jax", "mlp")
    with pytest.raises(NotReady, match="ops.conv2d"):
        with _pending("jax"):
            raise NotImplementedError("the 'jax' backend does not implement ops.conv2d yet")
    with pytest.raises(NotImplementedError):  # the reference is never excused
        with _pending(REFERENCE):
            raise NotImplementedError("manual lost its conv2d")
