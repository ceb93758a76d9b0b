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
# # 00. The fancy calculators
#
# Strip a deep-learning framework of its layers, optimizers and tutorials and what remains is a
# calculator for arrays: it stores grids of numbers, applies arithmetic to whole grids at once,
# and (from chapter 04 on) works out derivatives for you. This course writes the math by hand
# first, so it pays to know the calculators well before we lean on them.
#
# This notebook puts the three calculators of the course side by side (**NumPy**, **PyTorch** and
# **TensorFlow**) and looks at what trips people up in all of them:
#
# 1. **the same operations under different names**, and how one function can serve several
#    libraries;
# 2. **dtypes**: float32 or float64, and integers that divide, truncate or overflow by surprise;
# 3. **devices**: where an array lives (CPU or GPU) and what moving it costs;
# 4. **broadcasting**: the rule that lets a `(3,)` bias meet a `(4, 3)` batch, and the bugs it
#    hides.
#
# We finish by timing a large matrix multiply on this computer and asking what a GPU would change.
#
# **This notebook is worth 5 points**, in two exercises:
#
# | exercise | you write | points |
# |---|---|---|
# | 1 | `broadcast_shape(a_shape, b_shape)`: the broadcasting rule itself | 2 |
# | 2 | `standardize(x)`: every column to mean 0 and standard deviation 1, without loops | 3 |
#
# Fill in the cells marked `# YOUR CODE HERE` and run the check cell below each one. A failing
# check says what is wrong and, usually, how to fix it.
#
# **How this notebook is graded.** The grader runs the solution cell of each exercise on its
# own, after this notebook's set-up cell, in a fresh process outside the notebook and on inputs
# of its own; the check cells are not run there, and a helper defined in any other cell is
# missing. NumPy's `np.broadcast_shapes` is a stub there: a `broadcast_shape` that calls it scores
# zero for that exercise.
# There each exercise may use 60 CPU seconds and 4 GB of memory; code that needs more is stopped
# and scores zero for it. `dlcourse check --grader` on the saved notebook
# shows the points the grader would give. Beyond the visible checks:
#
# * exercise 1, `check_broadcast_shape`, also tested: a dozen random pairs that broadcast,
#   sizes 0 and 10**9, incompatible pairs in both orders, and the answer a tuple of plain
#   Python ints (not NumPy integers);
# * exercise 2, `check_standardize`, also tested: float32 input gives float32 output, a single
#   column, a constant column (zeros), a column so narrow that `eps` matters, an `eps` other
#   than the default, and columns whose mean lies thousands to a million standard deviations
#   from 0 (compute the variance from the centred values).

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false}
import os
import time

import matplotlib.pyplot as plt
import numpy as np
from array_api_compat import array_namespace

from dlcourse.diagnose import diagnose
from dlcourse.optional import optional_import

# TensorFlow logs from C++ straight to the process's error stream; "3" hides all but fatal ones.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

torch = optional_import("torch", "torch")
tf = optional_import("tensorflow", "tensorflow")
print("NumPy", np.__version__)
if torch is not None:
    print("PyTorch", torch.__version__)
if tf is not None:
    print("TensorFlow", tf.__version__)

# %% [markdown]
# ## 1. One computation, three calculators
#
# Here is a whole neural-network layer in one line: a batch of inputs $x$ (one example per row)
# times a weight matrix $W$, plus a bias $b$, then every negative number replaced by 0:
#
# $$y = \max(0,\; xW + b), \qquad x \in \mathbb{R}^{N \times D},\; W \in \mathbb{R}^{D \times M},
# \; b \in \mathbb{R}^{M},\; y \in \mathbb{R}^{N \times M}.$$
#
# Chapter 01 is about $xW + b$ and chapter 02 about the $\max(0, \cdot)$ (called ReLU). For now it
# is just a computation to type into three calculators, with $N = 2$ examples, $D = 3$ inputs and
# $M = 2$ outputs.

# %%
x_np = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
w_np = np.array([[0.1, -0.2], [0.3, 0.4], [-0.5, 0.6]])
b_np = np.array([0.01, -3.0])

y_np = np.maximum(x_np @ w_np + b_np, 0.0)
print("NumPy:\n", y_np)

# %% [markdown]
# Check one entry by hand: the first example against the first column of $W$ gives
# $1 \cdot 0.1 + 2 \cdot 0.3 + 3 \cdot (-0.5) + 0.01 = -0.79$, which ReLU turns into 0.
#
# PyTorch and TensorFlow spell the same thing almost identically: `@` is matrix multiplication
# in all three.

# %%
if torch is not None:
    x_t, w_t, b_t = torch.tensor(x_np), torch.tensor(w_np), torch.tensor(b_np)
    z_t = x_t @ w_t + b_t
    y_t = torch.maximum(z_t, torch.zeros_like(z_t))
    print("PyTorch:\n", y_t)
    print("same as NumPy:", np.allclose(y_t.numpy(), y_np))

# %%
if tf is not None:
    x_tf, w_tf, b_tf = tf.constant(x_np), tf.constant(w_np), tf.constant(b_np)
    y_tf = tf.maximum(x_tf @ w_tf + b_tf, 0.0)
    print("TensorFlow:\n", y_tf)
    print("same as NumPy:", np.allclose(y_tf.numpy(), y_np))

