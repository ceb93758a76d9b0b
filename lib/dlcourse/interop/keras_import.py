"""Keras 3 layers as our layers: which Keras layer becomes which, and when it cannot.

``layer_from_keras(keras_layer, input_rank)`` gives ``(our layer, its weights
as NumPy)``, or an ``UnsupportedLayerError`` that names the Keras layer and
says what about it has no dlcourse counterpart (an activation, an option).
"""

import numpy as np

from dlcourse.interop.errors import unsupported_layer
from dlcourse.interop.keras_image_import import Read, read_image_layer
from dlcourse.interop.keras_nested import model_from_keras
from dlcourse.interop.keras_position_embedding import KERAS_CLASS_NAME
from dlcourse.nn.layers import (
    GRU,
    LSTM,
    Activation,
    Add,
    BatchNorm,
    Concatenate,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    GlobalAveragePooling1D,
    LayerNormalization,
    MultiHeadAttention,
    Multiply,
    PositionEmbedding,
    ReLU,
    SimpleRNN,
    Softmax,
)

__all__ = ["layer_from_keras", "read_layer"]

_ACTIVATIONS = ("relu", "sigmoid", "tanh", "softmax", "linear")
_FROM_KERAS_SUPPORTED = (
    "Conv2D, MaxPooling2D, BatchNormalization, Flatten on images (channels last or first)",
    "ZeroPadding2D before a Conv2D",
    "Dense",
    "Activation",
    "ReLU",
    "Softmax",
    "Dropout",
    "Flatten",
    "BatchNormalization (on (batch, features) inputs)",
    "Embedding",
    "LayerNormalization (last axis)",
    "GlobalAveragePooling1D",
    "SimpleRNN, LSTM, GRU (default activations, reset_after=True, no dropout or return_state)",
    "MultiHeadAttention",
    "Add, Multiply, Concatenate",
    "dlcourse's PositionEmbedding",
)


def _activation_name(keras_layer):
    """The activation of a Keras layer as one of our names, or an error naming the layer."""
    name = getattr(keras_layer.activation, "__name__", None)
    if name not in _ACTIVATIONS:
        why = f"activation {name!r} has no dlcourse counterpart (we have {', '.join(_ACTIVATIONS)})"
        raise unsupported_layer(keras_layer, "dlcourse", _FROM_KERAS_SUPPORTED, why)
    return None if name == "linear" else name


def read_layer(keras_layer, input_rank, layout=None, shape=None, padding=0):
    """A ``Read`` (``keras_image_import``) for one Keras layer whose input has ``layout``
    and, one example, ``shape``; image layers are read there, the others here."""
    if layout is not None or padding:

        def refuse(why):
            return unsupported_layer(keras_layer, "dlcourse", _FROM_KERAS_SUPPORTED, why)

        read = read_image_layer(keras_layer, layout, shape, padding, refuse)
        if read is not None:
            return read
    layer, weights = layer_from_keras(keras_layer, input_rank)
    return Read(layer, weights, layout)  # an elementwise layer keeps the layout


def layer_from_keras(keras_layer, input_rank):
    """``(our layer, its weights as NumPy)`` for one Keras layer."""
    kind, name = type(keras_layer).__name__, keras_layer.name
    config = keras_layer.get_config()
    weights = [np.asarray(w) for w in keras_layer.get_weights()]

    def refuse(why):
        return unsupported_layer(keras_layer, "dlcourse", _FROM_KERAS_SUPPORTED, why)

    if kind in ("Sequential", "Functional"):  # a model used as a layer
        return model_from_keras(keras_layer)
    if kind == "Dense":
        activation = _activation_name(keras_layer)
        layer = Dense(config["units"], activation, use_bias=config["use_bias"], name=name)
        return layer, weights
    if kind == "Activation":
        return Activation(_activation_name(keras_layer), name=name), []
    if kind == "ReLU":
        if (
            config.get("max_value") is not None
            or config.get("negative_slope")
            or (config.get("threshold"))
        ):
            raise refuse("only the plain max(x, 0) form is supported")
        return ReLU(name=name), []
    if kind == "Softmax":
        if config.get("axis", -1) not in (-1, input_rank - 1):
            raise refuse("only softmax over the last axis is supported")
        return Softmax(name=name), []
    if kind == "Dropout":
        if config.get("noise_shape") is not None:
            raise refuse("noise_shape is not supported")
        return Dropout(config["rate"], name=name), []
    if kind == "Flatten":
        if input_rank > 2 and config.get("data_format") == "channels_first":
            raise refuse("data_format='channels_first' reorders the values before flattening")
        return Flatten(name=name), []
    if kind == "BatchNormalization":
        if input_rank != 2 or config["axis"] not in (-1, 1, [-1], [1]):
            raise refuse("only batch norm over the features of (batch, features) inputs")
        if not (config["center"] and config["scale"]):
            raise refuse("center=False or scale=False is not supported")
        return BatchNorm(momentum=config["momentum"], epsilon=config["epsilon"], name=name), weights
    sequence = sequence_layer_from_keras(keras_layer, kind, config, refuse)
    if sequence is None:
        raise refuse(f"{kind} layers are not supported")
    return sequence, weights


