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
# # 02. Activations and their derivatives
#
# Chapter 01 ended with a disappointment: two dense layers in a row are just one dense layer,
# because $(xW_1 + b_1)W_2 + b_2 = x(W_1W_2) + (b_1W_2 + b_2)$. However many we stack, the
# network can only draw straight lines. What breaks the spell is a simple **nonlinear function
# applied to every number** between the layers, an *activation*:
#
# $$h = f(xW_1 + b_1), \qquad y = hW_2 + b_2 .$$
#
# This notebook meets the four activations every practitioner knows (sigmoid, tanh, ReLU and
# softmax), looks at their shapes and their slopes, and has you write their **backward
# functions**: given how the loss changes with an activation's output, how does it change with
# its input? That question, asked layer after layer, is backpropagation (chapter 04).
#
# **This notebook is worth 10 points**:
#
# | exercise | you write | points |
# |---|---|---|
# | 1 | `sigmoid_backward(dout, cache)` | 2 |
# | 2 | `tanh_backward(dout, cache)` | 2 |
# | 3 | `relu_backward(dout, cache)` | 2 |
# | 4 | `softmax_backward(dout, cache)` | 4 |
#
# The forward functions are given: they come from `dlcourse.functional`, the course's reference
# implementation, and you will read each one before writing its backward. Replace each
# `raise NotImplementedError()` with your code and run the check cell below it. Each check
# compares your function with the reference, with finite differences (the slope measured by
# nudging the input), and makes sure your function leaves its inputs alone.
#
# **How this notebook is graded.** The grader runs the solution cell of each exercise on its
# own, after this notebook's set-up cell, in a fresh process outside the notebook and on inputs
# of its own; the check cells are not run there, and a helper defined in any other cell is
# missing. The course's references for these exercises (`F.sigmoid_backward`,
# `F.tanh_backward`, `F.relu_backward`, `F.softmax_backward`) and their relatives
# (`leaky_relu_backward`, `attention_backward`, the recurrent cells' backward functions) are
# stubs there: a solution that calls one scores zero for that exercise. The derivatives are to
# be written by hand, so PyTorch, JAX, TensorFlow, Keras, the course's autodiff and
# `dlcourse.gradcheck` cannot be imported while this notebook is graded. There each exercise may
# use 3 CPU seconds and 1 GB of memory; code that needs more is stopped and scores zero for it.
# `dlcourse check --grader` on the saved notebook shows the points the grader would give. Beyond
# the visible checks:
#
# * exercise 1, `check_sigmoid_backward`, also tested: float32 inputs keep float32, 3-D
#   arrays, and saturated outputs (inputs near ±8 and ±30);
# * exercise 2, `check_tanh_backward`, also tested: float32 inputs keep float32, 3-D arrays,
#   and saturated outputs (inputs near ±20);
# * exercise 3, `check_relu_backward`, also tested: float32 inputs keep float32, and 3-D
#   arrays, with exact zeros among them (any slope between 0 and 1 is accepted there);
# * exercise 4, `check_softmax_backward`, also tested: the axis stored in the cache (`axis=0`,
#   and the middle axis of a 3-D array), square batches, where a sum without `keepdims` gives
#   wrong numbers without an error, and float32 scores from large logits kept float32.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false}
import inspect
import re

import matplotlib.pyplot as plt
import numpy as np

from dlcourse import functional as F
from dlcourse.diagnose import check_not_modified, diagnose
from dlcourse.gradcheck import check_gradients

np.set_printoptions(precision=4, suppress=True)
rng = np.random.default_rng(0)  # a fixed seed: the same numbers on every run

# %% nbgrader={"grade": false, "grade_id": "check_helpers", "locked": true, "schema_version": 3, "solution": false}
# The check cells below share these helpers: read them to see what is checked.


def expect_close(got, expected, name="dx", context="", **options):
    """Fail with dlcourse.diagnose's explanation unless ``got`` matches ``expected``."""
    d = diagnose(got, expected, name=name, **options)
    if d.kind == "kink":
        print("note:", context, d.message)
    assert d.ok, f"{context}{d}"


def _same(got, wrong):
    shape = getattr(got, "shape", None)
    return shape == wrong.shape and np.allclose(got, wrong, rtol=1e-4, atol=1e-7)


def _broadcast_shapes(error):
    """The shapes in NumPy's "could not be broadcast together with shapes (4,3) (4,)"."""
    if "could not be broadcast" not in str(error):
        return []
    groups = re.findall(r"\(([\d,]*)\)", str(error))
    return [tuple(int(n) for n in g.split(",") if n) for g in groups]


