"""Convolution and max-pooling as PyTensor graphs, built by gathering patches (im2col).

PyTensor 3 has no neural-network convolution or pooling op (Theano's ``nnet``
module was dropped; ``pytensor.tensor.signal`` only convolves single signals).
Both layers are easy to write from ops it does have, the way
``dlcourse.functional.conv`` does it in NumPy:

- **im2col**: for each output position, copy the input values that the kernel
  sees into one column. Which flat input position feeds which (row, column)
  depends only on the shapes, so it is computed once, in NumPy, as an integer
  index table; in the graph, im2col is then a single gather ``x_flat[:, table]``.
  Zero padding is an extra zero at the end of each flattened image, which
  the table points to where the kernel overhangs the border.
- **convolution** is then one matrix product of the columns with the kernel
  laid out as (filters, channels * KH * KW);
- **max-pooling** gathers the windows the same way and keeps, in each, the
  first largest value (the tie rule of ``functional.pooling``).

PyTensor differentiates the gather (its gradient is a scatter-add into the
input), the product and the reshapes, so the backward passes come for free.
Few graph nodes also keep compilation short. Image and kernel sizes must be
known ints when the graph is built; only the batch size may vary.

PyTensor is imported inside the functions (already loaded by the backend by
then), so that importing this module stays light.
"""

import numpy as np

__all__ = ["conv2d", "maxpool2d", "patch_table"]


def patch_table(channels, height, width, size_h, size_w, stride, padding):
    """Index table of im2col: (channels * size_h * size_w, out_h * out_w) flat positions.

    Entry [(c, i, j), (oh, ow)] is the position in a flattened (channels,
    height, width) image of the value at channel c, row oh * stride + i -
    padding, column ow * stride + j - padding; positions in the padding point
    one past the end (``channels * height * width``), where a zero is appended.
    """
    out_h = (height + 2 * padding - size_h) // stride + 1
    out_w = (width + 2 * padding - size_w) // stride + 1
    c, i, j, oh, ow = np.ix_(
        np.arange(channels),
        np.arange(size_h),
        np.arange(size_w),
        np.arange(out_h),
        np.arange(out_w),
    )
    rows, cols = oh * stride + i - padding, ow * stride + j - padding
    inside = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
    flat = np.where(inside, (c * height + rows) * width + cols, channels * height * width)
    return flat.reshape(channels * size_h * size_w, out_h * out_w), out_h, out_w


def _gather_patches(x, shape, size_h, size_w, stride, padding):
    """(N, C*KH*KW, OH*OW) columns of x (N, C, H, W) whose per-example ``shape`` is (C, H, W)."""
    import pytensor.tensor as pt

    channels, height, width = shape
    table, out_h, out_w = patch_table(channels, height, width, size_h, size_w, stride, padding)
    flat = pt.reshape(x, (x.shape[0], channels * height * width))
    if padding:
        flat = pt.concatenate([flat, pt.zeros((x.shape[0], 1), dtype=x.dtype)], axis=1)
    return flat[:, table], out_h, out_w


def conv2d(x, kernel, bias, stride, padding, shapes):
    """Cross-correlation of x (N, C, H, W) with kernel (F, C, KH, KW), plus bias (F,) or None.

    ``shapes`` is ((C, H, W), (F, C, KH, KW)) as ints.
    """
    import pytensor.tensor as pt

    image, (filters, channels, kh, kw) = shapes
    columns, out_h, out_w = _gather_patches(x, image, kh, kw, stride, padding)
    rows = pt.reshape(kernel, (filters, channels * kh * kw))
    out = pt.tensordot(columns, rows, axes=[[1], [1]])  # (N, OH*OW, F): one matrix product
    out = pt.reshape(pt.transpose(out, (0, 2, 1)), (x.shape[0], filters, out_h, out_w))
    if bias is not None:
        out = out + pt.reshape(bias, (1, filters, 1, 1))
    return out


def maxpool2d(x, size, stride, image):
    """Max over ``size`` x ``size`` windows of x (N, C, H, W), moved by ``stride``.

    ``image`` is (C, H, W) as ints.
    """
    import pytensor.tensor as pt

    channels = image[0]
    windows, out_h, out_w = _gather_patches(x, image, size, size, stride, 0)
    windows = pt.reshape(windows, (x.shape[0], channels, size * size, out_h * out_w))
    # argmax picks the first largest value, as functional.maxpool2d does, so a tie
    # sends the whole gradient to one input (pt.max would send it to each tied one)
    winner = pt.expand_dims(pt.argmax(windows, axis=2), 2)
    out = pt.take_along_axis(windows, winner, axis=2)
    return pt.reshape(out, (x.shape[0], channels, out_h, out_w))
