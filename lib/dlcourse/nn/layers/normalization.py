"""``BatchNorm``: normalize each feature (or channel) with the statistics of the batch.

Training: ``xhat = (x - mean) / sqrt(var + epsilon)`` with the batch's mean and
biased variance, then ``gamma * xhat + beta``; running averages of mean and
(unbiased) variance are updated as ``momentum * old + (1 - momentum) * new``.
Prediction: the running averages replace the batch statistics. These are the
conventions of ``dlcourse.functional.batchnorm`` and of PyTorch (whose
``momentum=0.1`` is this ``momentum=0.9``).
"""

import math
import numbers

from dlcourse import functional as F
from dlcourse import ops
from dlcourse.nn.layers.base import Layer

__all__ = ["BatchNorm", "BatchNormalization"]


class BatchNorm(Layer):
    """Batch normalization over axis 1: features of (N, D), channels of (N, C, H, W).

    Weights: ``gamma`` (ones) and ``beta`` (zeros), learned; ``moving_mean`` and
    ``moving_variance``, non-trainable running statistics (saved with the model).
    """

    def __init__(self, momentum=0.9, epsilon=1e-5, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        if isinstance(momentum, bool) or not isinstance(momentum, numbers.Real):
            raise ValueError(f"momentum: expected a number in [0, 1], got {momentum!r}.")
        if not 0 <= momentum <= 1:
            raise ValueError(f"momentum: expected a number in [0, 1], got {momentum!r}.")
        if not (isinstance(epsilon, numbers.Real) and epsilon > 0):
            raise ValueError(f"epsilon: expected a positive number, got {epsilon!r}.")
        self.momentum, self.epsilon = float(momentum), float(epsilon)
        self._cache = None

    def build(self, input_shape):
        if len(input_shape) not in (2, 4):
            raise ValueError(
                f"BatchNorm layer {self.name!r} expects (batch, features) or "
                f"(batch, channels, height, width), got input of shape {tuple(input_shape)}."
            )
        features = input_shape[1]
        self.add_weight("gamma", (features,), "ones")
        self.add_weight("beta", (features,), "zeros")
        self.add_weight("moving_mean", (features,), "zeros", trainable=False)
        self.add_weight("moving_variance", (features,), "ones", trainable=False)

    def call(self, x, training=False):
        features = self.gamma.shape[0]
        axes = (0,) if x.ndim == 2 else (0, 2, 3)
        line_up = (1, features) if x.ndim == 2 else (1, features, 1, 1)
        if training:
            mean = ops.mean(x, axis=axes, keepdims=True)
            centred = x - mean
            var = ops.mean(centred * centred, axis=axes, keepdims=True)
            xhat = centred / ops.sqrt(var + self.epsilon)
            m = math.prod(x.shape[a] for a in axes)  # values per feature
            keep = self.momentum
            new_mean = keep * self.moving_mean + (1 - keep) * ops.reshape(mean, (features,))
            unbiased = ops.reshape(var, (features,)) * (m / (m - 1))
            new_var = keep * self.moving_variance + (1 - keep) * unbiased
            # statistics are not learned: no gradient flows into them
            self.moving_mean = ops.stop_gradient(new_mean)
            self.moving_variance = ops.stop_gradient(new_var)
        else:
            mean = ops.reshape(self.moving_mean, line_up)
            var = ops.reshape(self.moving_variance, line_up)
            xhat = (x - mean) / ops.sqrt(var + self.epsilon)
        return ops.reshape(self.gamma, line_up) * xhat + ops.reshape(self.beta, line_up)

    def forward(self, x, training=False):
        state = {
            "running_mean": self.moving_mean,
            "running_var": self.moving_variance,
            "momentum": self.momentum,
            "eps": self.epsilon,
        }
        out, self._cache = F.batchnorm_forward(x, self.gamma, self.beta, state, training)
        self.moving_mean, self.moving_variance = state["running_mean"], state["running_var"]
        return out

    def backward(self, dout):
        dx, dgamma, dbeta = F.batchnorm_backward(dout, self._cache)
        self.grads = {"gamma": dgamma, "beta": dbeta}
        return dx

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "epsilon": self.epsilon}


BatchNormalization = BatchNorm  # the Keras name