# %% [markdown]
# The ideas are the same; the spelling is not. The differences you will meet first:
#
# | | NumPy | PyTorch | TensorFlow |
# |---|---|---|---|
# | make an array | `np.array(data)` | `torch.tensor(data)` | `tf.constant(data)` |
# | default float dtype | float64 | float32 | float32 |
# | sum over axis 0 | `x.sum(axis=0)` | `x.sum(dim=0)` or `axis=0` | `tf.reduce_sum(x, axis=0)` |
# | keep the summed axis | `keepdims=True` | `keepdim=True` | `keepdims=True` |
# | back to NumPy | (it is NumPy) | `x.numpy()` (`x.cpu().numpy()` from a GPU) | `x.numpy()` |
# | change one element | `x[0, 0] = 1` | `x[0, 0] = 1` | not allowed: tensors are immutable |
# | devices | CPU only | `x.to("cuda")` | automatic, or `with tf.device("/GPU:0"):` |
#
# ### One function for several libraries
#
# Writing every function three times would be tedious. The
# [array API standard](https://data-apis.org/array-api/) gives NumPy, PyTorch, JAX and CuPy one
# common vocabulary, and `array_api_compat.array_namespace(x)` hands you that vocabulary for
# whatever `x` is. By convention it is called `xp`. Every hand-written function in
# `dlcourse.functional` starts this way, which is why the same code runs on NumPy arrays and on
# PyTorch tensors, on the CPU or a GPU. (TensorFlow tensors do not speak the standard, so in
# this course TensorFlow appears through its own operations.)


# %%
def dense_relu(x, w, b):
    """max(0, x @ w + b), computed by whichever library x, w and b belong to."""
    xp = array_namespace(x, w, b)
    z = x @ w + b
    return xp.maximum(z, xp.zeros_like(z))


print(type(dense_relu(x_np, w_np, b_np)))
if torch is not None:
    print(type(dense_relu(x_t, w_t, b_t)))

# %% [markdown]
# ## 2. Dtypes: what kind of number is in the array
#
# Every array holds numbers of a single **dtype**. The defaults differ, and that alone causes
# surprises: the same literal list becomes float64 in NumPy but float32 in PyTorch and
# TensorFlow, while converting *from* NumPy keeps NumPy's float64.

# %%
print("NumPy     [1.0, 2.0] ->", np.array([1.0, 2.0]).dtype, "  [1, 2] ->", np.array([1, 2]).dtype)
if torch is not None:
    print("PyTorch   [1.0, 2.0] ->", torch.tensor([1.0, 2.0]).dtype)
    print("PyTorch   from NumPy  ->", torch.from_numpy(np.array([1.0, 2.0])).dtype)
if tf is not None:
    print("TensorFlow [1.0, 2.0] ->", tf.constant([1.0, 2.0]).dtype)

# %% [markdown]
# ### float32 or float64?
#
# A float has a fixed number of significant binary digits: 24 for float32 (about 7 decimal
# digits), 53 for float64 (about 16). The gap between 1 and the next representable number is
# called *machine epsilon*:

# %%
for dtype in (np.float16, np.float32, np.float64):
    info = np.finfo(dtype)
    print(f"{info.dtype}: epsilon {info.eps:.1e}, largest {info.max:.1e}, {info.bits // 8} bytes")

# %% [markdown]
# Deep learning mostly computes in **float32** (and increasingly in 16-bit formats): half the
# memory of float64, twice as many numbers per second, and gradients that are noisy anyway.
# The price is rounding. Above $2^{24} = 16\,777\,216$, float32 cannot even count by one, and a
# long running sum drifts:

# %%
big = np.float32(2**24)
print("2**24 + 1 in float32 =", big + np.float32(1))

tenths = np.full(1_000_000, 0.1, dtype=np.float32)
print("one by one (cumsum): ", np.cumsum(tenths)[-1])  # a million roundings pile up
print("np.sum (pairwise):   ", tenths.sum())  # NumPy adds in a tree: far less drift
print("in float64:          ", tenths.astype(np.float64).sum())

# %% [markdown]
# The last line is not exactly 100000 either, because 0.1 itself has no exact binary form; in
# float32 it is stored as 0.100000001490116... That is why checking gradients (chapter 04) is
# done in float64: there, differences of nearly equal numbers must keep their digits.
#
# ### Mixing dtypes
#
# Combine a float32 array with a float64 array and NumPy and PyTorch quietly *promote* the result
# to float64 (twice the memory, often half the speed). TensorFlow refuses instead:

# %%
a32 = np.ones(3, dtype=np.float32)
a64 = np.ones(3, dtype=np.float64)
print("NumPy float32 + float64 ->", (a32 + a64).dtype)
if torch is not None:
    t32, t64 = torch.ones(3), torch.ones(3, dtype=torch.float64)
    print("PyTorch float32 + float64 ->", (t32 + t64).dtype)
if tf is not None:
    try:
        tf.constant(a32) + tf.constant(a64)
    except Exception as err:  # TensorFlow's InvalidArgumentError
        print("TensorFlow float32 + float64 ->", type(err).__name__, "(no silent promotion)")

# %% [markdown]
# ### Integer surprises
#
# Three classics, each of which has cost someone an afternoon:
#
# * `/` always gives floats, but `//` rounds **down**, not towards zero: `-7 // 2` is `-4`.
# * Writing a float into an **integer array truncates it** without a word. A gradient stored in
#   `np.zeros_like(x)` for an integer `x` silently becomes all zeros.
# * Small integer types **wrap around**. Images usually arrive as `uint8` (0 to 255), and the
#   average of two pixels 200 and 100 is not 150:

# %%
seven = np.array([7, -7])
print("[7, -7] / 2 =", seven / 2, "   [7, -7] // 2 =", seven // 2)

counts = np.array([1, 2, 3])
grad = np.zeros_like(counts)  # an integer array, because counts is one
grad[:] = [0.5, 0.9, -0.7]
print("floats written into an int array:", grad)

pixels_a = np.array([200], dtype=np.uint8)
pixels_b = np.array([100], dtype=np.uint8)
print("uint8 (200 + 100) / 2 =", (pixels_a + pixels_b) / 2, " (200 + 100 wrapped to 44)")
print("as float32:           ", (pixels_a.astype(np.float32) + pixels_b.astype(np.float32)) / 2)

# %% [markdown]
# The fix is always the same: convert to a float dtype first (`x.astype(np.float32)`,
# `t.float()`), as `dlcourse.data` does for you by returning images as float32 in $[0, 1]$.
#
# ## 3. Devices: where an array lives
#
# NumPy arrays live in the computer's main memory and are processed by the CPU. PyTorch and
# TensorFlow tensors can also live in a GPU's own memory, and then the GPU does the arithmetic.
# In PyTorch the device is explicit: every tensor has a `.device`, and `.to(device)` returns a
# copy on another one. The idiom that works everywhere chooses the device once:

# %%
if torch is None:
    print("PyTorch is not installed: skipping the device examples.")
else:
    has_gpu = torch.cuda.is_available()
    device = "cuda" if has_gpu else "cpu"
    print("CUDA GPU available:", has_gpu, "-> computing on", device)

    x_dev = x_t.to(device)  # on the CPU, .to("cpu") returns x_t itself: nothing is copied
    y_dev = torch.relu(x_dev @ w_t.to(device) + b_t.to(device))
    print("result lives on:", y_dev.device)
    print(y_dev.cpu().numpy())  # NumPy only reads main memory: bring results back first

# %% [markdown]
# On a machine without a GPU (like the one that checks this notebook) every `.to(device)` above
# is `.to("cpu")`, which costs nothing, and the code runs unchanged. That is the point of the
# idiom. On a machine with an NVIDIA GPU the same cell moves the data into GPU memory, and two
# new errors become possible:
#
# * `x_dev @ w_t` with one tensor on `cuda:0` and one on `cpu` raises
#   `RuntimeError: Expected all tensors to be on the same device`. Nothing moves implicitly.
# * `y_dev.numpy()` raises `TypeError: can't convert cuda:0 device type tensor to numpy`;
#   call `.cpu()` first.
#
# (Apple-silicon Macs have a third device, `"mps"`, see `torch.backends.mps.is_available()`.)
# TensorFlow places operations on a GPU automatically when it sees one:

# %%
if tf is not None:
    print("GPUs TensorFlow can see:", tf.config.list_physical_devices("GPU"))
    print("where y_tf was computed:", y_tf.device)

# %% [markdown]
# ## 4. Broadcasting
#
# In section 1 we added a bias of shape `(2,)` to a matrix of shape `(2, 2)`, and it was added to
# every row. No loop, no copy of the bias: **broadcasting** stretched it. The rule is short:
#
# 1. Line the two shapes up **at the right**; if one shape is shorter, pad it on the left with 1s.
# 2. Compare the sizes axis by axis. They fit when they are **equal**, or when **one of them is
#    1**; a size-1 axis is stretched (virtually repeated) to match the other.
# 3. Any other pair is an error.
#
# For shapes $a$ and $b$ padded to the same length, axis $k$ of the result is
#
# $$r_k = \begin{cases} a_k & \text{if } a_k = b_k \text{ or } b_k = 1,\\
# b_k & \text{if } a_k = 1,\\ \text{error} & \text{otherwise.}\end{cases}$$
#
# | `a.shape` | `b.shape` | `(a + b).shape` | typical use |
# |---|---|---|---|
# | `(4, 3)` | `(3,)` | `(4, 3)` | a bias added to every example of a batch |
# | `(4, 3)` | `(4, 1)` | `(4, 3)` | one number per example (a row max, say) |
# | `(4, 1)` | `(1, 3)` | `(4, 3)` | an "outer" sum: every pair |
# | `(2, 1, 5)` | `(3, 1)` | `(2, 3, 5)` | both sides stretch |
# | `()` | `(4, 3)` | `(4, 3)` | a scalar fits everything |
# | `(4, 3)` | `(4,)` | **error** | 3 and 4 clash in the last axis |
#
# The picture for the outer sum: the real values are shaded, the stretched copies are dotted.
# They are never stored: NumPy simply steps through the same memory again (a stride of 0).


# %%
def draw_array(ax, values, real_shape, title, color):
    """One square per element; elements outside real_shape are broadcast copies (dotted)."""
    rows, cols = values.shape
    for i in range(rows):
        for j in range(cols):
            real = i < real_shape[0] and j < real_shape[1]
            ax.add_patch(
                plt.Rectangle(
                    (j, rows - 1 - i),
                    1,
                    1,
                    facecolor=color if real else "white",
                    edgecolor="black" if real else "grey",
                    linestyle="-" if real else ":",
                )
            )
            ax.text(
                j + 0.5,
                rows - 0.5 - i,
                f"{values[i, j]:g}",
                ha="center",
                va="center",
                color="black" if real else "grey",
            )
    ax.set_xlim(-0.1, cols + 0.1)
    ax.set_ylim(-0.1, rows + 0.1)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title)


