"""2-D max-pooling with explicit loops: the definition, written to be read.

Same arguments and results as ``pooling.py``; one Python loop iteration per
output number, so it is slow. Read it next to the vectorized version.
"""

from dlcourse.functional._common import device, namespace, require_shape
from dlcourse.functional.pooling import _pool_inputs

__all__ = ["maxpool2d_forward_naive", "maxpool2d_backward_naive"]


def maxpool2d_forward_naive(x, size=2, stride=None):
    """Loop version of ``maxpool2d_forward``: ``(out, cache)``, out (N, C, OH, OW)."""
    xp, size, stride, OH, OW = _pool_inputs(x, size, stride)
    N, C = x.shape[0], x.shape[1]
    out = xp.zeros((N, C, OH, OW), dtype=x.dtype, device=device(x))
    for n in range(N):  # every image
        for c in range(C):  # every channel: pooling never mixes channels
            for r in range(OH):  # every output row ...
                for q in range(OW):  # ... and column
                    top, left = r * stride, q * stride
                    out[n, c, r, q] = xp.max(x[n, c, top : top + size, left : left + size])
    cache = (x, size, stride)
    return out, cache


def maxpool2d_backward_naive(dout, cache):
    """Loop version of ``maxpool2d_backward``: ``dx`` shaped like ``x``.

    For every window, find which entry was the maximum (the first one when
    several tie) and add the window's upstream gradient to that entry only.
    """
    x, size, stride = cache
    xp, size, stride, OH, OW = _pool_inputs(x, size, stride)
    N, C = x.shape[0], x.shape[1]
    require_shape("dout", dout, (N, C, OH, OW))
    xp = namespace(dout, x)

    dx = xp.zeros(x.shape, dtype=x.dtype, device=device(x))
    for n in range(N):
        for c in range(C):
            for r in range(OH):
                for q in range(OW):
                    top, left = r * stride, q * stride
                    window = x[n, c, top : top + size, left : left + size]
                    # argmax counts row by row through the flattened window
                    i, j = divmod(int(xp.argmax(xp.reshape(window, (-1,)))), size)
                    dx[n, c, top + i, left + j] += dout[n, c, r, q]
    return dx
