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
# # 04. Backpropagation by hand
#
# Chapter 03 ended with the gradient of the loss with respect to the network's output,
# `dlogits`. Training needs more: the gradient with respect to **every weight**, however deep
# inside the network it sits. *Backpropagation* gets all of them in one backward sweep, by
# applying the chain rule layer by layer from the loss back to the input. It costs a small
# multiple of the forward pass, whatever the number of weights: for a dense layer the backward
# does about twice the forward's FLOPs (one product for the weights' gradient, one for the
# input's), so a whole training step costs about three forwards (chapter 11 counts them). That
# is why networks with millions of weights can be trained at all.
#
# In this notebook you will:
#
# 1. follow the chain rule through a small computational graph, number by number;
# 2. check a derivative with **finite differences**, and learn how far to trust them;
# 3. derive and write the backward pass of a **dense layer**, guided by shapes;
# 4. chain layers into the backward pass of a **two-layer network**
#    (dense → ReLU → dense → softmax cross-entropy), and check it three ways;
# 5. watch your gradients train that network on handwritten digits.
#
# **This notebook is worth 10 points**: `dense_backward` (5) and `two_layer_backward` (5).
#
# The conventions are those of `dlcourse.functional`: a layer's forward returns
# `(out, cache)`, its backward takes `dout` $= \partial L / \partial\, \text{out}$ and the
# cache, and returns the gradients of the loss with respect to the layer's inputs.
#
# How to work: run the cells from top to bottom. Where you see `raise NotImplementedError()`,
# replace that line with your code, then run the check cell below it; a failed check says
# what is wrong, not only that something is. From a terminal,
# `dlcourse check course/04-backprop.ipynb` runs the whole notebook and lists every check.
#
# **How this notebook is graded.** The grader runs the solution cell of each exercise on its
# own, after this notebook's locked set-up cells, in a fresh process outside the notebook and
# on inputs of its own; the check cells are not run there, and a helper defined in any other
# cell is missing. The course's `F.dense_backward` and its relatives (`conv2d_backward`, the
# `Dense` layer's `backward`, the recurrent cells' backward functions) are stubs there: a
# `dense_backward` that calls one scores zero for that exercise. The gradients are to be
# written by hand, so PyTorch, JAX, TensorFlow, Keras, the course's autodiff and
# `dlcourse.gradcheck` cannot be imported while this notebook is graded. There each exercise may
# use 3 CPU seconds and 1 GB of memory; code that needs more is stopped and scores zero for it.
# `dlcourse check --grader` on the saved notebook shows the points the grader would give. Beyond
# the visible checks:
#
# * exercise 1, `check_dense_backward`, also tested: float32 inputs keep float32 gradients, a
#   batch of one example, a single input feature, and a square `w` (where a transposed `dw`
#   has the right shape);
# * exercise 2, `check_two_layer_backward`, also tested: float32 parameters keep float32
#   gradients, a batch of one example, and an upstream gradient in `cache["dscores"]` that is
#   not the loss's own (use the cache, do not recompute it); it is graded with the course's
#   `dense_backward` in place of yours, so a mistake in exercise 1 does not cost its points
#   twice.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false}
import dataclasses

import matplotlib.pyplot as plt
import numpy as np

import dlcourse.functional as F
from dlcourse.data import load_digits
from dlcourse.diagnose import check_not_modified, diagnose
from dlcourse.functional import dense_forward, relu_backward, relu_forward, softmax_cross_entropy
from dlcourse.gradcheck import check_against_torch, check_gradients, numerical_gradient

rng = np.random.default_rng(0)


def _close(a, b):
    """Equal up to float32 rounding (the same formula, summed in another order)."""
    if np.shape(a) != np.shape(b):
        return False
    scale = float(np.max(np.abs(b), initial=1.0))
    return bool(np.allclose(a, b, rtol=1e-4, atol=1e-6 * scale))


def explain(got, expected, name, *, without_dout=None, **options):
    """dlcourse.diagnose's Diagnosis of ``got``, with a forgotten dout named.

    without_dout: the gradient the same formula gives when dout is left out (dout all ones).
    diagnose sees two arrays and cannot know it; a ``got`` equal to it ignored dout.
    """
    d = diagnose(got, expected, name=name, **options)
    if not d.ok and without_dout is not None:
        if _close(got, without_dout) and not _close(expected, without_dout):
            message = (
                f"{name} ignores dout: it is what the formula gives for dout all ones. Multiply "
                f"by dout, the gradient arriving from above (gradient = upstream x local)."
            )
            d = dataclasses.replace(d, message=message)
    return d


def expect_close(got, expected, name, context="", **options):
    """Fail with ``explain``'s message unless ``got`` matches ``expected``.

    context: where the arrays come from ("float32 inputs", ...), put before the message.
    """
    d = explain(got, expected, name, **options)
    assert d.ok, f"{context}: {d.message}" if context else d.message