def crash_hint(error, shape, summed_axis=None):
    """What the shapes in ``error`` say about its cause, for a function of an input ``shape``.

    Only a function that sums along ``summed_axis`` (softmax) can lose that axis, and only an
    error naming the input's shape next to the input's shape without that axis shows it.
    """
    shapes = _broadcast_shapes(error)
    if summed_axis is not None and shape in shapes:
        lost = tuple(n for i, n in enumerate(shape) if i != summed_axis % len(shape))
        if lost in shapes:
            return (
                f"An array of shape {lost} is x's shape {shape} without axis {summed_axis}: a "
                f"sum along that axis lost it. Sum with keepdims=True so that it broadcasts."
            )
    bigger = [s for s in shapes if np.prod(s) > np.prod(shape)]
    if summed_axis is not None and bigger:
        return (
            f"An intermediate of shape {bigger[0]} has more elements than x {shape}: a Jacobian "
            f"or an outer product (np.outer flattens a batch; np.diag of a batch takes its "
            f"diagonal). The backward needs neither: one sum along the axis and elementwise "
            f"products."
        )
    return "Print the shapes of your intermediate arrays to find the operation that fails."


def check_backward(
    backward, reference, forward, x, *, seed=0, kinks=False, mistakes=(), summed_axis=None, **kw
):
    """Check ``backward`` at input ``x`` (``kw`` go to the forward) in five steps.

    1. it runs on a random dout and returns an array shaped like it (a crash is explained
       from the shapes in its message; ``summed_axis``: the axis the function sums along);
    2. it leaves dout and the cache untouched (dlcourse.diagnose.check_not_modified);
    3. it is none of the classic ``mistakes``: pairs (wrong_backward, explanation);
    4. it matches ``reference``, the course's own backward (dlcourse.diagnose.diagnose);
    5. it matches finite differences of ``forward`` (dlcourse.gradcheck.check_gradients).
    With kinks=True, differences only where x == 0 are accepted (any subgradient is fine).
    """
    out, cache = forward(x, **kw)
    dout = np.random.default_rng(seed).standard_normal(out.shape).astype(x.dtype)
    where = f"x of shape {x.shape}" + (f" and axis={kw['axis']}" if "axis" in kw else "")
    context = f"For {where}: "
    try:
        got = backward(dout.copy(), cache)
    except NotImplementedError:
        raise
    except Exception as err:
        raise AssertionError(
            f"{context}{backward.__name__} raised {type(err).__name__}: {err}. "
            + crash_hint(err, x.shape, summed_axis)
        ) from err
    if got is not None and np.ndim(got) == 0 and dout.ndim > 0:
        raise AssertionError(
            f"{context}dx is a single number (a {type(got).__name__}), but it should be an "
            f"array shaped like dout, {dout.shape}: return one gradient per element of x."
        )
    untouched = check_not_modified(backward, dout, cache)
    assert untouched.ok, f"{context}{untouched}"
    expected = reference(dout, cache)
    slope = reference(np.ones_like(dout), cache)  # f'(x) for an elementwise f; 0 for softmax
    if np.abs(slope).max() > 1e-6:
        forgot_dout = "dx is the local slope f'(x) alone: multiply it by dout (dx = dout * f'(x))."
        mistakes = [(lambda d, c: slope, forgot_dout), *mistakes]
    for wrong_backward, explanation in mistakes:
        try:
            wrong = wrong_backward(dout, cache)
        except Exception:  # this mistake cannot even be made with these shapes
            continue
        if np.abs(wrong - expected).max() > 1e-6 and _same(got, wrong):
            raise AssertionError(context + explanation)
    expect_close(got, expected, "dx", context, at=x if kinks else None)
    report = check_gradients(forward, backward, {"x": x}, kwargs=kw, seed=seed)
    assert report.passed, f"{context}{report}"


# %% [markdown]
# ## 1. The backward convention, for functions applied elementwise
#
# Every layer in this course comes as a pair of functions:
#
# ```python
# out, cache = f_forward(x)      # compute, and keep what the backward will need
# dx = f_backward(dout, cache)   # dout = dL/dout  ->  dx = dL/dx
# ```
#
# `dout` holds $\partial L / \partial \text{out}$, the gradient of the final loss $L$ with
# respect to every element of the output; it has the output's shape. The backward returns
# $\partial L / \partial x$, with the input's shape. For an activation applied to each element
# on its own, $\text{out}_i = f(x_i)$, element $x_i$ influences the loss only through
# $\text{out}_i$, so the chain rule has a single term:
#
# $$\frac{\partial L}{\partial x_i} = \frac{\partial L}{\partial \text{out}_i}\,f'(x_i)
# \qquad\Longleftrightarrow\qquad dx = dout \odot f'(x),$$
#
# an elementwise product ($\odot$), no matrix in sight. Each exercise below is therefore one line
# of arithmetic; the thinking is in finding $f'$ and in writing it with what the cache holds.
#
# Here is every activation with its slope, measured numerically (`np.gradient` divides the
# change in the output by the change in the input between neighbouring points). For softmax,
# which takes a whole vector, the last panel shows the first output of softmax$(z, 0)$ as $z$
# varies.

