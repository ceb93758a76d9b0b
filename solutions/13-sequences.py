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
# # 13. Sequences by hand
#
# Text, speech and time series come as **sequences**: the meaning of a character depends on
# the ones before it. This notebook builds the pieces a network needs to read a sequence, each
# forward and backward by hand: an **embedding** that turns token ids into vectors, a
# **recurrent** step that carries a hidden state from one step to the next, backpropagation
# **through time**, gradient **clipping**, and the **LSTM** cell. At the end the front end of
# `dlcourse.nn` trains a small character-level language model on the course library's own
# documentation, on three backends.
#
# **This notebook is worth 14 points**:
#
# | exercise | you write | points |
# |---|---|---|
# | 1 | `embedding_backward(dout, ids, vocab_size)` | 2 |
# | 2 | `rnn_step_backward(dh, cache)` | 3 |
# | 3 | `bptt(dhs, cache)`: the whole sequence | 3 |
# | 4 | `clip_grad_norm(grads, max_norm)` | 2 |
# | 5 | `lstm_step_backward(dh, dc, cache)` | 4 |
#
# Replace each `raise NotImplementedError()` with your code and run the check cell below it.
# The checks compare your functions with the course's references (`dlcourse.functional`) and
# with finite differences, and make sure your functions leave their inputs alone.
#
# **How this notebook is graded.** The grader runs the solution cell of each exercise on its
# own, after this notebook's set-up cell, in a fresh process outside the notebook and on inputs
# of its own, with the caches built by the grader in the format the notebook prescribes; the
# check cells are not run there, and a helper defined in any other cell is missing. The
# course's references for these exercises (`F.embedding_backward`, `F.rnn_step_backward`,
# `F.rnn_backward`, `F.clip_grad_norm`, `F.lstm_step_backward`, `F.lstm_backward` and their
# relatives: the `Embedding` layer's `backward`, the other recurrent cells' backward
# functions, `tanh_backward` and `dense_backward`) are stubs there: a solution that calls one
# scores zero for that exercise. PyTorch, JAX, TensorFlow, Keras, the course's autodiff and
# `dlcourse.gradcheck` cannot be imported while this notebook is graded. There each exercise may
# use 20 CPU seconds and 4 GB of memory; code that needs more is stopped and scores zero for it.
# `dlcourse check --grader` on the saved notebook shows the points the grader would give. Beyond
# the visible checks:
#
# * exercise 1, `check_embedding_backward`, also tested: a float32 `dout` gives a float32
#   `dtable` (its other cases, ids of one and two axes with rows never looked up, test the
#   visible properties on other shapes);
# * exercise 2, `check_rnn_step_backward`, also tested: float32 inputs keep float32, and a
#   batch of one example;
# * exercise 3, `check_bptt`, also tested: float32 inputs keep float32, a batch of one
#   sequence of 8 steps, a sequence of a single step, and a single input feature; it is graded
#   with the course's `rnn_step_backward` in place of yours, so a mistake in exercise 2 does
#   not cost its points twice;
# * exercise 4, `check_clip_grad_norm`, also tested: gradients of a single element, and
#   `max_norm` values of 0.5 and 2;
# * exercise 5, `check_lstm_step_backward`, also tested: float32 inputs keep float32, and a
#   batch of one example.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false}
import importlib.util
import time

import matplotlib.pyplot as plt
import numpy as np

from dlcourse import functional as F
from dlcourse.diagnose import check_not_modified, diagnose
from dlcourse.gradcheck import check_gradients

np.set_printoptions(precision=4, suppress=True)
rng = np.random.default_rng(0)  # a fixed seed: the same numbers on every run

# %% [markdown]
# ## 1. Tokens to vectors
#
# A network multiplies and adds numbers, so a character must become a vector first. Number the
# $V$ characters of the vocabulary $0, \dots, V-1$; an **embedding** is a table $E$ of shape
# $(V, D)$ whose row $E_k$ is the learned vector of token $k$. The forward pass is a look-up:
#
# $$\text{out}[n, t] = E_{\text{ids}[n, t]} .$$
#
# The look-up is the product of a one-hot row with the table, $\text{onehot}(k)\,E = E_k$,
# without building the one-hot matrix. So its backward is that product's weight gradient,
# $dE = \text{onehot}^{\top}\, dout$: row $k$ of $dE$ is the **sum** of the upstream
# gradients of every position that looked up $k$,
#
# $$dE_k = \sum_{(n, t)\,:\,\text{ids}[n, t] = k} dout[n, t] .$$
#
# **The repeated-index trap.** In `dtable[ids] += dout`, NumPy reads `dtable[ids]`, adds and
# writes back; when an id appears twice, both writes go to the same row and the second one
# overwrites the first. Only one contribution survives. `np.add.at(dtable, ids, dout)` adds
# them one after the other, repeats included:

# %%
ids_hand = np.array([2, 0, 2])  # token 2 appears twice
dout_hand = np.array([[1.0, 1.0], [10.0, 10.0], [100.0, 100.0]])
lossy = np.zeros((3, 2))
lossy[ids_hand] += dout_hand
summed = np.zeros((3, 2))
np.add.at(summed, ids_hand, dout_hand)
print("dtable[ids] += dout:\n", lossy, "\nnp.add.at:\n", summed)

