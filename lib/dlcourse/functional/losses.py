"""Losses. Each returns ``(loss, dinput)``: the mean loss over the batch and its gradient.

The gradient already includes the 1/N of the mean, so a training loop passes
``dinput`` straight into the last layer's backward.
"""

from dlcourse.functional._common import (
    device,
    namespace,
    require_float,
    require_same_shape,
    require_shape,
    size,
)


def mse_loss(pred, target):
    """Mean squared error over every element: mean((pred - target)**2)."""
    require_float("pred", pred)
    require_same_shape("target", target, "pred", pred)
    xp = namespace(pred, target)
    diff = pred - target
    n = size(diff)
    loss = xp.sum(diff * diff) / n
    return loss, (2 / n) * diff


def _check_labels(labels, logits):
    xp = namespace(labels)
    require_shape("labels", labels, (logits.shape[0],))
    if not xp.isdtype(labels.dtype, "integral"):
        raise ValueError(
            f"labels: expected integer class indices of shape ({logits.shape[0]},), "
            f"got dtype {labels.dtype}. If the labels are one-hot rows, pass "
            f"labels.argmax(axis=1); if they are whole-number floats, cast them to int64."
        )
    classes = logits.shape[1]
    if labels.shape[0] and (int(xp.min(labels)) < 0 or int(xp.max(labels)) >= classes):
        raise ValueError(
            f"labels: class indices must lie in [0, {classes}) for logits with {classes} "
            f"columns, got values from {int(xp.min(labels))} to {int(xp.max(labels))}."
        )


def softmax_cross_entropy(logits, labels):
    """Softmax followed by the negative log-likelihood of the true class, averaged.

    logits: (N, C) raw scores; labels: (N,) integer classes. Computed through
    log-softmax = x - max - log(sum(exp(x - max))), which stays finite for
    logits of any magnitude (exp never sees a positive number). The gradient
    is (softmax - one_hot(labels)) / N.
    """
    require_shape("logits", logits, ("N", "C"))
    require_float("logits", logits)
    _check_labels(labels, logits)
    xp = namespace(logits, labels)
    n = logits.shape[0]
    shifted = logits - xp.max(logits, axis=1, keepdims=True)
    exp = xp.exp(shifted)
    sum_exp = xp.sum(exp, axis=1, keepdims=True)
    log_probs = shifted - xp.log(sum_exp)
    picked = xp.take_along_axis(log_probs, xp.reshape(labels, (-1, 1)), axis=1)
    loss = -xp.sum(picked) / n
    classes = xp.arange(logits.shape[1], device=device(labels))
    one_hot = xp.astype(xp.reshape(labels, (-1, 1)) == classes, logits.dtype)
    dlogits = (exp / sum_exp - one_hot) / n
    return loss, dlogits


def binary_cross_entropy_with_logits(logits, targets):
    """Sigmoid plus binary cross-entropy in one stable formula, averaged over elements.

    -[t log s(z) + (1 - t) log(1 - s(z))] equals max(z, 0) - z t + log(1 + exp(-|z|)),
    which never takes the log of 0 nor the exp of a large number. The
    gradient is (sigmoid(z) - t) / size.
    """
    require_float("logits", logits)
    require_same_shape("targets", targets, "logits", logits)
    require_float("targets", targets)
    xp = namespace(logits, targets)
    n = size(logits)
    e = xp.exp(-xp.abs(logits))
    per_element = xp.maximum(logits, xp.zeros_like(logits)) - logits * targets + xp.log1p(e)
    loss = xp.sum(per_element) / n
    sigmoid = xp.where(logits >= 0, 1 / (1 + e), e / (1 + e))
    return loss, (sigmoid - targets) / n