# %% [markdown]
# ## 1. The chain rule on a computational graph
#
# Any computation, however big, is a chain of small steps. Draw each step as a node and you
# get a **computational graph**. Here is a single neuron with a squared error:
#
# $$
# L = (w x + b - t)^2, \qquad\text{in steps:}\quad
# u = w x,\quad z = u + b,\quad e = z - t,\quad L = e^2 .
# $$
#
# **Forward**, with $w = 1.5$, $x = 2$, $b = -0.5$, $t = 1$: $u = 3$, $z = 2.5$, $e = 1.5$,
# $L = 2.25$.
#
# **Backward.** The chain rule says that the derivative of $L$ with respect to anything is the
# product of the local derivatives along the path from it to $L$. Computed from the end,
# each node needs only two things: the gradient arriving from above (the *upstream*
# gradient) and its own *local* derivative. Writing `dv` for $\partial L / \partial v$, as the
# code does:
#
# | node | local derivatives | gradient = upstream × local |
# |---|---|---|
# | $L = e^2$ | $2e = 3$ | `de` = 1 × 3 = 3 |
# | $e = z - t$ | 1 for $z$, −1 for $t$ | `dz` = 3 × 1 = 3, `dt` = 3 × (−1) = −3 |
# | $z = u + b$ | 1 for $u$, 1 for $b$ | `du` = 3, `db` = 3 |
# | $u = w x$ | $x = 2$ for $w$, $w = 1.5$ for $x$ | `dw` = 3 × 2 = 6, `dx` = 3 × 1.5 = 4.5 |
#
# Three patterns are worth remembering:
#
# - an **add** node passes the upstream gradient unchanged to both inputs;
# - a **multiply** node gives each input the upstream gradient times the *other* input;
# - a value used in **two places** receives the **sum** of the gradients from both uses
#   (this is where the sums over the batch in section 3 come from).
#
# The same computation in code, forward then backward:

# %%
w, x, b, t = 1.5, 2.0, -0.5, 1.0
u = w * x
z = u + b
e = z - t
loss = e**2

dloss = 1.0  # dL/dL: the backward pass starts here
de = dloss * 2 * e
dz, dt = de * 1.0, de * -1.0
du, db = dz * 1.0, dz * 1.0
dw, dx = du * x, du * w
print(f"forward:  u={u}, z={z}, e={e}, L={loss}")
print(f"backward: dL/dw={dw}, dL/dx={dx}, dL/db={db}, dL/dt={dt}")

# %% [markdown]
# The graph with the values of the forward pass (above each edge, in black) and the gradients
# of the backward pass (below, in red):

# %%
nodes = {"w": (0, 2.2), "x": (0, 0.8), "×": (1.5, 1.5), "b": (1.5, 0.2), "+": (3, 1.5)}
nodes.update({"t": (3, 0.2), "−": (4.5, 1.5), "( )²": (6, 1.5), "L": (7.3, 1.5)})
edges = [  # (from, to, forward value, gradient of L)
    ("w", "×", w, dw),
    ("x", "×", x, dx),
    ("×", "+", u, du),
    ("b", "+", b, db),
    ("+", "−", z, dz),
    ("t", "−", t, dt),
    ("−", "( )²", e, de),
    ("( )²", "L", loss, dloss),
]
fig, ax = plt.subplots(figsize=(9, 3))
for name, (px, py) in nodes.items():
    ax.text(px, py, name, ha="center", va="center", size=13, bbox={"boxstyle": "circle", "fc": "w"})
for start, end, value, grad in edges:
    (x0, y0), (x1, y1) = nodes[start], nodes[end]
    ax.annotate(
        "", (x1, y1), (x0, y0), arrowprops={"arrowstyle": "->", "shrinkA": 14, "shrinkB": 14}
    )
    mx, my = (x0 + x1) / 2, (y0 + y1) / 2
    ax.text(mx, my + 0.12, f"{value:g}", ha="center", size=11)
    ax.text(mx, my - 0.25, f"{grad:g}", ha="center", size=11, color="tab:red")
ax.set_xlim(-0.5, 7.8)
ax.set_ylim(-0.3, 2.7)
ax.axis("off")
ax.set_title("forward values (black) and gradients dL/d(edge) (red)")
plt.show()

# %% [markdown]
# ## 2. Checking a derivative: finite differences
#
# A hand-derived gradient is easy to get subtly wrong, so we always check it against the
# definition of the derivative. For a small step $h$,
#
# $$
# \text{forward difference:}\ \frac{f(x + h) - f(x)}{h},
# \qquad
# \text{centred difference:}\ \frac{f(x + h) - f(x - h)}{2h} .
# $$
#
# Taylor's theorem, $f(x \pm h) = f(x) \pm h f'(x) + \tfrac{h^2}{2} f''(x) \pm \tfrac{h^3}{6}
# f'''(x) + \dots$, shows that the forward difference is off by about $\tfrac{h}{2} f''$ while
# in the centred one the $h^2$ terms cancel, leaving an error of about $\tfrac{h^2}{6} f'''$.
# So smaller $h$ is better... until rounding takes over: $f(x+h)$ and $f(x-h)$ are each
# rounded by about $\varepsilon |f|$ ($\varepsilon \approx 10^{-16}$ in float64), and dividing by
# $h$ magnifies that to $\varepsilon |f| / h$. The figure shows both effects for
# $f = \tanh$ at $x = 0.5$:

# %%
steps = np.logspace(-14, -1, 60)
x0 = 0.5
exact = 1 - np.tanh(x0) ** 2
forward_err = np.abs((np.tanh(x0 + steps) - np.tanh(x0)) / steps - exact)
centred_err = np.abs((np.tanh(x0 + steps) - np.tanh(x0 - steps)) / (2 * steps) - exact)

fig, ax = plt.subplots(figsize=(7, 3.5))
ax.loglog(steps, forward_err, label="forward difference")
ax.loglog(steps, centred_err, label="centred difference")
ax.axvline(1e-5, color="grey", ls=":", label="h = 1e-5 (dlcourse's default)")
ax.set_xlabel("step h")
ax.set_ylabel("|numerical - exact|")
ax.set_title("Truncation error (right) against rounding error (left)")
ax.legend(loc="upper center")
plt.show()

# %% [markdown]
# The centred difference with $h \approx 10^{-5}$ is good to about 10 digits, in float64.
# (In float32, with $\varepsilon \approx 10^{-7}$, the same $h$ leaves about 2 correct digits:
# **always compute numerical gradients in float64**, as `dlcourse.gradcheck` does.)
#
# **How close is close?** Compare with the *relative* error, so that the scale of the numbers
# does not matter:
#
# $$
# \text{relative error}(a, b) = \frac{|a - b|}{|a| + |b|} .
# $$
#
# In float64 a correct gradient typically shows $10^{-8}$ or less, a wrong one $10^{-2}$ or
# more; `dlcourse.gradcheck` accepts up to $10^{-6}$ in float64 and $2 \cdot 10^{-3}$ in
# float32.
#
# **Arrays.** For a function of an array, `numerical_gradient(f, x)` nudges one element at a
# time. When `f` returns an array rather than a number, it differentiates
# $\sum f(x) \odot \text{dout}$ for an upstream gradient `dout`, which is **random** on
# purpose. Here is why: a ReLU backward that forgets to multiply by `dout` and returns just
# the mask passes a check with `dout` all ones, and fails one with random `dout`:


# %%
def forgetful_relu_backward(dout, cache):
    return (cache > 0).astype(cache.dtype)  # the local slope, but dout is ignored


z = rng.standard_normal((3, 4))
with_ones = check_gradients(relu_forward, forgetful_relu_backward, {"x": z}, dout=np.ones((3, 4)))
with_random = check_gradients(relu_forward, forgetful_relu_backward, {"x": z})
print("dout = ones:  ", "passed" if with_ones.passed else "FAILED")
print("dout = random:", "passed" if with_random.passed else "FAILED")

# %% [markdown]
# ## 3. The dense layer backward
#
# The dense layer of chapter 01 maps a batch $x$ of shape $(N, D)$ to
# $\text{out} = x W + b$ of shape $(N, M)$, with $W$ of shape $(D, M)$ and $b$ of shape $(M,)$.
# Element by element:
#
# $$
# \text{out}_{nm} = \sum_{d=1}^{D} x_{nd} W_{dm} + b_m .
# $$
#
# The backward receives $\text{dout}_{nm} = \partial L / \partial\, \text{out}_{nm}$, shape
# $(N, M)$, and must return three gradients. Apply the chain rule one element at a time.
#
# **$dW$.** $W_{dm}$ appears in $\text{out}_{nm}$ for *every* example $n$, with coefficient
# $x_{nd}$. A value used in many places collects the sum:
#
# $$
# \frac{\partial L}{\partial W_{dm}} = \sum_{n=1}^{N} \text{dout}_{nm}\, x_{nd}
# \quad\Longrightarrow\quad dW = x^{\top} \, \text{dout} \quad (D, M).
# $$
#
# **$db$.** $b_m$ is added to $\text{out}_{nm}$ for every $n$ (NumPy broadcast it over the
# batch), with coefficient 1. The backward of a broadcast is a sum:
#
# $$
# \frac{\partial L}{\partial b_m} = \sum_{n=1}^{N} \text{dout}_{nm}
# \quad\Longrightarrow\quad db = \textstyle\sum_n \text{dout}_{n,:}
# \quad (M,).
# $$
#
# **$dx$.** $x_{nd}$ appears in $\text{out}_{nm}$ for every output $m$ of the same example,
# with coefficient $W_{dm}$:
#
# $$
# \frac{\partial L}{\partial x_{nd}} = \sum_{m=1}^{M} \text{dout}_{nm} W_{dm}
# \quad\Longrightarrow\quad dx = \text{dout}\, W^{\top} \quad (N, D).
# $$
#
# **Shapes are your guide.** A gradient always has the shape of the thing it is the gradient
# of: $dW$ is $(D, M)$ like $W$. The only way to multiply $x$ $(N, D)$ and $\text{dout}$
# $(N, M)$ into a $(D, M)$ matrix is $x^{\top}\text{dout}$: the sum over $N$ happens inside the
# matrix product. Likewise $\text{dout}\,W^{\top}$ is the only product of shape $(N, D)$.
#
# Note what the batch does: $dW$ and $db$ **add up** the contributions of all $N$ examples,
# because all examples share the same weights; $dx$ keeps one row per example. (There is no
# $1/N$ here: the loss's gradient already carries it.)
#
# **A worked example** with $N = 2$, $D = 2$, $M = 3$:
#
# $$
# x = \begin{pmatrix} 1 & 2 \\ 3 & 4 \end{pmatrix},\quad
# W = \begin{pmatrix} 1 & 0 & -1 \\ 2 & 1 & 0 \end{pmatrix},\quad
# \text{dout} = \begin{pmatrix} 1 & 0 & 0 \\ 0 & 1 & 0 \end{pmatrix}
# $$
#
# gives $dW = x^\top \text{dout} = \begin{pmatrix} 1 & 3 & 0 \\ 2 & 4 & 0 \end{pmatrix}$,
# $db = (1, 1, 0)$ and $dx = \text{dout}\, W^\top = \begin{pmatrix} 1 & 2 \\ 0 & 1
# \end{pmatrix}$. The third output received no gradient, so the third column of $dW$ and
# $db$ is 0.

