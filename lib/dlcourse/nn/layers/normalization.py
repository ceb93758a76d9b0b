"""``BatchNorm``: normalize each feature (or channel) with the statistics of the batch;
``LayerNormalization``: each example over its own features.

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
from dlcourse.functional._common import device, namespace
from dlcourse.nn.layers.base import Layer

__all__ = ["BatchNorm", "BatchNormalization", "LayerNormalization"]


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


class LayerNormalization(Layer):
    """Normalize each example over its last axis: (..., D) -> gamma * xhat + beta.

    ``xhat = (x - mean) / sqrt(var + epsilon)`` with the mean and biased
    variance of the example's own D values, so training and prediction compute
    the same and there are no running statistics.

    Parameters
    ----------
    axis : -1 (the last axis, or its positive index); the only axis supported.
    epsilon : added to the variance (Keras's default, 1e-3).
    center : learn a shift ``beta`` (zeros). scale : learn a scale ``gamma`` (ones).

    Weights, in this order: ``gamma`` (D,) if ``scale``, ``beta`` (D,) if ``center``.
    """

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
            raise ValueError(f"axis: expected -1 (the last axis), got {axis!r}.")
        if not (isinstance(epsilon, numbers.Real) and epsilon > 0):
            raise ValueError(f"epsilon: expected a positive number, got {epsilon!r}.")
        self.axis, self.epsilon = int(axis), float(epsilon)
        self.center, self.scale = bool(center), bool(scale)
        self.gamma = self.beta = None
        self._cache = None

    def build(self, input_shape):
        rank = len(input_shape)
        if rank < 2:
            raise ValueError(
                f"LayerNormalization layer {self.name!r} expects (batch, ..., features), got "
                f"input of shape {tuple(input_shape)}."
            )
        if self.axis not in (-1, rank - 1):
            raise ValueError(
                f"LayerNormalization layer {self.name!r}: axis={self.axis} is not supported; "
                f"only the last axis (axis=-1) is, for inputs of shape {tuple(input_shape)}: "
                "transpose the axis to normalize to the end."
            )
        features = input_shape[-1]
        if self.scale:
            self.add_weight("gamma", (features,), "ones")
        if self.center:
            self.add_weight("beta", (features,), "zeros")

    def call(self, x, training=False):
        fused = ops.fused_layer_norm(x, self.gamma, self.beta, self.epsilon)
        if fused is not None:  # the backend's own routine (PyTorch's layer_norm)
            return fused
        mean = ops.mean(x, axis=-1, keepdims=True)
        centred = x - mean
        var = ops.mean(centred * centred, axis=-1, keepdims=True)
        out = centred / ops.sqrt(var + self.epsilon)
        if self.gamma is not None:
            out = out * self.gamma
        if self.beta is not None:
            out = out + self.beta
        return out

    def _fixed(self, x, fill):
        # scale=False / center=False: the hand-written pass still takes gamma and beta
        xp = namespace(x)
        return xp.full((x.shape[-1],), fill, dtype=x.dtype, device=device(x))

    def forward(self, x, training=False):
        gamma = self.gamma if self.gamma is not None else self._fixed(x, 1.0)
        beta = self.beta if self.beta is not None else self._fixed(x, 0.0)
        out, self._cache = F.layernorm_forward(x, gamma, beta, self.epsilon)
        return out

    def backward(self, dout):
        dx, dgamma, dbeta = F.layernorm_backward(dout, self._cache)
        self.grads = {}
        if self.gamma is not None:
            self.grads["gamma"] = dgamma
        if self.beta is not None:
            self.grads["beta"] = dbeta
        return dx

    def get_config(self):
        return {
            **super().get_config(),
            "axis": self.axis,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
        }
