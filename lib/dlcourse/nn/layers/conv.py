"""Layers for images: ``Conv2D``, ``MaxPool2D``, and ``Flatten`` to hand over to Dense.

Images are channels-first, (batch, channels, height, width), as in PyTorch and
``dlcourse.functional``; ``load_digits(flat=False)`` gives them in that layout.
"""

import math

from dlcourse import functional as F
from dlcourse import ops
from dlcourse.nn.layers._checks import positive_int
from dlcourse.nn.layers.activations import make_activation
from dlcourse.nn.layers.base import Layer

__all__ = ["Conv2D", "Flatten", "MaxPool2D", "MaxPooling2D"]


def _image_rank_error(layer, shape):
    if len(shape) == 3:
        fix = "add a channel axis: x[:, None] turns (N, H, W) into (N, 1, H, W)"
    elif len(shape) == 2:
        fix = "reshape each row back into an image, e.g. x.reshape(-1, 1, 8, 8) for the digits"
    else:
        fix = "reshape the data into (batch, channels, height, width)"
    got = f"examples of shape {tuple(shape[1:])}" if len(shape) > 1 else "a 1-D input"
    return ValueError(
        f"{type(layer).__name__} layer {layer.name!r} expects images "
        f"(batch, channels, height, width), but got {got}; {fix}."
    )


def _pair_free(name, value):
    """Square kernels and windows only: an int, or a pair of equal ints."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2 or value[0] != value[1]:
            raise ValueError(f"{name}: only square sizes are supported, got {value!r}.")
        value = value[0]
    return positive_int(name, value)


class Conv2D(Layer):
    """2-D convolution: ``filters`` kernels of ``kernel_size`` x ``kernel_size``.

    ``padding``: "valid" (none), "same" (keep height and width; odd kernels,
    stride 1) or a number of zeros added on every side. Weights: ``kernel``
    (filters, channels, k, k), Glorot-uniform; ``bias`` (filters,), zeros.
    """

    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        padding="valid",
        activation=None,
        use_bias=True,
        name=None,
        dtype=None,
    ):
        super().__init__(name=name, dtype=dtype)
        self.filters = positive_int("filters", filters)
        self.kernel_size = _pair_free("kernel_size", kernel_size)
        self.strides = _pair_free("strides", strides)
        self.padding = self._check_padding(padding)
        self._activation = make_activation(activation)
        self.activation = None if self._activation is None else self._activation.activation
        self.use_bias = bool(use_bias)
        self.bias = None
        self._cache = None

    def _check_padding(self, padding):
        if padding == "valid":
            return 0
        if padding == "same":
            if self.kernel_size % 2 == 0 or self.strides != 1:
                raise ValueError(
                    "padding='same' needs an odd kernel_size and strides=1; "
                    "give the number of zeros instead, e.g. padding=1."
                )
            return (self.kernel_size - 1) // 2
        if isinstance(padding, int) and not isinstance(padding, bool) and padding >= 0:
            return padding
        raise ValueError(
            f"padding: expected 'valid', 'same' or a number of zeros >= 0, got {padding!r}."
        )

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise _image_rank_error(self, input_shape)
        k = self.kernel_size
        self.add_weight("kernel", (self.filters, input_shape[1], k, k), "glorot_uniform")
        if self.use_bias:
            self.add_weight("bias", (self.filters,), "zeros")

    def call(self, x, training=False):
        y = ops.conv2d(x, self.kernel, self.bias, self.strides, self.padding)
        return y if self._activation is None else self._activation.call(y, training)

    def forward(self, x, training=False):
        bias = self.bias
        if bias is None:
            bias = 0 * self.kernel[:, 0, 0, 0]  # zeros of the right kind, dtype and device
        y, self._cache = F.conv2d_forward(x, self.kernel, bias, self.strides, self.padding)
        return y if self._activation is None else self._activation.forward(y, training)

    def backward(self, dout):
        if self._activation is not None:
            dout = self._activation.backward(dout)
        dx, dw, db = F.conv2d_backward(dout, self._cache)
        self.grads = {"kernel": dw}
        if self.bias is not None:
            self.grads["bias"] = db
        return dx

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "activation": self.activation,
            "use_bias": self.use_bias,
        }


class MaxPool2D(Layer):
    """Keeps the largest value of each ``pool_size`` x ``pool_size`` window of each channel."""

    def __init__(self, pool_size=2, strides=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.pool_size = _pair_free("pool_size", pool_size)
        self.strides = None if strides is None else _pair_free("strides", strides)
        self._cache = None

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise _image_rank_error(self, input_shape)

    def call(self, x, training=False):
        return ops.maxpool2d(x, self.pool_size, self.strides)

    def forward(self, x, training=False):
        out, self._cache = F.maxpool2d_forward(x, self.pool_size, self.strides)
        return out

    def backward(self, dout):
        return F.maxpool2d_backward(dout, self._cache)

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size, "strides": self.strides}


MaxPooling2D = MaxPool2D  # the Keras name


class Flatten(Layer):
    """(batch, d1, d2, ...) -> (batch, d1 * d2 * ...): one row per example, for Dense."""

    def __init__(self, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self._cache = None

    def call(self, x, training=False):
        # the batch size may be unknown while a graph is traced (None): let reshape infer it
        return ops.reshape(x, (-1, math.prod(x.shape[1:])))

    def forward(self, x, training=False):
        out, self._cache = F.flatten_forward(x)
        return out

    def backward(self, dout):
        return F.flatten_backward(dout, self._cache)
