"""Undoing broadcasting in the backward pass.

When ``b`` of shape (3,) is added to ``a`` of shape (2, 3), NumPy reuses
``b`` for both rows. Each use sends a gradient back, and the uses' gradients
add up: dL/db is the gradient of the output summed over the rows. In
general, sum over every axis that broadcasting created (the leading ones)
or stretched (size 1 in the input, larger in the output).
"""

__all__ = ["unbroadcast"]


def unbroadcast(xp, grad, shape):
    """Sum ``grad`` (shaped like the broadcast output) down to ``shape``."""
    if grad.shape == shape:  # the usual case: nothing was broadcast
        return grad
    extra = grad.ndim - len(shape)
    stretched = tuple(
        extra + i for i, n in enumerate(shape) if n == 1 and grad.shape[extra + i] != 1
    )
    axes = tuple(range(extra)) + stretched
    if axes:
        grad = xp.sum(grad, axis=axes)
    return xp.reshape(grad, shape)  # puts back the size-1 axes that the sum removed
