"""The operations a layer is written with, carried out by the active backend.

Each function here calls the method of the same name on the current backend
(``dlcourse.backends.current()``): NumPy for ``manual``, PyTorch for ``torch``,
and so on. A layer written only with these functions therefore runs on every
backend without a change::

    from dlcourse import ops

    class Scale(Layer):
        def build(self, input_shape):
            self.add_weight("scale", (input_shape[-1],), initializer="ones")

        def call(self, x, training=False):
            return ops.multiply(x, self.scale)

Arrays are the backend's own (NumPy arrays, torch tensors, ...); Python's
operators (``+``, ``*``, ``@``) work on them too. Conventions: images are NCHW,
convolution kernels (F, C, KH, KW), dtypes are strings such as ``"float32"``.
"""

from dlcourse.backends import current

__all__ = [
    "abs",
    "add",
    "argmax",
    "binary_crossentropy",
    "cast",
    "categorical_crossentropy",
    "clip",
    "concatenate",
    "conv2d",
    "convert_to_tensor",
    "convert_to_numpy",
    "dense",
    "divide",
    "dropout",
    "embedding",
    "equal",
    "exp",
    "fused_attention",
    "fused_layer_norm",
    "fused_recurrence",
    "log",
    "log_softmax",
    "matmul",
    "max",
    "maximum",
    "maxpool2d",
    "mean",
    "mean_squared_error",
    "minimum",
    "multiply",
    "negative",
    "relu",
    "reshape",
    "scan",
    "sigmoid",
    "softmax",
    "sparse_categorical_crossentropy",
    "sqrt",
    "square",
    "stop_gradient",
    "subtract",
    "sum",
    "take_along_axis",
    "tanh",
    "transpose",
    "where",
]

# sum, max and abs shadow Python's builtins on purpose, as NumPy's do: this
# module is meant to be used as ``ops.sum``, never star-imported.


# --------------------------------------------------------------------- arrays
def convert_to_tensor(x, dtype=None):
    """``x`` (NumPy array, list or number) as the backend's array type, on its device."""
    return current().asarray(x, dtype)


def convert_to_numpy(x):
    """The backend array ``x`` as a NumPy array."""
    return current().to_numpy(x)


def cast(x, dtype):
    """``x`` converted to ``dtype`` (a string: "float32", "float64", "int64", ...)."""
    return current().cast(x, dtype)


# ----------------------------------------------------------------- arithmetic
def add(a, b):
    """a + b, elementwise with broadcasting."""
    return current().add(a, b)


def subtract(a, b):
    """a - b, elementwise with broadcasting."""
    return current().subtract(a, b)


def multiply(a, b):
    """a * b, elementwise with broadcasting."""
    return current().multiply(a, b)


def divide(a, b):
    """a / b, elementwise with broadcasting."""
    return current().divide(a, b)


def negative(x):
    """-x."""
    return current().negative(x)


def square(x):
    """x * x."""
    return current().square(x)


def equal(a, b):
    """a == b elementwise, as booleans."""
    return current().equal(a, b)


def exp(x):
    return current().exp(x)


def log(x):
    """Natural logarithm."""
    return current().log(x)


def sqrt(x):
    return current().sqrt(x)


def abs(x):
    return current().abs(x)


def maximum(a, b):
    """Elementwise max of a and b (b may be a number: ``maximum(x, 0.0)``)."""
    return current().maximum(a, b)


def minimum(a, b):
    """Elementwise min of a and b (b may be a number)."""
    return current().minimum(a, b)


def where(condition, a, b):
    """a where condition is true, b elsewhere."""
    return current().where(condition, a, b)


def clip(x, low, high):
    """x limited to [low, high]."""
    return current().clip(x, low, high)


# ---------------------------------------------------------------- activations
def relu(x):
    """max(x, 0)."""
    return current().relu(x)


def sigmoid(x):
    """1 / (1 + exp(-x))."""
    return current().sigmoid(x)


def tanh(x):
    return current().tanh(x)


def softmax(x, axis=-1):
    """exp(x) / sum(exp(x)) along ``axis``."""
    return current().softmax(x, axis)


def log_softmax(x, axis=-1):
    """log(softmax(x)), computed without forming the softmax (stable for large x)."""
    return current().log_softmax(x, axis)


# ----------------------------------------------------------------- reductions
def sum(x, axis=None, keepdims=False):
    """Sum over ``axis`` (an int, a tuple, or None for every axis)."""
    return current().sum(x, axis, keepdims)


def mean(x, axis=None, keepdims=False):
    return current().mean(x, axis, keepdims)


def max(x, axis=None, keepdims=False):
    return current().max(x, axis, keepdims)


