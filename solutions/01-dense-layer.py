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
# # 01. A dense layer by hand
#
# A *dense* (or *fully connected*, or *linear*) layer is the workhorse of deep
# learning: every network in this course, from the two-layer classifier of
# chapter 05 to the transformer blocks you may meet later, is mostly dense layers
# with something simple in between. In this notebook you build one from scratch:
#
# 1. one neuron: a weighted sum plus a bias;
# 2. a layer of neurons: the same sum for many neurons is a matrix multiply;
# 3. a batch of examples: stack them as rows and let broadcasting add the bias;
# 4. two dense layers in a row, and why they are no better than one.
#
# **This notebook is worth 6 points**: `dense_forward` (4 points) and
# `compose_dense` (2 points).
#
# How to work: run the cells from top to bottom. Where you see
# `raise NotImplementedError()`, replace that line with your code, then run the
# check cell below it. A failed check tells you *what* is wrong (a transposed
# matrix, a missing bias, ...), not only that something is. From a terminal,
# `dlcourse check course/01-dense-layer.ipynb` runs the whole notebook and lists
# every check.
#
# **How this notebook is graded.** The grader runs the solution cell of each exercise on its
# own, after this notebook's set-up cell, in a fresh process outside the notebook and on inputs
# of its own; the check cells are not run there, and a helper defined in any other cell is
# missing. The course's `dense_forward` (`dlcourse.functional.dense_forward`) is a stub there:
# a `dense_forward` that calls it scores zero for that exercise. PyTorch, JAX, TensorFlow,
# Keras, the course's autodiff and `dlcourse.gradcheck` cannot be imported while this
# notebook is graded: plain NumPy is all you need.
# There each exercise may use 20 CPU seconds and 4 GB of memory; code that needs more is stopped
# and scores zero for it. `dlcourse check --grader` on the saved notebook
# shows the points the grader would give. Beyond the visible checks:
#
# * exercise 1, `check_dense_forward_by_hand`, also tested: a batch of one example, a layer of
#   one neuron, one input per example, and `cache` the pair `(x, w)`;
# * exercise 1, `check_dense_forward_batches`, also tested: float32 inputs give a float32
#   output, and a square `w` (where a transposed `w` keeps the right shape);
# * exercise 2, `check_compose_dense`, also tested: float32 weights give float32 results, and
#   square weights (where `w2 @ b1` has the right shape and the wrong numbers); only this cell
#   runs, so `compose_dense` cannot call your `dense_forward`.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false}
import matplotlib.pyplot as plt
import numpy as np

from dlcourse.diagnose import check_not_modified, diagnose

np.set_printoptions(precision=3, suppress=True)
rng = np.random.default_rng(0)  # a fixed seed: the same numbers on every run

# %% [markdown]
# ## 1. One neuron
#
# A neuron receives $D$ numbers $x_1, \dots, x_D$ (the pixels of an image, the
# features of a house, the outputs of an earlier layer). It multiplies each by a
# weight, adds them up, and adds a bias:
#
# $$z = \sum_{i=1}^{D} x_i w_i + b = x \cdot w + b .$$
#
# The weights say how much each input matters (and in which direction); the bias
# shifts the result whatever the input. Written out as a loop:

# %%
x = np.array([1.0, 2.0, 3.0])  # D = 3 inputs
w = np.array([0.5, -1.0, 2.0])  # one weight per input
b = 0.25

z = 0.0
for i in range(len(x)):
    z += x[i] * w[i]
z += b
print("loop:", z, "   dot product:", x @ w + b)

# %% [markdown]
# ## 2. A layer of neurons is a matrix multiply
#
# A layer has $M$ neurons that all look at the same input $x$, each with its own
# weights and bias. Store the weights of neuron $j$ as **column** $j$ of a
# matrix $W$ of shape $(D, M)$, and the biases in a vector $b$ of length $M$:
#
# $$z_j = \sum_{i=1}^{D} x_i W_{ij} + b_j
# \qquad\Longleftrightarrow\qquad
# z = xW + b ,$$
#
# with $x$ a row vector of length $D$ and $z$ a row vector of length $M$. The
# double loop and the matrix product compute exactly the same numbers; the
# product is one call into a library (BLAS) that is hundreds of times faster.

