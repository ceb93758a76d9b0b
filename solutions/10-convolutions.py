# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 10. Convolutions by hand
#
# A dense layer treats an image as a bag of unrelated numbers: every pixel gets its own weight
# to every unit, and a digit moved one pixel to the right looks like a brand-new input. Images
# have structure a dense layer ignores: **nearby pixels belong together** (a stroke, an edge,
# a corner), and **the same pattern means the same thing wherever it appears**.
#
# A **convolution** builds both facts into the layer. It slides a small filter, say $3 \times 3$
# weights, over the image and computes the same weighted sum at every position. The filter
# sees only a neighbourhood (locality), and one filter is reused at every position (weight
# sharing), so it detects its pattern anywhere, with nine weights instead of thousands.
#
# In this notebook you write a convolution's forward and backward pass with loops, then meet
# the vectorized version (*im2col*) that turns the whole layer into one matrix product, and
# time both to see where the time goes. Max-pooling comes next, then a small convolutional
# network (CNN) trained on the digits with the Keras-style API on several backends, whose
# learned filters and feature maps we draw.
#
# **This notebook is worth 10 points**:
#
# | exercise | you write | points |
# |---|---|---|
# | 1 | `conv2d_forward(x, w, b, stride, pad)` | 4 |
# | 2 | `conv2d_backward(dout, cache)` | 6 |
#
# Replace each `raise NotImplementedError()` with your code and run the check cell below it.
# The checks compare your functions with the course's reference (`dlcourse.functional`) and
# with finite differences, and make sure your functions leave their inputs alone.
#
# **How this notebook is graded.** The grader runs the solution cell of each exercise on its
# own, after this notebook's set-up cell, in a fresh process outside the notebook and on inputs
# of its own; the check cells are not run there, and a helper defined in any other cell is
# missing. The course's convolutions, `F.conv2d_forward` and `F.conv2d_backward` (im2col) and
# the loop versions `conv2d_forward_naive` and `conv2d_backward_naive`, are stubs there: a
# solution that calls one scores zero for that exercise. The passes are to be written by hand,
# so PyTorch, JAX, TensorFlow, Keras, the course's autodiff and `dlcourse.gradcheck` cannot be
# imported while this notebook is graded. There each exercise may use 20 CPU seconds and 4 GB of
# memory; code that needs more is stopped and scores zero for it. `dlcourse check --grader` on the
# saved notebook shows the points the grader would give. Beyond the visible checks:
#
# * exercise 1, `check_conv2d_forward`, also tested: float32 inputs keep float32, and stride 3
#   with padding 2 on an oblong image; its other cases (1×1 kernels, a kernel as large as the
#   image) test the visible properties on other shapes;
# * exercise 2, `check_conv2d_backward`, also tested: float32 inputs keep float32 gradients, and
#   stride 3 with padding 2 on an oblong image, among the forward's shapes; a backward that calls
#   `conv2d_forward` gets the course's loop version in place of yours, so a mistake in exercise
#   1 does not cost its points twice.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false}
import inspect
import time

import matplotlib.pyplot as plt
import numpy as np

from dlcourse import functional as F
from dlcourse.diagnose import check_not_modified, diagnose
from dlcourse.gradcheck import check_gradients

np.set_printoptions(precision=4, suppress=True)
rng = np.random.default_rng(0)  # a fixed seed: the same numbers on every run

# %% [markdown]
# ## 1. One filter, one output number
#
# Images come as a 4-D array in the PyTorch layout **(N, C, H, W)**: N images, C channels
# (1 for grey, 3 for colour, or the outputs of a previous convolution), H rows and W columns.
# A layer has F filters, stored as `w` of shape (F, C, KH, KW): each filter looks at all C
# channels through a KH x KW window, and has one bias `b[f]`.
#
# Output pixel $(r, c)$ of filter $f$ for image $n$ is the filter's dot product with the
# window whose top-left corner is at row $r s$, column $c s$ ($s$ is the **stride**):
#
# $$\text{out}[n, f, r, c] = b_f + \sum_{k=0}^{C-1} \sum_{i=0}^{KH-1} \sum_{j=0}^{KW-1}
# x_{\text{pad}}[n, k, r s + i, c s + j]\; w[f, k, i, j].$$
#
# $x_{\text{pad}}$ is the input with **pad** rows and columns of zeros added on every side, so
# that the filter can also be centred on border pixels. The window must fit inside the padded
# image, which gives the output size
#
# $$OH = \left\lfloor \frac{H + 2\,\text{pad} - KH}{s} \right\rfloor + 1, \qquad
# OW = \left\lfloor \frac{W + 2\,\text{pad} - KW}{s} \right\rfloor + 1 .$$
#
# For an 8x8 digit and a 3x3 filter: no padding gives 6x6; `pad=1` keeps 8x8 (the "same"
# padding of Keras); `pad=1, stride=2` gives 4x4.
#
# **A note on the name.** In mathematics, a convolution flips the kernel before sliding it
# ($w[f, k, -i, -j]$). Deep learning libraries don't: what they call convolution is a
# *cross-correlation*. Since the weights are learned, the flip makes no difference to what a
# network can do, but it does to the numbers: follow the formula above, without a flip.
#
# ### Worked by hand
#
# One 3x3 image, one 2x2 filter, bias 0.5, stride 1, no padding, so the output is 2x2:
#
# $$x = \begin{pmatrix} 1 & 2 & 3 \\ 4 & 5 & 6 \\ 7 & 8 & 9 \end{pmatrix}, \quad
# w = \begin{pmatrix} 1 & 2 \\ 0 & -1 \end{pmatrix}: \qquad
# \text{out}[0, 0] = 1 \cdot 1 + 2 \cdot 2 + 4 \cdot 0 + 5 \cdot (-1) + 0.5 = 0.5,$$
#
# and sliding one step right, $\text{out}[0, 1] = 2 + 6 + 0 - 6 + 0.5 = 2.5$; one step down,
# $\text{out}[1, 0] = 4 + 10 + 0 - 8 + 0.5 = 6.5$; and $\text{out}[1, 1] = 8.5$. The course's
# loop version, `F.conv2d_forward_naive`, gives the same numbers:

# %%
x_hand = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
w_hand = np.array([[1.0, 2.0], [0.0, -1.0]]).reshape(1, 1, 2, 2)
b_hand = np.array([0.5])
print(F.conv2d_forward_naive(x_hand, w_hand, b_hand)[0][0, 0])

# %% [markdown]
# Here is that loop version in full. Four nested loops, one per index of the output, and a
# window times a filter summed at the centre:

# %%
print(inspect.getsource(F.conv2d_forward_naive))

# %% [markdown]
# ### Exercise 1 (4 points): `conv2d_forward`
#
# Write the forward pass. Loops are fine: the vectorized version comes in section 3. A good
# middle ground loops over the output positions $(r, c)$ only and computes all images and all
# filters at once: the window `xpad[:, :, top:top+KH, left:left+KW]` has shape (N, C, KH, KW),
# and `np.tensordot(window, w, axes=([1, 2, 3], [1, 2, 3]))` dots every image's window with
# every filter, giving shape (N, F).
#
# * Pad with `np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))`: a new array, `x` is left
#   alone.
# * The output has the dtype of `x` (float32 in, float32 out).
# * Return `(out, cache)` with **`cache = (x, w, b, stride, pad)`**: the backward of
#   exercise 2 receives exactly that tuple.


# %% nbgrader={"grade": false, "grade_id": "conv2d_forward", "locked": false, "schema_version": 3, "solution": true}
def conv2d_forward(x, w, b, stride=1, pad=0):
    """Convolve N images (N, C, H, W) with F filters (F, C, KH, KW) plus biases (F,).

    Returns (out, cache): out has shape (N, F, OH, OW) with
    OH = (H + 2*pad - KH) // stride + 1 (likewise OW) and
    out[n, f, r, c] = sum(xpad[n, :, r*stride : r*stride+KH, c*stride : c*stride+KW] * w[f]) + b[f];
    cache = (x, w, b, stride, pad).
    """
    ### BEGIN SOLUTION
    N, C, H, W = x.shape
    n_filters, _, KH, KW = w.shape
    OH = (H + 2 * pad - KH) // stride + 1
    OW = (W + 2 * pad - KW) // stride + 1
    xpad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.empty((N, n_filters, OH, OW), dtype=x.dtype)
    for r in range(OH):
        for c in range(OW):
            top, left = r * stride, c * stride
            window = xpad[:, :, top : top + KH, left : left + KW]  # (N, C, KH, KW)
            out[:, :, r, c] = np.tensordot(window, w, axes=([1, 2, 3], [1, 2, 3])) + b
    return out, (x, w, b, stride, pad)
    ### END SOLUTION


# %% nbgrader={"grade": false, "grade_id": "check_helpers", "locked": true, "schema_version": 3, "solution": false}
# The check cells below share these helpers: read them to see what is checked.


def expect_close(got, expected, name, context=""):
    """Fail with dlcourse.diagnose's explanation unless ``got`` matches ``expected``."""
    d = diagnose(got, expected, name=name)
    assert d.ok, f"{context}{d}"


def conv_case(N, C, H, W, n_filters, K, seed, dtype=np.float64):
    """Random inputs for a convolution: x (N, C, H, W), w (F, C, K, K), b (F,)."""
    case_rng = np.random.default_rng(seed)
    x = case_rng.standard_normal((N, C, H, W)).astype(dtype)
    w = case_rng.standard_normal((n_filters, C, K, K)).astype(dtype)
    b = case_rng.standard_normal(n_filters).astype(dtype)
    return x, w, b


def describe(x, w, stride, pad):
    return f"For x {x.shape}, w {w.shape}, stride={stride}, pad={pad}: "


def _output_size(size, k, stride, pad):
    return (size + 2 * pad - k) // stride + 1


