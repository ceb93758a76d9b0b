"""2-D convolution, vectorized with im2col: forward and backward side by side.

A convolution slides each filter ``w[f]`` (C, KH, KW) over the zero-padded
input and takes a dot product at every position. Written with loops that is
four nested loops (see ``conv_naive.py``); here the same numbers come out of
one matrix product:

1. *im2col*: for every kernel offset (i, j) take the strided slice
   ``xpad[:, :, i::stride, j::stride]`` (cut to the output size). That slice
   holds, for every output pixel, the input value the kernel entry (i, j)
   touches. Stacking the KH*KW slices gives ``cols`` with one column of
   C*KH*KW numbers per output pixel.
2. Every filter, flattened to a row of C*KH*KW numbers, dots with every column:
   ``out = w_row @ cols + b``.

The backward pass runs the same two steps in reverse: the matrix product's
gradient gives ``dw`` and ``dcols``; *col2im* adds each slice of ``dcols``
back to where it was read from (several output pixels read the same input
pixel when the kernel is larger than the stride, so their gradients add).

Shapes follow PyTorch: x (N, C, H, W), w (F, C, KH, KW), b (F,), out
(N, F, OH, OW) with ``OH = (H + 2*pad - KH) // stride + 1`` (and the same for
OW). The only Python loop is over the KH*KW kernel offsets, never over images
or pixels, and the code uses the array module of its inputs, so it runs
unchanged on NumPy arrays and PyTorch tensors (CPU or CUDA).
"""

import operator

from dlcourse.functional._common import (
    device,
    namespace,
    require_float,
    require_same_dtype,
    require_shape,
)

__all__ = ["conv2d_forward", "conv2d_backward"]


def _require_int(name, value, minimum):
    """Return ``value`` as an int, or raise a ValueError unless it is an integer >= minimum."""
    try:
        number = operator.index(value)
    except TypeError:
        number = None
    if number is None or isinstance(value, bool) or number < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {value!r}.")
    return number


def _conv_inputs(x, w, b, stride, pad):
    """Validate the arguments of a convolution; returns ``(stride, pad, OH, OW)``."""
    for name, a in (("x", x), ("w", w), ("b", b)):
        require_float(name, a)
    require_same_dtype("w", w, "x", x)
    require_same_dtype("b", b, "x", x)
    dims = require_shape("x", x, ("N", "C", "H", "W"))
    require_shape("w", w, ("F", "C", "KH", "KW"), dims)
    require_shape("b", b, ("F",), dims)
    stride = _require_int("stride", stride, 1)
    pad = _require_int("pad", pad, 0)

    padded = (dims["H"] + 2 * pad, dims["W"] + 2 * pad)
    if dims["KH"] > padded[0] or dims["KW"] > padded[1]:
        raise ValueError(
            f"w: expected a kernel no larger than the padded input "
            f"(H + 2*pad, W + 2*pad) = {padded}, got (KH, KW) = ({dims['KH']}, {dims['KW']})."
        )
    OH = (padded[0] - dims["KH"]) // stride + 1
    OW = (padded[1] - dims["KW"]) // stride + 1
    return stride, pad, OH, OW


def _pad_hw(x, pad, xp):
    """A fresh copy of ``x`` (N, C, H, W) with ``pad`` zeros around H and W.

    Built with ``concat`` instead of writing into a buffer, so the forward
    pass stays free of in-place writes (autodiff libraries can trace it).
    """
    if pad == 0:
        return x
    N, C, H, W = x.shape
    rows = xp.zeros((N, C, pad, W), dtype=x.dtype, device=device(x))
    x = xp.concat([rows, x, rows], axis=2)
    cols = xp.zeros((N, C, H + 2 * pad, pad), dtype=x.dtype, device=device(x))
    return xp.concat([cols, x, cols], axis=3)


def _window_slices(i, j, stride, OH, OW):
    """Index of every input pixel that kernel entry (i, j) touches, one per output pixel."""
    return (
        slice(None),
        slice(None),
        slice(i, i + stride * OH, stride),
        slice(j, j + stride * OW, stride),
    )