# %%
z = np.linspace(-6, 6, 1201)
pair = np.stack([z, np.zeros_like(z)], axis=1)  # rows (z, 0), for softmax
curves = {
    "sigmoid": F.sigmoid_forward(z)[0],
    "tanh": F.tanh_forward(z)[0],
    "ReLU": F.relu_forward(z)[0],
    "softmax(z, 0)[0]": F.softmax_forward(pair)[0][:, 0],
}
fig, axes = plt.subplots(1, 4, figsize=(13, 3), sharex=True)
for ax, (name, out) in zip(axes, curves.items()):
    ax.plot(z, out, label="f(z)")
    ax.plot(z, np.gradient(out, z), "--", label="slope f'(z)")
    ax.axhline(0, color="grey", lw=0.5)
    ax.axvline(0, color="grey", lw=0.5)
    ax.set_title(name)
    ax.set_xlabel("z")
axes[0].legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# Three things to notice before any formula:
#
# * **sigmoid and tanh saturate**: far from 0 they are flat, and their slope is nearly 0 there.
#   A neuron stuck out there barely learns, since its gradient is multiplied by that slope.
# * **ReLU's slope is either 0 or 1**, with a jump at $z = 0$ where it has no derivative at all.
# * the softmax panel looks exactly like the sigmoid: a two-way softmax *is* a sigmoid, since
#   $e^{z} / (e^{z} + e^{0}) = 1 / (1 + e^{-z})$.
#
# ## 2. Sigmoid
#
# $$\sigma(x) = \frac{1}{1 + e^{-x}} \in (0, 1)$$
#
# squashes any number into a probability-like value; it is the output of a binary classifier.
# Its derivative, by the chain rule on $(1 + e^{-x})^{-1}$:
#
# $$\sigma'(x) = \frac{e^{-x}}{(1 + e^{-x})^2}
# = \underbrace{\frac{1}{1 + e^{-x}}}_{\sigma(x)} \cdot
# \underbrace{\frac{e^{-x}}{1 + e^{-x}}}_{1 - \sigma(x)}
# = \sigma(x)\,\bigl(1 - \sigma(x)\bigr).$$
#
# The derivative is a function of the *output* alone. So the forward caches its output $s$ and
# the backward never computes an exponential again. Worked values: at $x = 0$,
# $s = \tfrac12$ and $\sigma'(0) = \tfrac14$, the steepest it gets; at $x = 2$, $s \approx 0.8808$
# and $\sigma' \approx 0.1050$; at $x = 10$, $\sigma' \approx 4.5 \cdot 10^{-5}$.
#
# Read the forward you are given. It never takes the exponential of a large positive number.
# Written as $1/(1 + e^{-x})$, the sigmoid computes $e^{1000}$ at $x = -1000$ (harmlessly,
# $1/\infty = 0$, but with an overflow warning); written as the equally correct
# $e^{x}/(1 + e^{x})$, it gives $\infty/\infty$ = `nan` at $x = 1000$:

# %%
print(inspect.getsource(F.sigmoid_forward))
with np.errstate(over="ignore", invalid="ignore"):
    big = np.array([-1000.0, 0.0, 1000.0])
    print("e^x / (1 + e^x):", np.exp(big) / (1 + np.exp(big)))
print("stable forward: ", F.sigmoid_forward(big)[0])

# %% [markdown]
# ### Exercise 1 (2 points): `sigmoid_backward`
#
# `cache` is what `sigmoid_forward` returned as its cache: the output $s$. Return
# $dx = dout \odot s \odot (1 - s)$, a new array with the shape and dtype of `dout`. Do not
# modify `dout` or `cache`.


# %% nbgrader={"grade": false, "grade_id": "sigmoid_backward", "locked": false, "schema_version": 3, "solution": true}
def sigmoid_backward(dout, cache):
    """Gradient of the loss with respect to the input of the sigmoid.

    dout: dL/d(out), any shape; cache: the forward's output s, same shape.
    Returns dx = dout * s * (1 - s), same shape and dtype as dout.
    """
    ### BEGIN SOLUTION
    s = cache
    return dout * s * (1 - s)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "check_sigmoid_backward", "locked": true, "points": 2, "schema_version": 3, "solution": false}
SIGMOID_MISTAKES = [
    (
        lambda dout, s: dout * F.sigmoid_forward(s)[0] * (1 - F.sigmoid_forward(s)[0]),
        "dx applies the sigmoid a second time: the cache already holds s = sigmoid(x), so "
        "dx = dout * s * (1 - s) with s = cache.",
    ),
]


