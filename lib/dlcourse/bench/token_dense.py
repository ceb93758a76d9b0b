"""``TokenDense``: ``nn.Dense`` applied to every step of a sequence, (batch, steps, features).

A transformer's MLP works on each token on its own. ``nn.Dense`` takes
(batch, features) only, so the benchmark's transformer uses this subclass:
the same weights and the same hand-written math, with the steps folded into
the batch (one (batch*steps, features) product) on the ``manual`` backend.
The autodiff backends need nothing more: ``ops.dense`` already takes any
number of leading axes.
"""

from dlcourse.nn import Dense

__all__ = ["TokenDense"]


class TokenDense(Dense):
    """``Dense(units, activation)`` on (batch, steps, features) -> (batch, steps, units)."""

    def build(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(
                f"TokenDense layer {self.name!r} expects sequences (batch, steps, features), "
                f"got input of shape {tuple(input_shape)}; use Dense for (batch, features)."
            )
        super().build((input_shape[0], input_shape[2]))

    def forward(self, x, training=False):
        n, steps = x.shape[0], x.shape[1]
        y = super().forward(x.reshape(n * steps, x.shape[2]), training)
        return y.reshape(n, steps, self.units)

    def backward(self, dout):
        n, steps = dout.shape[0], dout.shape[1]
        dx = super().backward(dout.reshape(n * steps, self.units))
        return None if dx is None else dx.reshape(n, steps, dx.shape[-1])