# %% [markdown]
# ### What the checker says about typical mistakes
#
# `dlcourse.diagnose.diagnose(got, expected, name)` compares a gradient with the right one and
# names the kind of mistake. It sees only the two arrays, so this notebook's checks add what
# it cannot know: `explain` (in the first cell) also compares with the gradient the same
# formula gives when `dout` is left out. Here are four classic wrong versions of the dense
# backward, next to the right gradients from the reference implementation, as the checks
# explain them:

# %%
x = rng.standard_normal((5, 3))
w = rng.standard_normal((3, 4))
b = rng.standard_normal(4)
out, cache = dense_forward(x, w, b)
dout = rng.standard_normal(out.shape)
dx_ok, dw_ok, db_ok = F.dense_backward(dout, cache)
_, dw_no_dout, db_no_dout = F.dense_backward(np.ones_like(dout), cache)

mistakes = {
    "dw = dout.T @ x": ("dw", dout.T @ x, dw_ok, dw_no_dout),
    "db = dout (no sum)": ("db", dout, db_ok, db_no_dout),
    "db = dout.mean(axis=0)": ("db", dout.mean(axis=0), db_ok, db_no_dout),
    "dw = x.T @ np.ones_like(dout)": ("dw", x.T @ np.ones_like(dout), dw_ok, dw_no_dout),
}
for code, (name, got, expected, no_dout) in mistakes.items():
    print(f"{code}\n    {explain(got, expected, name, without_dout=no_dout, batch_size=5)}\n")

# %% [markdown]
# The gradient checker runs the same diagnosis when a gradient fails. Here is its report for
# a backward that averages `db` over the batch instead of summing it:


# %%
def averaging_dense_backward(dout, cache):
    x, w = cache
    return dout @ w.T, x.T @ dout, dout.mean(axis=0)  # the last one is wrong


print(check_gradients(dense_forward, averaging_dense_backward, {"x": x, "w": w, "b": b}))

# %% [markdown]
# ### Exercise 1 (5 points): `dense_backward`
#
# Write `dense_backward(dout, cache)` for the cache that `dense_forward` returns, the pair
# `(x, w)`. Return the tuple `(dx, dw, db)` with the shapes of `x`, `w` and `b`, and the dtype
# of the inputs. Three lines of NumPy suffice; do not modify `dout` or the cache.


# %% nbgrader={"grade": false, "grade_id": "dense_backward", "locked": false, "schema_version": 3, "solution": true}
def dense_backward(dout, cache):
    """Gradients of the loss with respect to x, w and b of a dense layer out = x @ w + b.

    dout: (N, M), the gradient of the loss with respect to out.
    cache: the pair (x, w) saved by dense_forward; x is (N, D), w is (D, M).
    Returns (dx, dw, db) with shapes (N, D), (D, M) and (M,).
    """
    ### BEGIN SOLUTION
    x, w = cache
    dx = dout @ w.T
    dw = x.T @ dout
    db = dout.sum(axis=0)
    return dx, dw, db
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "check_dense_backward", "locked": true, "points": 5, "schema_version": 3, "solution": false}
def run_dense_backward(dout, cache):
    """Call the student's dense_backward and check that it returned three arrays."""
    grads = dense_backward(dout, cache)
    assert isinstance(grads, tuple | list) and len(grads) == 3, (
        f"dense_backward should return the tuple (dx, dw, db), got {type(grads).__name__}"
        + (f" of length {len(grads)}" if isinstance(grads, tuple | list) else "")
    )
    return grads