def conv2d_forward(x, w, b, stride=1, pad=0):
    """Convolve a batch of images with a bank of filters.

    Parameters
    ----------
    x : array (N, C, H, W)
        N images with C channels each.
    w : array (F, C, KH, KW)
        F filters; each sees all C channels through a KH x KW window.
    b : array (F,)
        One bias per filter.
    stride : int >= 1
        Step between neighbouring windows.
    pad : int >= 0
        Zeros added on every side of H and W before sliding.

    Returns
    -------
    out : array (N, F, OH, OW)
        ``out[n, f, r, c] = sum(window * w[f]) + b[f]`` where ``window`` is
        ``xpad[n, :, r*stride : r*stride+KH, c*stride : c*stride+KW]``, and
        ``OH = (H + 2*pad - KH) // stride + 1`` and likewise OW.
    cache : tuple
        What ``conv2d_backward`` needs: the inputs, the im2col matrix and the sizes.
    """
    stride, pad, OH, OW = _conv_inputs(x, w, b, stride, pad)
    xp = namespace(x, w, b)
    N, C, _, _ = x.shape
    F, _, KH, KW = w.shape

    xpad = _pad_hw(x, pad, xp)
    # im2col: one strided slice per kernel offset -> (N, C, KH*KW, OH, OW),
    # then one column of C*KH*KW numbers per output pixel.
    slices = [xpad[_window_slices(i, j, stride, OH, OW)] for i in range(KH) for j in range(KW)]
    cols = xp.reshape(xp.stack(slices, axis=2), (N, C * KH * KW, OH * OW))

    w_rows = xp.reshape(w, (F, C * KH * KW))
    out = xp.matmul(w_rows, cols) + xp.reshape(b, (1, F, 1))  # (N, F, OH*OW)
    out = xp.reshape(out, (N, F, OH, OW))

    cache = (x, w, cols, w_rows, stride, pad)
    return out, cache


def conv2d_backward(dout, cache):
    """Gradients of a convolution: ``(dx, dw, db)``, each shaped like its input.

    ``dout`` (N, F, OH, OW) is the gradient of the loss with respect to the
    forward output.

    - ``db[f]``: every output pixel of filter f added ``b[f]`` once, so sum
      ``dout[:, f]``.
    - ``dw``: ``out = w_rows @ cols`` per image, so ``dw_rows = sum_n dout_n @ cols_n.T``.
    - ``dx``: ``dcols = w_rows.T @ dout`` per image, then each kernel
      offset's slice of ``dcols`` is added back where forward read it from,
      and the padding is cut off.
    """
    x, w, cols, w_rows, stride, pad = cache
    xp = namespace(dout, cols)
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    OH = (H + 2 * pad - KH) // stride + 1
    OW = (W + 2 * pad - KW) // stride + 1
    require_shape("dout", dout, (N, F, OH, OW))
    if dout.dtype != x.dtype:  # gradients take the dtype of the forward pass
        dout = xp.astype(dout, x.dtype)

    db = xp.sum(dout, axis=(0, 2, 3))
    dout_rows = xp.reshape(dout, (N, F, OH * OW))
    # Contract over images (axis 0) and output pixels (axis 2) at once.
    dw = xp.reshape(xp.tensordot(dout_rows, cols, axes=([0, 2], [0, 2])), (F, C, KH, KW))

    dcols = xp.matmul(xp.permute_dims(w_rows, (1, 0)), dout_rows)  # (N, C*KH*KW, OH*OW)
    dcols = xp.reshape(dcols, (N, C, KH * KW, OH, OW))

    # col2im: a fresh zero buffer of the padded size; every kernel offset adds
    # its gradients to the strided slice that forward read. The slices of
    # different offsets overlap, which is exactly where the sums happen.
    dxpad = xp.zeros((N, C, H + 2 * pad, W + 2 * pad), dtype=dcols.dtype, device=device(dcols))
    for i in range(KH):
        for j in range(KW):
            dxpad[_window_slices(i, j, stride, OH, OW)] += dcols[:, :, i * KW + j]
    dx = dxpad[:, :, pad : pad + H, pad : pad + W]
    return dx, dw, db
