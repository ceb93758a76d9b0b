"""Our layers as Keras 3 layers: one converter per layer class, into a ``KerasStack``.

A converter ``convert(stack, layer)`` appends the Keras layers that compute
what ``layer`` computes (often one; a convolution may add a ``Permute`` or a
``ZeroPadding2D``) together with the weights to copy into them. The stack
keeps track of the image layout (see ``dlcourse.interop.keras``), so the same
converters serve a ``Sequential`` chain and each node of a Functional graph.
"""

import numpy as np

from dlcourse.bench.token_dense import TokenDense
from dlcourse.interop.keras_nested import model_to_keras
from dlcourse.interop.keras_sequence_layers import SEQUENCE_CONVERTERS
from dlcourse.nn.layers import (
    Activation,
    BatchNorm,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    MaxPool2D,
    ReLU,
    Sigmoid,
    Softmax,
    Tanh,
)
from dlcourse.nn.models import Functional, Sequential

__all__ = ["TO_KERAS", "KerasStack"]

_TO_NHWC, _TO_NCHW = (2, 3, 1), (3, 1, 2)  # Permute's dims (1-based, batch axis left out)


class KerasStack:
    """The Keras layers under construction, and the image layout they are in now.

    ``layout`` is "nchw" (ours), "nhwc" (Keras's convolutions) or "flat" (anything
    that is not an image batch). Weights are set once the model is built.
    """

    def __init__(self, keras, dtype, input_rank):
        self.keras, self.dtype = keras, dtype
        self.layout = "nchw" if input_rank == 4 else "flat"
        self.layers, self.weights = [], []

    def add(self, layer, weights=None):
        self.layers.append(layer)
        if weights is not None:
            self.weights.append((layer, weights))

    def set_weights(self):
        """Copy the weights in, once the Keras layers are built (called on tensors)."""
        for layer, values in self.weights:
            layer.set_weights([np.asarray(v, dtype=self.dtype) for v in values])

    def channels_last(self, name):
        if self.layout == "nchw":
            self.add(self.keras.layers.Permute(_TO_NHWC, name=f"{name}_to_nhwc", dtype=self.dtype))
            self.layout = "nhwc"

    def channels_first(self, name):
        if self.layout == "nhwc":
            self.add(self.keras.layers.Permute(_TO_NCHW, name=f"{name}_to_nchw", dtype=self.dtype))
            self.layout = "nchw"


def _activation_to_keras(stack, activation, name):
    """A separate Keras Activation layer; softmax runs over the last axis of *our* layout."""
    if activation == "softmax":
        stack.channels_first(name)
    stack.add(stack.keras.layers.Activation(activation or "linear", name=name, dtype=stack.dtype))


# Our weights replace whatever Keras draws; "zeros" draws nothing, which spares JAX
# the compilation of a random generator for every weight shape.
_NO_DRAW = {"kernel_initializer": "zeros", "bias_initializer": "zeros"}


def _dense_to_keras(stack, layer):
    keras_layer = stack.keras.layers.Dense(
        layer.units,
        activation=layer.activation,
        use_bias=layer.use_bias,
        name=layer.name,
        dtype=stack.dtype,
        **_NO_DRAW,
    )
    stack.add(keras_layer, layer.get_weights())  # kernel (in, out) in both libraries


def _conv_to_keras(stack, layer):
    keras = stack.keras
    stack.channels_last(layer.name)
    k, stride, pad = layer.kernel_size, layer.strides, layer.padding
    if pad == 0:
        padding = "valid"
    elif stride == 1 and 2 * pad == k - 1:
        padding = "same"  # Keras's "same" is exactly (k - 1) / 2 zeros on each side here
    else:
        stack.add(keras.layers.ZeroPadding2D(pad, name=f"{layer.name}_padding", dtype=stack.dtype))
        padding = "valid"
    # softmax over our last axis (width) is not elementwise: apply it after going back to NCHW
    inline = layer.activation if layer.activation != "softmax" else None
    weights = layer.get_weights()
    weights[0] = np.transpose(weights[0], (2, 3, 1, 0))  # (F, C, kh, kw) -> (kh, kw, C, F)
    keras_layer = keras.layers.Conv2D(
        layer.filters,
        k,
        strides=stride,
        padding=padding,
        activation=inline,
        use_bias=layer.use_bias,
        name=layer.name,
        dtype=stack.dtype,
        **_NO_DRAW,
    )
    stack.add(keras_layer, weights)
    if layer.activation == "softmax":
        _activation_to_keras(stack, "softmax", f"{layer.name}_softmax")


def _maxpool_to_keras(stack, layer):
    stack.channels_last(layer.name)
    keras_layer = stack.keras.layers.MaxPooling2D(
        layer.pool_size,
        strides=layer.strides or layer.pool_size,
        padding="valid",  # ours drops the rows and columns that do not fill a window, as "valid"
        name=layer.name,
        dtype=stack.dtype,
    )
    stack.add(keras_layer)


def _batchnorm_to_keras(stack, layer):
    keras_layer = stack.keras.layers.BatchNormalization(
        axis=-1 if stack.layout == "nhwc" else 1,  # the channel (or feature) axis
        momentum=layer.momentum,  # both: moving = momentum * moving + (1 - momentum) * batch
        epsilon=layer.epsilon,
        name=layer.name,
        dtype=stack.dtype,
    )
    stack.add(keras_layer, layer.get_weights())  # gamma, beta, moving mean, moving variance


def _flatten_to_keras(stack, layer):
    stack.channels_first(layer.name)  # our order: channel, then row, then column
    # data_format="channels_last" makes Keras's Flatten a plain reshape (with
    # "channels_first" it would move the channels last before flattening)
    stack.add(
        stack.keras.layers.Flatten(data_format="channels_last", name=layer.name, dtype=stack.dtype)
    )
    stack.layout = "flat"


def _dropout_to_keras(stack, layer):
    stack.add(stack.keras.layers.Dropout(layer.rate, name=layer.name, dtype=stack.dtype))


def _activation_layer_to_keras(stack, layer):
    _activation_to_keras(stack, layer.activation, layer.name)


# Exact classes only: a subclass may change what the layer computes.
TO_KERAS = {
    Dense: _dense_to_keras,
    TokenDense: _dense_to_keras,  # Keras's Dense already works on every step of a sequence
    Conv2D: _conv_to_keras,
    MaxPool2D: _maxpool_to_keras,
    BatchNorm: _batchnorm_to_keras,
    Flatten: _flatten_to_keras,
    Dropout: _dropout_to_keras,
    Activation: _activation_layer_to_keras,
    ReLU: _activation_layer_to_keras,
    Sigmoid: _activation_layer_to_keras,
    Tanh: _activation_layer_to_keras,
    Softmax: _activation_layer_to_keras,
    **SEQUENCE_CONVERTERS,
    Sequential: model_to_keras,  # a model used as a layer: a Keras model inside
    Functional: model_to_keras,
}