column = np.array([[0.0], [10.0], [20.0]])  # shape (3, 1)
row = np.array([[0.0, 1.0, 2.0, 3.0]])  # shape (1, 4)
fig, axes = plt.subplots(1, 3, figsize=(10, 2.8))
draw_array(axes[0], np.broadcast_to(column, (3, 4)), (3, 1), "column (3, 1)", "#9ecae1")
draw_array(axes[1], np.broadcast_to(row, (3, 4)), (1, 4), "+ row (1, 4)", "#fdd0a2")
draw_array(axes[2], column + row, (3, 4), "= (3, 4)", "#c7e9c0")
plt.tight_layout()
plt.show()
print("strides of the stretched column, in bytes:", np.broadcast_to(column, (3, 4)).strides)

# %% [markdown]
# ### The bug broadcasting hides
#
# Broadcasting never asks whether you *meant* it. The most common victim is a column of
# predictions of shape `(N, 1)` compared with labels of shape `(N,)`: the rule turns the
# difference into an `(N, N)` matrix of every prediction minus every label, and the "mean
# squared error" comes out as a perfectly plausible, perfectly wrong number.

# %%
labels = np.array([1.0, 2.0, 3.0, 4.0])  # shape (4,)
predictions = labels.reshape(4, 1)  # shape (4, 1): a perfect prediction
wrong = np.mean((predictions - labels) ** 2)
right = np.mean((predictions[:, 0] - labels) ** 2)
print("shape of the difference:", (predictions - labels).shape)
print(f"MSE with the (4,1) vs (4,) mix-up: {wrong:.3f};  with matching shapes: {right:.3f}")

# %% [markdown]
# The defence is to know the shape of every array you compute, and to check shapes in code
# (`assert pred.shape == y.shape`). Knowing the rule well enough to write it is the first
# exercise.
#
# ### Exercise 1 (2 points): `broadcast_shape`
#
# Write the rule above as a function of two shapes. Use plain Python: no NumPy (the check
# compares your answer with `np.broadcast_shapes`, so calling it would teach you nothing), and no
# arrays (the hidden tests use shapes far too large to allocate).


# %% nbgrader={"grade": false, "grade_id": "broadcast_shape", "locked": false, "schema_version": 3, "solution": true}
def broadcast_shape(a_shape, b_shape):
    """The shape of ``a + b`` for arrays of shapes ``a_shape`` and ``b_shape``.

    a_shape, b_shape: tuples of non-negative ints, possibly of different lengths (``()`` is
    the shape of a scalar).

    Returns the broadcast shape as a tuple of ints. Raises ValueError, with a message naming
    both shapes, when the shapes are incompatible (some axis holds two different sizes,
    neither of them 1).

    >>> broadcast_shape((4, 3), (3,))
    (4, 3)
    >>> broadcast_shape((2, 1, 5), (3, 1))
    (2, 3, 5)
    """
    ### BEGIN SOLUTION
    ndim = max(len(a_shape), len(b_shape))
    a = (1,) * (ndim - len(a_shape)) + tuple(a_shape)  # pad on the left: align at the right
    b = (1,) * (ndim - len(b_shape)) + tuple(b_shape)
    result = []
    for axis, (size_a, size_b) in enumerate(zip(a, b)):
        if size_a == size_b or size_b == 1:
            result.append(size_a)
        elif size_a == 1:
            result.append(size_b)
        else:
            raise ValueError(
                f"shapes {tuple(a_shape)} and {tuple(b_shape)} cannot be broadcast: axis "
                f"{axis - ndim} has sizes {size_a} and {size_b}, and neither is 1."
            )
    return tuple(result)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "check_broadcast_shape", "locked": true, "points": 2, "schema_version": 3, "solution": false}
def explain_broadcast(a, b, got, want):
    """A failure message for broadcast_shape(a, b) returning got instead of want."""
    message = f"broadcast_shape({a}, {b}) returned {got!r}, expected {want!r}"
    if not isinstance(got, tuple):
        return message + ": return a tuple, e.g. tuple(result)."
    if len(got) != len(want):
        return message + ": the result has as many axes as the longer shape."
    if got == want[::-1]:
        return message + ": the axes come out reversed; build the result from left to right."
    return message + ": compare the two sizes of each axis, aligned at the right."


def expect_broadcast(a, b, want=None):
    """Check broadcast_shape(a, b) against ``want`` (NumPy's answer by default)."""
    want = np.broadcast_shapes(a, b) if want is None else want
    try:
        got = broadcast_shape(a, b)
    except ValueError as err:
        hint = "align the shapes at the right and treat missing axes as size 1"
        if 0 in a + b:
            hint = "a size 1 stretches to any size, 0 included"
        raise AssertionError(
            f"broadcast_shape({a}, {b}) raised ValueError ({err}), but these shapes broadcast "
            f"to {want}: {hint}."
        ) from None
    assert got == want, explain_broadcast(a, b, got, want)


