"""2-D max-pooling, vectorized: forward and backward side by side.

Max-pooling keeps the largest value of every ``size x size`` window of each
channel, stepping ``stride`` pixels between windows (``stride`` defaults to
``size``: windows side by side, no overlap). The output of one window is
``max(window)``, so its gradient goes to the one input that was the maximum
(the first one, in row-major order, when several tie) and every other input
of the window gets zero. When ``stride < size`` windows overlap and one input
can be the maximum of several windows: its gradients add up.

As in ``conv.py``, the only Python loop is over the size*size offsets inside a
window: the strided slice ``x[:, :, i::stride, j::stride]`` (cut to the
output size) holds entry (i, j) of every window at once.
"""

from dlcourse.functional._common import device, namespace, require_float, require_shape
from dlcourse.functional.conv import _require_int, _window_slices

__all__ = ["maxpool2d_forward", "maxpool2d_backward"]


def _pool_inputs(x, size, stride):
    """Validate pooling arguments; returns ``(xp, size, stride, OH, OW)``."""
    require_float("x", x)
    dims = require_shape("x", x, ("N", "C", "H", "W"))
    xp = namespace(x)
    size = _require_int("size", size, 1)
    stride = size if stride is None else _require_int("stride", stride, 1)
    if size > dims["H"] or size > dims["W"]:
        raise ValueError(
            f"size: expected a window no larger than the input (H, W) = "
            f"({dims['H']}, {dims['W']}), got ({size}, {size})."
        )
    OH = (dims["H"] - size) // stride + 1
    OW = (dims["W"] - size) // stride + 1
    return xp, size, stride, OH, OW


def maxpool2d_forward(x, size=2, stride=None):
    """Max over every ``size x size`` window of each channel.

    Parameters
    ----------
    x : array (N, C, H, W)
    size : int >= 1
        Height and width of the window.
    stride : int >= 1 or None
        Step between windows; ``None`` means ``size`` (no overlap).

    Returns
    -------
    out : array (N, C, OH, OW)
        ``out[n, c, r, q] = max(x[n, c, r*stride : r*stride+size, q*stride : q*stride+size])``
        with ``OH = (H - size) // stride + 1`` and likewise OW.
    cache : tuple
        The input, which window entry won each max, and the sizes.
    """
    xp, size, stride, OH, OW = _pool_inputs(x, size, stride)
    # (size*size, N, C, OH, OW): entry k = i*size + j of every window.
    windows = xp.stack(
        [x[_window_slices(i, j, stride, OH, OW)] for i in range(size) for j in range(size)],
        axis=0,
    )
    out = xp.max(windows, axis=0)
    winner = xp.argmax(windows, axis=0)  # the first maximum when several tie
    cache = (x, winner, size, stride)
    return out, cache


def maxpool2d_backward(dout, cache):
    """Gradient of max-pooling: ``dx`` shaped like ``x``.

    Each window's gradient goes to the entry that won its max; entries that
    win several overlapping windows collect the sum.
    """
    x, winner, size, stride = cache
    N, C, H, W = x.shape
    OH, OW = winner.shape[2], winner.shape[3]
    require_shape("dout", dout, (N, C, OH, OW))
    xp = namespace(dout, x)
    if dout.dtype != x.dtype:  # the gradient takes the dtype of the forward pass
        dout = xp.astype(dout, x.dtype)

    no_grad = xp.zeros_like(dout)
    dx = xp.zeros((N, C, H, W), dtype=dout.dtype, device=device(dout))
    for i in range(size):
        for j in range(size):
            won = winner == i * size + j
            dx[_window_slices(i, j, stride, OH, OW)] += xp.where(won, dout, no_grad)
    return dx
