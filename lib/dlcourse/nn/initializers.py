"""Initial values for weights, drawn in NumPy so that every backend starts equal.

An initializer is a function ``(shape, dtype, rng) -> numpy array``, with ``rng``
a ``numpy.random.Generator``. Layers name them by string, as in Keras.

Fan-in and fan-out follow the layouts of this package: a 2-D kernel is
(inputs, outputs); a convolution kernel (F, C, KH, KW) has fan_in = C*KH*KW and
fan_out = F*KH*KW.
"""

import math

import numpy as np

__all__ = [
    "INITIALIZERS",
    "get",
    "glorot_uniform",
    "he_normal",
    "ones",
    "orthogonal",
    "uniform",
    "zeros",
]


def _fans(shape):
    if len(shape) == 2:
        return shape[0], shape[1]
    if len(shape) >= 3:  # (out channels, in channels, *kernel)
        receptive = math.prod(shape[2:])
        return shape[1] * receptive, shape[0] * receptive
    size = shape[0] if shape else 1
    return size, size


def zeros(shape, dtype, rng):
    return np.zeros(shape, dtype=dtype)


def ones(shape, dtype, rng):
    return np.ones(shape, dtype=dtype)


def glorot_uniform(shape, dtype, rng):
    """Uniform on [-limit, limit], limit = sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio, 2010).

    The variance 2 / (fan_in + fan_out) keeps the size of the signal about the same
    going forward and of the gradient going backward. Keras's default for kernels.
    """
    fan_in, fan_out = _fans(shape)
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape).astype(dtype)


def he_normal(shape, dtype, rng):
    """Normal with standard deviation sqrt(2 / fan_in): suited to ReLU layers (He et al., 2015)."""
    fan_in, _ = _fans(shape)
    return (rng.standard_normal(shape) * math.sqrt(2.0 / fan_in)).astype(dtype)


def uniform(shape, dtype, rng):
    """Uniform on [-0.05, 0.05]: Keras's ``RandomUniform()``, the default for embedding tables."""
    return rng.uniform(-0.05, 0.05, size=shape).astype(dtype)


def orthogonal(shape, dtype, rng):
    """A matrix with orthonormal rows or columns (whichever are fewer): Keras's default
    for recurrent kernels, whose repeated products then neither grow nor shrink.

    The Q of a Gaussian matrix's QR decomposition, its columns' signs fixed by R's
    diagonal so that Q is uniformly distributed (Saxe et al., 2014).
    """
    rows, cols = shape[0], math.prod(shape[1:])
    a = rng.standard_normal((max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(a)
    q = q * np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return q.reshape(shape).astype(dtype)


INITIALIZERS = {
    "zeros": zeros,
    "orthogonal": orthogonal,
    "uniform": uniform,
    "ones": ones,
    "glorot_uniform": glorot_uniform,
    "he_normal": he_normal,
}


def get(initializer):
    """The initializer named ``initializer`` (or the function itself)."""
    if callable(initializer):
        return initializer
    try:
        return INITIALIZERS[initializer]
    except (KeyError, TypeError):
        known = ", ".join(INITIALIZERS)
        raise ValueError(
            f"initializer: unknown {initializer!r}; choose one of: {known}, "
            "or pass a function (shape, dtype, rng) -> numpy array."
        ) from None