def expect_incompatible(a, b):
    try:
        got = broadcast_shape(a, b)
    except ValueError as err:
        return str(err)
    raise AssertionError(
        f"broadcast_shape({a}, {b}) returned {got!r}, but these shapes are incompatible: "
        f"raise ValueError when two sizes differ and neither is 1."
    )


for a, b in [
    ((4, 3), (3,)),
    ((4, 3), (4, 1)),
    ((4, 1), (1, 3)),
    ((2, 1, 5), (3, 1)),
    ((), (4, 3)),
    ((3,), ()),
    ((5, 4), (5, 4)),
]:
    expect_broadcast(a, b)

message = expect_incompatible((4, 3), (4,))
print("incompatible shapes raise ValueError:", message)
print("All visible checks passed.")
### BEGIN HIDDEN TESTS
rng = np.random.default_rng(1234)
real_broadcast_shapes = np.broadcast_shapes


def not_allowed(*shapes):
    raise AssertionError("broadcast_shape must apply the rule itself, not np.broadcast_shapes.")


np.broadcast_shapes = not_allowed
try:
    for _ in range(300):
        result = tuple(int(n) for n in rng.integers(0, 6, size=rng.integers(0, 5)))
        shapes = []
        for _side in range(2):
            keep = rng.integers(0, len(result) + 1)
            shape = [n if rng.random() < 0.6 else 1 for n in result[len(result) - keep :]]
            shapes.append(tuple(shape))
        a, b = shapes
        expect_broadcast(a, b, real_broadcast_shapes(a, b))
    # sizes far too large for any array
    expect_broadcast((100_000, 1, 3_000), (7_000, 1), (100_000, 7_000, 3_000))
    expect_broadcast((1, 10**9), (10**9, 1), (10**9, 10**9))
    # size 0 is an ordinary size: it meets 1 or 0, nothing else
    expect_broadcast((0, 3), (1, 3), (0, 3))
    expect_broadcast((1, 3), (0, 1), (0, 3))
    for a, b in [
        ((3,), (4,)),
        ((2, 3), (3, 2)),
        ((0,), (2,)),
        ((5, 1, 4), (2, 1, 3)),
        ((7, 2), (8, 7, 3)),
    ]:
        expect_incompatible(a, b)
        expect_incompatible(b, a)
    # the same answer in either argument order
    expect_broadcast((1, 3), (2, 1), (2, 3))
    expect_broadcast((2, 1), (1, 3), (2, 3))
finally:
    np.broadcast_shapes = real_broadcast_shapes
### END HIDDEN TESTS

# %% [markdown]
# ## 5. Broadcasting at work: standardizing features
#
# Features on very different scales (pixel intensities from 0 to 16 next to, say, a price in the
# thousands) make gradient descent crawl: a step size that suits one feature is far too large or
# far too small for another. The usual cure is to **standardize** each feature, that is each
# column $j$ of the data matrix $x \in \mathbb{R}^{N \times D}$, to mean 0 and standard
# deviation 1:
#
# $$\mu_j = \frac{1}{N}\sum_{i=1}^{N} x_{ij}, \qquad
# \sigma_j^2 = \frac{1}{N}\sum_{i=1}^{N} (x_{ij} - \mu_j)^2, \qquad
# \hat{x}_{ij} = \frac{x_{ij} - \mu_j}{\sqrt{\sigma_j^2 + \varepsilon}}.$$
#
# The small $\varepsilon$ (say $10^{-8}$) keeps a constant column from dividing 0 by 0: it comes
# out as zeros instead of NaN. Small worked example: the columns of
# $\begin{pmatrix}1 & 10\\ 3 & 30\end{pmatrix}$ have means $(2, 20)$ and standard deviations
# $(1, 10)$, so the result is $\begin{pmatrix}-1 & -1\\ 1 & 1\end{pmatrix}$.
#
# Written the slow way, one column at a time, it reads like the formula:


# %% nbgrader={"grade": false, "grade_id": "standardize_by_loop", "locked": true, "schema_version": 3, "solution": false}
def standardize_by_loop(x, eps=1e-8):
    """The obvious, slow version: column by column, number by number, in float64."""
    x = np.asarray(x, dtype=np.float64)
    out = np.empty_like(x)
    n_rows, n_cols = x.shape
    for j in range(n_cols):
        column = x[:, j]
        mean = sum(column) / n_rows
        var = sum((v - mean) ** 2 for v in column) / n_rows
        out[:, j] = (column - mean) / (var + eps) ** 0.5
    return out


print(standardize_by_loop(np.array([[1.0, 10.0], [3.0, 30.0]])))

# %% [markdown]
# ### Exercise 2 (3 points): `standardize`
#
# Compute the same numbers with whole-array operations and broadcasting, no Python loop. Think
# about shapes: the column means form a vector of $D$ numbers; computed with `keepdims=True`
# they have shape `(1, D)`, and either way they broadcast against `(N, D)` by the rule of
# exercise 1.
#
# Your function must also work on PyTorch tensors and keep the input's dtype (float32 in,
# float32 out). The easiest way: get the namespace with `xp = array_namespace(x)` and use
# `xp.mean(x, axis=0, keepdims=True)`, `xp.sqrt(...)` and so on; these names are the same for
# NumPy and PyTorch. Do not modify `x`.