# %% [markdown]
# Row 2 should hold $1 + 100 = 101$, and only `np.add.at` gets it.
#
# ### Exercise 1 (2 points): `embedding_backward`
#
# Given `dout` of shape `ids.shape + (D,)` and the integer `ids` of shape (N,) or (N, T),
# return `dtable` of shape (vocab_size, D), in the dtype of `dout`. Rows no id looked up get
# zeros. Do not modify `dout` or `ids`.


# %% nbgrader={"grade": false, "grade_id": "embedding_backward", "locked": false, "schema_version": 3, "solution": true}
def embedding_backward(dout, ids, vocab_size):
    """dL/dtable (vocab_size, D) of out = table[ids], given dout = dL/dout (ids.shape + (D,))."""
    ### BEGIN SOLUTION
    D = dout.shape[-1]
    dtable = np.zeros((vocab_size, D), dtype=dout.dtype)
    np.add.at(dtable, ids.reshape(-1), dout.reshape(-1, D))
    return dtable
    ### END SOLUTION


# %% nbgrader={"grade": false, "grade_id": "check_helpers", "locked": true, "schema_version": 3, "solution": false}
# The check cells below share these helpers: read them to see what is checked.


def expect_close(got, expected, name, context=""):
    """Fail with dlcourse.diagnose's explanation unless ``got`` matches ``expected``."""
    d = diagnose(got, expected, name=name)
    assert d.ok, f"{context}{d}"


def returns(result, count, what):
    assert isinstance(result, tuple) and len(result) == count, (
        f"the function must return the tuple {what}, got {type(result).__name__}"
        f"{f' of length {len(result)}' if hasattr(result, '__len__') else ''}."
    )


def check_embedding(ids, D, V, seed):
    dout = np.random.default_rng(seed).standard_normal((*ids.shape, D))
    context = f"For ids {ids.shape} and D={D}: "
    untouched = check_not_modified(embedding_backward, dout, ids, V)
    assert untouched.ok, f"{context}{untouched}"
    got = embedding_backward(dout.copy(), ids, V)
    _, cache = F.embedding_forward(ids, np.zeros((V, D)))
    expected = F.embedding_backward(dout, cache)
    if getattr(got, "shape", None) == expected.shape and not np.allclose(got, expected):
        counts = np.bincount(ids.reshape(-1), minlength=V)
        once = counts <= 1
        if np.allclose(got[once], expected[once]):
            raise AssertionError(
                f"{context}dtable is wrong only in the rows of ids that appear more than once "
                f"(expected the sum of all their upstream gradients, got fewer of them): "
                f"dtable[ids] += dout keeps one write per row; use "
                f"np.add.at(dtable, ids, dout), which adds repeated ids."
            )
    expect_close(got, expected, "dtable", context)


# %% nbgrader={"grade": true, "grade_id": "check_embedding_backward", "locked": true, "points": 2, "schema_version": 3, "solution": false}
check_embedding(np.array([3, 1, 3, 0]), D=4, V=5, seed=1)  # token 3 twice
check_embedding(np.random.default_rng(2).integers(0, 6, size=(3, 7)), D=3, V=6, seed=2)
expect_close(embedding_backward(dout_hand, ids_hand, 3), summed, "dtable (by hand)")
print("embedding_backward: all visible checks passed.")
### BEGIN HIDDEN TESTS
check_embedding(np.random.default_rng(3).integers(0, 4, size=(5, 9)), D=2, V=10, seed=3)
got32 = embedding_backward(np.ones((2, 3, 4), np.float32), np.zeros((2, 3), np.int64), 5)
assert got32.dtype == np.float32, f"float32 dout must give a float32 dtable, got {got32.dtype}."
### END HIDDEN TESTS

# %% [markdown]
# ## 2. One recurrent step
#
# A vanilla (Elman) RNN reads a sequence one step at a time and keeps a hidden state $h$ of
# $H$ numbers, its memory. One step mixes the input $x_t$ (N, D) with the previous state:
#
# $$a_t = x_t W_x + h_{t-1} W_h + b, \qquad h_t = \tanh(a_t),$$
#
# with $W_x$ (D, H), $W_h$ (H, H) and $b$ (H,), the **same** weights at every step. Its
# backward is a dense layer's behind a tanh: given $dh_t = \partial L / \partial h_t$,
#
# $$da = dh_t \odot (1 - h_t^2), \quad dx = da\, W_x^{\top}, \quad
# dh_{t-1} = da\, W_h^{\top}, \quad dW_x = x_t^{\top} da, \quad dW_h = h_{t-1}^{\top} da,
# \quad db = \textstyle\sum_n da_n .$$
#
# $\tanh' = 1 - \tanh^2$ is written with the output $h_t$ the forward kept. The course's
# forward, `F.rnn_step_forward(x, h_prev, wx, wh, b)`, returns `(h, cache)` with
# **`cache = (x, h_prev, wx, wh, h)`**:

# %%
x1, h1 = rng.standard_normal((2, 3)), rng.standard_normal((2, 4))
wx1, wh1, b1 = rng.standard_normal((3, 4)), rng.standard_normal((4, 4)), rng.standard_normal(4)
h_next, step_cache = F.rnn_step_forward(x1, h1, wx1, wh1, b1)
print("h_t =\n", h_next, "\ncache holds", [np.shape(c) for c in step_cache])

