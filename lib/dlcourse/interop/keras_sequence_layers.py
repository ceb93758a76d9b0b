"""The sequence and merging layers as Keras 3 layers: same names, arguments and weights.

Our layers were written to Keras 3's formulas and weight layouts (see their
modules), so each converter here only passes the arguments on and copies the
weights unchanged: ``Embedding`` (embeddings), ``LayerNormalization`` (gamma,
beta), ``SimpleRNN``/``LSTM``/``GRU`` (kernel, recurrent kernel, bias; LSTM
gates i, f, g, o; GRU ``reset_after=True``), ``MultiHeadAttention`` (the
query, key, value and output kernels and biases). ``PositionEmbedding``
becomes the small Keras layer of ``keras_position_embedding``.

A recurrent layer with ``return_state=True`` keeps it: Keras returns the same
list (``[output, h]``, LSTM ``[output, h, c]``). A float64 attention layer gets
its 1/sqrt(key_dim) as a float64 number (``_exact_scale``), so that Keras's
float64 attention gives ours to the last digits.
"""

import math

import numpy as np

from dlcourse.interop.keras_position_embedding import position_embedding_class
from dlcourse.nn.layers import (
    GRU,
    LSTM,
    Add,
    Concatenate,
    Embedding,
    GlobalAveragePooling1D,
    LayerNormalization,
    MultiHeadAttention,
    Multiply,
    PositionEmbedding,
    SimpleRNN,
)

__all__ = ["SEQUENCE_CONVERTERS"]

# Our weights replace whatever Keras draws; "zeros" draws nothing.
_NO_DRAW = {"kernel_initializer": "zeros", "bias_initializer": "zeros"}


def _embedding(stack, layer):
    keras_layer = stack.keras.layers.Embedding(
        layer.input_dim,
        layer.output_dim,
        embeddings_initializer="zeros",
        name=layer.name,
        dtype=stack.dtype,
    )
    stack.add(keras_layer, layer.get_weights())


def _position_embedding(stack, layer):
    cls = position_embedding_class(stack.keras)
    stack.add(cls(layer.sequence_length, name=layer.name, dtype=stack.dtype), layer.get_weights())


def _layer_normalization(stack, layer):
    keras_layer = stack.keras.layers.LayerNormalization(
        axis=-1,
        epsilon=layer.epsilon,
        center=layer.center,
        scale=layer.scale,
        name=layer.name,
        dtype=stack.dtype,
    )
    stack.add(keras_layer, layer.get_weights())


def _global_average_pooling(stack, layer):
    keras_layer = stack.keras.layers.GlobalAveragePooling1D(
        data_format="channels_last", keepdims=layer.keepdims, name=layer.name, dtype=stack.dtype
    )
    stack.add(keras_layer)


def _recurrent(stack, layer):
    cls = getattr(stack.keras.layers, _RECURRENT[type(layer)])
    extra = {"reset_after": True} if isinstance(layer, GRU) else {}
    keras_layer = cls(
        layer.units,
        return_sequences=layer.return_sequences,
        return_state=layer.return_state,  # [output, h] (LSTM: [output, h, c]), as ours
        recurrent_initializer="zeros",
        name=layer.name,
        dtype=stack.dtype,
        **_NO_DRAW,
        **extra,
    )
    stack.add(keras_layer, layer.get_weights())


_RECURRENT = {SimpleRNN: "SimpleRNN", LSTM: "LSTM", GRU: "GRU"}


def _multi_head_attention(stack, layer):
    keras_layer = stack.keras.layers.MultiHeadAttention(
        layer.num_heads,
        layer.key_dim,
        value_dim=layer.value_dim,
        use_bias=layer.use_bias,
        name=layer.name,
        dtype=stack.dtype,
        **_NO_DRAW,
    )
    _exact_scale(keras_layer, layer.key_dim, stack.dtype)
    stack.add(keras_layer, layer.get_weights())


def _exact_scale(keras_layer, key_dim, dtype):
    """Keras 3 multiplies the query by ``ops.cast(1 / sqrt(key_dim), dtype)``, and a Python
    float goes through float32 on its way: a float64 layer's scale is then off by ~3e-8.
    A NumPy scalar of the layer's dtype keeps every digit (where Keras has this attribute)."""
    if dtype == "float64" and isinstance(
        getattr(keras_layer, "_inverse_sqrt_key_dim", None), float
    ):
        keras_layer._inverse_sqrt_key_dim = np.float64(1.0 / math.sqrt(key_dim))


def _merge(stack, layer):
    options = {"axis": layer.axis} if isinstance(layer, Concatenate) else {}
    cls = getattr(stack.keras.layers, type(layer).__name__)
    stack.add(cls(name=layer.name, dtype=stack.dtype, **options))


SEQUENCE_CONVERTERS = {
    Embedding: _embedding,
    PositionEmbedding: _position_embedding,
    LayerNormalization: _layer_normalization,
    GlobalAveragePooling1D: _global_average_pooling,
    SimpleRNN: _recurrent,
    LSTM: _recurrent,
    GRU: _recurrent,
    MultiHeadAttention: _multi_head_attention,
    Add: _merge,
    Concatenate: _merge,
    Multiply: _merge,
}