# %%
D, M = 3, 2
W = rng.normal(size=(D, M))
bias = np.array([0.1, -0.2])

z_loop = np.zeros(M)
for j in range(M):  # one neuron at a time
    for i in range(D):
        z_loop[j] += x[i] * W[i, j]
    z_loop[j] += bias[j]

print("loops: ", z_loop)
print("matmul:", x @ W + bias)

# %% [markdown]
# *Conventions differ between libraries.* Keras' `Dense` stores its kernel with
# shape `(D, M)` as we do; PyTorch's `nn.Linear` stores the transpose, a weight
# of shape `(M, D)`, and computes `x @ weight.T + bias`. Both compute the same
# layer; always check which one a piece of code uses.
#
# ## 3. A batch of examples
#
# Networks process many examples at once: it keeps the hardware busy and, in
# training, averages out the noise of single examples. Stack $N$ examples as the
# rows of a matrix $X$ of shape $(N, D)$. Each row goes through the same layer:
#
# $$Z = XW + b, \qquad X \in \mathbb{R}^{N \times D},\;
# W \in \mathbb{R}^{D \times M},\; b \in \mathbb{R}^{M},\;
# Z \in \mathbb{R}^{N \times M}.$$
#
# $XW$ has shape $(N, M)$ and $b$ has shape $(M,)$: NumPy *broadcasts* $b$,
# adding it to every row, which is exactly "the same bias for every example".
# The picture shows the shapes: row $n$ of $Z$ only depends on row $n$ of $X$.

# %%
X = rng.normal(size=(5, D))  # N = 5 examples
Z = X @ W + bias

fig, axes = plt.subplots(1, 4, figsize=(9, 3), gridspec_kw={"width_ratios": [3, 2, 2, 2]})
panels = [
    (X, "X  (N=5, D=3)"),
    (W, "@  W  (D=3, M=2)"),
    (bias[None, :], "+  b  (M=2)"),
    (Z, "=  Z  (N=5, M=2)"),
]
for ax, (array, title) in zip(axes, panels):
    ax.imshow(array, cmap="coolwarm", vmin=-3, vmax=3)
    for (row, col), value in np.ndenumerate(array):  # the numbers themselves, in each square
        ax.text(col, row, f"{value:.1f}", ha="center", va="center", fontsize=8)
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Exercise 1: `dense_forward` (4 points)
#
# Write the forward pass of a dense layer for a batch. Besides the output, return
# a `cache`: the values the backward pass will need in chapter 04 to compute the
# gradients. For a dense layer that is the pair `(x, w)`. Every layer of the
# course follows this pattern:
#
# ```python
# out, cache = dense_forward(x, w, b)
# ```
#
# Use the matrix product `@`, not Python loops, and do not modify the inputs.


# %% nbgrader={"grade": false, "grade_id": "dense_forward", "locked": false, "schema_version": 3, "solution": true}
def dense_forward(x, w, b):
    """The forward pass of a dense layer for a batch of examples.

    Args:
        x: inputs, shape (N, D): one example per row.
        w: weights, shape (D, M): one column per neuron.
        b: biases, shape (M,): one per neuron.

    Returns:
        (out, cache): ``out = x @ w + b`` of shape (N, M), and ``cache = (x, w)``.
    """
    ### BEGIN SOLUTION
    out = x @ w + b
    cache = (x, w)
    return out, cache
    ### END SOLUTION