# %% [markdown]
# ### Exercise 2 (3 points): `rnn_step_backward`
#
# Return `(dx, dh_prev, dwx, dwh, db)`, shaped like `x`, `h_prev`, `wx`, `wh` and `b`.


# %% nbgrader={"grade": false, "grade_id": "rnn_step_backward", "locked": false, "schema_version": 3, "solution": true}
def rnn_step_backward(dh, cache):
    """Gradients of h = tanh(x @ wx + h_prev @ wh + b), given dh = dL/dh (N, H).

    cache = (x, h_prev, wx, wh, h). Returns (dx, dh_prev, dwx, dwh, db).
    """
    ### BEGIN SOLUTION
    x, h_prev, wx, wh, h = cache
    da = dh * (1 - h * h)
    return da @ wx.T, da @ wh.T, x.T @ da, h_prev.T @ da, da.sum(axis=0)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "check_rnn_step_backward", "locked": true, "points": 3, "schema_version": 3, "solution": false}
def check_rnn_step(N, D, H, seed):
    case_rng = np.random.default_rng(seed)
    x, h_prev = case_rng.standard_normal((N, D)), case_rng.standard_normal((N, H))
    wx, wh = case_rng.standard_normal((D, H)), case_rng.standard_normal((H, H)) / np.sqrt(H)
    b = case_rng.standard_normal(H)
    h, cache = F.rnn_step_forward(x, h_prev, wx, wh, b)
    dh = case_rng.standard_normal(h.shape)
    context = f"For x {x.shape} and h_prev {h_prev.shape}: "
    untouched = check_not_modified(rnn_step_backward, dh, cache)
    assert untouched.ok, f"{context}{untouched}"
    result = rnn_step_backward(dh.copy(), cache)
    returns(result, 5, "(dx, dh_prev, dwx, dwh, db)")
    names = ("dx", "dh_prev", "dwx", "dwh", "db")
    for name, got, want in zip(names, result, F.rnn_step_backward(dh, cache), strict=True):
        expect_close(got, want, name, context)
    inputs = {"x": x, "h_prev": h_prev, "wx": wx, "wh": wh, "b": b}
    report = check_gradients(F.rnn_step_forward, rnn_step_backward, inputs, seed=seed)
    assert report.passed, f"{context}{report}"


check_rnn_step(2, 3, 4, seed=1)
check_rnn_step(5, 1, 3, seed=2)
print("rnn_step_backward: all visible checks passed.")
### BEGIN HIDDEN TESTS
check_rnn_step(1, 6, 2, seed=3)
check_rnn_step(4, 2, 7, seed=4)
### END HIDDEN TESTS

# %% [markdown]
# ## 3. Backpropagation through time
#
# Over a sequence of T steps the state $h_t$ is used twice: by the loss at step $t$ (through
# whatever reads $h_t$, here $dhs[:, t] = \partial L_t / \partial h_t$), **and** by step
# $t + 1$, which took it as $h_{t}$'s successor's $h_{\text{prev}}$. The chain rule adds both:
#
# $$\frac{\partial L}{\partial h_t} = dhs[:, t] + \underbrace{dh_{\text{prev}}
# \text{ returned by step } t + 1}_{\text{the gradient from the future}} .$$
#
# So backpropagation through time (BPTT) walks the steps in reverse, from $t = T-1$ down to 0,
# carrying `dnext` (zero after the last step): at each step it calls the step backward with
# `dhs[:, t] + dnext` and keeps the `dh_prev` it returns as the next `dnext`. Because the
# weights are shared, $dW_x$, $dW_h$ and $db$ are the **sums** of every step's share. What is
# left in `dnext` after step 0 is $dh_0$.
#
# The course's `F.rnn_forward(x, h0, wx, wh, b)` runs a whole sequence, x (N, T, D), and
# returns `(hs, cache)`: every state hs (N, T, H) and **`cache = (x, h0, wx, wh, hs)`**.
# Step $t$'s own cache is `(x[:, t], h_prev, wx, wh, hs[:, t])` with `h_prev = h0` at
# $t = 0$ and `hs[:, t - 1]` after.
#
# ### Exercise 3 (3 points): `bptt`
#
# Return `(dx, dh0, dwx, dwh, db)`, shaped like `x`, `h0`, `wx`, `wh` and `b`, using your
# `rnn_step_backward`.


# %% nbgrader={"grade": false, "grade_id": "bptt", "locked": false, "schema_version": 3, "solution": true}
def bptt(dhs, cache):
    """Backpropagation through time of a vanilla RNN, given dhs = dL/dhs (N, T, H).

    cache = (x, h0, wx, wh, hs) from F.rnn_forward. Returns (dx, dh0, dwx, dwh, db).
    """
    ### BEGIN SOLUTION
    x, h0, wx, wh, hs = cache
    T = x.shape[1]
    dx = np.zeros_like(x)
    dwx, dwh, db = np.zeros_like(wx), np.zeros_like(wh), np.zeros(wh.shape[1], dtype=wh.dtype)
    dnext = np.zeros_like(h0)
    for t in reversed(range(T)):
        h_prev = h0 if t == 0 else hs[:, t - 1]
        dh = dhs[:, t] + dnext
        dx[:, t], dnext, dwx_t, dwh_t, db_t = rnn_step_backward(
            dh, (x[:, t], h_prev, wx, wh, hs[:, t])
        )
        dwx, dwh, db = dwx + dwx_t, dwh + dwh_t, db + db_t
    return dx, dnext, dwx, dwh, db
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "check_bptt", "locked": true, "points": 3, "schema_version": 3, "solution": false}
def sequence_case(N, T, D, H, seed):
    case_rng = np.random.default_rng(seed)
    x, h0 = case_rng.standard_normal((N, T, D)), case_rng.standard_normal((N, H))
    wx, wh = case_rng.standard_normal((D, H)), case_rng.standard_normal((H, H)) / np.sqrt(H)
    return x, h0, wx, wh, case_rng.standard_normal(H)


