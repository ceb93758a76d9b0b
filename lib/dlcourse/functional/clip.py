"""Gradient clipping by global norm: one scale for every gradient of a model.

Recurrent networks now and then meet a step whose gradient is huge (the same
weight multiplied through many steps). Clipping keeps the direction of the
whole gradient and caps its length: when

    total_norm = sqrt(sum over every gradient g of sum(g**2))

exceeds ``max_norm``, every gradient is multiplied by max_norm / total_norm.
Scaling all of them by one number, rather than each on its own, keeps their
relative sizes, which is what torch.nn.utils.clip_grad_norm_ does too.
"""

import math
import numbers

from dlcourse.functional._common import namespace, require_float, size

__all__ = ["clip_grad_norm"]


def clip_grad_norm(grads, max_norm):
    """Scale ``grads`` so their global norm is at most ``max_norm``.

    grads: a list or tuple of arrays (``None`` entries, e.g. a dx that was not
    computed, are passed through and count as zero); max_norm: a positive number.
    Returns ``(clipped, total_norm)``: a new list of new arrays (the inputs
    are never modified, nor returned themselves) and the norm before clipping,
    a Python float.
    """
    if not isinstance(grads, list | tuple):
        raise ValueError(
            f"grads: expected a list or tuple of arrays, got {type(grads).__name__}. "
            "Wrap a single gradient in a list: clip_grad_norm([g], max_norm)."
        )
    if isinstance(max_norm, bool) or not isinstance(max_norm, numbers.Real) or not max_norm > 0:
        raise ValueError(f"max_norm: expected a positive number, got {max_norm!r}.")
    squares = 0.0
    for index, g in enumerate(grads):
        if g is None:
            continue
        require_float(f"grads[{index}]", g)
        if size(g) == 0:
            continue
        xp = namespace(g)
        peak = float(xp.max(xp.abs(g)))
        if not math.isfinite(peak):
            # scaling by max_norm / inf would turn the infinities into NaN, and hide the cause
            raise ValueError(
                f"grads[{index}]: holds inf or NaN (shape {tuple(g.shape)}); clipping cannot "
                "repair that. Look for an overflow or a division by zero in its backward."
            )
        if peak > 0:
            # divided by its largest magnitude first, so float32 squares cannot overflow
            scaled = g / peak
            squares += peak * peak * float(xp.sum(scaled * scaled))
    total_norm = math.sqrt(squares)
    scale = max_norm / total_norm if total_norm > max_norm else 1.0
    # asarray: NumPy turns a 0-d array times a number into a scalar, not an array
    clipped = [None if g is None else namespace(g).asarray(g * scale) for g in grads]
    return clipped, total_norm