# %% [markdown]
# The first check uses a small example worked by hand. With
#
# $$x = \begin{pmatrix} 1 & 2 & 3 \\ 0 & 1 & -1 \end{pmatrix},\quad
# w = \begin{pmatrix} 1 & 0 & 2 \\ 0 & 1 & 0 \\ 1 & 1 & 0 \end{pmatrix},\quad
# b = \begin{pmatrix} 0.5 & -1 & 0 \end{pmatrix}$$
#
# the first row of the output is
# $(1{+}0{+}3,\; 0{+}2{+}3,\; 2{+}0{+}0) + b = (4.5,\; 4,\; 2)$ and the second
# $(0{+}0{-}1,\; 0{+}1{-}1,\; 0{+}0{+}0) + b = (-0.5,\; -1,\; 0)$.
#
# The checks call two helpers: `out_and_cache` makes sure the function returned
# a pair, and `dense_mistake` recognises the classic slips (a transposed weight
# matrix, a forgotten bias) when the output is wrong.


# %% nbgrader={"grade": false, "grade_id": "check_helpers", "locked": true, "schema_version": 3, "solution": false}
def out_and_cache(result, function="dense_forward"):
    """Unpack ``(out, cache)``, or explain what the function returned instead."""
    if not (isinstance(result, tuple) and len(result) == 2):
        raise AssertionError(
            f"{function} should return a pair (out, cache), got {type(result).__name__}: "
            f"end it with `return out, cache`."
        )
    return result


def dense_mistake(out, x, w, b):
    """A sentence naming a classic dense-layer slip that reproduces ``out``, or ''."""
    slips = {
        "the bias is missing: add b to every row": lambda: x @ w,
        "w is used transposed: with w of shape (D, M) compute x @ w, not x @ w.T": lambda: (
            x @ w.T + b
        ),
        "the bias is added to the inputs instead of the outputs": lambda: (x + b) @ w,
        "the bias is summed: add the vector b, not b.sum()": lambda: x @ w + b.sum(),
        "w and b are multiplied elementwise, not matrix-multiplied": lambda: x * w + b,
    }
    got = np.asarray(out)
    for slip, make in slips.items():
        try:
            expected = make()
            if got.shape == expected.shape and np.allclose(got, expected):
                return " Likely mistake: " + slip + "."
        except Exception:  # a slip that does not even fit these shapes
            continue
    return ""


# %% nbgrader={"grade": true, "grade_id": "check_dense_forward_by_hand", "locked": true, "points": 2, "schema_version": 3, "solution": false}
x = np.array([[1.0, 2.0, 3.0], [0.0, 1.0, -1.0]])
w = np.array([[1.0, 0.0, 2.0], [0.0, 1.0, 0.0], [1.0, 1.0, 0.0]])
b = np.array([0.5, -1.0, 0.0])
expected = np.array([[4.5, 4.0, 2.0], [-0.5, -1.0, 0.0]])  # worked by hand above

out, cache = out_and_cache(dense_forward(x, w, b))
d = diagnose(out, expected, name="out")
assert d.ok, d.message + dense_mistake(out, x, w, b)
print("The example worked by hand: correct.")

### BEGIN HIDDEN TESTS
# A batch of one example, and a layer with a single neuron (M = 1).
x1 = np.array([[2.0, -1.0]])
w1 = np.array([[3.0], [4.0]])
b1 = np.array([1.5])
out1, _ = out_and_cache(dense_forward(x1, w1, b1))
d = diagnose(out1, np.array([[3.5]]), name="out")
assert d.ok, d.message
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "check_dense_forward_batches", "locked": true, "points": 2, "schema_version": 3, "solution": false}
from dlcourse.functional import dense_forward as reference_dense_forward

# A batch of 5 examples, 4 inputs, 3 neurons: compared with the course's reference.
x = rng.normal(size=(5, 4))
w = rng.normal(size=(4, 3))
b = rng.normal(size=3)
expected, _ = reference_dense_forward(x, w, b)

out, cache = out_and_cache(dense_forward(x, w, b))
d = diagnose(out, expected, name="out")
assert d.ok, d.message + dense_mistake(out, x, w, b)
cached = len(cache) == 2 and np.array_equal(cache[0], x) and np.array_equal(cache[1], w)
assert cached, "cache should be the pair (x, w): return out, (x, w)."
print("A batch, compared with the reference: correct.")