def argmax(x, axis=-1):
    """Index of the largest entry along ``axis``."""
    return current().argmax(x, axis)


# --------------------------------------------------------------------- shapes
def reshape(x, shape):
    """``x`` with a new shape; one entry may be -1 (worked out from the others)."""
    return current().reshape(x, shape)


def transpose(x, axes=None):
    """Axes permuted as ``axes`` (reversed when None)."""
    return current().transpose(x, axes)


def concatenate(xs, axis=-1):
    """The arrays of the list ``xs`` joined along ``axis`` (all other sizes equal)."""
    return current().concatenate(list(xs), axis)


def take_along_axis(x, indices, axis):
    """Entries of ``x`` at ``indices`` along ``axis`` (as ``numpy.take_along_axis``)."""
    return current().take_along_axis(x, indices, axis)


# --------------------------------------------------------------------- layers
def matmul(a, b):
    """Matrix product a @ b."""
    return current().matmul(a, b)


def dense(x, kernel, bias=None):
    """x @ kernel + bias: the dense layer's affine map (kernel is (in, out))."""
    return current().dense(x, kernel, bias)


def embedding(ids, table):
    """Rows of ``table`` (V, D) at the integer ``ids`` (N,) or (N, T): (N, D) or (N, T, D)."""
    return current().embedding(ids, table)


def conv2d(x, kernel, bias=None, stride=1, padding=0):
    """2-D convolution: x (N, C, H, W), kernel (F, C, KH, KW), bias (F,) -> (N, F, OH, OW)."""
    return current().conv2d(x, kernel, bias, stride, padding)


def maxpool2d(x, size=2, stride=None):
    """Max over ``size`` x ``size`` windows of each channel; stride defaults to size."""
    return current().maxpool2d(x, size, stride)


def dropout(x, rate, seed_state):
    """Inverted dropout with drop probability ``rate``: returns ``(out, new_seed_state)``."""
    return current().dropout(x, rate, seed_state)


def scan(step, init, xs):
    """Run ``carry = step(carry, xs[t])`` for t = 0, 1, ...; every carry, stacked over time.

    ``init``: a tuple of arrays (the state before the first step); ``xs``: an array
    whose first axis is time, (T, ...); ``step(carry, x_t)`` returns the new tuple,
    written with ops. Returns a tuple like ``init`` whose entries are (T, ...):
    entry ``[t]`` is the carry after step t. Recurrent layers are written with it::

        (hs,) = ops.scan(lambda c, x_t: (ops.tanh(x_t + c[0] @ wh),), (h0,), xs)

    Compiled backends run it as one loop of their own (``jax.lax.scan``,
    ``tf.scan``, ``pytensor.scan``); eager ones loop in Python.
    """
    return current().scan(step, tuple(init), xs)


def stop_gradient(x):
    """``x`` treated as a constant: no gradient flows back through it."""
    return current().stop_gradient(x)


# ------------------------------------------------------ fused layers (optional)
# A backend may run a whole layer's math as one routine of its library; where it
# has none (or not for these options), these return None and the layer computes
# with the ops above. See ``dlcourse.backends.base`` for the exact contracts.


def fused_recurrence(kind, x, states, kernel, recurrent_kernel, bias):
    """``(hs, finals)`` of a "lstm", "gru" or "simple_rnn" layer in one routine, or None."""
    return current().fused_recurrence(kind, x, states, kernel, recurrent_kernel, bias)


def fused_attention(q, k, v, scale, mask=None):
    """``softmax(q k^T * scale) v`` (mask: NumPy bool (Tq, Tk)) in one routine, or None."""
    return current().fused_attention(q, k, v, scale, mask)


def fused_layer_norm(x, gamma, beta, epsilon):
    """Layer normalization over the last axis in one routine, or None."""
    return current().fused_layer_norm(x, gamma, beta, epsilon)


# --------------------------------------------------------------------- losses
def sparse_categorical_crossentropy(labels, y_pred, from_logits=False):
    """Mean of -log p[label] over the batch; labels (N,) are integer classes."""
    return current().sparse_categorical_crossentropy(labels, y_pred, from_logits)


def categorical_crossentropy(targets, y_pred, from_logits=False):
    """Mean of -sum(targets * log p) over the batch; targets (N, C) are one-hot rows."""
    return current().categorical_crossentropy(targets, y_pred, from_logits)


def binary_crossentropy(targets, y_pred, from_logits=False):
    """Mean of -[t log p + (1 - t) log(1 - p)] over every element."""
    return current().binary_crossentropy(targets, y_pred, from_logits)


def mean_squared_error(targets, y_pred):
    """Mean of (y_pred - targets)**2 over every element."""
    return current().mean_squared_error(targets, y_pred)
