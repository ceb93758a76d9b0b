"""Activation layers, and the ``activation="relu"`` strings that other layers accept.

On autodiff backends an activation is one ``dlcourse.ops`` call. On ``manual``
the forward keeps its cache and the backward is the hand-written derivative
from ``dlcourse.functional``.
"""

from dlcourse import functional as F
from dlcourse import ops
from dlcourse.nn.layers.base import Layer

__all__ = ["ACTIVATIONS", "Activation", "ReLU", "Sigmoid", "Softmax", "Tanh", "make_activation"]

# name -> (op, hand-written forward, hand-written backward); "linear" does nothing
ACTIVATIONS = {
    "relu": (ops.relu, F.relu_forward, F.relu_backward),
    "sigmoid": (ops.sigmoid, F.sigmoid_forward, F.sigmoid_backward),
    "tanh": (ops.tanh, F.tanh_forward, F.tanh_backward),
    "softmax": (ops.softmax, F.softmax_forward, F.softmax_backward),
    "linear": None,
}


def check_activation(activation):
    """The activation's name, or a ValueError listing the names there are."""
    if activation is None:
        return None
    if isinstance(activation, str) and activation.lower() in ACTIVATIONS:
        name = activation.lower()
        return None if name == "linear" else name
    known = ", ".join(ACTIVATIONS)
    raise ValueError(
        f"activation: unknown {activation!r}; choose one of: {known} (or None), "
        "or add an activation layer after this one."
    )


def make_activation(activation):
    """An Activation layer for ``activation`` (a name or None), or None for no activation."""
    name = check_activation(activation)
    return None if name is None else Activation(name)


class Activation(Layer):
    """Applies an activation function: ``Activation("relu")``, or ReLU(), Sigmoid(), ..."""

    def __init__(self, activation, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.activation = check_activation(activation)
        entry = ACTIVATIONS[self.activation or "linear"]
        self._op, self._forward, self._backward = entry or (None, None, None)
        self._cache = None

    def call(self, x, training=False):
        return x if self._op is None else self._op(x)

    def forward(self, x, training=False):
        if self._forward is None:
            return x
        out, self._cache = self._forward(x)
        return out

    def backward(self, dout):
        return dout if self._backward is None else self._backward(dout, self._cache)

    def get_config(self):
        return {**super().get_config(), "activation": self.activation or "linear"}


class _Fixed(Activation):
    """An activation layer whose function is fixed by its class."""

    function = None

    def __init__(self, name=None, dtype=None):
        super().__init__(self.function, name=name, dtype=dtype)

    def get_config(self):
        return Layer.get_config(self)


class ReLU(_Fixed):
    """max(x, 0)."""

    function = "relu"


class Sigmoid(_Fixed):
    """1 / (1 + exp(-x)): squashes to (0, 1)."""

    function = "sigmoid"


class Tanh(_Fixed):
    """tanh(x): squashes to (-1, 1)."""

    function = "tanh"


class Softmax(_Fixed):
    """exp(x) / sum(exp(x)) over the last axis: each row becomes a probability distribution."""

    function = "softmax"