def check_sigmoid(x, seed=0):
    check_backward(
        sigmoid_backward,
        F.sigmoid_backward,
        F.sigmoid_forward,
        x,
        seed=seed,
        mistakes=SIGMOID_MISTAKES,
    )


check_sigmoid(rng.normal(size=(4, 5)))

# worked by hand: s * (1 - s) is 0.25 at s = 0.5 (x = 0), 0.1875 at s = 0.75, 0.09 at s = 0.1
s_hand = np.array([0.5, 0.75, 0.1])
dout_hand = np.array([2.0, 1.0, -1.0])
expect_close(sigmoid_backward(dout_hand, s_hand), np.array([0.5, 0.1875, -0.09]), "dx (by hand)")
print("All visible checks passed.")
### BEGIN HIDDEN TESTS
hidden_rng = np.random.default_rng(202)
check_sigmoid(hidden_rng.normal(size=(7,)), seed=3)
check_sigmoid(hidden_rng.normal(0, 3, size=(2, 3, 4)).astype(np.float32), seed=4)
check_sigmoid(np.array([-30.0, -8.0, 8.0, 30.0]), seed=5)  # saturated: tiny slopes, no NaN
### END HIDDEN TESTS

# %% [markdown]
# ## 3. Tanh
#
# $$\tanh(x) = \frac{e^{x} - e^{-x}}{e^{x} + e^{-x}} = 2\sigma(2x) - 1 \in (-1, 1)$$
#
# is a sigmoid stretched to $(-1, 1)$ and centred on 0. Centring matters: the next layer's
# inputs are then positive and negative alike, instead of all positive, which makes its
# gradient steps less lopsided. With the quotient rule, and $u = e^{x} - e^{-x}$,
# $v = e^{x} + e^{-x}$ (so $u' = v$ and $v' = u$):
#
# $$\tanh'(x) = \frac{v \cdot v - u \cdot u}{v^2} = 1 - \tanh^2(x).$$
#
# Again a function of the output $t = \tanh(x)$, which is what the forward caches. At $x = 0$
# the slope is 1, four times the sigmoid's best; at $|x| = 3$ it is already below 0.01.
#
# ### Exercise 2 (2 points): `tanh_backward`


# %% nbgrader={"grade": false, "grade_id": "tanh_backward", "locked": false, "schema_version": 3, "solution": true}
def tanh_backward(dout, cache):
    """Gradient of the loss with respect to the input of tanh.

    dout: dL/d(out); cache: the forward's output t = tanh(x), same shape.
    Returns dx = dout * (1 - t**2), same shape and dtype as dout.
    """
    ### BEGIN SOLUTION
    t = cache
    return dout * (1 - t * t)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "check_tanh_backward", "locked": true, "points": 2, "schema_version": 3, "solution": false}
TANH_MISTAKES = [
    (
        lambda dout, t: dout * (1 - np.tanh(t) ** 2),
        "dx applies tanh a second time: the cache already holds t = tanh(x), so "
        "dx = dout * (1 - t**2) with t = cache.",
    ),
    (lambda dout, t: dout * (1 - t), "the slope is 1 - t**2, with t squared, not 1 - t."),
]


def check_tanh(x, seed=0):
    check_backward(
        tanh_backward, F.tanh_backward, F.tanh_forward, x, seed=seed, mistakes=TANH_MISTAKES
    )


check_tanh(rng.normal(size=(4, 5)))

# worked by hand: 1 - t**2 is 1 at t = 0 (x = 0), 0.64 at t = 0.6, 0.19 at t = -0.9
t_hand = np.array([0.0, 0.6, -0.9])
dout_hand = np.array([3.0, 1.0, -2.0])
expect_close(tanh_backward(dout_hand, t_hand), np.array([3.0, 0.64, -0.38]), "dx (by hand)")
print("All visible checks passed.")
### BEGIN HIDDEN TESTS
hidden_rng = np.random.default_rng(303)
check_tanh(hidden_rng.normal(size=(9,)), seed=5)
check_tanh(hidden_rng.normal(0, 2, size=(3, 2, 5)).astype(np.float32), seed=6)
# the sign of t must not matter: the slope 1 - t**2 is even
expect_close(
    tanh_backward(np.array([1.0, 1.0]), np.array([-0.5, 0.5])), np.array([0.75, 0.75]), "dx"
)
### END HIDDEN TESTS

