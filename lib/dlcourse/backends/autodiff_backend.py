"""The ``autodiff`` backend: the course's own ``dlcourse.autodiff.Tensor`` takes the derivatives.

This is the engine built in the autodiff chapter, now training real models.
Weights are ``Tensor`` objects with ``requires_grad=True`` whose ``.data`` is a
NumPy array; every op below is one of the engine's ``Function`` classes
(``MatMul``, ``ReLU``, ``CrossEntropy``...), so running the layers records a
graph, and ``loss.backward()`` walks it in reverse and leaves dL/dw in each
weight's ``.grad``. Nothing here knows a derivative: compare ``manual``, where
every layer carries its own ``backward``.

The train step is the loop of any autodiff library::

    forget the old gradients -> forward -> loss -> loss.backward() -> update

and the update is the hand-written rule of ``dlcourse.functional`` (the very
rule ``manual`` uses), applied in place to the weights' arrays. So ``manual``
and ``autodiff`` run the same forward math and the same update; only the way
the gradients are found differs, and the tests check that both find the same.

Where the engine has a fused operation for a whole formula (``cross_entropy``
for softmax + negative log-likelihood; ``conv2d``/``max_pool2d`` and dropout,
which wrap the hand-written passes), the op uses it: one graph node instead of
several, and the very numbers of the hand-written code.
"""

import math

import numpy as np

from dlcourse import autodiff
from dlcourse import functional as F
from dlcourse.autodiff import Function, Tensor
from dlcourse.backends.base import Backend

__all__ = ["AutodiffBackend", "create"]


def create():
    return AutodiffBackend()


def _data(x):
    """The array inside a Tensor; anything else as it is."""
    return x.data if isinstance(x, Tensor) else x


def _tensor(x):
    """``x`` as a Tensor (arrays and numbers become constants of the graph)."""
    return x if isinstance(x, Tensor) else Tensor(x)


class _Dropout(Function):
    """Inverted dropout as one node: the hand-written passes, with the mask kept in ``ctx``.

    The mask is drawn by ``dlcourse.functional.dropout_forward`` from the layer's
    NumPy generator, so a model gets the same masks here as on ``manual``.
    """

    @staticmethod
    def forward(ctx, x, rate, rng):
        out, ctx.cache = F.dropout_forward(x, rate, True, rng=rng)
        return out

    @staticmethod
    def backward(ctx, grad):
        return F.dropout_backward(grad, ctx.cache)


class _Concatenate(Function):
    """Arrays side by side along ``axis``; each input's gradient is its slice of the output's."""

    @staticmethod
    def forward(ctx, *arrays, axis=-1):
        ctx.axis = axis % arrays[0].ndim
        ctx.sizes = [a.shape[ctx.axis] for a in arrays]
        return ctx.xp.concat(arrays, axis=ctx.axis)

    @staticmethod
    def backward(ctx, grad):
        grads, start = [], 0
        for size in ctx.sizes:
            index = [slice(None)] * grad.ndim
            index[ctx.axis] = slice(start, start + size)
            grads.append(grad[tuple(index)])
            start += size
        return tuple(grads)