def check_bptt(N, T, D, H, seed):
    x, h0, wx, wh, b = sequence_case(N, T, D, H, seed)
    hs, cache = F.rnn_forward(x, h0, wx, wh, b)
    dhs = np.random.default_rng(seed + 100).standard_normal(hs.shape)
    context = f"For x {x.shape} and H={H}: "
    untouched = check_not_modified(bptt, dhs, cache)
    assert untouched.ok, f"{context}{untouched}"
    result = bptt(dhs.copy(), cache)
    returns(result, 5, "(dx, dh0, dwx, dwh, db)")
    expected = F.rnn_backward(dhs, cache)
    # what BPTT gives when each step sees only its own loss, dhs[:, t], and nothing later
    alone = [
        F.rnn_step_backward(dhs[:, t], (x[:, t], h0 if t == 0 else hs[:, t - 1], wx, wh, hs[:, t]))
        for t in range(T)
    ]
    dx_alone = np.stack([a[0] for a in alone], axis=1)
    if T > 1 and np.shape(result[0]) == x.shape and np.allclose(result[0], dx_alone):
        raise AssertionError(
            f"{context}dx is what each step gives from its own loss alone (expected also the "
            f"gradient from the later steps): the gradient from the future is missing; call "
            f"the step backward with dhs[:, t] + dnext, dnext being the dh_prev of step t + 1."
        )
    for name, got, want in zip(("dx", "dh0", "dwx", "dwh", "db"), result, expected, strict=True):
        expect_close(got, want, name, context)
    report = check_gradients(F.rnn_forward, bptt, {"x": x, "h0": h0, "wx": wx, "wh": wh, "b": b})
    assert report.passed, f"{context}{report}"


check_bptt(2, 4, 3, 5, seed=1)
check_bptt(3, 6, 2, 3, seed=2)
print("bptt: all visible checks passed.")
### BEGIN HIDDEN TESTS
check_bptt(1, 1, 2, 2, seed=3)  # a single step: nothing comes back from the future
check_bptt(2, 9, 1, 4, seed=4)
### END HIDDEN TESTS

# %% [markdown]
# ## 4. Exploding and vanishing gradients
#
# Unrolled over time, $\partial L_T / \partial h_t$ is a product of $T - t$ step Jacobians,
# $\operatorname{diag}(1 - h^2)\, W_h^{\top}$: the same matrix, again and again. Its size
# behaves like a power of $W_h$'s scale. Below, $W_h = s\,Q$ with $Q$ orthogonal (it keeps
# lengths), the loss sits at the last of 40 steps only, and your `rnn_step_backward` carries
# its gradient back; we record $\lVert \partial L / \partial h_t \rVert$ at every step.

# %%
N_demo, T_demo, D_demo, H_demo = 8, 40, 4, 32
x_demo = 0.5 * rng.standard_normal((N_demo, T_demo, D_demo))
wx_demo = 0.25 * rng.standard_normal((D_demo, H_demo))
q_demo, _ = np.linalg.qr(rng.standard_normal((H_demo, H_demo)))
dh_last = rng.standard_normal((N_demo, H_demo))
norms_by_scale = {}
for s in (0.5, 1.0, 1.5, 3.0):
    wh_demo = s * q_demo
    h0_demo = np.zeros((N_demo, H_demo))
    hs_demo, _ = F.rnn_forward(x_demo, h0_demo, wx_demo, wh_demo, np.zeros(H_demo))
    dnext, norms = dh_last, []
    for t in reversed(range(T_demo)):
        h_prev = h0_demo if t == 0 else hs_demo[:, t - 1]
        norms.append(np.linalg.norm(dnext))
        _, dnext, *_ = rnn_step_backward(
            dnext, (x_demo[:, t], h_prev, wx_demo, wh_demo, hs_demo[:, t])
        )
    norms_by_scale[s] = norms[::-1]  # in time order: norms[t] = |dL/dh_t|
    print(f"s = {s}: |dL/dh_0| / |dL/dh_39| = {norms_by_scale[s][0] / norms_by_scale[s][-1]:.2e}")

fig, ax = plt.subplots(figsize=(6, 3.5))
for s, norms in norms_by_scale.items():
    ax.semilogy(range(T_demo), norms, label=f"$W_h = {s}\\,Q$")
