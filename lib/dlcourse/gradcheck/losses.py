"""Checking losses, which return ``(loss, dinput)`` rather than ``(out, cache)``."""

from dlcourse.gradcheck.check import check_gradients, default_wrt


def loss_as_layer(loss_fn):
    """A (forward, backward) pair for a loss, so every checker and oracle accepts it.

    The forward's output is the scalar loss and its cache the gradient the loss
    returned; the backward scales that gradient by the upstream dout (1 for a
    loss at the end of a network).
    """

    def forward(**inputs):
        return loss_fn(**inputs)

    def backward(dout, dinput):
        return dinput * dout

    forward.__name__ = getattr(loss_fn, "__name__", "loss")
    return forward, backward


def check_loss_gradient(loss_fn, inputs, *, wrt=None, **options):
    """Check the gradient a loss returns against finite differences of the loss itself.

    ``wrt`` defaults to the first floating-point input (the predictions or
    logits): a loss returns the gradient of that argument only.
    """
    wrt = default_wrt(inputs)[:1] if wrt is None else tuple(wrt)
    forward, backward = loss_as_layer(loss_fn)
    return check_gradients(forward, backward, inputs, wrt=wrt, **options)
