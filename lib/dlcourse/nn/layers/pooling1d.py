"""``GlobalAveragePooling1D``: the mean over the time axis of (batch, steps, features).

Sequences are channels-last, as Keras's default: (batch, steps, features) ->
(batch, features). The derivative spreads each output's gradient evenly over
the steps it averaged: dx[:, t] = dout / steps.
"""

from dlcourse import ops
from dlcourse.functional._common import namespace
from dlcourse.nn.layers.base import Layer

__all__ = ["GlobalAveragePooling1D"]


class GlobalAveragePooling1D(Layer):
    """Average over the steps: (batch, steps, features) -> (batch, features).

    ``keepdims=True`` keeps the steps axis, of size 1: (batch, 1, features). No weights.
    """

    def __init__(self, keepdims=False, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.keepdims = bool(keepdims)
        self._steps = None

    def build(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(
                f"GlobalAveragePooling1D layer {self.name!r} expects (batch, steps, features), "
                f"got input of shape {tuple(input_shape)}; for (batch, features) it has "
                "nothing to average (drop it), for images use a 2-D pooling."
            )

    def call(self, x, training=False):
        return ops.mean(x, axis=1, keepdims=self.keepdims)

    def forward(self, x, training=False):
        self._steps = x.shape[1]
        return self.call(x, training)

    def backward(self, dout):
        xp = namespace(dout)
        if not self.keepdims:
            dout = xp.expand_dims(dout, axis=1)
        shape = (dout.shape[0], self._steps, dout.shape[2])
        return xp.broadcast_to(dout / self._steps, shape)

    def get_config(self):
        return {**super().get_config(), "keepdims": self.keepdims}