ax.set_xlabel("time step t (the loss is at t = 39)")
ax.set_ylabel(r"$\|\partial L / \partial h_t\|$ (log scale)")
ax.set_title("The gradient through time")
ax.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# With $s = 0.5$ the gradient shrinks by orders of magnitude within a few steps: the loss at
# the end cannot teach the early steps anything (**vanishing**). With $s = 3$ it grows
# about tenfold every few steps (**exploding**): one such update throws the weights far away.
# tanh' $\le 1$ pulls towards vanishing; large weights push towards exploding.
#
# The cure for exploding is blunt and works: **clip the gradient by its global norm**. Treat
# all of a model's gradients as one long vector $g$, and if its length
# $\lVert g \rVert = \sqrt{\sum_i \sum g_i^2}$ exceeds `max_norm`, multiply **every** gradient
# by the **same** factor $\text{max\_norm} / \lVert g \rVert$. The direction of the step is
# kept, only its length is capped. Clipping each array on its own by its own norm would
# change the direction: a small gradient would keep its size while a big one shrinks. (The
# cure for vanishing is a better cell: the LSTM of section 5.)
#
# ### Exercise 4 (2 points): `clip_grad_norm`
#
# `grads` is a list of arrays. Return `(clipped, total_norm)`: a list of **new** arrays (never
# the inputs, never modified in place), scaled when `total_norm > max_norm` and equal to the
# inputs otherwise, and `total_norm`, the global norm before clipping, as a Python float.


# %% nbgrader={"grade": false, "grade_id": "clip_grad_norm", "locked": false, "schema_version": 3, "solution": true}
def clip_grad_norm(grads, max_norm):
    """Scale every array of ``grads`` by one factor so that their global norm is <= max_norm."""
    ### BEGIN SOLUTION
    total_norm = float(np.sqrt(sum(np.sum(g * g) for g in grads)))
    scale = max_norm / total_norm if total_norm > max_norm else 1.0
    return [g * scale for g in grads], total_norm
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "check_clip_grad_norm", "locked": true, "points": 2, "schema_version": 3, "solution": false}
def check_clip(shapes, max_norm, seed, factor=1.0):
    case_rng = np.random.default_rng(seed)
    grads = [factor * case_rng.standard_normal(shape) for shape in shapes]
    context = f"For gradients of shapes {shapes} and max_norm={max_norm}: "
    untouched = check_not_modified(clip_grad_norm, grads, max_norm)
    assert untouched.ok, f"{context}{untouched}"
    result = clip_grad_norm([g.copy() for g in grads], max_norm)
    returns(result, 2, "(clipped, total_norm)")
    clipped, total = result
    want, want_total = F.clip_grad_norm(grads, max_norm)
    assert len(clipped) == len(grads), f"{context}clipped must hold one array per gradient."
    each_alone = [g * min(1.0, max_norm / np.linalg.norm(g)) for g in grads]
    if all(np.allclose(c, e) for c, e in zip(clipped, each_alone, strict=True)) and not all(
        np.allclose(c, w) for c, w in zip(clipped, want, strict=True)
    ):
        raise AssertionError(
            f"{context}each gradient was clipped by its own norm (expected one factor, "
            f"max_norm / total_norm, for all of them): compute the global norm of all the "
            f"gradients together and scale every one by the same factor."
        )
    for k, (c, w) in enumerate(zip(clipped, want, strict=True)):
        expect_close(c, w, f"clipped[{k}]", context)
    assert np.isclose(float(total), want_total), (
        f"{context}total_norm is {total}, expected {want_total:.6g}, the norm of all the "
        f"gradients together before clipping: sqrt(sum of g**2 over every array)."
    )


check_clip([(3, 4), (4,), (2, 2)], max_norm=1.0, seed=1)  # clipped
check_clip([(3, 4), (4,)], max_norm=100.0, seed=2)  # short enough: unchanged
check_clip([(5,), (2, 3)], max_norm=1.0, seed=3, factor=1e3)
print("clip_grad_norm: all visible checks passed.")
### BEGIN HIDDEN TESTS
check_clip([(6, 2)], max_norm=0.5, seed=4)
check_clip([(2,), (3, 3), (1,)], max_norm=2.0, seed=5, factor=3.0)
### END HIDDEN TESTS

# %% [markdown]
# Clipping the exploding gradients of section 4 ($s = 3$) to a norm of 5 keeps their
# direction: the cosine between the clipped and the raw gradient is 1.

# %%
wh_big = 3.0 * q_demo
hs_big, cache_big = F.rnn_forward(x_demo, np.zeros((N_demo, H_demo)), wx_demo, wh_big, np.zeros(H_demo))
dhs_big = np.zeros_like(hs_big)
dhs_big[:, -1] = dh_last
raw = list(bptt(dhs_big, cache_big)[2:])  # dwx, dwh, db
clipped, raw_norm = clip_grad_norm(raw, 5.0)
flat_raw, flat_clipped = np.concatenate([g.ravel() for g in raw]), np.concatenate(
    [g.ravel() for g in clipped]
)
cosine = flat_raw @ flat_clipped / (np.linalg.norm(flat_raw) * np.linalg.norm(flat_clipped))
print(f"norm before {raw_norm:.3g}, after {np.linalg.norm(flat_clipped):.3g}, cosine {cosine:.6f}")

