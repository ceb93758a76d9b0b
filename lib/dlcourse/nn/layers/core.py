"""``Dense``: the fully connected layer, out = activation(x @ kernel + bias).

The number of inputs is not given: it is read from the first input the layer
sees (``build``), so ``Dense(64)`` works after any layer.
"""

from dlcourse import functional as F
from dlcourse import ops
from dlcourse.functional._common import device, namespace
from dlcourse.nn.layers._checks import positive_int
from dlcourse.nn.layers.activations import make_activation
from dlcourse.nn.layers.base import Layer

__all__ = ["Dense"]


def rank_error(layer, shape):
    """What to do when a Dense layer is handed something that is not (batch, features)."""
    if len(shape) == 1:
        got = "a 1-D input (one number per example?)"
        fix = "reshape the data with x.reshape(-1, 1)"
    else:
        got = f"examples of shape {tuple(shape[1:])}"
        fix = (
            "add Flatten() before it to lay each example out as one row "
            "(or reshape the data with x.reshape(len(x), -1))"
        )
    return ValueError(
        f"{type(layer).__name__} layer {layer.name!r} expects (batch, features), one row of "
        f"numbers per example, but got {got}; {fix}."
    )


class Dense(Layer):
    """Fully connected layer: every output sees every input.

    Parameters
    ----------
    units : number of outputs per example.
    activation : "relu", "sigmoid", "tanh", "softmax", "linear" or None.
    use_bias : add a learned bias per output.

    Weights: ``kernel`` (inputs, units), Glorot-uniform; ``bias`` (units,), zeros.
    On the ``manual`` backend, ``backward`` writes dL/dkernel into the same array
    every time (``grads["kernel"]``): copy it to keep one step's gradient.
    """

    def __init__(
        self,
        units,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        name=None,
        dtype=None,
    ):
        super().__init__(name=name, dtype=dtype)
        self.units = positive_int("units", units)
        self._activation = make_activation(activation)
        self.activation = None if self._activation is None else self._activation.activation
        self.use_bias = bool(use_bias)
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer
        self.bias = None
        self._cache = None
        self._kernel_grad = None  # reused by backward, see _kernel_grad_buffer

    def build(self, input_shape):
        if len(input_shape) != 2:
            raise rank_error(self, input_shape)
        self.add_weight("kernel", (input_shape[1], self.units), self.kernel_initializer)
        if self.use_bias:
            self.add_weight("bias", (self.units,), self.bias_initializer)

    def call(self, x, training=False):
        y = ops.dense(x, self.kernel, self.bias)
        return y if self._activation is None else self._activation.call(y, training)

    def forward(self, x, training=False):
        if self.bias is None:
            y, self._cache = x @ self.kernel, (x, self.kernel)
        else:
            y, self._cache = F.dense_forward(x, self.kernel, self.bias)
        return y if self._activation is None else self._activation.forward(y, training)

    def backward(self, dout):
        if self._activation is not None:
            dout = self._activation.backward(dout)
        dx, dw, db = F.dense_backward(
            dout, self._cache, input_grad=self.needs_input_grad, dw_out=self._kernel_grad_buffer()
        )
        self.grads = {"kernel": dw}
        if self.bias is not None:
            self.grads["bias"] = db
        return dx

    def _kernel_grad_buffer(self):
        """The array dL/dkernel goes into, made again only if the kernel changed shape or kind."""
        kernel, buffer = self.kernel, self._kernel_grad
        if (
            buffer is None
            or type(buffer) is not type(kernel)
            or buffer.shape != kernel.shape
            or buffer.dtype != kernel.dtype
            or device(buffer) != device(kernel)
        ):
            buffer = self._kernel_grad = namespace(kernel).empty_like(kernel)
        return buffer

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "activation": self.activation,
            "use_bias": self.use_bias,
            "kernel_initializer": _name(self.kernel_initializer),
            "bias_initializer": _name(self.bias_initializer),
        }


def _name(initializer):
    return initializer if isinstance(initializer, str) else getattr(initializer, "__name__", "?")