# %% nbgrader={"grade": false, "grade_id": "standardize", "locked": false, "schema_version": 3, "solution": true}
def standardize(x, eps=1e-8):
    """Rescale every column of ``x`` (shape (N, D)) to mean 0 and standard deviation 1.

    out[i, j] = (x[i, j] - mean_j) / sqrt(var_j + eps), where mean_j and var_j are the mean and
    the variance (dividing by N) of column j. No Python loops: use broadcasting.

    x: a float NumPy array or PyTorch tensor of shape (N, D); it is not modified.
    Returns a new array of the same library, shape and dtype as x.
    """
    ### BEGIN SOLUTION
    xp = array_namespace(x)
    mean = xp.mean(x, axis=0, keepdims=True)  # (1, D): one mean per column
    centred = x - mean  # (N, D) - (1, D): broadcast over the rows
    var = xp.mean(centred * centred, axis=0, keepdims=True)
    return centred / xp.sqrt(var + eps)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "check_standardize", "locked": true, "points": 3, "schema_version": 3, "solution": false}
def check_standardized(x, name="standardize(x)"):
    """Run standardize on x and compare it with the loop version; explain what is wrong."""
    before = np.array(x, copy=True)
    got = standardize(x)
    assert got is not None, f"{name} returned None: return the standardized array."
    assert np.array_equal(before, np.asarray(x)), (
        f"{name} modified x in place: compute a new array (x - mean) instead of x -= mean."
    )
    assert tuple(got.shape) == tuple(x.shape), (
        f"{name} has shape {tuple(got.shape)}, expected {tuple(x.shape)} like x: the statistics "
        f"have one value per column, (1, D) with keepdims=True, and broadcast against (N, D)."
    )
    values = np.asarray(got.cpu() if hasattr(got, "cpu") else got, dtype=np.float64)
    varying = np.ptp(before.astype(np.float64), axis=0) > 0  # constant columns become zeros
    if x.shape[0] > 1 and varying.any():
        means, stds = values.mean(axis=0), values.std(axis=0)
        off_mean = varying & ~np.isclose(means, 0.0, atol=1e-3)
        off_std = varying & ~np.isclose(stds, 1.0, atol=1e-2)
        if off_mean.any():
            j = int(np.argmax(off_mean))
            hint = " subtract each column's own mean."
            if np.allclose(values.mean(axis=1), 0.0, atol=1e-3):
                hint = " the rows have mean 0 instead: reduce down the columns, with axis=0."
            raise AssertionError(f"column {j} of {name} has mean {means[j]:.4g}, expected 0:{hint}")
        if off_std.any():
            j = int(np.argmax(off_std))
            raise AssertionError(
                f"column {j} of {name} has standard deviation {stds[j]:.4g}, expected 1: divide "
                f"by sqrt(var + eps), where var divides the sum of squared deviations by N "
                f"(NumPy's default; PyTorch's var and std need correction=0)."
            )
    if isinstance(x, np.ndarray):
        expected = standardize_by_loop(before).astype(x.dtype)
    else:
        expected = torch.as_tensor(standardize_by_loop(before), dtype=x.dtype)
    d = diagnose(got, expected, name=name)
    assert d.ok, str(d)


x_hand = np.array([[1.0, 10.0], [3.0, 30.0]])
check_standardized(x_hand)
print(standardize(x_hand))

rng = np.random.default_rng(0)
x_data = rng.normal(loc=[0.0, 5.0, -300.0, 1e4], scale=[1.0, 0.1, 30.0, 2e3], size=(50, 4))
check_standardized(x_data)
print("column means:", np.round(standardize(x_data).mean(axis=0), 4) + 0.0)  # + 0.0: no "-0."
print("column stds: ", np.round(standardize(x_data).std(axis=0), 4))
print("All visible checks passed.")
### BEGIN HIDDEN TESTS
rng = np.random.default_rng(99)
for shape in [(7, 1), (1000, 3), (5, 5), (3, 8)]:
    check_standardized(rng.normal(2.0, 3.0, size=shape))
# float32 stays float32
x32 = rng.normal(-1.0, 4.0, size=(40, 6)).astype(np.float32)
got32 = standardize(x32)
assert got32.dtype == np.float32, f"standardize(float32 x) returned {got32.dtype}: keep x's dtype."
check_standardized(x32, name="standardize(x32)")
# a constant column becomes zeros, not NaN
x_const = np.column_stack([np.full(6, 7.0), np.arange(6.0)])
got_const = standardize(x_const)
assert np.all(np.isfinite(got_const)), "a constant column gave NaN or inf: add eps inside the sqrt."
assert np.allclose(got_const[:, 0], 0.0), "a constant column should come out as zeros."
check_standardized(x_const, name="standardize(x_const)")
# eps is used as documented
x_small = np.array([[0.0], [2e-4]])
assert np.allclose(
    standardize(x_small, eps=1e-8)[:, 0],
    [-1e-4 / (1e-8 + 1e-8) ** 0.5, 1e-4 / (1e-8 + 1e-8) ** 0.5],
), "standardize(x, eps) must divide by sqrt(var + eps), with eps inside the square root."
# PyTorch tensors in, PyTorch tensors out (when PyTorch is installed)
if torch is not None:
    xt = torch.tensor(rng.normal(size=(20, 3)), dtype=torch.float32)
    try:
        got_t = standardize(xt)
    except Exception as err:
        raise AssertionError(
            f"standardize(tensor) failed ({type(err).__name__}: {err}): use xp = "
            f"array_namespace(x) and xp.* functions, which work on tensors too."
        ) from None
    assert isinstance(got_t, torch.Tensor), (
        f"standardize(tensor) returned {type(got_t).__name__}: use xp = array_namespace(x) "
        f"instead of np.* calls so tensors stay tensors."
    )
    check_standardized(xt, name="standardize(tensor)")