# %% [markdown]
# ## 5. The LSTM cell
#
# The long short-term memory cell (Hochreiter and Schmidhuber, 1997) adds a second state, the
# **cell** $c$, which is updated by addition rather than by a matrix product. From
# $a = x_t W_x + h_{t-1} W_h + b$, of width $4H$, split into four blocks **in the order
# i, f, g, o** (the order of PyTorch and Keras):
#
# $$i = \sigma(a_i), \quad f = \sigma(a_f), \quad g = \tanh(a_g), \quad o = \sigma(a_o),$$
# $$c_t = f \odot c_{t-1} + i \odot g, \qquad h_t = o \odot \tanh(c_t).$$
#
# $i$ decides how much of the candidate $g$ to write, $f$ how much of the old cell to keep,
# $o$ how much of the cell to show. **Backward**: the step has two outputs, so two upstream
# gradients, $dh$ and $dc$. $c_t$ reaches the loss directly (through the next step, $dc$) and
# through $h_t$, so its total gradient is
#
# $$dc_t = dc + dh \odot o \odot (1 - \tanh^2 c_t).$$
#
# From there, with $\sigma' = \sigma(1 - \sigma)$ and $\tanh' = 1 - \tanh^2$:
#
# $$da_i = dc_t\, g\, i(1 - i), \quad da_f = dc_t\, c_{t-1}\, f(1 - f), \quad
# da_g = dc_t\, i\, (1 - g^2), \quad da_o = dh\, \tanh(c_t)\, o(1 - o),$$
#
# $da = [da_i, da_f, da_g, da_o]$ in the same order, and then as for the RNN:
# $dx = da\,W_x^{\top}$, $dh_{t-1} = da\,W_h^{\top}$, $dW_x = x_t^{\top} da$,
# $dW_h = h_{t-1}^{\top} da$, $db = \sum_n da_n$; and the cell's own path back,
# $dc_{t-1} = dc_t \odot f$. That last product is the LSTM's point: no weight matrix, only a
# gate, so with $f$ near 1 a gradient crosses many steps without vanishing.
#
# `F.lstm_step_forward(x, h_prev, c_prev, wx, wh, b)` returns `(h, c, cache)` with
# **`cache = (x, h_prev, c_prev, wx, wh, (i, f, g, o), tanh_c)`**.
#
# ### Exercise 5 (4 points): `lstm_step_backward`
#
# Return `(dx, dh_prev, dc_prev, dwx, dwh, db)`.


# %% nbgrader={"grade": false, "grade_id": "lstm_step_backward", "locked": false, "schema_version": 3, "solution": true}
def lstm_step_backward(dh, dc, cache):
    """Gradients of one LSTM step, given dh and dc, the gradients reaching h_t and c_t (N, H).

    cache = (x, h_prev, c_prev, wx, wh, (i, f, g, o), tanh_c).
    Returns (dx, dh_prev, dc_prev, dwx, dwh, db).
    """
    ### BEGIN SOLUTION
    x, h_prev, c_prev, wx, wh, (i, f, g, o), tc = cache
    dc_total = dc + dh * o * (1 - tc**2)
    da_i = dc_total * g * i * (1 - i)
    da_f = dc_total * c_prev * f * (1 - f)
    da_g = dc_total * i * (1 - g**2)
    da_o = dh * tc * o * (1 - o)
    da = np.concatenate([da_i, da_f, da_g, da_o], axis=1)
    dc_prev = dc_total * f
    return da @ wx.T, da @ wh.T, dc_prev, x.T @ da, h_prev.T @ da, da.sum(axis=0)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "check_lstm_step_backward", "locked": true, "points": 4, "schema_version": 3, "solution": false}
def lstm_case(N, D, H, seed):
    case_rng = np.random.default_rng(seed)
    return {
        "x": case_rng.standard_normal((N, D)),
        "h_prev": case_rng.standard_normal((N, H)),
        "c_prev": case_rng.standard_normal((N, H)),
        "wx": case_rng.standard_normal((D, 4 * H)) / np.sqrt(D),
        "wh": case_rng.standard_normal((H, 4 * H)) / np.sqrt(H),
        "b": case_rng.standard_normal(4 * H),
    }


def lstm_both(x, h_prev, c_prev, wx, wh, b):
    """The step's two outputs side by side, (N, 2H), for the finite differences."""
    h, c, cache = F.lstm_step_forward(x, h_prev, c_prev, wx, wh, b)
    return np.concatenate([h, c], axis=1), cache


def check_lstm(N, D, H, seed):
    inputs = lstm_case(N, D, H, seed)
    h, c, cache = F.lstm_step_forward(**inputs)
    case_rng = np.random.default_rng(seed + 100)
    dh, dc = case_rng.standard_normal(h.shape), case_rng.standard_normal(c.shape)
    context = f"For x {inputs['x'].shape} and H={H}: "
    untouched = check_not_modified(lstm_step_backward, dh, dc, cache)
    assert untouched.ok, f"{context}{untouched}"
    result = lstm_step_backward(dh.copy(), dc.copy(), cache)
    returns(result, 6, "(dx, dh_prev, dc_prev, dwx, dwh, db)")
    expected = F.lstm_step_backward(dh, dc, cache)
    db, want_db = np.asarray(result[5]), expected[5]
    blocks = np.split(want_db, 4)
    if db.shape == want_db.shape and not np.allclose(db, want_db):
        for order in ("ifog", "fiog", "igfo", "oigf", "giof", "ogfi", "gifo"):
            swapped = np.concatenate([blocks["ifgo".index(k)] for k in order])
            if np.allclose(db, swapped):
                raise AssertionError(
                    f"{context}db holds the right numbers in the wrong blocks (expected the "
                    f"gate order i, f, g, o, got {', '.join(order)}): concatenate "
                    f"[da_i, da_f, da_g, da_o] in that order, the order of the forward's a."
                )
    without_dc = F.lstm_step_backward(dh, np.zeros_like(dc), cache)
    if np.shape(result[0]) == inputs["x"].shape and np.allclose(result[0], without_dc[0]):
        raise AssertionError(
            f"{context}dx is what dc = 0 would give (expected the cell path too): the "
            f"gradient dc reaching c_t is missing; start from dc_t = dc + dh * o * (1 - "
            f"tanh(c_t)**2)."
        )
    names = ("dx", "dh_prev", "dc_prev", "dwx", "dwh", "db")
    for name, got, want in zip(names, result, expected, strict=True):
        expect_close(got, want, name, context)

    def backward_both(dout, cache):
        return lstm_step_backward(dout[:, :H], dout[:, H:], cache)

    report = check_gradients(lstm_both, backward_both, inputs, seed=seed)
    assert report.passed, f"{context}{report}"


