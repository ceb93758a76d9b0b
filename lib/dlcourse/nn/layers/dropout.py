"""``Dropout``: zero a random share of the units while training (inverted dropout)."""

import numbers

from dlcourse import functional as F
from dlcourse import ops
from dlcourse.nn.layers.base import Layer

__all__ = ["Dropout"]


class Dropout(Layer):
    """Drops each unit with probability ``rate`` in training and scales the others by
    1 / (1 - rate), so that nothing needs rescaling at prediction time (where the
    layer does nothing).

    ``seed`` fixes the masks; by default it comes from the model's seed. The
    random state lives on the layer (``self.seed_state``) and is threaded through
    compiled train steps like any other state.
    """

    def __init__(self, rate, seed=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        if isinstance(rate, bool) or not isinstance(rate, numbers.Real) or not 0 <= rate < 1:
            raise ValueError(f"rate: expected a drop probability in [0, 1), got {rate!r}.")
        self.rate = float(rate)
        self.seed = seed
        self._cache = None

    def build(self, input_shape):
        self.add_seed_state("seed_state", self.seed)

    def call(self, x, training=False):
        if not training or self.rate == 0.0:
            return x
        out, self.seed_state = ops.dropout(x, self.rate, self.seed_state)
        return out

    def forward(self, x, training=False):
        out, self._cache = F.dropout_forward(x, self.rate, training, rng=self.seed_state)
        return out

    def backward(self, dout):
        return F.dropout_backward(dout, self._cache)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}