# The worked example, checked against the numbers computed by hand.
x = np.array([[1.0, 2.0], [3.0, 4.0]])
w = np.array([[1.0, 0.0, -1.0], [2.0, 1.0, 0.0]])
dout = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
got = run_dense_backward(dout, (x, w))
by_hand = ([[1.0, 2.0], [0.0, 1.0]], [[1.0, 3.0, 0.0], [2.0, 4.0, 0.0]], [1.0, 1.0, 0.0])
no_dout = F.dense_backward(np.ones_like(dout), (x, w))  # to recognise a forgotten dout
for name, g, e, lazy in zip(("dx", "dw", "db"), got, by_hand, no_dout):
    expect_close(g, np.array(e), name, "worked example", without_dout=lazy, batch_size=2)

# A batch of 5 examples, 3 inputs and 4 outputs, against the reference implementation.
x = rng.standard_normal((5, 3))
w = rng.standard_normal((3, 4))
b = rng.standard_normal(4)
out, cache = dense_forward(x, w, b)
dout = rng.standard_normal(out.shape)
expected = F.dense_backward(dout, cache)
no_dout = F.dense_backward(np.ones_like(dout), cache)
got = run_dense_backward(dout, cache)
for name, g, e, lazy in zip(("dx", "dw", "db"), got, expected, no_dout):
    expect_close(g, e, name, without_dout=lazy, batch_size=5)

# Your backward must leave dout and the cache as they were.
d = check_not_modified(dense_backward, dout, cache)
assert d.ok, d.message

# And against finite differences of the forward pass.
report = check_gradients(dense_forward, dense_backward, {"x": x, "w": w, "b": b})
assert report.passed, str(report)
print(report)
### BEGIN HIDDEN TESTS
# float32 in, float32 out; other shapes, including a batch of one and a single input feature.
for n, d_in, m, dtype in [(8, 6, 3, np.float32), (1, 4, 2, np.float64), (7, 1, 5, np.float64)]:
    x = rng.standard_normal((n, d_in)).astype(dtype)
    w = rng.standard_normal((d_in, m)).astype(dtype)
    b = rng.standard_normal(m).astype(dtype)
    out, cache = dense_forward(x, w, b)
    dout = rng.standard_normal(out.shape).astype(dtype)
    expected = F.dense_backward(dout, cache)
    got = run_dense_backward(dout, cache)
    context = f"x {(n, d_in)}, w {(d_in, m)}, {dtype.__name__}"
    for name, g, e in zip(("dx", "dw", "db"), got, expected):
        expect_close(g, e, name, context, batch_size=n)
    d = check_not_modified(dense_backward, dout, cache)
    assert d.ok, d.message

# A square weight matrix: a transposed dw has the right shape here, but not the right values.
x = rng.standard_normal((6, 4))
w = rng.standard_normal((4, 4))
out, cache = dense_forward(x, w, np.zeros(4))
dout = rng.standard_normal(out.shape)
for name, g, e in zip(
    ("dx", "dw", "db"), run_dense_backward(dout, cache), F.dense_backward(dout, cache)
):
    expect_close(g, e, name, "square w", batch_size=6)

# A float32 gradient check.
x32, w32, b32 = (a.astype(np.float32) for a in (x, w, np.ones(4)))
report = check_gradients(dense_forward, dense_backward, {"x": x32, "w": w32, "b": b32})
assert report.passed, str(report)
### END HIDDEN TESTS

# %% [markdown]
# ## 4. A two-layer network, backwards
#
# Now stack the pieces into a classifier with one hidden layer of $H$ units:
#
# $$
# x \xrightarrow{\ \text{dense}_1\ } h_{\text{pre}} = x W_1 + b_1
# \xrightarrow{\ \text{ReLU}\ } h = \max(0, h_{\text{pre}})
# \xrightarrow{\ \text{dense}_2\ } s = h W_2 + b_2
# \xrightarrow{\ \text{softmax CE}\ } L .
# $$
#
# Shapes: $x$ is $(N, D)$, $W_1$ $(D, H)$, $b_1$ $(H,)$, $h_{\text{pre}}$ and $h$ $(N, H)$,
# $W_2$ $(H, C)$, $b_2$ $(C,)$, the scores $s$ $(N, C)$. The forward pass is given below; it
# uses the reference functions of `dlcourse.functional` (your versions from chapters 01 to 03
# do the same) and keeps every layer's cache, plus the gradient the loss returned.
#
# **The backward pass visits the same layers in reverse**, each one turning the gradient of
# its output into the gradients of its inputs:
#
# 1. the loss already gave $ds = \partial L/\partial s = \frac{1}{N}(P - Y_{\text{one-hot}})$
#    (chapter 03), stored as `cache["dscores"]`;
# 2. dense$_2$: $dW_2 = h^{\top} ds$, $db_2 = \sum_n ds_{n,:}$, and $dh = ds\, W_2^{\top}$,
#    which is the `dout` of the layer below;
# 3. ReLU: $dh_{\text{pre}} = dh \odot [h_{\text{pre}} > 0]$: the gradient passes where the
#    unit was active and stops where it was not;
# 4. dense$_1$: $dW_1 = x^{\top} dh_{\text{pre}}$, $db_1 = \sum_n dh_{\text{pre}\,n,:}$ (and
#    $dx$, which nobody needs here since $x$ is data).
#
# Steps 2 and 4 are your `dense_backward`, step 3 is `relu_backward` from chapter 02
# (imported from `dlcourse.functional` in the first cell). Backpropagation is nothing but
# calling the backward functions in the reverse order of the forwards, passing each one's
# output gradient to the next.