check_lstm(2, 3, 4, seed=1)
check_lstm(3, 2, 2, seed=2)
print("lstm_step_backward: all visible checks passed.")
### BEGIN HIDDEN TESTS
check_lstm(1, 5, 3, seed=3)
check_lstm(4, 1, 5, seed=4)
### END HIDDEN TESTS

# %% [markdown]
# ### Checked against PyTorch
#
# `torch.nn.LSTM` uses the same gate order; its `weight_ih_l0` is our $W_x$ transposed, and
# its two biases add up to our $b$. With copied weights, autograd's gradients of one step
# must equal yours (skipped when PyTorch is not installed).

# %%
if importlib.util.find_spec("torch") is None:
    print("PyTorch is not installed: skipping the comparison (pip install torch).")
else:
    import torch

    case = lstm_case(3, 2, 4, seed=7)
    h_t, c_t, cache_t = F.lstm_step_forward(**case)
    dh_t, dc_t = rng.standard_normal(h_t.shape), rng.standard_normal(c_t.shape)
    lstm = torch.nn.LSTM(2, 4, batch_first=True).double()
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(torch.from_numpy(case["wx"].T))
        lstm.weight_hh_l0.copy_(torch.from_numpy(case["wh"].T))
        lstm.bias_ih_l0.copy_(torch.from_numpy(case["b"]))
        lstm.bias_hh_l0.zero_()
    x_torch = torch.from_numpy(case["x"][:, None, :]).requires_grad_()
    h0_torch = torch.from_numpy(case["h_prev"][None]).requires_grad_()
    c0_torch = torch.from_numpy(case["c_prev"][None]).requires_grad_()
    _, (h_n, c_n) = lstm(x_torch, (h0_torch, c0_torch))
    loss = (h_n[0] * torch.from_numpy(dh_t)).sum() + (c_n[0] * torch.from_numpy(dc_t)).sum()
    loss.backward()
    yours = lstm_step_backward(dh_t, dc_t, cache_t)
    torch_grads = {
        "dx": x_torch.grad[:, 0].numpy(),
        "dh_prev": h0_torch.grad[0].numpy(),
        "dc_prev": c0_torch.grad[0].numpy(),
        "dwx": lstm.weight_ih_l0.grad.numpy().T,
        "dwh": lstm.weight_hh_l0.grad.numpy().T,
        "db": lstm.bias_ih_l0.grad.numpy(),
    }
    print("same h as torch:", np.allclose(h_n[0].detach().numpy(), h_t))
    for (name, theirs), mine in zip(torch_grads.items(), yours, strict=True):
        print(f"{name:8s} largest difference from torch.autograd: {np.abs(mine - theirs).max():.1e}")

# %% [markdown]
# ## 6. A character-level language model
#
# Now the same pieces as layers of the front end: `Embedding(V, 8)` turns each character id
# into a vector, `LSTM(32)` reads a window of 10 characters and returns its last state, and
# `Dense(V)` scores every character as the next one. The loss is the cross-entropy of the
# true next character, as in chapter 03.
#
# The text is one that ships with the course: the documentation of its own library (the
# docstrings of `dlcourse.functional` and `dlcourse.nn.layers`), lower-cased and reduced to
# letters, spaces and a little punctuation by `dlcourse.data.library_text`. Nothing is
# downloaded.

# %%
import dlcourse
import dlcourse.nn.layers
from dlcourse.data.library_text import library_text
from dlcourse.nn import LSTM, Adam, Dense, Embedding, Sequential, SparseCategoricalCrossentropy

text = library_text(F, dlcourse.nn.layers)
chars = sorted(set(text))
V = len(chars)
text_ids = np.array([chars.index(ch) for ch in text])
print(f"{len(text):,} characters, a vocabulary of {V}: {''.join(chars)!r}")
print("a sample of the text:", repr(text[1000:1160]))

# a small model on 600 windows: enough to see the loss fall within the notebook's 60 s budget
window = 10
starts = np.arange(0, len(text_ids) - window - 1, 3)[:600]
x_text = np.stack([text_ids[s : s + window] for s in starts])  # (600, 10) character ids
y_text = text_ids[starts + window]  # the character after each window
print("windows", x_text.shape, "next characters", y_text.shape)