### BEGIN HIDDEN TESTS
# Other shapes, float32 kept as float32, and inputs left unchanged.
for n, d_in, d_out in [(1, 7, 2), (64, 20, 10), (3, 1, 5)]:
    x = rng.normal(size=(n, d_in)).astype(np.float32)
    w = rng.normal(size=(d_in, d_out)).astype(np.float32)
    b = rng.normal(size=d_out).astype(np.float32)
    expected, _ = reference_dense_forward(x, w, b)
    out, cache = out_and_cache(dense_forward(x, w, b))
    d = diagnose(out, expected, name="out")
    assert d.ok, d.message
    d = check_not_modified(dense_forward, x, w, b)
    assert d.ok, d.message
### END HIDDEN TESTS

# %% [markdown]
# With `dense_forward` working, one dense layer can already turn an image into
# scores for its classes. The digits of scikit-learn are $8 \times 8$ images,
# flattened to rows of $D = 64$ pixels; a layer with $M = 10$ neurons gives one
# score per digit. With random weights the scores mean nothing yet: chapter 05
# trains them.

# %%
from dlcourse.data import load_digits

digits = load_digits()
images = digits.x_train[:8].astype(np.float64)  # a batch of N = 8 images
w_digits = rng.normal(scale=0.1, size=(64, 10))
b_digits = np.zeros(10)
scores, _ = dense_forward(images, w_digits, b_digits)
print("images", images.shape, "@ weights", w_digits.shape, "-> scores", scores.shape)
print("highest score per image:", scores.argmax(axis=1), " true digits:", digits.y_train[:8])

# %% [markdown]
# ## 4. Two dense layers are one dense layer
#
# Stacking layers is what makes a network deep. But feed one dense layer into
# another and expand:
#
# $$(xW_1 + b_1)\,W_2 + b_2 = x\,\underbrace{W_1 W_2}_{W} + \underbrace{b_1 W_2 + b_2}_{b}.$$
#
# The result is again a dense layer, with weights $W = W_1 W_2$ of shape
# $(D, M_2)$ and bias $b = b_1 W_2 + b_2$ of shape $(M_2,)$. However many dense
# layers you stack, the network can only compute an affine map: straight lines
# stay straight.

# %% [markdown]
# ## Exercise 2: `compose_dense` (2 points)
#
# Given two layers, `w1` $(D, H)$, `b1` $(H,)$ and `w2` $(H, M)$, `b2` $(M,)$,
# return the weights and bias of the single layer that computes the same thing.


# %% nbgrader={"grade": false, "grade_id": "compose_dense", "locked": false, "schema_version": 3, "solution": true}
def compose_dense(w1, b1, w2, b2):
    """The single dense layer equal to layer (w1, b1) followed by layer (w2, b2).

    Returns:
        (w, b) with w of shape (D, M) and b of shape (M,).
    """
    ### BEGIN SOLUTION
    return w1 @ w2, b1 @ w2 + b2
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "check_compose_dense", "locked": true, "points": 2, "schema_version": 3, "solution": false}
from dlcourse.functional import dense_forward as reference_dense_forward

w1, b1 = rng.normal(size=(4, 6)), rng.normal(size=6)
w2, b2 = rng.normal(size=(6, 3)), rng.normal(size=3)
x = rng.normal(size=(5, 4))

result = compose_dense(w1, b1, w2, b2)
assert isinstance(result, tuple) and len(result) == 2, "compose_dense should return (w, b)."
w, b = result
d = diagnose(w, w1 @ w2, name="w")
assert d.ok, d.message + " The combined weights are W1 @ W2."
d = diagnose(b, b1 @ w2 + b2, name="b")
assert d.ok, d.message + " The first bias passes through the second layer too: b1 @ W2 + b2."
hidden, _ = reference_dense_forward(x, w1, b1)
two_layers, _ = reference_dense_forward(hidden, w2, b2)
one_layer, _ = reference_dense_forward(x, w, b)
d = diagnose(one_layer, two_layers, name="output of the combined layer")
assert d.ok, d.message
print("One layer that does the work of two: correct.")