def check_forward(x, w, b, stride=1, pad=0):
    """Check conv2d_forward on one case; the classic mistakes get their own message."""
    context = describe(x, w, stride, pad)
    untouched = check_not_modified(conv2d_forward, x, w, b, stride, pad)
    assert untouched.ok, f"{context}{untouched}"
    result = conv2d_forward(x, w, b, stride, pad)
    assert isinstance(result, tuple) and len(result) == 2, (
        f"{context}conv2d_forward must return a pair (out, cache), got {type(result).__name__}."
    )
    got, cache = result
    expected = F.conv2d_forward(x, w, b, stride, pad)[0]
    H, W, KH, KW = x.shape[2], x.shape[3], w.shape[2], w.shape[3]
    got_shape = getattr(got, "shape", None)
    no_pad = (_output_size(H, KH, stride, 0), _output_size(W, KW, stride, 0))
    no_stride = (_output_size(H, KH, 1, pad), _output_size(W, KW, 1, pad))
    if got_shape is not None and got_shape != expected.shape:
        if pad and got_shape[2:] == no_pad:
            raise AssertionError(
                f"{context}out has shape {got_shape}, the size without padding: add pad "
                f"zeros on every side before sliding (np.pad) and use "
                f"OH = (H + 2*pad - KH) // stride + 1."
            )
        if stride > 1 and got_shape[2:] == no_stride:
            raise AssertionError(
                f"{context}out has shape {got_shape}, the size for stride 1: windows start "
                f"every stride pixels (top = r * stride), so OH = (H + 2*pad - KH) // stride + 1."
            )
    flipped = F.conv2d_forward(x, w[:, :, ::-1, ::-1].copy(), b, stride, pad)[0]
    if got_shape == expected.shape and np.allclose(got, flipped) and not np.allclose(got, expected):
        raise AssertionError(
            f"{context}out is the convolution with the kernel flipped (the mathematicians' "
            f"convolution). Deep learning's is a cross-correlation: multiply the window by "
            f"w[f] as it is, without reversing its rows and columns."
        )
    no_bias = expected - b.reshape(1, -1, 1, 1)
    if got_shape == expected.shape and np.allclose(got, no_bias) and np.abs(b).max() > 0:
        raise AssertionError(f"{context}out lacks the bias: add b[f] to every output of filter f.")
    expect_close(got, expected, "out", context)
    assert isinstance(cache, tuple) and len(cache) == 5, (
        f"{context}the cache must be the tuple (x, w, b, stride, pad); got "
        f"{type(cache).__name__} of length {len(cache) if hasattr(cache, '__len__') else '?'}."
    )
    assert cache[0] is x and cache[1] is w and cache[2] is b and cache[3:] == (stride, pad), (
        f"{context}the cache must be (x, w, b, stride, pad): the very arrays you were given "
        f"(no copies needed), then stride and pad."
    )


# %% nbgrader={"grade": true, "grade_id": "check_conv2d_forward", "locked": true, "points": 4, "schema_version": 3, "solution": false}
check_forward(x_hand, w_hand, b_hand)  # the example of section 1 ...
expect_close(  # ... whose answer we worked out by hand
    conv2d_forward(x_hand, w_hand, b_hand)[0], np.array([[[[0.5, 2.5], [6.5, 8.5]]]]), "out"
)
check_forward(*conv_case(2, 3, 5, 5, 4, 3, seed=1))
check_forward(*conv_case(2, 1, 6, 7, 3, 3, seed=2), stride=2, pad=1)
print("conv2d_forward: all visible checks passed.")
### BEGIN HIDDEN TESTS
check_forward(*conv_case(1, 2, 4, 4, 2, 1, seed=11))  # a 1x1 kernel mixes channels only
check_forward(*conv_case(3, 2, 7, 5, 2, 2, seed=12), stride=3, pad=2)
check_forward(*conv_case(2, 3, 6, 6, 5, 3, seed=13, dtype=np.float32), pad=1)
got32 = conv2d_forward(*conv_case(2, 3, 6, 6, 5, 3, seed=13, dtype=np.float32), 1, 1)[0]
assert got32.dtype == np.float32, f"float32 inputs must give a float32 output, got {got32.dtype}."
check_forward(*conv_case(2, 1, 5, 5, 2, 5, seed=14))  # the kernel covers the whole image
### END HIDDEN TESTS

# %% [markdown]
# ## 2. The backward pass
#
# Every output number was $\text{out}[n, f, r, c] = \sum \text{window} \odot w[f] + b[f]$.
# Its upstream gradient $g = dout[n, f, r, c]$ flows to every number that went into it, each
# time multiplied by what that number was multiplied with (chapter 04's rule for a product):
#
# * to the bias: $db[f] \mathrel{+}= g$. Summed over images and positions,
#   $db_f = \sum_{n, r, c} dout[n, f, r, c]$;
# * to the filter: $dw[f] \mathrel{+}= g \cdot \text{window}$, since each weight met one input
#   of the window;
# * to the input: $dx_{\text{pad}}[n, :, \text{window}] \mathrel{+}= g \cdot w[f]$, since each
#   input of the window met one weight.
#
# **Why "+=" matters.** With a 3x3 filter and stride 1, one input pixel sits in up to nine
# windows (and, with several filters, in every filter's windows): its gradient is the *sum*
# of all of their contributions. Writing `=` keeps only the last one. The weights are shared
# across positions in the same way, so their gradient is a sum too.
#
# The gradient of the padding zeros is thrown away at the end: $dx$ is $dx_{\text{pad}}$
# without its border, the shape of $x$.
#
# ### Worked by hand
#
# Back to the 3x3 example with $dout = 1$ everywhere (the gradient of `out.sum()`): $db$ counts
# the outputs, 4; $dw[i, j]$ is the sum of the inputs the weight $(i, j)$ touched, e.g.
# $dw[0, 0] = 1 + 2 + 4 + 5 = 12$; and $dx$ counts how many windows saw each pixel, weighted
# by the weight it met: the centre pixel 5 met all four weights, so
# $dx[1, 1] = 1 + 2 + 0 - 1 = 2$, and the corner 1 met only $w[0, 0]$: $dx[0, 0] = 1$.