# %% nbgrader={"grade": false, "grade_id": "two_layer_forward", "locked": true, "schema_version": 3, "solution": false}
PARAM_NAMES = ("w1", "b1", "w2", "b2")


def two_layer_forward(x, y, params):
    """The mean cross-entropy loss of a two-layer network on a batch, and its cache.

    x: (N, D) inputs; y: (N,) integer labels;
    params: dict with w1 (D, H), b1 (H,), w2 (H, C), b2 (C,).
    Returns (loss, cache); cache is a dict holding the caches of the three layers,
    "dense1", "relu" and "dense2", and "dscores", the gradient dL/dscores (N, C).
    """
    h_pre, dense1_cache = dense_forward(x, params["w1"], params["b1"])
    h, relu_cache = relu_forward(h_pre)
    scores, dense2_cache = dense_forward(h, params["w2"], params["b2"])
    loss, dscores = softmax_cross_entropy(scores, y)
    cache = {"dense1": dense1_cache, "relu": relu_cache, "dense2": dense2_cache}
    cache["dscores"] = dscores
    return loss, cache


def init_params(d, h, c, rng, dtype=np.float64):
    """Small random weights (scaled by 1/sqrt(fan-in)) and zero biases."""
    return {
        "w1": (rng.standard_normal((d, h)) / np.sqrt(d)).astype(dtype),
        "b1": np.zeros(h, dtype=dtype),
        "w2": (rng.standard_normal((h, c)) / np.sqrt(h)).astype(dtype),
        "b2": np.zeros(c, dtype=dtype),
    }


def numerical_param_grads(x, y, params):
    """dL/dparam for every parameter by centred finite differences: slow, but sure."""
    grads = {}
    for name in PARAM_NAMES:

        def loss_of(value, name=name):
            return two_layer_forward(x, y, {**params, name: value})[0]

        grads[name] = numerical_gradient(loss_of, params[name])
    return grads


# %% [markdown]
# `numerical_param_grads` is there for you too: when your backward disagrees with the checks,
# compare it with the numerical gradients of one parameter at a time.
#
# ### Exercise 2 (5 points): `two_layer_backward`
#
# Write `two_layer_backward(cache)`: given the cache of `two_layer_forward`, return a dict
# with the gradients of the loss with respect to each parameter, under the same names as the
# parameters: `{"w1": dw1, "b1": db1, "w2": dw2, "b2": db2}`. Each gradient has the shape and
# dtype of its parameter. Use your `dense_backward` and `relu_backward(dout, cache)`.


# %% nbgrader={"grade": false, "grade_id": "two_layer_backward", "locked": false, "schema_version": 3, "solution": true}
def two_layer_backward(cache):
    """Gradients of the two-layer network's loss with respect to its parameters.

    cache: the dict returned by two_layer_forward, with the layer caches "dense1",
    "relu" and "dense2" and the loss gradient "dscores" (N, C).
    Returns {"w1": dw1, "b1": db1, "w2": dw2, "b2": db2}.
    """
    ### BEGIN SOLUTION
    dh, dw2, db2 = dense_backward(cache["dscores"], cache["dense2"])
    dh_pre = relu_backward(dh, cache["relu"])
    _, dw1, db1 = dense_backward(dh_pre, cache["dense1"])
    return {"w1": dw1, "b1": db1, "w2": dw2, "b2": db2}
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "check_two_layer_backward", "locked": true, "points": 5, "schema_version": 3, "solution": false}
def run_two_layer_backward(cache, params):
    """Call the student's two_layer_backward and check the names in its answer."""
    grads = two_layer_backward(cache)
    assert isinstance(grads, dict), (
        f"two_layer_backward should return a dict of gradients, got {type(grads).__name__}"
    )
    assert set(grads) == set(params), (
        f"two_layer_backward should return gradients named {sorted(params)} like the "
        f"parameters, got {sorted(grads)}"
    )
    return grads


def dense_backward_problem(cache):
    """How your dense_backward goes wrong on this network's two dense layers, or None."""
    n, h = cache["dscores"].shape[0], cache["dense1"][1].shape[1]
    upstream = {
        "dense2": cache["dscores"],
        "dense1": np.random.default_rng(1).standard_normal((n, h)),
    }
    for layer, dout in upstream.items():
        dout = dout.astype(cache[layer][0].dtype)
        try:
            got = dense_backward(dout, cache[layer])
        except Exception as err:  # the exercise 1 check explains it; say where it happened
            return f"raised {type(err).__name__} on {layer}'s cache: {err}."
        if not (isinstance(got, tuple | list) and len(got) == 3):
            return f"returned a {type(got).__name__} on {layer}'s cache, not (dx, dw, db)."
        no_dout = F.dense_backward(np.ones_like(dout), cache[layer])
        for name, g, e, lazy in zip(
            ("dx", "dw", "db"), got, F.dense_backward(dout, cache[layer]), no_dout
        ):
            d = explain(g, e, name, without_dout=lazy, batch_size=n)
            if not d.ok:
                return f"is wrong on {layer}'s cache: {d.message}"
    return None