# %% [markdown]
# ## 4. ReLU
#
# $$\operatorname{ReLU}(x) = \max(0, x), \qquad
# \operatorname{ReLU}'(x) = \begin{cases} 1 & x > 0 \\ 0 & x < 0 \end{cases}$$
#
# The rectified linear unit is the default activation of modern networks: it costs one
# comparison, and where it is active its slope is exactly 1, so gradients pass through
# unshrunk (section 7 shows why that matters). Two details:
#
# * **At $x = 0$ there is no derivative**: the slope jumps from 0 to 1. Any value in $[0, 1]$
#   is a valid *subgradient*; the convention (PyTorch's too) is 0, i.e. use `x > 0`. An input
#   that is exactly 0 is rare in practice, and the checks accept either choice there.
# * **Dead ReLUs**: a unit whose input is negative for every example gets zero gradient, so its
#   weights never change again. A too-large learning rate can kill many units at once.
#
# Unlike sigmoid and tanh, ReLU's slope cannot be read off its output alone (an output of 0
# comes from every $x \le 0$), so the forward caches the **input** $x$.
#
# A classic bug in this backward is to write into `dout`: `dout[x <= 0] = 0` changes the
# caller's array, and the gradient flowing to *other* layers that share it becomes wrong, far
# from the line that broke it. Compute a new array instead.
#
# ### Exercise 3 (2 points): `relu_backward`


# %% nbgrader={"grade": false, "grade_id": "relu_backward", "locked": false, "schema_version": 3, "solution": true}
def relu_backward(dout, cache):
    """Gradient of the loss with respect to the input of ReLU.

    dout: dL/d(out); cache: the forward's input x, same shape.
    Returns dx: dout where x > 0, and 0 where x <= 0, as a new array (dout is not changed),
    with the shape and dtype of dout.
    """
    ### BEGIN SOLUTION
    x = cache
    return dout * (x > 0)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "check_relu_backward", "locked": true, "points": 2, "schema_version": 3, "solution": false}
RELU_MISTAKES = [
    (
        lambda dout, x: np.maximum(dout, 0),
        "dx applies ReLU to dout, but which elements pass depends on the sign of the forward's "
        "input x (the cache), not of dout: dx = dout * (x > 0).",
    ),
]


def check_relu(x, seed=0):
    check_backward(
        relu_backward,
        F.relu_backward,
        F.relu_forward,
        x,
        seed=seed,
        kinks=True,
        mistakes=RELU_MISTAKES,
    )


x_check = rng.normal(size=(4, 5))
x_check[0, :2] = 0.0  # two inputs sit exactly on the kink
check_relu(x_check)

# worked by hand: the gradient passes where x > 0 and stops where x < 0 (at x = 0 either is fine)
x_hand = np.array([-2.0, -0.5, 0.0, 0.5, 2.0])
dout_hand = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
expect_close(relu_backward(dout_hand, x_hand), np.array([0.0, 0.0, 0.0, 4.0, 5.0]), "dx", at=x_hand)
print("All visible checks passed.")
### BEGIN HIDDEN TESTS
hidden_rng = np.random.default_rng(404)
check_relu(hidden_rng.normal(size=(11,)), seed=7)
check_relu(hidden_rng.normal(size=(2, 3, 4)).astype(np.float32), seed=8)
# all inactive: nothing passes; all active: everything passes unchanged
dout_h = hidden_rng.normal(size=(3, 4))
expect_close(relu_backward(dout_h, -np.ones((3, 4))), np.zeros((3, 4)), "dx (all x < 0)")
expect_close(relu_backward(dout_h, np.ones((3, 4))), dout_h, "dx (all x > 0)")
### END HIDDEN TESTS

# %% [markdown]
# ## 5. Softmax: one function of a whole vector
#
# The last layer of a classifier produces one score per class (the *logits*), and softmax turns
# each row of scores into probabilities:
#
# $$s_i = \frac{e^{x_i}}{\sum_{k=1}^{K} e^{x_k}}, \qquad s_i > 0, \quad \sum_i s_i = 1.$$
#
# ### Stability first
#
# $e^{1000}$ overflows even float64. But adding the same constant $c$ to every score changes
# nothing, since $e^{x_i - c} / \sum_k e^{x_k - c} = e^{x_i} / \sum_k e^{x_k}$. Taking
# $c = \max_k x_k$ makes the largest exponent $e^0 = 1$: no overflow, and at least one term of
# the sum is 1, so no division by 0 either. The forward you are given does exactly that:

# %%
print(inspect.getsource(F.softmax_forward))
logits = np.array([1000.0, 1001.0, 1002.0])
with np.errstate(over="ignore", invalid="ignore"):
    print("as written:    ", np.exp(logits) / np.exp(logits).sum())
print("max subtracted:", F.softmax_forward(logits)[0])

