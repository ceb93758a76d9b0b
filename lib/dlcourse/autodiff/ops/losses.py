"""Softmax, log-softmax and cross-entropy.

``cross_entropy`` could be written with the operations already defined::

    -log_softmax(logits)[arange(N), labels].mean()

and the engine would differentiate it correctly, through four recorded
operations. As one ``Function`` it is a single node whose backward is the
well-known closed form ``(softmax(logits) - one_hot(labels)) / N``, computed
by the hand-written ``dlcourse.functional.softmax_cross_entropy``: fewer
steps, less memory, and exactly the numbers of the by-hand version.
"""

from dlcourse.autodiff.function import Function
from dlcourse.functional.losses import softmax_cross_entropy

__all__ = ["LogSoftmax", "Softmax", "CrossEntropy", "log_softmax", "softmax", "cross_entropy"]


class LogSoftmax(Function):
    @staticmethod
    def forward(ctx, a, axis=-1):
        xp = ctx.xp
        shifted = a - xp.max(a, axis=axis, keepdims=True)  # exp can no longer overflow
        out = shifted - xp.log(xp.sum(xp.exp(shifted), axis=axis, keepdims=True))
        ctx.save_for_backward(out)
        ctx.axis = axis
        return out

    @staticmethod
    def backward(ctx, grad):
        # out_i = a_i - log(sum_j exp(a_j)), so d out_i / d a_j = [i == j] - softmax_j
        (out,) = ctx.saved_tensors
        xp = ctx.xp
        return grad - xp.exp(out) * xp.sum(grad, axis=ctx.axis, keepdims=True)


class Softmax(Function):
    @staticmethod
    def forward(ctx, a, axis=-1):
        xp = ctx.xp
        e = xp.exp(a - xp.max(a, axis=axis, keepdims=True))
        out = e / xp.sum(e, axis=axis, keepdims=True)
        ctx.save_for_backward(out)
        ctx.axis = axis
        return out

    @staticmethod
    def backward(ctx, grad):  # s * (grad - sum(grad * s)): the Jacobian never formed
        (s,) = ctx.saved_tensors
        return s * (grad - ctx.xp.sum(grad * s, axis=ctx.axis, keepdims=True))


class CrossEntropy(Function):
    @staticmethod
    def forward(ctx, logits, labels):
        loss, dlogits = softmax_cross_entropy(logits, labels)
        ctx.save_for_backward(dlogits)  # dloss/dlogits, already divided by N
        return loss

    @staticmethod
    def backward(ctx, grad):
        (dlogits,) = ctx.saved_tensors
        return grad * dlogits, None  # integer labels get no gradient


def log_softmax(x, axis=-1):
    """log(softmax(x)) along ``axis``, computed without overflow."""
    return LogSoftmax.apply(x, axis=axis)


def softmax(x, axis=-1):
    """exp(x) / sum(exp(x)) along ``axis``."""
    return Softmax.apply(x, axis=axis)


def cross_entropy(logits, labels):
    """Mean cross-entropy of ``logits`` (N, C) against integer ``labels`` (N,).

    The same number as ``torch.nn.functional.cross_entropy(logits, labels)``;
    ``labels`` is an integer array (or Tensor) of class indices.
    """
    return CrossEntropy.apply(logits, labels)