class AutodiffBackend(Backend):
    """NumPy arrays inside ``dlcourse.autodiff.Tensor``; gradients from ``Tensor.backward``."""

    name = "autodiff"

    def describe(self):
        return "autodiff (dlcourse.autodiff.Tensor on numpy)"

    # ------------------------------------------------------------------ arrays
    def asarray(self, x, dtype=None):
        if isinstance(x, Tensor):
            return x if dtype is None or x.dtype == dtype else x.astype(np.dtype(dtype))
        return Tensor(np.asarray(x, dtype=dtype))

    def to_numpy(self, x):
        return np.asarray(_data(x))

    def cast(self, x, dtype):
        return _tensor(x).astype(np.dtype(str(dtype)))

    def variable(self, value, trainable=True):
        return Tensor(np.array(value, copy=True), requires_grad=trainable)

    def assign(self, variable, value):
        if variable.data.flags.writeable:
            variable.data[...] = value  # the optimizer keeps writing into this array
        else:  # a read-only view (batch-norm statistics can be one): give it its own array
            variable.data = np.array(value, dtype=variable.data.dtype, copy=True)
        return variable

    def seed_state(self, seed):
        return np.random.default_rng(seed)

    def batch_index(self, index):
        return index

    def take(self, x, index):
        return Tensor(_data(x)[index])

    def no_grad(self):
        return autodiff.no_grad()

    def equal(self, a, b):
        return Tensor(_data(a) == _data(b))

    # ---------------------------------------------------------------------- ops
    def exp(self, x):
        return _tensor(x).exp()

    def log(self, x):
        return _tensor(x).log()

    def sqrt(self, x):
        return _tensor(x).sqrt()

    def abs(self, x):
        return _tensor(x).abs()

    def maximum(self, a, b):
        return autodiff.maximum(a, b)

    def minimum(self, a, b):
        return autodiff.minimum(a, b)

    def where(self, condition, a, b):
        return autodiff.where(_data(condition), a, b)

    def clip(self, x, low, high):
        return _tensor(x).clip(low, high)

    def relu(self, x):
        return _tensor(x).relu()

    def sigmoid(self, x):
        return _tensor(x).sigmoid()

    def tanh(self, x):
        return _tensor(x).tanh()

    def softmax(self, x, axis=-1):
        return autodiff.softmax(x, axis=axis)

    def log_softmax(self, x, axis=-1):
        return autodiff.log_softmax(x, axis=axis)

    def sum(self, x, axis=None, keepdims=False):
        return _tensor(x).sum(axis=axis, keepdims=keepdims)

    def mean(self, x, axis=None, keepdims=False):
        return _tensor(x).mean(axis=axis, keepdims=keepdims)

    def max(self, x, axis=None, keepdims=False):
        return _tensor(x).max(axis=axis, keepdims=keepdims)

    def argmax(self, x, axis=-1):
        return _tensor(x).argmax(axis=axis)

    def reshape(self, x, shape):
        return _tensor(x).reshape(tuple(shape))

    def transpose(self, x, axes=None):
        if axes is None:
            return _tensor(x).transpose()
        return _tensor(x).transpose(tuple(axes))

    def concatenate(self, xs, axis=-1):
        return _Concatenate.apply(*xs, axis=axis)

    def take_along_axis(self, x, indices, axis):
        return autodiff.take_along_axis(x, _data(indices), axis=axis)

    def matmul(self, a, b):
        return _tensor(a) @ b

    def embedding(self, ids, table):
        # fancy indexing records a GetItem node, whose backward adds repeated rows up
        return _tensor(table)[_data(ids)]

    def conv2d(self, x, kernel, bias=None, stride=1, padding=0):
        if bias is None:  # the engine's conv2d always adds a bias: add zeros
            bias = np.zeros(kernel.shape[0], dtype=kernel.dtype)
        return autodiff.conv2d(x, kernel, bias, stride=stride, pad=padding)

    def maxpool2d(self, x, size=2, stride=None):
        return autodiff.max_pool2d(x, size=size, stride=stride)

    def dropout(self, x, rate, seed_state):
        return _Dropout.apply(x, rate=rate, rng=seed_state), seed_state

    def stop_gradient(self, x):
        return x.detach() if isinstance(x, Tensor) else x

    # ------------------------------------------------------------------- losses
    def sparse_categorical_crossentropy(self, labels, y_pred, from_logits=False, eps=1e-7):
        if from_logits:  # one node whose backward is (softmax - one_hot) / N
            return autodiff.cross_entropy(y_pred, _data(labels))
        return super().sparse_categorical_crossentropy(labels, y_pred, False, eps)

    # ----------------------------------------------------------------- training
    def make_train_step(self, model, loss, optimizer):
        params = model.trainable_weights
        rule = optimizer.update_rule()
        forward = model.call

        def step(x, y):
            for p in params:
                p.grad = None  # backward() adds to .grad: start each step from nothing
            y_pred = forward(x, True)
            value = loss(y, y_pred)
            number = float(value.data)
            if math.isfinite(number):  # a non-finite loss would wreck every weight
                value.backward()
                rule.lr = optimizer.learning_rate
                rule.step([p.data for p in params], _grads(params))
            return number, _detached(y_pred)

        return step

    def make_eval_step(self, model, loss):
        def step(x, y):
            with autodiff.no_grad():
                y_pred = model.call(x, training=False)
                return float(loss(y, y_pred).data), y_pred

        return step

    def loss_and_gradients(self, model, loss, x, y, training=True):
        params = model.trainable_weights
        kept = [p.grad for p in params]
        try:
            for p in params:
                p.grad = None
            with autodiff.enable_grad():
                value = loss(y, model.call(x, training))
            value.backward()
            grads = _grads(params)
        finally:
            for p, g in zip(params, kept):
                p.grad = g
        return float(value.data), grads


def _grads(params):
    """Each weight's gradient; zeros for a weight the loss does not depend on."""
    return [np.zeros_like(p.data) if p.grad is None else p.grad for p in params]


def _detached(y_pred):
    """The predictions without their graph (each of them, for a model with several outputs)."""
    if isinstance(y_pred, (list, tuple)):
        return [p.detach() for p in y_pred]
    return y_pred.detach()