# %% [markdown]
# ### The Jacobian
#
# Softmax is *not* elementwise: every output depends on every input of its row, through the sum
# in the denominator. Its derivative is a $K \times K$ matrix, the Jacobian
# $J_{ij} = \partial s_i / \partial x_j$. By the quotient rule, with $S = \sum_k e^{x_k}$ (so
# $\partial S / \partial x_j = e^{x_j}$):
#
# $$J_{ij} = \frac{\delta_{ij}\,e^{x_i}\,S - e^{x_i}\,e^{x_j}}{S^2} = s_i\,(\delta_{ij} - s_j),
# \qquad J = \operatorname{diag}(s) - s\,s^{\top},$$
#
# where $\delta_{ij}$ is 1 when $i = j$ and 0 otherwise. Worked example for $x = (1, 2, 3)$:

# %%
s_row, _ = F.softmax_forward(np.array([1.0, 2.0, 3.0]))
jacobian = np.diag(s_row) - np.outer(s_row, s_row)
print("s =", s_row)
print("J =\n", jacobian)
print("column sums of J:", jacobian.sum(axis=0))

# %% [markdown]
# On the diagonal, $s_i(1 - s_i)$: the sigmoid's derivative again. Off it, $-s_i s_j < 0$:
# raising one score lowers every other probability. Every column sums to 0, because the
# probabilities always sum to 1 whatever $x$ does.
#
# ### The backward never builds the Jacobian
#
# By the chain rule, $dx_j = \sum_i dout_i\,J_{ij}$: the backward is the
# **vector-Jacobian product** $dx = J^{\top} dout$. Writing out the sum with the formula for
# $J_{ij}$:
#
# $$dx_j = \sum_i dout_i\, s_i (\delta_{ij} - s_j)
# = s_j\, dout_j - s_j \sum_i dout_i\, s_i
# = s_j \Bigl(dout_j - \underbrace{\textstyle\sum_i dout_i\, s_i}_{\text{one number per row}}
# \Bigr).$$
#
# One dot product per row and an elementwise product: $O(K)$ work and memory instead of the
# Jacobian's $O(K^2)$. That is not a detail. For a language model with a vocabulary of
# $K = 50{,}000$ tokens and a batch of 128 positions:

# %%
K, N = 50_000, 128
print(f"Jacobians, float32: {N * K * K * 4 / 1e12:,.2f} TB")
print(f"what the vector-Jacobian product touches (s, dout, dx): {3 * N * K * 4 / 1e6:,.1f} MB")

# %% [markdown]
# Every backward in this course, and in every autodiff framework, works this way: it computes
# $J^{\top} dout$ directly from the cached values, never $J$ itself.
#
# ### Exercise 4 (4 points): `softmax_backward`
#
# `cache` is `(s, axis)`: the softmax output and the axis along which it was taken (the last
# one, `-1`, for a batch of rows of scores; but any axis is allowed). Implement
# $dx = s \odot (dout - \textstyle\sum_{\text{axis}} dout \odot s)$.
#
# **Mind the shape of the sum.** For an $(N, K)$ batch, the sum has one number per row. Summed
# with `keepdims=True` it has shape $(N, 1)$ and broadcasts across the row, as it should.
# Without `keepdims` it has shape $(N,)$, which broadcasts as a *row* of shape $(1, N)$: an
# error when $N \ne K$, and, worse, a silently wrong answer when $N = K$.


# %% nbgrader={"grade": false, "grade_id": "softmax_backward", "locked": false, "schema_version": 3, "solution": true}
def softmax_backward(dout, cache):
    """Gradient of the loss with respect to the input of softmax.

    dout: dL/d(out), same shape as s; cache: (s, axis), the forward's output and the axis the
    softmax was taken along.
    Returns dx = s * (dout - sum(dout * s, along axis)), same shape and dtype as dout, without
    forming the Jacobian.
    """
    ### BEGIN SOLUTION
    s, axis = cache
    return s * (dout - (dout * s).sum(axis=axis, keepdims=True))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "check_softmax_backward", "locked": true, "points": 4, "schema_version": 3, "solution": false}
# classic mistakes, each recognised by its exact numbers: (wrong backward, explanation)
def _lost_axis(dout, s, axis):
    """The sum without keepdims; along the first axis it broadcasts back rightly: no mistake."""
    if axis % dout.ndim == 0:
        return np.full_like(dout, np.nan)
    return s * (dout - (dout * s).sum(axis=axis))