# %%
dx_hand, dw_hand, db_hand = F.conv2d_backward_naive(
    np.ones((1, 1, 2, 2)), (x_hand, w_hand, b_hand, 1, 0)
)
print("db =", db_hand, "\ndw =\n", dw_hand[0, 0], "\ndx =\n", dx_hand[0, 0])

# %% [markdown]
# ### Exercise 2 (6 points): `conv2d_backward`
#
# `cache` is what your forward returned: `(x, w, b, stride, pad)`. Return `(dx, dw, db)`,
# shaped like `x`, `w` and `b`. The same loop over output positions as in your forward works:
# for each $(r, c)$, `g = dout[:, :, r, c]` has shape (N, F); `np.tensordot(g, window,
# axes=([0], [0]))` gives this position's share of `dw` (F, C, KH, KW), summed over the images,
# and `np.tensordot(g, w, axes=([1], [0]))` its share of the padded `dx` (N, C, KH, KW), summed
# over the filters. Do not modify `dout` or anything in the cache.


# %% nbgrader={"grade": false, "grade_id": "conv2d_backward", "locked": false, "schema_version": 3, "solution": true}
def conv2d_backward(dout, cache):
    """Gradients of a convolution.

    dout: dL/d(out), shape (N, F, OH, OW); cache: (x, w, b, stride, pad) from conv2d_forward.
    Returns (dx, dw, db) with the shapes and dtypes of x, w and b.
    """
    ### BEGIN SOLUTION
    x, w, b, stride, pad = cache
    H, W = x.shape[2], x.shape[3]
    KH, KW = w.shape[2], w.shape[3]
    OH, OW = dout.shape[2], dout.shape[3]
    xpad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dxpad = np.zeros_like(xpad)
    dw = np.zeros_like(w)
    db = dout.sum(axis=(0, 2, 3))
    for r in range(OH):
        for c in range(OW):
            top, left = r * stride, c * stride
            window = xpad[:, :, top : top + KH, left : left + KW]  # (N, C, KH, KW)
            g = dout[:, :, r, c]  # (N, F)
            dw += np.tensordot(g, window, axes=([0], [0]))  # summed over the images
            dxpad[:, :, top : top + KH, left : left + KW] += np.tensordot(g, w, axes=([1], [0]))
    dx = dxpad[:, :, pad : pad + H, pad : pad + W]
    return dx, dw, db
    ### END SOLUTION


# %% nbgrader={"grade": false, "grade_id": "check_backward_helpers", "locked": true, "schema_version": 3, "solution": false}
def forward_with_cache(x, w, b, stride=1, pad=0):
    """The reference forward, returning the cache in exercise 1's format (x, w, b, stride, pad)."""
    return F.conv2d_forward(x, w, b, stride, pad)[0], (x, w, b, stride, pad)


def check_backward(x, w, b, stride=1, pad=0, seed=0):
    """Check conv2d_backward on one case against the reference and finite differences."""
    context = describe(x, w, stride, pad)
    out, ref_cache = F.conv2d_forward(x, w, b, stride, pad)
    dout = np.random.default_rng(seed).standard_normal(out.shape).astype(x.dtype)
    cache = (x, w, b, stride, pad)
    untouched = check_not_modified(conv2d_backward, dout, cache)
    assert untouched.ok, f"{context}{untouched}"
    result = conv2d_backward(dout.copy(), cache)
    assert isinstance(result, tuple) and len(result) == 3, (
        f"{context}conv2d_backward must return the triple (dx, dw, db), got "
        f"{type(result).__name__}{'' if not hasattr(result, '__len__') else f' of length {len(result)}'}."
    )
    dx, dw, db = result
    dx_ref, dw_ref, db_ref = F.conv2d_backward(dout, ref_cache)
    dx_shape = getattr(dx, "shape", None)
    if pad and dx_shape == (x.shape[0], x.shape[1], x.shape[2] + 2 * pad, x.shape[3] + 2 * pad):
        raise AssertionError(
            f"{context}dx has the shape of the padded input {dx_shape}: cut the padding off "
            f"(dx = dxpad[:, :, pad:pad+H, pad:pad+W]), the zeros are not an input."
        )
    dx_ok = dx_shape == dx_ref.shape and diagnose(dx, dx_ref, name="dx").ok
    if not dx_ok and dx_shape == dx_ref.shape:
        overlap_free = _overlap_free_case(x, w, b, pad, seed)
        if overlap_free:
            raise AssertionError(
                f"{context}dx is right when the windows do not overlap (stride = kernel size) "
                f"but wrong when they do: an input pixel that sits in several windows collects "
                f"the gradient of each of them. Add (+=) into dx instead of assigning (=)."
            )
    expect_close(dx, dx_ref, "dx", context)
    expect_close(dw, dw_ref, "dw", context)
    expect_close(db, db_ref, "db", context)
    report = check_gradients(
        forward_with_cache,
        conv2d_backward,
        {"x": x, "w": w, "b": b},
        kwargs={"stride": stride, "pad": pad},
        seed=seed,
    )
    assert report.passed, f"{context}{report}"