### BEGIN HIDDEN TESTS
# float32, a hidden layer narrower than the input, and inputs left unchanged.
w1 = rng.normal(size=(5, 2)).astype(np.float32)
b1 = rng.normal(size=2).astype(np.float32)
w2 = rng.normal(size=(2, 7)).astype(np.float32)
b2 = rng.normal(size=7).astype(np.float32)
w, b = compose_dense(w1, b1, w2, b2)
d = diagnose(w, w1 @ w2, name="w")
assert d.ok, d.message
d = diagnose(b, b1 @ w2 + b2, name="b")
assert d.ok, d.message
d = check_not_modified(compose_dense, w1, b1, w2, b2)
assert d.ok, d.message
### END HIDDEN TESTS

# %% [markdown]
# A picture of the same fact: a dense layer with two inputs and two outputs moves
# every point of the plane. Below, a grid of points (a batch of 900 rows) goes through
# two layers. Each layer shears, rotates, stretches and shifts the grid, but grid
# lines stay straight and parallel, and the two layers together do nothing a
# single layer could not.

# %%
ticks = np.linspace(-1, 1, 9)
along = np.linspace(-1, 1, 50)
grid_lines = [np.stack([np.full_like(along, t), along], axis=1) for t in ticks]  # vertical
grid_lines += [np.stack([along, np.full_like(along, t)], axis=1) for t in ticks]  # horizontal
points = np.concatenate(grid_lines)  # one batch of 18 * 50 points, shape (900, 2)

w1, b1 = np.array([[1.0, 0.4], [-0.5, 0.8]]), np.array([0.5, -0.25])
w2, b2 = np.array([[0.9, -0.7], [0.3, 1.1]]), np.array([-0.3, 0.4])
after_one, _ = dense_forward(points, w1, b1)
after_two, _ = dense_forward(after_one, w2, b2)
w12, b12 = compose_dense(w1, b1, w2, b2)
in_one_step, _ = dense_forward(points, w12, b12)

fig, axes = plt.subplots(1, 3, figsize=(10, 3.4))
titles = ["the input grid", "after layer 1", "after layer 2 (dotted: one composed layer)"]
for ax, batch, title in zip(axes, [points, after_one, after_two], titles):
    for k, line in enumerate(np.split(batch, len(grid_lines))):
        ax.plot(line[:, 0], line[:, 1], color="tab:blue" if k < len(ticks) else "tab:orange", lw=1)
    ax.set_title(title, fontsize=9)
    ax.set_aspect("equal")
for line in np.split(in_one_step, len(grid_lines)):
    axes[2].plot(line[:, 0], line[:, 1], "k:", lw=1.5)
plt.tight_layout()
plt.show()
print("two layers == one composed layer:", np.allclose(after_two, in_one_step))

# %% [markdown]
# ## Summary
#
# - A neuron computes a weighted sum of its inputs plus a bias: $z = x \cdot w + b$.
# - A layer of $M$ neurons is a matrix product: with the weights as the columns of
#   $W \in \mathbb{R}^{D \times M}$, $z = xW + b$.
# - A batch stacks examples as rows, $Z = XW + b$ with shapes
#   $(N, D)(D, M) \to (N, M)$, and broadcasting adds the bias to every row.
# - Layers return `(out, cache)`: the cache keeps what the backward pass needs.
# - Dense layers compose into a dense layer, so depth alone adds nothing. The next
#   chapter puts a nonlinear *activation* between the layers, and that changes
#   everything.

# %% [markdown]
# ## Further reading
#
# * CS231n (Stanford), course notes *Linear classification*: the score function $xW + b$, one
#   column of weights per class, and what those weights look like as images.
# * Michael Nielsen, *Neural Networks and Deep Learning* (online book), chapter 1: neurons,
#   layers and the matrix form of a layer.
# * Goodfellow, Bengio and Courville, *Deep Learning* (MIT Press, 2016), chapter 6, *Deep
#   Feedforward Networks*.
#
# Credits: the digits are scikit-learn's bundled copy of the UCI *Optical Recognition of
# Handwritten Digits* data set.