SOFTMAX_MISTAKES = [
    (
        lambda dout, cache: dout * cache[0] * (1 - cache[0]),
        "dx uses only the diagonal of the Jacobian, s * (1 - s), as if softmax were elementwise; "
        "each output depends on every input of its row: dx = s * (dout - sum(dout * s)).",
    ),
    (
        lambda dout, cache: _lost_axis(dout, *cache),
        "the sum lost its axis (no keepdims=True) and broadcast along the wrong one: a square "
        "batch raises no error, it only gives wrong numbers. Sum with keepdims=True.",
    ),
    (
        lambda dout, cache: F.softmax_backward(dout, (cache[0], -1)),
        "dx sums along the last axis, but this softmax was taken along another one: use the "
        "axis stored in the cache (s, axis = cache).",
    ),
]


def check_softmax(x, seed=0, **kw):
    check_backward(
        softmax_backward,
        F.softmax_backward,
        F.softmax_forward,
        x,
        seed=seed,
        mistakes=SOFTMAX_MISTAKES,
        summed_axis=kw.get("axis", -1),
        **kw,
    )


check_softmax(rng.normal(size=(4, 3)))  # a batch of 4 rows of 3 scores

# worked example: one row, against the Jacobian built explicitly above (dx = J^T dout)
s_row, cache_row = F.softmax_forward(np.array([1.0, 2.0, 3.0]))
jacobian = np.diag(s_row) - np.outer(s_row, s_row)
dout_row = np.array([0.5, -1.0, 2.0])
expect_close(softmax_backward(dout_row, cache_row), jacobian.T @ dout_row, "dx (one row)")
print("All visible checks passed.")
### BEGIN HIDDEN TESTS
hidden_rng = np.random.default_rng(505)
check_softmax(hidden_rng.normal(size=(5, 5)), seed=7)  # square: where keepdims bugs hide
check_softmax(hidden_rng.normal(size=(3, 6)), seed=8, axis=0)
check_softmax(hidden_rng.normal(size=(2, 4, 3)), seed=9, axis=1)
check_softmax(hidden_rng.normal(size=(4, 4)), seed=10, axis=0)
# float32, with large logits (the forward subtracts the max; the backward must stay finite)
check_softmax((hidden_rng.normal(size=(6, 10)) * 30).astype(np.float32), seed=11)
check_softmax(hidden_rng.normal(size=(7,)), seed=12)  # a single vector of scores
### END HIDDEN TESTS

# %% [markdown]
# ## 6. Your derivatives, drawn
#
# For an elementwise function, calling the backward with `dout` all ones returns $f'(x)$
# itself. Here are your three elementwise backwards over the slopes measured at the start of
# the notebook, and, for softmax, $\partial s_0 / \partial z$ for the rows $(z, 0)$, obtained by
# sending back `dout = (1, 0)`.

# %%
yours = {
    "sigmoid": sigmoid_backward(np.ones_like(z), F.sigmoid_forward(z)[1]),
    "tanh": tanh_backward(np.ones_like(z), F.tanh_forward(z)[1]),
    "ReLU": relu_backward(np.ones_like(z), F.relu_forward(z)[1]),
    "softmax(z, 0)[0]": softmax_backward(
        np.tile([1.0, 0.0], (len(z), 1)), F.softmax_forward(pair)[1]
    )[:, 0],
}
fig, axes = plt.subplots(1, 4, figsize=(13, 3), sharex=True)
for ax, name in zip(axes, yours):
    ax.plot(z, np.gradient(curves[name], z), lw=4, alpha=0.3, label="measured slope")
    ax.plot(z, yours[name], label="your backward")
    ax.set_title(f"derivative of {name}")
    ax.set_xlabel("z")
axes[0].legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 7. Why the slope's size matters: gradients through depth
#
# In a deep network the gradient reaching layer 1 has passed backwards through every layer
# above it, and through every activation it was **multiplied by the activation's slope**. The
# sigmoid's slope is at most $\tfrac14$, so the activations of twenty sigmoid layers shrink a
# gradient by a factor of at least $4^{20} \approx 10^{12}$ (only large weights could make up for
# it): the first layers stop learning. This *vanishing gradient* problem is one of the reasons
# deep networks were so hard to train until around 2010.
#
# The experiment below builds a 20-layer network (dense layers with 64 units, random weights
# scaled the usual way for each activation), sends a random gradient back from the top with
# **your** backward functions and `dlcourse.functional`'s dense backward, and records the size
# of the gradient arriving at each layer.


# %%
def gradient_sizes(forward, backward, depth=20, width=64, batch=32, gain=1.0, seed=0):
    """Norm of dL/dh at the input of each of ``depth`` (dense -> activation) layers."""
    layer_rng = np.random.default_rng(seed)
    h = layer_rng.standard_normal((batch, width))
    caches = []
    for _ in range(depth):
        w = layer_rng.standard_normal((width, width)) * np.sqrt(gain / width)
        pre, dense_cache = F.dense_forward(h, w, np.zeros(width))
        h, act_cache = forward(pre)
        caches.append((dense_cache, act_cache))
    dh = layer_rng.standard_normal(h.shape)  # the gradient arriving from the loss
    sizes = []
    for dense_cache, act_cache in reversed(caches):
        dh, _, _ = F.dense_backward(backward(dh, act_cache), dense_cache)
        sizes.append(np.linalg.norm(dh))
    return sizes[::-1]  # layer 1 first