def _overlap_free_case(x, w, b, pad, seed):
    """Does conv2d_backward get dx right with stride = kernel size (no window overlaps)?"""
    stride = w.shape[2]
    if w.shape[2] != w.shape[3] or stride > x.shape[2] + 2 * pad:
        return False
    out, ref_cache = F.conv2d_forward(x, w, b, stride, pad)
    dout = np.random.default_rng(seed).standard_normal(out.shape).astype(x.dtype)
    try:
        dx = conv2d_backward(dout, (x, w, b, stride, pad))[0]
    except Exception:
        return False
    dx_ref = F.conv2d_backward(dout, ref_cache)[0]
    return getattr(dx, "shape", None) == dx_ref.shape and diagnose(dx, dx_ref, name="dx").ok


# %% nbgrader={"grade": true, "grade_id": "check_conv2d_backward", "locked": true, "points": 6, "schema_version": 3, "solution": false}
check_backward(*conv_case(2, 3, 5, 5, 4, 3, seed=3), seed=3)
check_backward(*conv_case(2, 2, 6, 7, 3, 3, seed=4), stride=2, pad=1, seed=4)
# worked by hand (section 2): dout = 1 everywhere
dx_h, dw_h, db_h = conv2d_backward(np.ones((1, 1, 2, 2)), (x_hand, w_hand, b_hand, 1, 0))
expect_close(db_h, np.array([4.0]), "db (by hand)")
expect_close(dw_h, np.array([[[[12.0, 16.0], [24.0, 28.0]]]]), "dw (by hand)")
expect_close(
    dx_h, np.array([[[[1.0, 3.0, 2.0], [1.0, 2.0, 1.0], [0.0, -1.0, -1.0]]]]), "dx (by hand)"
)
print("conv2d_backward: all visible checks passed.")
### BEGIN HIDDEN TESTS
check_backward(*conv_case(1, 2, 4, 4, 2, 1, seed=21), seed=21)
check_backward(*conv_case(3, 2, 7, 5, 2, 2, seed=22), stride=3, pad=2, seed=22)
check_backward(*conv_case(2, 3, 6, 6, 5, 3, seed=23, dtype=np.float32), pad=1, seed=23)
dx32, dw32, db32 = conv2d_backward(
    np.ones((2, 5, 6, 6), np.float32),
    (*conv_case(2, 3, 6, 6, 5, 3, seed=23, dtype=np.float32), 1, 1),
)
assert dx32.dtype == dw32.dtype == db32.dtype == np.float32, (
    f"float32 inputs must give float32 gradients, got dx {dx32.dtype}, dw {dw32.dtype}, db {db32.dtype}."
)
check_backward(*conv_case(4, 1, 5, 5, 2, 5, seed=24), seed=24)  # one window per image
### END HIDDEN TESTS

# %% [markdown]
# ## 3. Vectorized: the whole layer as one matrix product (im2col)
#
# Your loops run $OH \times OW$ times; the reference loop version runs
# $N \times F \times OH \times OW$ times. Either way Python does a little bookkeeping on every
# iteration (a few microseconds: index arithmetic, creating a slice object, calling NumPy),
# and NumPy gets small pieces of work, too small to use the processor well.
#
# **im2col** ("image to columns") rearranges the input once so that the convolution becomes a
# single matrix product, the operation computers are best at:
#
# 1. For every output pixel, copy its window (C x KH x KW numbers) into one column. With
#    $P = OH \cdot OW$ positions, image $n$ becomes a matrix $\text{cols}_n$ of shape
#    $(C \cdot KH \cdot KW) \times P$.
# 2. Flatten each filter into a row: $W_{\text{rows}}$ of shape $F \times (C \cdot KH \cdot KW)$.
# 3. Then $\text{out}_n = W_{\text{rows}} \, \text{cols}_n + b$, shape $F \times P$: every
#    filter dotted with every window at once.
#
# Building the columns needs no loop over pixels either: for a kernel offset $(i, j)$, the
# strided slice `xpad[:, :, i::stride, j::stride]` (cut to OH x OW) holds the input that
# kernel entry meets in *every* window of *every* image. So the only Python loop is over the
# KH x KW offsets: 9 iterations for a 3x3 filter, whatever the size of the images.
#
# The backward pass is the same idea in reverse: $dW_{\text{rows}} = \sum_n dout_n\,
# \text{cols}_n^{\top}$, $d\text{cols}_n = W_{\text{rows}}^{\top}\, dout_n$, and *col2im* adds
# each column back to the pixels it was copied from (where windows overlap, the sums of
# exercise 2 happen here). The reference implementation:

# %%
signature, _docstring, body = inspect.getsource(F.conv2d_forward).split('"""', 2)
print(signature.rstrip(), "...the docstring...", body, sep="\n")

# %% [markdown]
# The price is memory: every input pixel is copied into up to KH x KW columns, so `cols` is
# about 9 times the size of the (padded) input for a 3x3 filter. Libraries such as cuDNN and
# oneDNN avoid most of that copy with smarter algorithms (implicit GEMM, Winograd, FFT), but
# the core idea, a convolution is a matrix product in disguise, is the same.
#
# ### Timing the three versions
#
# A batch of 64 images of 8x8 pixels, 8 filters of 3x3, `pad=1`, forward and backward, in
# float32. We take the best of a few runs (the minimum is the least disturbed by other
# programs), and also count the arithmetic: each output number costs $C \cdot KH \cdot KW$
# multiply-adds, so a forward pass is $2\,N F\, OH\, OW\, C\, KH\, KW$ floating-point
# operations (FLOPs), and the backward twice that.


# %%
def best_time(function, repeats=3):
    """The fastest of ``repeats`` runs of ``function()``, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


x_t, w_t, b_t = conv_case(64, 1, 8, 8, 8, 3, seed=7, dtype=np.float32)
dout_t = np.ones((64, 8, 8, 8), np.float32)
flops = 3 * 2 * 64 * 8 * 8 * 8 * 1 * 3 * 3  # forward + backward (twice the forward)
versions = {
    "loops over everything (reference, naive)": (
        F.conv2d_forward_naive,
        F.conv2d_backward_naive,
        64 * 8 * 8 * 8,
        1,
    ),
    "yours": (conv2d_forward, conv2d_backward, 8 * 8, 3),
    "im2col (reference)": (F.conv2d_forward, F.conv2d_backward, 3 * 3, 5),
}
timings = {}
for label, (forward, backward, python_steps, repeats) in versions.items():

    def step(forward=forward, backward=backward):
        out, cache = forward(x_t, w_t, b_t, 1, 1)
        backward(dout_t, cache)

    timings[label] = best_time(step, repeats)
    print(
        f"{label:42s} {1e3 * timings[label]:9.2f} ms   {flops / timings[label] / 1e9:7.3f} GFLOP/s"
        f"   Python loop iterations per pass: {python_steps:,}"
    )
naive_label = "loops over everything (reference, naive)"
print(
    f"\nim2col is {timings[naive_label] / timings['im2col (reference)']:,.0f} times faster than the naive loops."
)

# %%
fig, ax = plt.subplots(figsize=(7, 2.5))
ax.barh(list(timings), [1e3 * t for t in timings.values()])
ax.set_xscale("log")
ax.set_xlabel("ms per forward + backward (log scale)")
ax.set_title("One convolution layer, 64 images of 8x8, 8 filters of 3x3")
ax.invert_yaxis()
plt.tight_layout()
plt.show()

# %% [markdown]
# The figures vary from machine to machine, but the order does not, and the axis is
# logarithmic: the naive loops are slower by orders of magnitude. All three versions do the
# same arithmetic (about 0.5 million FLOPs here), which a modern CPU core can do in well under
# a millisecond. What the naive version pays for is the **Python overhead**: tens of
# thousands of loop iterations, each of which costs microseconds of interpreter work to
# compute nine multiply-adds. Your version makes 64 iterations, each handing NumPy a real
# piece of work. im2col makes 9, and spends its time inside one matrix product that runs in
# compiled, SIMD-vectorized, cache-aware (and, for large sizes, multi-threaded) BLAS code.
#
# The rule of thumb, for every array library: **never loop in Python over anything that
# grows with the data** (images, pixels, units). Loop over the few things that don't (here
# the kernel offsets) and let one large array operation do the rest. Chapter 11 measures how
# close such code gets to the machine's limit.
#
# ## 4. Max-pooling
#
# After a convolution, a **max-pooling** layer keeps the largest value of every
# $\text{size} \times \text{size}$ window of each channel, moving `stride` pixels between
# windows (by default `stride = size`: side by side, no overlap). A 2x2 pool halves the height
# and the width:
#
# $$\text{out}[n, c, r, q] = \max_{0 \le i, j < \text{size}} x[n, c,\; r s + i,\; q s + j].$$
#
# It has no weights. It makes the next layer cheaper (four times fewer numbers), lets the
# next filters see a wider part of the image, and makes the network care less about the
# exact position of a feature: a stroke detected one pixel further still wins its window.
#
# **Backward.** The max is a switch: its output *is* one of its inputs, so the gradient
# $dout[n, c, r, q]$ goes entirely to the input that won the window, and the others get 0.
# The forward remembers which input won (its position in the window). Worked by hand:

# %%
x_pool = np.array(
    [[1.0, 3.0, 2.0, 0.0], [4.0, 2.0, 1.0, 5.0], [0.0, 1.0, 9.0, 2.0], [2.0, 6.0, 3.0, 1.0]]
)
out_pool, cache_pool = F.maxpool2d_forward(x_pool.reshape(1, 1, 4, 4), size=2)
dx_pool = F.maxpool2d_backward(np.array([[[[10.0, 20.0], [30.0, 40.0]]]]), cache_pool)
print("x =\n", x_pool, "\nout =\n", out_pool[0, 0])
print("dx for dout = [[10, 20], [30, 40]]:\n", dx_pool[0, 0])

# %% [markdown]
# Each window's gradient landed on its winner (4, 5, 6 and 9). Like the convolution, pooling
# comes in a loop version that reads like the formula, and a vectorized one that loops only
# over the $\text{size}^2$ offsets inside a window and takes the max of the stacked slices:

# %%
print(inspect.getsource(F.maxpool2d_forward_naive))
x_p = rng.standard_normal((64, 8, 8, 8)).astype(np.float32)
out_naive, cache_naive = F.maxpool2d_forward_naive(x_p, 2)
out_fast, cache_fast = F.maxpool2d_forward(x_p, 2)
dout_p = rng.standard_normal(out_fast.shape).astype(np.float32)
print("largest difference, naive vs vectorized: out", np.abs(out_naive - out_fast).max(), end=", ")
dx_naive = F.maxpool2d_backward_naive(dout_p, cache_naive)
print("dx", np.abs(dx_naive - F.maxpool2d_backward(dout_p, cache_fast)).max())
for label, forward, backward in [
    ("naive loops", F.maxpool2d_forward_naive, F.maxpool2d_backward_naive),
    ("vectorized ", F.maxpool2d_forward, F.maxpool2d_backward),
]:
    seconds = best_time(
        lambda forward=forward, backward=backward: backward(dout_p, forward(x_p, 2)[1])
    )
    print(f"max-pool 2x2, {label}: {1e3 * seconds:8.2f} ms per forward + backward")

# %% [markdown]
# ## 5. A small convolutional network on the digits
#
# Now the layers as a model, with the Keras-style API of `dlcourse.nn`:
# `Conv2D(8, 3, padding="same", activation="relu")` is 8 filters of 3x3 with `pad=1` followed by
# a ReLU; `MaxPool2D(2)` halves each side; `Flatten()` turns the (8, 4, 4) feature maps of each
# image into a row of 128 numbers for the final `Dense(10)`. The digits come as (N, 1, 8, 8)
# images with `load_digits(flat=False)`.
#
# The same model, with the same initial weights (`seed=0`), is trained on several backends:
# `manual` runs the hand-written forward and backward of `dlcourse.functional` (the im2col
# convolution of section 3), the others let PyTorch and JAX compute the gradients with their
# own convolution kernels. A backend whose library is missing is skipped with a message.

# %%
import dlcourse
from dlcourse.data import load_digits
from dlcourse.nn import (
    Adam,
    Conv2D,
    Dense,
    Flatten,
    MaxPool2D,
    Sequential,
    SparseCategoricalCrossentropy,
)

digits = load_digits(flat=False)
print(digits)


def small_cnn():
    return Sequential(
        [Conv2D(8, 3, padding="same", activation="relu"), MaxPool2D(2), Flatten(), Dense(10)],
        seed=0,
    )


histories, models = {}, {}
for name in ["manual", "torch", "jax"]:
    try:
        with dlcourse.backend(name):
            model = small_cnn()
    except ImportError as err:  # the library is not installed: the message says how
        print(f"{name}: skipped. {err}")
        continue
    model.compile(
        optimizer=Adam(learning_rate=0.01),
        loss=SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    start = time.perf_counter()
    history = model.fit(digits.x_train, digits.y_train, epochs=10, batch_size=32, verbose=0)
    seconds = time.perf_counter() - start
    loss, acc = model.evaluate(digits.x_test, digits.y_test)
    histories[name], models[name] = history.history, model
    print(f"{name:7s} trained in {seconds:5.2f} s; test loss {loss:.4f}, test accuracy {acc:.3f}")

print(f"\n{models['manual'].count_params()} weights:")
models["manual"].summary()

# %%
fig, ax = plt.subplots(figsize=(6, 3.5))
for name, history in histories.items():
    ax.plot(range(1, len(history["loss"]) + 1), history["loss"], "o-", label=name, alpha=0.7)
ax.set_xlabel("epoch")
ax.set_ylabel("training loss")
ax.set_title("The same CNN on several backends")
ax.legend()
plt.tight_layout()
plt.show()
first, *others = histories
for name in others:
    gap = np.max(np.abs(np.array(histories[name]["loss"]) - np.array(histories[first]["loss"])))
    print(f"largest difference in the loss per epoch, {name} vs {first}: {gap:.2e}")

# %% [markdown]
# The curves lie on top of each other: the backends start from the same weights and compute
# the same math, so they differ only by float32 rounding (the timings differ more: the first
# `torch` and `jax` calls include loading the library and, for JAX, compiling the step). A
# model of 1,370 weights reaches about 97% test accuracy in a few seconds, where the MLP of
# chapter 05 needed 4,810 weights (64-64-10) for similar results: sharing one small filter
# across all positions is a strong, correct assumption about images.
#
# ## 6. What the filters learned
#
# The first layer's kernel has shape (8, 1, 3, 3): eight 3x3 filters. Drawn as images (red
# positive, blue negative), many look like edge and stroke detectors: positive on one side,
# negative on the other.

# %%
trained = models["manual"]
kernel, bias = trained.get_weights()[:2]
fig, axes = plt.subplots(1, 8, figsize=(11, 1.8))
limit = np.abs(kernel).max()
for f, ax in enumerate(axes):
    ax.imshow(kernel[f, 0], cmap="RdBu_r", vmin=-limit, vmax=limit)
    ax.set_title(f"filter {f}")
    ax.axis("off")
plt.show()

# %% [markdown]
# **Feature maps** show where in an image each filter responds. Here **your**
# `conv2d_forward` runs with the trained weights on one test digit, followed by ReLU and
# max-pooling, exactly the first three layers of the model:

# %%
image = digits.x_test[:1]  # shape (1, 1, 8, 8)
maps, _ = conv2d_forward(image, kernel, bias, stride=1, pad=1)
maps = np.maximum(maps, 0)  # the layer's ReLU
pooled, _ = F.maxpool2d_forward(maps, 2)
reference_maps = np.maximum(F.conv2d_forward(image, kernel, bias, 1, 1)[0], 0)
print("largest difference from the reference's feature maps:", np.abs(maps - reference_maps).max())

fig, axes = plt.subplots(3, 9, figsize=(12, 4.4))
axes[0, 0].imshow(image[0, 0], cmap="gray_r")
axes[0, 0].set_title(f"digit {digits.y_test[0]}")
axes[1, 0].set_ylabel("conv + ReLU")
axes[2, 0].set_ylabel("max-pooled")
for f in range(8):
    axes[0, f + 1].imshow(kernel[f, 0], cmap="RdBu_r", vmin=-limit, vmax=limit)
    axes[0, f + 1].set_title(f"filter {f}")
    axes[1, f + 1].imshow(maps[0, f], cmap="magma")
    axes[2, f + 1].imshow(pooled[0, f], cmap="magma")
for ax in axes.flat:
    ax.set_xticks([])
    ax.set_yticks([])
plt.tight_layout()
plt.show()

# %% [markdown]
# Each row-2 map is bright where its filter's pattern appears in the digit: some filters
# light up on horizontal strokes, some on vertical ones or on one side of an edge. The
# pooled maps keep that information at a quarter of the size, and the final dense layer
# classifies the digit from these 128 numbers.
#
# ## Summary
#
# * A convolution slides F filters of shape (C, KH, KW) over a padded image:
#   $\text{out}[n, f, r, c] = \sum \text{window} \odot w[f] + b_f$, with
#   $OH = \lfloor (H + 2\,\text{pad} - KH)/s \rfloor + 1$. Deep learning's convolution does
#   not flip the kernel.
# * Backward: $db_f$ sums $dout$ over images and positions; $dw[f]$ adds $g \cdot$ window;
#   $dx$ adds $g \cdot w[f]$ into every window, **with +=**, because windows overlap; the
#   padding's gradient is dropped.
# * im2col turns the layer into one matrix product: the Python loop runs over the KH x KW
#   offsets only, the arithmetic runs in BLAS. Same FLOPs, orders of magnitude less time; the
#   cost is memory (about KH x KW copies of the input).
# * Max-pooling keeps each window's maximum; its gradient goes to the winner only.
# * A CNN of about 1,400 weights (Conv2D, MaxPool2D, Flatten, Dense) classifies about 97% of
#   the test digits right, identically on every backend; its filters learn edge and stroke
#   detectors.
#
# **Next**, chapter 11 measures speed properly: one thread against all cores, each backend
# against the machine's matrix-multiplication limit, and training on several processes.

# %% [markdown]
# ## Further reading
#
# * CS231n notes, *Convolutional Neural Networks*: the output-size formula, parameter sharing,
#   pooling, and convolution as one matrix product (im2col).
# * Vincent Dumoulin and Francesco Visin, *A guide to convolution arithmetic for deep learning*
#   (2016): padding, strides and output sizes, with drawings.
# * Yann LeCun, Léon Bottou, Yoshua Bengio and Patrick Haffner, *Gradient-Based Learning Applied
#   to Document Recognition* (Proceedings of the IEEE, 1998): convolutional networks on digits.
# * *Dive into Deep Learning*, chapter *Convolutional Neural Networks*.
#
# Credits: turning a convolution into a matrix product by unrolling the input goes back to
# Chellapilla, Puri and Simard, *High Performance Convolutional Neural Networks for Document
# Processing* (2006); the name im2col comes from MATLAB and Caffe.
