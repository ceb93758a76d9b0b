"""The dlcourse rows: ``model.fit`` of ``dlcourse.nn`` on one of its backends.

The MLP, the CNN and the LSTM are ``Sequential`` stacks; the transformer is a
Functional graph (``Model(inputs, outputs)``), one definition for every backend.
"""

from dlcourse.bench.epoch_timer import timing_callback
from dlcourse.bench.networks import (
    CLASSES,
    CNN_FILTERS,
    CNN_KERNEL,
    GPT_BLOCKS,
    GPT_HEADS,
    GPT_MLP,
    GPT_STEPS,
    GPT_VOCAB,
    GPT_WIDTH,
    LEARNING_RATE,
    MLP_SIZES,
    RNN_UNITS,
)

__all__ = ["dlcourse_model", "make_trainer"]


def _layers(network):
    from dlcourse import nn

    if network.name == "mlp":
        hidden = [nn.Dense(n, activation="relu") for n in MLP_SIZES[1:-1]]
        return [*hidden, nn.Dense(MLP_SIZES[-1])]
    if network.name == "cnn":
        layers = []
        for filters in CNN_FILTERS:
            layers += [
                nn.Conv2D(filters, CNN_KERNEL, padding="same", activation="relu"),
                nn.MaxPool2D(2),
            ]
        return [*layers, nn.Flatten(), nn.Dense(10)]
    if network.name == "rnn":
        return [nn.LSTM(RNN_UNITS), nn.Dense(CLASSES)]
    raise ValueError(f"dlcourse has no layers for the {network.name} network.")


def _transformer(seed):
    """Token ids -> 2 pre-norm causal decoder blocks -> mean over the steps -> 10 logits."""
    from dlcourse import nn
    from dlcourse.bench.token_dense import TokenDense

    ids = nn.Input((GPT_STEPS,), dtype="int64")
    h = nn.PositionEmbedding(GPT_STEPS)(nn.Embedding(GPT_VOCAB, GPT_WIDTH)(ids))
    for _ in range(GPT_BLOCKS):
        a = nn.LayerNormalization()(h)
        attention = nn.MultiHeadAttention(GPT_HEADS, GPT_WIDTH // GPT_HEADS)
        h = nn.Add()([h, attention(a, a, use_causal_mask=True)])
        m = TokenDense(GPT_MLP, activation="relu")(nn.LayerNormalization()(h))
        h = nn.Add()([h, TokenDense(GPT_WIDTH)(m)])
    pooled = nn.GlobalAveragePooling1D()(nn.LayerNormalization()(h))
    return nn.Model(ids, nn.Dense(CLASSES)(pooled), seed=seed)


def dlcourse_model(network, seed=0):
    """The network as a dlcourse model, built on the backend in use."""
    from dlcourse import nn

    if network.name == "transformer":
        return _transformer(seed)
    return nn.Sequential(_layers(network), seed=seed, input_shape=network.example_shape)


def _backend_options(backend, device):
    if device == "cuda":
        return {"array": "torch", "device": "cuda"} if backend == "manual" else {"device": "cuda"}
    return {"device": "cpu"} if backend in ("torch", "tensorflow", "jax") else {}


def make_trainer(network, backend, device):
    """``(train, sync)``: ``train(x, y, epochs, timer)`` runs one ``model.fit``."""
    import dlcourse
    from dlcourse import nn

    with dlcourse.backend(backend, **_backend_options(backend, device)):
        model = dlcourse_model(network)
    model.compile(
        optimizer=nn.SGD(learning_rate=LEARNING_RATE),
        loss=nn.SparseCategoricalCrossentropy(from_logits=True),
    )

    def train(x, y, epochs, timer):
        # fit reads every loss of an epoch as a number before the epoch ends, so its
        # steps have all finished when the timer reads the clock
        callbacks = [] if timer is None else [timing_callback(nn.Callback, timer)]
        model.fit(x, y, epochs=epochs, batch_size=network.batch, verbose=0, callbacks=callbacks)

    return train, lambda: None
