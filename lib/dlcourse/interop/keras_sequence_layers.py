"""The sequence and merging layers as Keras 3 layers: same names, arguments and weights.

Our layers were written to Keras 3's formulas and weight layouts (see their
modules), so each converter here only passes the arguments on and copies the
weights unchanged: ``Embedding`` (embeddings), ``LayerNormalization`` (gamma,
beta), ``SimpleRNN``/``LSTM``/``GRU`` (kernel, recurrent kernel, bias; LSTM
gates i, f, g, o; GRU ``reset_after=True``), ``MultiHeadAttention`` (the
query, key, value and output kernels and biases). ``PositionEmbedding``
becomes the small Keras layer of ``keras_position_embedding``.

A recurrent layer with ``return_state=True`` has several outputs, which a
converted graph cannot take: it is refused with the reason.
"""

from dlcourse.interop.errors import unsupported_layer
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
    if layer.return_state:
        why = "return_state=True gives several outputs; convert a layer without it"
        raise unsupported_layer(layer, "Keras", sorted(k.__name__ for k in _RECURRENT), why)
    cls = getattr(stack.keras.layers, _RECURRENT[type(layer)])
    extra = {"reset_after": True} if isinstance(layer, GRU) else {}
    keras_layer = cls(
        layer.units,
        return_sequences=layer.return_sequences,
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
    stack.add(keras_layer, layer.get_weights())


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