_RECURRENT = {"SimpleRNN": SimpleRNN, "LSTM": LSTM, "GRU": GRU}
_MERGES = {"Add": Add, "Multiply": Multiply, "Concatenate": Concatenate}


def _recurrent_from_keras(kind, config, refuse):
    expected = {
        "activation": "tanh",
        "use_bias": True,
        "dropout": 0.0,
        "recurrent_dropout": 0.0,
        "go_backwards": False,
        "stateful": False,
    }
    if kind != "SimpleRNN":
        expected["recurrent_activation"] = "sigmoid"
    if kind == "GRU":
        expected["reset_after"] = True
    for option, value in expected.items():
        if config.get(option, value) != value:
            raise refuse(f"{option}={config[option]!r} is not supported (only {value!r})")
    return _RECURRENT[kind](
        config["units"],
        return_sequences=config["return_sequences"],
        return_state=config.get("return_state", False),
        name=config["name"],
    )


def _attention_from_keras(config, refuse):
    if config.get("output_shape") is not None:
        raise refuse("output_shape is not supported (the output has the query's width)")
    if config.get("attention_axes") not in (None, [1], (1,), 1):
        raise refuse("attention over axes other than the steps (axis 1) is not supported")
    if config.get("use_gate") or config.get("sliding_window") is not None:
        raise refuse("use_gate and sliding_window are not supported")
    if config.get("dropout"):
        raise refuse("attention dropout is not supported (dropout=0.0 only)")
    return MultiHeadAttention(
        config["num_heads"],
        config["key_dim"],
        value_dim=config.get("value_dim"),
        use_bias=config["use_bias"],
        name=config["name"],
    )


def sequence_layer_from_keras(keras_layer, kind, config, refuse):
    """Our sequence or merging layer for a Keras one (None: not one of these kinds)."""
    name = config["name"]
    if kind == "Embedding":
        if config.get("mask_zero"):
            raise refuse("mask_zero=True is not supported (masks are not carried)")
        return Embedding(config["input_dim"], config["output_dim"], name=name)
    if kind == "LayerNormalization":
        if config.get("axis") not in (-1, [-1]) or config.get("rms_scaling"):
            raise refuse("only the plain form over the last axis (axis=-1) is supported")
        return LayerNormalization(
            epsilon=config["epsilon"], center=config["center"], scale=config["scale"], name=name
        )
    if kind == "GlobalAveragePooling1D":
        if config.get("data_format", "channels_last") != "channels_last":
            raise refuse("only data_format='channels_last' (batch, steps, features)")
        return GlobalAveragePooling1D(keepdims=config.get("keepdims", False), name=name)
    if kind in _RECURRENT:
        return _recurrent_from_keras(kind, config, refuse)
    if kind == "MultiHeadAttention":
        return _attention_from_keras(config, refuse)
    if kind in _MERGES:
        options = {"axis": config["axis"]} if kind == "Concatenate" else {}
        return _MERGES[kind](name=name, **options)
    if kind == KERAS_CLASS_NAME:
        return PositionEmbedding(config["sequence_length"], name=name)
    return None