# gain: the weight scale usually paired with each activation (ReLU zeroes half its inputs: 2)
setups = {
    "sigmoid": (F.sigmoid_forward, sigmoid_backward, 1.0),
    "tanh": (F.tanh_forward, tanh_backward, 1.0),
    "ReLU": (F.relu_forward, relu_backward, 2.0),
}
fig, ax = plt.subplots(figsize=(7, 4))
for name, (forward, backward, gain) in setups.items():
    sizes = gradient_sizes(forward, backward, gain=gain)
    ax.semilogy(range(1, len(sizes) + 1), sizes, "o-", label=name)
    print(f"{name:8s} gradient at layer 1 / at layer 20: {sizes[0] / sizes[-1]:.1e}")
ax.set_xticks([1, 5, 10, 15, 20])
ax.set_xlabel("layer (1 = closest to the input)")
ax.set_ylabel("size of the gradient (log scale)")
ax.set_title("How much gradient reaches each layer")
ax.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# The sigmoid network's first layers receive a gradient many orders of magnitude smaller than
# its last: with the same learning rate, they barely move. tanh does better (slope up to 1),
# and ReLU, whose active units pass the gradient through with slope exactly 1, keeps it roughly
# constant. That, together with its price of one comparison, is why ReLU and its relatives
# (leaky ReLU, GELU, SiLU) are the default in hidden layers, while sigmoid and softmax live on
# at the output, where a probability is wanted.
#
# ## 8. A third witness: automatic differentiation
#
# Your backwards have been checked against a reference and against finite differences. A
# framework with automatic differentiation gives a third, independent answer:
# `dlcourse.gradcheck.check_against_torch` runs the *same* forward on PyTorch tensors and asks
# `torch.autograd` for the gradient. (Without PyTorch installed it says how to install it.)
# Chapter 06 builds such an engine by hand.

# %%
from dlcourse.gradcheck import check_against_torch

print(check_against_torch(F.softmax_forward, softmax_backward, {"x": rng.normal(size=(3, 4))}))
print(check_against_torch(F.tanh_forward, tanh_backward, {"x": rng.normal(size=(3, 4))}))

# %% [markdown]
# ## Summary
#
# * Without an activation between them, dense layers collapse into one. An activation is a
#   simple nonlinear function, usually applied to each element.
# * For an elementwise $f$, the backward is $dx = dout \odot f'(x)$, no matrix needed:
#   * sigmoid: $f' = s(1 - s)$ and tanh: $f' = 1 - t^2$, written with the cached *output*;
#   * ReLU: $f' = [x > 0]$, written with the cached *input*; at the kink $x = 0$ any value in
#     $[0, 1]$ is a valid subgradient (0 by convention).
# * Softmax couples a whole row: $J = \operatorname{diag}(s) - ss^{\top}$. Its backward is the
#   vector-Jacobian product $dx = s \odot (dout - \sum dout \odot s)$, $O(K)$ instead of
#   $O(K^2)$. Sum with `keepdims=True`: a square batch hides the broadcasting bug otherwise.
# * Stable forwards never exponentiate a large positive number (sigmoid by cases, softmax by
#   subtracting the row max). Backwards never modify their inputs.
# * Small slopes multiply through depth: sigmoid networks' gradients vanish, ReLU's survive.
#
# **Next**, chapter 03 puts softmax at the end of a network and measures how wrong its
# probabilities are with the cross-entropy loss, where softmax's Jacobian and the logarithm's
# derivative cancel into the simplest gradient of the course: $s - y$.

# %% [markdown]
# ## Further reading
#
# * CS231n notes, *Neural Networks Part 1: Setting up the Architecture*: the common activation
#   functions, their pros and cons, and the "dead ReLU".
# * Xavier Glorot and Yoshua Bengio, *Understanding the difficulty of training deep feedforward
#   neural networks* (AISTATS 2010): activations and gradients of sigmoid and tanh networks,
#   measured layer by layer.
# * Vinod Nair and Geoffrey Hinton, *Rectified Linear Units Improve Restricted Boltzmann
#   Machines* (ICML 2010), one of the papers that made ReLU the default.
# * *Dive into Deep Learning*, chapter *Multilayer Perceptrons*: activation functions, numerical
#   stability and initialization.
#
# Credits: section 7's plot of the gradient at each layer is a small version of Glorot and
# Bengio's measurements.
