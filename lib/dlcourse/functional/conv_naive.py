"""2-D convolution with explicit loops: the definition, written to be read.

Same arguments, shapes and results as ``conv.py``, but every output number
is computed on its own, so the code reads like the formula

    out[n, f, r, c] = sum(xpad[n, :, r*s : r*s+KH, c*s : c*s+KW] * w[f]) + b[f]

where ``xpad`` is the input with ``pad`` zeros on every side and ``s`` the
stride. It is slow (a Python loop per output number); use it to understand
the vectorized version and to check it, not to train.
"""

from dlcourse.functional._common import device, namespace, require_shape
from dlcourse.functional.conv import _conv_inputs, _pad_hw

__all__ = ["conv2d_forward_naive", "conv2d_backward_naive"]


def conv2d_forward_naive(x, w, b, stride=1, pad=0):
    """Loop version of ``conv2d_forward``: ``(out, cache)``, out (N, F, OH, OW)."""
    stride, pad, OH, OW = _conv_inputs(x, w, b, stride, pad)
    xp = namespace(x, w, b)
    N = x.shape[0]
    F, _, KH, KW = w.shape

    xpad = _pad_hw(x, pad, xp)
    out = xp.zeros((N, F, OH, OW), dtype=x.dtype, device=device(x))
    for n in range(N):  # every image in the batch
        for f in range(F):  # every filter
            for r in range(OH):  # every output row ...
                for c in range(OW):  # ... and column
                    top, left = r * stride, c * stride
                    window = xpad[n, :, top : top + KH, left : left + KW]  # (C, KH, KW)
                    out[n, f, r, c] = xp.sum(window * w[f]) + b[f]

    cache = (x, w, b, stride, pad)
    return out, cache


def conv2d_backward_naive(dout, cache):
    """Loop version of ``conv2d_backward``: ``(dx, dw, db)``.

    Each output number was ``sum(window * w[f]) + b[f]``, so its gradient
    ``g = dout[n, f, r, c]`` flows to three places:

    - ``b[f]`` with factor 1;
    - every weight of ``w[f]`` with the input value it multiplied (``g * window``);
    - every input value in the window with the weight it met (``g * w[f]``).

    Windows overlap when the kernel is larger than the stride, so the
    contributions are added up (``+=``), never overwritten.
    """
    x, w, b, stride, pad = cache
    _, _, OH, OW = _conv_inputs(x, w, b, stride, pad)
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    require_shape("dout", dout, (N, F, OH, OW))
    xp = namespace(dout, x)
    if dout.dtype != x.dtype:  # gradients take the dtype of the forward pass
        dout = xp.astype(dout, x.dtype)

    xpad = _pad_hw(x, pad, xp)
    dxpad = xp.zeros(xpad.shape, dtype=x.dtype, device=device(x))
    dw = xp.zeros(w.shape, dtype=x.dtype, device=device(x))
    db = xp.zeros(b.shape, dtype=x.dtype, device=device(x))
    for n in range(N):  # every image in the batch
        for f in range(F):  # every filter
            for r in range(OH):  # every output row ...
                for c in range(OW):  # ... and column
                    top, left = r * stride, c * stride
                    g = dout[n, f, r, c]
                    db[f] += g
                    dw[f] += g * xpad[n, :, top : top + KH, left : left + KW]
                    dxpad[n, :, top : top + KH, left : left + KW] += g * w[f]

    dx = dxpad[:, :, pad : pad + H, pad : pad + W]  # drop the gradient of the zero padding
    return dx, dw, db
