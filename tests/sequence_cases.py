"""Models that read token ids, shared by the backend tests (no framework imported here).

- ``embedding_pool_model``: Embedding + GlobalAveragePooling1D + Dense, a
  Sequential that takes int64 ids (its first layer says so);
- ``embedding_norm_model``: Input(dtype="int32") -> Embedding -> PositionEmbedding
  -> LayerNormalization -> GlobalAveragePooling1D -> Dense, drawn with the
  Functional API, so that int32 ids travel through every backend too;
- ``embedding_lstm_model``: Embedding + LSTM + Dense, a Sequential classifier;
- ``embedding_recurrent_model``: Embedding -> SimpleRNN(return_sequences=True)
  -> GRU -> Dense, drawn with the Functional API;
- ``attention_block_model``: Embedding + PositionEmbedding, then a causal
  MultiHeadAttention block with a residual Add and LayerNormalization, pooled
  into a Dense classifier (a GPT block, without its feed-forward half).

``Ids`` describes such an input for the data generators: ids in [0, vocab).
"""

from typing import NamedTuple

from dlcourse.nn import (
    GRU,
    LSTM,
    Add,
    Dense,
    Embedding,
    GlobalAveragePooling1D,
    Input,
    LayerNormalization,
    Model,
    MultiHeadAttention,
    PositionEmbedding,
    Sequential,
    SimpleRNN,
)

VOCAB, STEPS, WIDTH = 13, 6, 8


class Ids(NamedTuple):
    """An input of integer ids: one example is ``shape``, every id below ``vocab``."""

    shape: tuple
    vocab: int
    dtype: str = "int64"


def embedding_pool_model(seed, dtype):
    layers = [
        Embedding(VOCAB, WIDTH),
        GlobalAveragePooling1D(),
        Dense(8, activation="relu"),
        Dense(5),
    ]
    return Sequential(layers, seed=seed, dtype=dtype, input_shape=(STEPS,))


def embedding_norm_model(seed, dtype):
    ids = Input((STEPS,), dtype="int32", name="ids")
    h = PositionEmbedding(STEPS)(Embedding(VOCAB, WIDTH)(ids))
    h = GlobalAveragePooling1D()(LayerNormalization()(h))
    return Model(ids, Dense(5)(Dense(8, activation="tanh")(h)), seed=seed, dtype=dtype)


def embedding_lstm_model(seed, dtype):
    layers = [Embedding(VOCAB, WIDTH), LSTM(6), Dense(5)]
    return Sequential(layers, seed=seed, dtype=dtype, input_shape=(STEPS,))


def embedding_recurrent_model(seed, dtype):
    ids = Input((STEPS,), name="ids")  # no dtype: feeding an Embedding makes it int64
    h = SimpleRNN(5, return_sequences=True)(Embedding(VOCAB, WIDTH)(ids))
    return Model(ids, Dense(5)(GRU(6)(h)), seed=seed, dtype=dtype)


def attention_block_model(seed, dtype):
    ids = Input((STEPS,), dtype="int64", name="ids")
    h = PositionEmbedding(STEPS)(Embedding(VOCAB, WIDTH)(ids))
    # no biases: the key bias's gradient is exactly 0 (a softmax ignores a shift
    # shared by a row), and comparing rounding noise against rounding noise
    # relative to itself would mean nothing
    attended = MultiHeadAttention(2, 4, use_bias=False)(h, h, use_causal_mask=True)
    h = LayerNormalization()(Add()([h, attended]))
    return Model(ids, Dense(5)(GlobalAveragePooling1D()(h)), seed=seed, dtype=dtype)