# %% [markdown]
# The same model, from the same initial weights (`seed=0`), trained on three backends:
# `manual` runs the hand-written forward and backward of `dlcourse.functional` (the
# embedding's `np.add.at`, the LSTM's backpropagation through time), `torch` and `jax` let
# those libraries compute the gradients. A backend whose library is missing is skipped.


# %%
def char_model():
    return Sequential([Embedding(V, 8), LSTM(32), Dense(V)], seed=0)


lm_histories, lm_models = {}, {}
for name in ["manual", "torch", "jax"]:
    try:
        with dlcourse.backend(name):
            model = char_model()
    except ImportError as err:  # the library is not installed: the message says how
        print(f"{name}: skipped. {err}")
        continue
    model.compile(
        optimizer=Adam(learning_rate=0.02), loss=SparseCategoricalCrossentropy(from_logits=True)
    )
    start = time.perf_counter()
    history = model.fit(x_text, y_text, epochs=6, batch_size=100, verbose=0)
    seconds = time.perf_counter() - start
    lm_histories[name], lm_models[name] = history.history, model
    losses = ", ".join(f"{v:.4f}" for v in history.history["loss"])
    print(f"{name:7s} trained in {seconds:5.2f} s; loss per epoch {losses}")

first, *others = lm_histories
for name in others:
    gap = np.max(np.abs(np.array(lm_histories[name]["loss"]) - lm_histories[first]["loss"]))
    print(f"largest difference in the loss per epoch, {name} vs {first}: {gap:.2e}")
    # the backends add in different orders: about 1e-7 apart, while training moves it by 0.4
    assert gap < 1e-5, f"{name} and {first} should give the same losses from the same weights."
print(f"a uniform guess over {V} characters would have a loss of ln {V} = {np.log(V):.3f}")

fig, ax = plt.subplots(figsize=(6, 3.5))
for name, history in lm_histories.items():
    ax.plot(range(1, len(history["loss"]) + 1), history["loss"], "o-", label=name, alpha=0.7)
ax.axhline(np.log(V), color="gray", linestyle=":", label="uniform guess")
ax.set_xlabel("epoch")
ax.set_ylabel("training loss (nats per character)")
ax.set_title("Embedding + LSTM on the library's documentation")
ax.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# ### Samples
#
# To write, the model reads the last 10 characters, turns its scores into probabilities with a
# softmax (divided by a **temperature** first: below 1 it prefers the likely characters), draws
# the next character, appends it and slides the window along.


# %%
def sample(model, prompt, length, temperature, seed):
    sample_rng = np.random.default_rng(seed)
    ids = [chars.index(ch) for ch in prompt]
    for _ in range(length):
        scores = np.asarray(model.predict(np.array([ids[-window:]]))[0], dtype=np.float64)
        p = np.exp((scores - scores.max()) / temperature)
        ids.append(int(sample_rng.choice(V, p=p / p.sum())))
    return "".join(chars[k] for k in ids)


prompt = text[:window]
for temperature in (0.5, 1.0):
    print(f"temperature {temperature}: {sample(lm_models['manual'], prompt, 120, temperature, 0)!r}")

# %% [markdown]
# After a few seconds of training the samples are not English, but they are not noise
# either: words of the right length, spaces and frequent short words ("the", "of", "a"),
# and fragments of the library's vocabulary. The loss says the same: below the uniform
# guess, far above what a larger model trained for longer would reach.
#
# ## Summary
#
# * An embedding is a table look-up, a one-hot product in disguise; its backward **adds**
#   each upstream gradient into its row: `np.add.at`, because `dtable[ids] += dout` keeps
#   one write per repeated id.
# * One RNN step is a dense layer behind a tanh: $da = dh\,(1 - h^2)$, then the dense
#   layer's three gradients plus $dh_{t-1} = da\,W_h^{\top}$.
# * Backpropagation through time runs the steps in reverse and adds, at every step, the
#   gradient from the future to the step's own; shared weights sum their shares.
# * Through many steps the gradient vanishes or explodes like a power of $W_h$; clipping
#   scales **all** gradients by one factor so their **global** norm is at most `max_norm`.
# * The LSTM's cell state is updated by addition and carried back through a gate,
#   $dc_{t-1} = dc_t\, f$; its backward starts from $dc_t = dc + dh\, o\,(1 - \tanh^2 c_t)$
#   and keeps the gate order i, f, g, o.
# * `Embedding` + `LSTM` + `Dense` learn to predict characters, with the same losses on the
#   manual, torch and jax backends.
#
# **Next**, chapter 14 replaces the recurrence by attention and builds a tiny GPT.
#
# ## Further reading
#
# * CS231n assignment 3, *RNN and LSTM captioning*: the step and sequence backward passes.
# * Andrej Karpathy, *The Unreasonable Effectiveness of Recurrent Neural Networks* (2015):
#   character-level language models.
# * Razvan Pascanu, Tomas Mikolov and Yoshua Bengio, *On the difficulty of training recurrent
#   neural networks* (ICML 2013): exploding and vanishing gradients, clipping by norm.
# * Sepp Hochreiter and Jürgen Schmidhuber, *Long Short-Term Memory* (Neural Computation,
#   1997); Christopher Olah, *Understanding LSTM Networks* (2015).