def with_course_dense_backward(run):
    """run() with the course's dense_backward in place of yours, as the grader runs exercise 2."""
    yours = globals()["dense_backward"]
    globals()["dense_backward"] = F.dense_backward
    try:
        return run()
    finally:
        globals()["dense_backward"] = yours


def _listed(names):
    names = [f"d{n}" for n in names]
    return ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]


def network_problem(grads, expected, batch_size):
    """The first wrong gradient, in the order backward finds them, and which ones are right."""
    backward_order = ("w2", "b2", "w1", "b1")
    found = {
        n: explain(grads[n], expected[n], f"d{n}", batch_size=batch_size) for n in backward_order
    }
    wrong = [n for n in backward_order if not found[n].ok]
    right = [n for n in backward_order if found[n].ok]
    if not wrong:
        return None
    if not right:
        return found[wrong[0]].message
    where = ""
    if set(right) == {"w2", "b2"}:  # the second layer is right: the mistake comes after it
        where = (
            ", so the gradient goes wrong after the second dense layer: check the ReLU step "
            "(relu_backward with cache['relu']) and the gradient you pass to the first "
            "dense_backward"
        )
    return (
        f"{_listed(right)} are right but {_listed(wrong)} are not{where}. {found[wrong[0]].message}"
    )


def check_network(cache, params, expected, context=""):
    """two_layer_backward(cache) against ``expected``; blame dense_backward when it is wrong."""
    start = f"{context}: " if context else ""
    batch_size = cache["dscores"].shape[0]
    broken = dense_backward_problem(cache)
    if broken is None:
        problem = network_problem(run_two_layer_backward(cache, params), expected, batch_size)
        assert problem is None, start + problem
        return
    graded = with_course_dense_backward(lambda: run_two_layer_backward(cache, params))
    problem = network_problem(graded, expected, batch_size)
    if problem is None:
        print(
            "note: two_layer_backward is right with the course's dense_backward, but yours is "
            "still wrong; fix it and rerun exercise 1's check (until then your network trains "
            f"with wrong gradients). Your dense_backward {broken}"
        )
        return
    if network_problem(run_two_layer_backward(cache, params), expected, batch_size) is None:
        raise AssertionError(
            f"{start}two_layer_backward makes up for a mistake in your dense_backward: its "
            f"gradients are right only with that mistake. Fix dense_backward (exercise 1) and "
            f"take the compensation out of two_layer_backward. Your dense_backward {broken}"
        )
    raise AssertionError(
        f"{start}your dense_backward {broken} Fix it first (exercise 1). With the course's "
        f"dense_backward in its place, as the grader runs this exercise: {problem}"
    )


# 6 examples, 4 inputs, 5 hidden units, 3 classes, against finite differences.
x = rng.standard_normal((6, 4))
y = np.array([0, 2, 1, 2, 0, 1])
params = init_params(4, 5, 3, rng)
loss, cache = two_layer_forward(x, y, params)
check_network(cache, params, numerical_param_grads(x, y, params))

# Your backward must leave the cache as it was.
d = check_not_modified(two_layer_backward, cache)
assert d.ok, d.message
print("two_layer_backward: all visible checks passed.")


### BEGIN HIDDEN TESTS
def reference_two_layer_backward(cache):
    dh, dw2, db2 = F.dense_backward(cache["dscores"], cache["dense2"])
    dh_pre = F.relu_backward(dh, cache["relu"])
    _, dw1, db1 = F.dense_backward(dh_pre, cache["dense1"])
    return {"w1": dw1, "b1": db1, "w2": dw2, "b2": db2}


# Other sizes (a batch of one, two classes, a wide hidden layer) and float32.
for n, d_in, h, c, dtype in [
    (1, 3, 4, 2, np.float64),
    (32, 8, 16, 10, np.float32),
    (12, 5, 40, 4, np.float64),
]:
    x = rng.standard_normal((n, d_in)).astype(dtype)
    y = rng.integers(0, c, size=n)
    params = init_params(d_in, h, c, rng, dtype)
    params["b1"] = (0.1 * rng.standard_normal(h)).astype(dtype)
    loss, cache = two_layer_forward(x, y, params)
    context = f"N={n}, D={d_in}, H={h}, C={c}, {dtype.__name__}"
    check_network(cache, params, reference_two_layer_backward(cache), context)
    d = check_not_modified(two_layer_backward, cache)
    assert d.ok, d.message

