"""GELU, the activation of BERT and the GPT models, in its tanh form.

    gelu(x) = 0.5 * x * (1 + tanh(u)),    u = sqrt(2 / pi) * (x + 0.044715 * x**3)

This is PyTorch's ``gelu(x, approximate="tanh")`` and Keras' ``gelu(x,
approximate=True)``. The forward caches x and t = tanh(u), so the backward
needs no tanh of its own; chapter 07 derives the same backward by hand.
"""

import math

from dlcourse.functional._common import namespace, require_float, require_shape

__all__ = ["gelu_forward", "gelu_backward"]

SQRT_2_OVER_PI = math.sqrt(2 / math.pi)
GELU_C = 0.044715


def gelu_forward(x):
    """GELU (tanh approximation), elementwise; the cache is ``(x, tanh(u))``."""
    require_float("x", x)
    xp = namespace(x)
    t = xp.tanh(SQRT_2_OVER_PI * (x + GELU_C * (x * x * x)))
    return 0.5 * x * (1 + t), (x, t)


def gelu_backward(dout, cache):
    """dout times gelu'(x): the product rule on x * (1 + t), and the chain rule through t(u(x))."""
    x, t = cache
    require_shape("dout", dout, tuple(x.shape))
    du_dx = SQRT_2_OVER_PI * (1 + 3 * GELU_C * (x * x))
    return dout * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du_dx)