### END HIDDEN TESTS

# %% [markdown]
# How much do the loops cost? Time both versions on a modest data set of 2000 examples with
# 50 features each:


# %%
def best_time(f, repeat=5):
    """The fastest of ``repeat`` runs of f(), in seconds (the least disturbed by other work)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    return min(times)


x_big = np.random.default_rng(1).normal(size=(2000, 50))
t_loop = best_time(lambda: standardize_by_loop(x_big), repeat=1)
t_vec = best_time(lambda: standardize(x_big))
print(
    f"loops: {t_loop * 1e3:.1f} ms   broadcasting: {t_vec * 1e3:.2f} ms   "
    f"({t_loop / t_vec:.0f} times faster)"
)

# %% [markdown]
# ## 6. How fast is the calculator?
#
# Multiplying two $n \times n$ matrices takes $n^3$ multiplications and $n^3$ additions, so
# $2n^3$ floating-point operations (FLOPs). Dividing by the time gives a speed in FLOP per
# second. Start with the most naive calculator: Python loops over lists of numbers.


# %%
def matmul_by_loops(a, b):
    """Textbook matrix product of two lists of lists: three nested loops in pure Python."""
    n, k, m = len(a), len(b), len(b[0])
    return [[sum(a[i][p] * b[p][j] for p in range(k)) for j in range(m)] for i in range(n)]


rng = np.random.default_rng(0)
small = rng.standard_normal((64, 64))
t_python = best_time(lambda: matmul_by_loops(small.tolist(), small.tolist()), repeat=1)
assert np.allclose(matmul_by_loops(small.tolist(), small.tolist()), small @ small)
speeds = {"Python loops, n=64": 2 * 64**3 / t_python}  # FLOP per second
print(f"pure Python, n=64: {t_python * 1e3:.0f} ms")

# %% [markdown]
# Now a matrix 16 times wider, so 4096 times more work, in NumPy (which hands the product to an
# optimized BLAS library) in float64 and float32:

# %%
n = 1024
a64 = rng.standard_normal((n, n))
a32 = a64.astype(np.float32)
flops = 2 * n**3
speeds[f"NumPy float64, n={n}"] = flops / best_time(lambda: a64 @ a64)
speeds[f"NumPy float32, n={n}"] = flops / best_time(lambda: a32 @ a32)

# %% [markdown]
# And the same float32 product in PyTorch, on the CPU:

# %%
if torch is not None:
    t32 = torch.from_numpy(a32)
    speeds[f"PyTorch float32, n={n}"] = flops / best_time(lambda: t32 @ t32)
    print("PyTorch uses", torch.get_num_threads(), "threads on", os.cpu_count(), "cores")
for name, speed in speeds.items():
    print(f"{name:26s} {speed / 1e9:9.3f} GFLOP/s")

fig, ax = plt.subplots(figsize=(7, 3))
ax.barh(list(speeds), [s / 1e9 for s in speeds.values()], color="#6baed6")
ax.set_xscale("log")
ax.set_xlabel("GFLOP/s (log scale)")
ax.set_title("Matrix multiply on this CPU")
plt.tight_layout()
plt.show()

# %% [markdown]
# Expect a factor of a thousand or more between the loops and BLAS, and float32 near twice as
# fast as float64 (half the bytes to move, twice the numbers per vector instruction). NumPy and
# PyTorch on the CPU land within a small factor of each other: both call tuned matrix-multiply
# code, limited by the same cores. The lesson for hand-written math: **never loop over elements in
# Python; express the work as array operations** and let the calculator run it.
#
# A word on timing: on a shared machine other programs, and other libraries' worker threads
# (NumPy's BLAS and PyTorch each keep a pool), compete for the same cores. A multithreaded product
# that should take 50 µs can then wait 15 ms for a free core. Take the best of several runs, and
# measure one thing at a time.
#
# ## 7. What a GPU would change
#
# A GPU has thousands of simple arithmetic units and memory with several terabytes per second of
# bandwidth. Roughly, and only as orders of magnitude:
#
# | | this kind of CPU | a current data-centre GPU |
# |---|---|---|
# | float32 matmul | $10^{10}$-$10^{12}$ FLOP/s | $5 \cdot 10^{13}$ FLOP/s (more in 16 bit) |
# | memory bandwidth | tens of GB/s | a few TB/s |
# | moving data between the two | | PCIe link: tens of GB/s, and the data must cross it |
#
# Three consequences shape all GPU code:
#
# 1. **Throughput, not latency.** Each operation costs a fixed launch overhead of a few
#    microseconds, so a GPU wins only when each operation has lots of work: large matrices,
#    large batches.
# 2. **Transfers cost.** Data must be copied over the PCIe link first. A matrix multiply does
#    $2n^3$ FLOPs on $3n^2$ numbers, so for large $n$ the arithmetic dwarfs the copy; an
#    elementwise addition does $n^2$ FLOPs on $3n^2$ numbers and is never worth the trip on
#    its own. So: move the model and each batch to the GPU once, and keep everything there.
# 3. **Asynchrony.** PyTorch returns from a GPU operation before it has finished. Timing code
#    must call `torch.cuda.synchronize()` before reading the clock, or it measures nothing.
#
# A simple model makes the first two points visible. For this CPU it uses the float32 speed
# measured above plus the fixed cost of one call (measured on a 2 x 2 product); for the GPU it
# uses *assumed* round numbers (50 TFLOP/s, a 25 GB/s link, 10 µs per launch). It is a model, not
# a measurement.

# %%
GPU_SPEED, LINK_BYTES_PER_S, LAUNCH_S = 50e12, 25e9, 10e-6  # assumed, see above
tiny = np.ones((2, 2), dtype=np.float32)
cpu_call_s = best_time(lambda: tiny @ tiny, repeat=50)
print(f"one tiny NumPy call costs about {cpu_call_s * 1e6:.1f} µs")

sizes = 2.0 ** np.arange(4, 14)
work = 2 * sizes**3
cpu_time = cpu_call_s + work / speeds[f"NumPy float32, n={n}"]
gpu_compute = LAUNCH_S + work / GPU_SPEED
gpu_with_copies = gpu_compute + 3 * sizes**2 * 4 / LINK_BYTES_PER_S  # A, B in; C out; 4 bytes each

fig, ax = plt.subplots(figsize=(7, 4))
ax.loglog(sizes, cpu_time, "o-", label="this CPU (model from measured speeds)")
ax.loglog(sizes, gpu_with_copies, "s-", color="C1", label="GPU, copying A, B and C (model)")
ax.loglog(sizes, gpu_compute, "^--", color="C2", label="GPU, data already on it (model)")
ax.set_xlabel("matrix size n (an n x n matrix times an n x n matrix)")
ax.set_ylabel("seconds")
ax.set_title("When does a GPU pay off?")
ax.legend()
plt.tight_layout()
plt.show()
faster = sizes[gpu_with_copies < cpu_time]
if faster.size:
    print(f"in this model, copying to the GPU pays off from about n = {int(faster[0])}")

# %% [markdown]
# If this machine has a CUDA GPU, the next cell measures the real thing: the copy, and the
# multiply with the synchronisation that honest GPU timing needs. Without one it says so.

# %%
if torch is None or not torch.cuda.is_available():
    print(
        "No CUDA GPU here: the model above is the picture. On a GPU machine this cell would "
        "time a 4096 x 4096 float32 copy and multiply."
    )
else:
    host = torch.randn(4096, 4096)

    def copy_to_gpu():
        host.to("cuda")
        torch.cuda.synchronize()

    on_gpu = host.to("cuda")
    on_gpu @ on_gpu  # the first call pays one-time set-up costs

    def multiply_on_gpu():
        on_gpu @ on_gpu
        torch.cuda.synchronize()  # wait for the GPU, or the clock measures only the launch

    t_copy = best_time(copy_to_gpu)
    t_mm = best_time(multiply_on_gpu)
    link = host.numel() * 4 / t_copy / 1e9
    print(f"copy 64 MiB to the GPU: {t_copy * 1e3:.1f} ms ({link:.1f} GB/s)")
    print(
        f"4096^3 multiply on the GPU: {t_mm * 1e3:.2f} ms ({2 * 4096**3 / t_mm / 1e12:.1f} TFLOP/s)"
    )

# %% [markdown]
# ## Summary
#
# * NumPy, PyTorch and TensorFlow are array calculators with the same ideas and different
#   spellings. `xp = array_namespace(x)` lets one hand-written function serve NumPy and PyTorch,
#   which is how every function in `dlcourse.functional` is written.
# * **dtypes**: NumPy defaults to float64, the frameworks to float32. float32 has about 7
#   significant digits; mixing dtypes promotes silently (NumPy, PyTorch) or fails (TensorFlow).
#   Integer arrays truncate what is written into them and small ones wrap around: convert to
#   float first.
# * **devices**: choose `device = "cuda" if torch.cuda.is_available() else "cpu"` once and move
#   tensors with `.to(device)`; the same code then runs with or without a GPU. Results go back
#   with `.cpu()` before NumPy can read them.
# * **broadcasting**: shapes align at the right, sizes must be equal or 1. It removes loops and
#   copies, and it turns an `(N, 1)` versus `(N,)` mix-up into a silent `(N, N)` bug.
# * **speed**: array operations beat Python loops by three orders of magnitude; a GPU adds one
#   to three more (depending on the CPU and the precision) for large enough work, once the data
#   lives on it.
#
# **Next**, chapter 01 uses these tools for the first piece of a neural network: a dense layer,
# $y = xW + b$, computed for a whole batch at once.

# %% [markdown]
# ## Further reading
#
# * The NumPy user guide, *Broadcasting*: the rules of section 4, with pictures.
# * The PyTorch documentation, notes *Broadcasting semantics* and *CUDA semantics* (devices,
#   and why GPU operations return before they finish).
# * David Goldberg, *What Every Computer Scientist Should Know About Floating-Point Arithmetic*
#   (ACM Computing Surveys, 1991): where float32's 7 digits and its rounding come from.
# * *Dive into Deep Learning* (Zhang, Lipton, Li and Smola), chapter *Preliminaries*, section
#   *Data Manipulation*: the same array ideas in PyTorch, TensorFlow and JAX.