# The backward must follow the upstream gradient in the cache, whatever it is.
x = rng.standard_normal((5, 3))
params = init_params(3, 4, 2, rng)
loss, cache = two_layer_forward(x, np.array([0, 1, 1, 0, 1]), params)
cache = {**cache, "dscores": rng.standard_normal((5, 2))}
check_network(cache, params, reference_two_layer_backward(cache), "a random dscores")
### END HIDDEN TESTS

# %% [markdown]
# ## 5. A third opinion: automatic differentiation
#
# Finite differences are slow (two forward passes per parameter element) but independent of
# your derivation. A second independent check is an *autodiff* framework: PyTorch can run the
# very same forward (the `dlcourse.functional` code works on PyTorch tensors too) and compute
# the gradients by itself, with `torch.autograd`. When PyTorch is not installed, the check is
# skipped with a note.


# %%
def network_forward(x, y, w1, b1, w2, b2):
    """two_layer_forward with the parameters as separate arguments, as the checkers expect."""
    return two_layer_forward(x, y, {"w1": w1, "b1": b1, "w2": w2, "b2": b2})


def network_backward(dloss, cache):
    """The parameters' gradients in PARAM_NAMES order, scaled by the upstream dloss."""
    grads = two_layer_backward(cache)
    return tuple(dloss * grads[name] for name in PARAM_NAMES)


x = rng.standard_normal((8, 4))
y = rng.integers(0, 3, size=8)
inputs = {"x": x, "y": y, **init_params(4, 6, 3, rng)}
print(check_gradients(network_forward, network_backward, inputs, wrt=PARAM_NAMES))
print(check_against_torch(network_forward, network_backward, inputs, wrt=PARAM_NAMES))

# %% [markdown]
# ## 6. Your gradients at work
#
# The gradients tell each weight which way to move to lower the loss. Stepping every weight a
# little against its gradient, $W \leftarrow W - \eta\, dW$, over and over, is **gradient
# descent**. Here it trains the two-layer network on scikit-learn's 8×8 handwritten digits
# (64 inputs, 10 classes) with nothing but your `two_layer_backward`. Chapter 05 does this
# properly, with minibatches, momentum and Adam.

# %%
digits = load_digits()  # float32 pixels in [0, 1], shape (N, 64)
params = init_params(64, 32, 10, np.random.default_rng(1), dtype=np.float32)
learning_rate = 0.4
history = []
for _ in range(150):
    loss, cache = two_layer_forward(digits.x_train, digits.y_train, params)
    grads = two_layer_backward(cache)
    params = {name: params[name] - learning_rate * grads[name] for name in PARAM_NAMES}
    history.append(loss)


def predict(x, params):
    """The class with the highest score, for each row of x."""
    h, _ = relu_forward(dense_forward(x, params["w1"], params["b1"])[0])
    scores, _ = dense_forward(h, params["w2"], params["b2"])
    return scores.argmax(axis=1)


accuracy = np.mean(predict(digits.x_test, params) == digits.y_test)
fig, ax = plt.subplots(figsize=(7, 3))
ax.plot(history)
ax.set_xlabel("gradient descent step (whole training set)")
ax.set_ylabel("training loss")
ax.set_title(f"Two-layer network on the digits: test accuracy {accuracy:.1%}")
plt.show()

# %% [markdown]
# ## Summary
#
# - **The chain rule, backwards.** Each node multiplies the upstream gradient by its local
#   derivative; add nodes copy it, multiply nodes swap in the other input, and a value used
#   several times sums the gradients from every use.
# - **Dense layer:** $dx = \text{dout}\,W^\top$, $dW = x^\top \text{dout}$,
#   $db = \sum_n \text{dout}_{n,:}$. Shapes tell you the order of each product; the sums over
#   the batch appear because all examples share the weights.
# - **A network's backward** calls the layers' backward functions in reverse order, each
#   one's output gradient becoming the next one's `dout`; the loss provides the first.
# - **Check every gradient**: centred differences with $h \approx 10^{-5}$ in float64,
#   a random upstream gradient, relative error below $10^{-6}$; `diagnose` names the usual
#   mistakes (transposed, missing batch sum, a factor of $N$, a flipped sign). An autodiff
#   framework gives a third, independent opinion.
#
# **Next, chapter 05:** training by hand, with minibatch SGD, momentum and Adam written
# yourself, a live loss plot, decision boundaries on the spirals, and a confusion matrix.

# %% [markdown]
# ## Further reading
#
# * CS231n notes, *Backpropagation, Intuitions*: the chain rule on circuits, the patterns of the
#   add, multiply and max gates, and gradients of matrix products guided by shapes.
# * Andrej Karpathy, *Yes you should understand backprop* (blog post, 2016): the bugs that only
#   someone who knows the backward pass will find.
# * David Rumelhart, Geoffrey Hinton and Ronald Williams, *Learning representations by
#   back-propagating errors* (Nature, 1986).
# * *Dive into Deep Learning*, section *Forward Propagation, Backward Propagation, and
#   Computational Graphs*.
#
# Credits: the gradient-checking recipe (centred differences, the relative error and its
# thresholds) is the one taught in CS231n's notes *Neural Networks Part 3* and its assignments.
