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
# # 14. Attention and a tiny GPT
#
# Chapter 13 read a sequence one step at a time, through a hidden state. **Attention** lets
# every position look at every other one directly: each position asks a question (a query),
# every position offers a label (a key) and a content (a value), and the answer is a mix of
# the values, weighted by how well each key fits the question. This notebook writes that
# mechanism forward and backward by hand, with its causal mask and its several heads, writes a
# **byte-pair-encoding** tokenizer, and then stacks attention into a small decoder-only
# transformer, a tiny GPT, trained on the course library's own documentation.
#
# **This notebook is worth 14 points**:
#
# | exercise | you write | points |
# |---|---|---|
# | 1 | `attention_forward(q, k, v, mask=None)` | 3 |
# | 2 | `attention_backward(dout, cache)` | 4 |
# | 3 | `causal_mask(T)` | 1 |
# | 4 | `split_heads(x, num_heads)` and `merge_heads(x)` | 2 |
# | 5 | `bpe_merge(tokens, pair, new_token)` | 2 |
# | 6 | `bpe_encode(text, merges)` | 2 |
#
# Replace each `raise NotImplementedError()` with your code and run the check cell below it.
# The checks compare your functions with the course's references and with finite differences.
#
# **How this notebook is graded.** The grader runs the solution cell of each exercise on its
# own, after this notebook's set-up cell, in a fresh process outside the notebook and on inputs
# of its own; the check cells are not run there, and a helper defined in any other cell is
# missing. The course's references for these exercises (`F.attention_forward`,
# `F.attention_backward` and their module-qualified names in `dlcourse.functional.attention`,
# and the byte-pair encoding of `dlcourse.data.bpe`: `merge_pair`, `bpe_encode`, `bpe_train`,
# `bpe_decode`) are stubs there: a solution that calls one scores zero for that exercise.
# PyTorch, JAX, TensorFlow, Keras and the course's autodiff cannot be imported while this
# notebook is graded. There each exercise may use 20 CPU seconds and 4 GB of memory; code that
# needs more is stopped and scores zero for it. `dlcourse check --grader` on the saved notebook
# shows the points the grader would give. Beyond the visible checks:
#
# * exercise 1, `check_attention_forward`, also tested: float32 inputs keep float32 (the weights
#   `p` stored in the cache are compared as well as `out`, as in the visible check);
# * exercise 2, `check_attention_backward`, also tested: float32 caches give float32
#   gradients; it is graded on caches the grader builds, so it does not depend on exercise 1;
# * exercise 3, `check_causal_mask`, also tested: one more length, between 5 and 11;
# * exercise 4, `check_heads`, the visible check covers everything (both `split_heads` and
#   `merge_heads`, on other random arrays);
# * exercise 5, `check_bpe_merge`, also tested: a run of five equal tokens merged by that same
#   pair (the visible `aaa` by `(a, a)` is a run of three); its random sequence of 30 tokens
#   from three symbols tests the visible properties on a longer input;
# * exercise 6, `check_bpe_encode`, also tested: text with two-byte UTF-8 characters (`é`);
#   it is graded with the course's `bpe_merge` in place of yours, so a mistake in exercise 5
#   is not counted twice.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false}
import importlib.util
import time

import matplotlib.pyplot as plt
import numpy as np

from dlcourse import functional as F
from dlcourse.data import bpe as bpe_reference
from dlcourse.diagnose import check_not_modified, diagnose
from dlcourse.gradcheck import check_gradients

np.set_printoptions(precision=4, suppress=True)
rng = np.random.default_rng(0)  # a fixed seed: the same numbers on every run

# %% [markdown]
# ## 1. A soft dictionary look-up
#
# A Python dictionary answers a query with the value of the one key that equals it. Attention
# answers with **every** value at once, each weighted by how similar its key is to the query:
#
# $$\text{out} = \sum_j p_j\, v_j, \qquad p = \operatorname{softmax}_j\!\left(q \cdot k_j\right),$$
#
# so the weights are positive and sum to 1. A query that matches one key much better than the
# others gets almost all of its value, a hard look-up; a vague query gets an average. In
# matrix form, with the queries as the rows of $Q$ (Tq, d), the keys as the rows of $K$
# (Tk, d) and the values as the rows of $V$ (Tk, dv):
#
# $$S = \frac{Q K^{\top}}{\sqrt{d}}, \qquad P = \operatorname{softmax}(S) \text{ over each
# row (the keys)}, \qquad \text{out} = P\, V .$$
#
# Row $i$ of $P$ says where query $i$ looks. Below, six "words" get random keys, and each
# query is its word's key plus a little noise, except the last, a blend of two: the heat map
# of $P$ is nearly the identity, with the blend split between its two words.

# %%
words = ["the", "layer", "keeps", "its", "weights", "fixed"]
d_demo = 8
keys_demo = rng.standard_normal((len(words), d_demo))
queries_demo = keys_demo + 0.3 * rng.standard_normal(keys_demo.shape)
queries_demo[-1] = (keys_demo[1] + keys_demo[4]) / np.sqrt(2)  # between "layer" and "weights"
scores_demo = queries_demo @ keys_demo.T / np.sqrt(d_demo)
weights_demo = np.exp(scores_demo - scores_demo.max(axis=1, keepdims=True))
weights_demo /= weights_demo.sum(axis=1, keepdims=True)

fig, ax = plt.subplots(figsize=(4.5, 4))
ax.imshow(weights_demo, cmap="viridis", vmin=0, vmax=1)
ax.set_xticks(range(len(words)), words, rotation=45)
ax.set_yticks(range(len(words)), [f"query {i}" for i in range(len(words))])
ax.set_xlabel("key")
ax.set_title("attention weights P (each row sums to 1)")
plt.tight_layout()
plt.show()
print("the last query's weights:", weights_demo[-1])

# %% [markdown]
# ### Exercise 1 (3 points): `attention_forward`
#
# Write scaled dot-product attention for arrays with any leading axes (batch, heads):
# `q` (..., Tq, d), `k` (..., Tk, d), `v` (..., Tk, dv). `mask`, when given, holds booleans
# broadcastable to (..., Tq, Tk), **True where a query may attend to a key**. A hidden key
# must get a weight of exactly 0 and the weights of every row must still sum to 1: set its
# **score** to $-\infty$ before the softmax (`np.where(mask, s, -np.inf)`), since
# $e^{-\infty} = 0$. Subtract each row's maximum before `np.exp`, as in chapter 03.
#
# Return `(out, cache)` with `out` (..., Tq, dv) and **`cache = (q, k, v, p, scale)`**, `p`
# the weights (..., Tq, Tk) and `scale` $= 1/\sqrt{d}$, the cache of the course's
# `F.attention_forward`. `np.swapaxes(k, -1, -2)` transposes the last two axes only.


# %% nbgrader={"grade": false, "grade_id": "attention_forward", "locked": false, "schema_version": 3, "solution": true}
def attention_forward(q, k, v, mask=None):
    """softmax(q @ k^T / sqrt(d)) @ v over the keys; mask: True where a query may attend.

    Returns (out, cache), cache = (q, k, v, p, scale).
    """
    ### BEGIN SOLUTION
    scale = q.shape[-1] ** -0.5  # a Python float: float32 inputs stay float32
    s = (q @ np.swapaxes(k, -1, -2)) * scale
    if mask is not None:
        s = np.where(mask, s, -np.inf)
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    p = e / e.sum(axis=-1, keepdims=True)
    return p @ v, (q, k, v, p, scale)
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


def same(got, want):
    got = np.asarray(got)
    return got.shape == np.shape(want) and np.allclose(got, want, rtol=1e-5, atol=1e-8)


def softmax_rows(s, axis=-1):
    e = np.exp(s - s.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def attention_case(lead, Tq, Tk, d, dv, seed):
    case_rng = np.random.default_rng(seed)
    q = case_rng.standard_normal((*lead, Tq, d))
    k, v = case_rng.standard_normal((*lead, Tk, d)), case_rng.standard_normal((*lead, Tk, dv))
    return q, k, v


def lower_triangle(Tq, Tk):
    return np.arange(Tk)[None, :] <= np.arange(Tq)[:, None]


# %% nbgrader={"grade": true, "grade_id": "check_attention_forward", "locked": true, "points": 3, "schema_version": 3, "solution": false}
def forward_mistake(out, q, k, v, mask):
    """The classic mistake that gives ``out``, recomputed from q, k, v, or None."""
    s = q @ np.swapaxes(k, -1, -2)
    scaled = s / np.sqrt(q.shape[-1])
    masked = scaled if mask is None else np.where(mask, scaled, -np.inf)
    if mask is not None and same(out, (softmax_rows(scaled) * mask) @ v):
        return (
            "out is what masking after the softmax gives (expected hidden keys to get no "
            "weight while each row still sums to 1): apply the mask to the scores before "
            "the softmax, s = np.where(mask, s, -np.inf)."
        )
    if mask is not None and same(out, softmax_rows(scaled) @ v):
        return (
            "out is attention without the mask (expected hidden keys to get a weight of 0): "
            "the mask is not applied; set the hidden scores to -inf before the softmax."
        )
    with np.errstate(invalid="ignore"):
        if same(out, np.nan_to_num(softmax_rows(masked, axis=-2)) @ v):
            return (
                "out is what a softmax over the queries gives (expected each query's weights "
                "over the keys to sum to 1): take the softmax over the last axis, axis=-1."
            )
    unscaled = s if mask is None else np.where(mask, s, -np.inf)
    if q.shape[-1] > 1 and same(out, softmax_rows(unscaled) @ v):
        return (
            f"out is attention with the scores q @ k^T left unscaled (expected them divided "
            f"by sqrt(d) = sqrt({q.shape[-1]})): the 1/sqrt(d) is missing; multiply the "
            f"scores by scale = 1 / np.sqrt(d)."
        )
    return None


def check_attention(lead, Tq, Tk, d, dv, seed, causal):
    q, k, v = attention_case(lead, Tq, Tk, d, dv, seed)
    mask = lower_triangle(Tq, Tk) if causal else None
    context = f"For q {q.shape}, k {k.shape}{' and a causal mask' if causal else ''}: "
    untouched = check_not_modified(attention_forward, q, k, v, mask)
    assert untouched.ok, f"{context}{untouched}"
    result = attention_forward(q.copy(), k.copy(), v.copy(), mask)
    returns(result, 2, "(out, cache)")
    out, cache = result
    expected, (*_, p_want, scale_want) = F.attention_forward(q, k, v, mask)
    if not same(out, expected):
        mistake = forward_mistake(out, q, k, v, mask)
        assert mistake is None, f"{context}{mistake}"
    expect_close(out, expected, "out", context)
    returns(tuple(cache), 5, "cache = (q, k, v, p, scale)")
    expect_close(cache[3], p_want, "p (the weights in the cache)", context)
    assert np.isclose(cache[4], scale_want), f"{context}cache[4] must be scale = 1/sqrt(d)."


check_attention((), 4, 4, 3, 2, seed=1, causal=False)
check_attention((2,), 5, 5, 4, 3, seed=2, causal=True)
check_attention((2, 3), 3, 6, 8, 2, seed=3, causal=False)
print("attention_forward: all visible checks passed.")
### BEGIN HIDDEN TESTS
check_attention((3,), 7, 7, 16, 5, seed=4, causal=True)
check_attention((1, 2), 2, 5, 5, 4, seed=5, causal=False)
### END HIDDEN TESTS

# %% [markdown]
# ### Why divide by $\sqrt{d}$?
#
# With queries and keys of unit-variance entries, $q \cdot k$ is a sum of $d$ products of
# variance 1: its spread grows like $\sqrt{d}$. Wider heads would give ever larger scores, and
# a softmax of large scores is nearly one-hot: it **saturates**, each query sees one key, and
# its gradient (section 2) nearly vanishes. Dividing by $\sqrt{d}$ keeps the scores' spread at
# 1 for any width. Below, your `attention_forward` runs on random queries and keys of growing
# width $d$, with the scale and without it (multiplying `q` by $\sqrt{d}$ cancels the scale);
# we measure the largest weight of each row (1 means one-hot) and the rows' entropy,
# $-\sum_j p_j \ln p_j$ ($\ln T_k$ for a uniform row, 0 for a one-hot one).

# %%
Tk_demo = 32
saturation = {}
for d in (4, 16, 64, 256, 1024):
    q_s, k_s, v_s = attention_case((), Tk_demo, Tk_demo, d, 1, seed=d)
    for scaled in (True, False):
        _, (*_, p_s, _) = attention_forward(q_s if scaled else q_s * np.sqrt(d), k_s, v_s)
        entropy = -np.sum(p_s * np.log(np.clip(p_s, 1e-300, None)), axis=-1).mean()
        saturation[d, scaled] = (p_s.max(axis=-1).mean(), entropy)
print(
    f"uniform rows: largest weight {1 / Tk_demo:.3f}, entropy ln {Tk_demo} = {np.log(Tk_demo):.2f}"
)
print("    d | with 1/sqrt(d): max weight, entropy | without: max weight, entropy")
for d in (4, 16, 64, 256, 1024):
    (m1, e1), (m0, e0) = saturation[d, True], saturation[d, False]
    print(f"{d:5d} | {m1:14.3f} {e1:12.2f} | {m0:18.3f} {e0:8.2f}")
# with the scale the weights do not depend on d; without it they become one-hot
assert saturation[1024, False][0] > 0.9 > 0.5 > saturation[1024, True][0]

# %% [markdown]
# With the scale, the rows keep the same spread at every width. Without it, at $d = 1024$ the
# largest weight is close to 1 and the entropy close to 0: each query copies one value, and
# the softmax's slope, $p_j(1 - p_j)$ on the diagonal of its Jacobian, is near 0 for every
# key, so almost no gradient reaches the queries and keys (section 2).
#
# ## 2. Attention backward
#
# Walk back through the three steps of the forward, given $d\text{out} = \partial L /
# \partial \text{out}$ (..., Tq, dv):
#
# * $\text{out} = P V$ is a matrix product: $dV = P^{\top} d\text{out}$ and
#   $dP = d\text{out}\, V^{\top}$.
# * The softmax of each row, $p = \operatorname{softmax}(s)$, has the Jacobian
#   $\partial p_j / \partial s_l = p_j(\delta_{jl} - p_l)$, so
#   $$dS = P \odot \left(dP - \textstyle\sum_l (dP \odot P)_{:, l}\right),$$
#   the row sum being kept as a column (`keepdims=True`). A hidden key has $p = 0$, so its
#   $dS$ is 0 with no extra code: the mask needs nothing in the backward.
# * $S = \text{scale} \cdot Q K^{\top}$: $dQ = \text{scale} \cdot dS\, K$ and
#   $dK = \text{scale} \cdot dS^{\top} Q$.
#
# With leading axes, "transpose" means `np.swapaxes(a, -1, -2)`, and the matrix products
# run batch by batch by themselves.
#
# ### Exercise 2 (4 points): `attention_backward`
#
# Given `dout` and the `cache = (q, k, v, p, scale)` of exercise 1, return `(dq, dk, dv)`,
# shaped like `q`, `k` and `v`.


# %% nbgrader={"grade": false, "grade_id": "attention_backward", "locked": false, "schema_version": 3, "solution": true}
def attention_backward(dout, cache):
    """Gradients (dq, dk, dv) of out = softmax(scale * q @ k^T) @ v, given dout = dL/dout.

    cache = (q, k, v, p, scale).
    """
    ### BEGIN SOLUTION
    q, k, v, p, scale = cache
    dv = np.swapaxes(p, -1, -2) @ dout
    dp = dout @ np.swapaxes(v, -1, -2)
    ds = p * (dp - np.sum(dp * p, axis=-1, keepdims=True))
    return (ds @ k) * scale, (np.swapaxes(ds, -1, -2) @ q) * scale, dv
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "check_attention_backward", "locked": true, "points": 4, "schema_version": 3, "solution": false}
def check_attention_grads(lead, Tq, Tk, d, dv_width, seed, causal):
    q, k, v = attention_case(lead, Tq, Tk, d, dv_width, seed)
    mask = lower_triangle(Tq, Tk) if causal else None
    out, cache = F.attention_forward(q, k, v, mask)
    dout = np.random.default_rng(seed + 100).standard_normal(out.shape)
    context = f"For q {q.shape}, k {k.shape}{' and a causal mask' if causal else ''}: "
    untouched = check_not_modified(attention_backward, dout, cache)
    assert untouched.ok, f"{context}{untouched}"
    result = attention_backward(dout.copy(), cache)
    returns(result, 3, "(dq, dk, dv)")
    expected = F.attention_backward(dout, cache)
    root_d = np.sqrt(d)
    if d > 1 and same(result[0], expected[0] * root_d) and same(result[1], expected[1] * root_d):
        raise AssertionError(
            f"{context}dq and dk are sqrt(d) = {root_d:.3g} times too large: the scale is "
            f"missing from the backward; the scores were s = scale * q @ k^T, so multiply "
            f"ds @ k and ds^T @ q by scale."
        )
    for name, got, want in zip(("dq", "dk", "dv"), result, expected, strict=True):
        expect_close(got, want, name, context)
    forward = lambda q, k, v: F.attention_forward(q, k, v, mask)  # noqa: E731
    report = check_gradients(forward, attention_backward, {"q": q, "k": k, "v": v}, seed=seed)
    assert report.passed, f"{context}{report}"


check_attention_grads((), 3, 4, 2, 3, seed=1, causal=False)
check_attention_grads((2,), 5, 5, 4, 2, seed=2, causal=True)
check_attention_grads((2, 2), 4, 3, 3, 5, seed=3, causal=False)
print("attention_backward: all visible checks passed.")
### BEGIN HIDDEN TESTS
check_attention_grads((3,), 6, 6, 8, 4, seed=4, causal=True)
check_attention_grads((1, 3), 2, 7, 5, 1, seed=5, causal=False)
### END HIDDEN TESTS

# %% [markdown]
# ## 3. The causal mask
#
# A language model predicts each token from the ones **before** it. If position $t$ could
# attend to position $t + 1$, it would read the answer. The **causal mask** lets query $t$
# attend to keys $0, \dots, t$ only: the lower triangle of a $T \times T$ matrix, diagonal
# included (a token may look at itself).
#
# ### Exercise 3 (1 point): `causal_mask`
#
# Return a boolean array of shape (T, T), `mask[i, j]` True exactly when $j \le i$.


# %% nbgrader={"grade": false, "grade_id": "causal_mask", "locked": false, "schema_version": 3, "solution": true}
def causal_mask(T):
    """(T, T) booleans, True where query i may attend to key j (j <= i)."""
    ### BEGIN SOLUTION
    return np.tril(np.ones((T, T), dtype=bool))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "check_causal_mask", "locked": true, "points": 1, "schema_version": 3, "solution": false}
def mask_mistake(mask):
    """The classic mistake that gives ``mask``, or None."""
    T = mask.shape[0]
    if np.array_equal(mask, lower_triangle(T, T).T) and T > 1:
        return (
            "mask is the upper triangle (expected True where the key comes at or before the "
            "query, j <= i): query i would read the future; keep the lower triangle, np.tril."
        )
    if np.array_equal(mask, lower_triangle(T, T) & ~np.eye(T, dtype=bool)):
        return (
            "mask hides the diagonal (expected True at j = i too): a token may attend to "
            "itself, and row 0 would have no key at all; include the diagonal."
        )
    return None


def check_causal(T):
    mask = np.asarray(causal_mask(T))
    assert mask.shape == (T, T), f"causal_mask({T}) must have shape ({T}, {T}), got {mask.shape}."
    assert mask.dtype == bool, f"causal_mask({T}) must hold booleans, got {mask.dtype}."
    mistake = mask_mistake(mask)
    assert mistake is None, f"For T={T}: {mistake}"
    for i in range(T):
        allowed = np.flatnonzero(mask[i])
        assert list(allowed) == list(range(i + 1)), (
            f"For T={T}: row {i} of the mask allows keys {list(allowed)}, expected 0..{i}."
        )


check_causal(1)
check_causal(4)
print(causal_mask(4))
print("causal_mask: all visible checks passed.")
### BEGIN HIDDEN TESTS
check_causal(9)
### END HIDDEN TESTS

# %% [markdown]
# The weights of a causal self-attention are a lower triangle too: each row spreads its
# weight over the past only, and the first token can only look at itself.

# %%
x_causal = rng.standard_normal((8, 4))
_, (*_, p_causal, _) = attention_forward(x_causal, x_causal, x_causal, causal_mask(8))
fig, ax = plt.subplots(figsize=(3.5, 3.2))
ax.imshow(p_causal, cmap="viridis", vmin=0, vmax=1)
ax.set_xlabel("key (position)")
ax.set_ylabel("query (position)")
ax.set_title("causal self-attention weights")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 4. Several heads, by reshaping
#
# One softmax per query can look at one thing at a time. **Multi-head** attention runs $h$
# attentions side by side on slices of the features: the $D$ features of each token are cut
# into $h$ heads of $D/h$, head $j$ taking features $j D/h$ to $(j+1) D/h - 1$. No loop is
# needed: reshape (N, T, D) into (N, T, h, D/h), then **move the head axis before the time
# axis**, (N, h, T, D/h), so that the matrix products of `attention_forward` run over
# (batch, head) pairs. Merging does the reverse: back to (N, T, h, D/h), then (N, T, D).
#
# The transpose matters. `x.reshape(N, h, T, D // h)` has the right shape but cuts the
# memory in the wrong order: its "head 0" is the first $T/h$ **tokens**, not the first $D/h$
# **features**.
#
# ### Exercise 4 (2 points): `split_heads` and `merge_heads`
#
# `split_heads(x, num_heads)`: (N, T, D) -> (N, num_heads, T, D // num_heads), head `j`
# holding features `j*D//num_heads` up to `(j+1)*D//num_heads`. `merge_heads(x)`: its inverse,
# (N, h, T, dh) -> (N, T, h*dh). Use `reshape` and `np.transpose` (or `swapaxes`).


# %% nbgrader={"grade": false, "grade_id": "heads", "locked": false, "schema_version": 3, "solution": true}
def split_heads(x, num_heads):
    """(N, T, D) -> (N, num_heads, T, D // num_heads): head j holds features j*dh..(j+1)*dh."""
    ### BEGIN SOLUTION
    N, T, D = x.shape
    return x.reshape(N, T, num_heads, D // num_heads).transpose(0, 2, 1, 3)
    ### END SOLUTION


def merge_heads(x):
    """(N, h, T, dh) -> (N, T, h * dh), the inverse of split_heads."""
    ### BEGIN SOLUTION
    N, h, T, dh = x.shape
    return x.transpose(0, 2, 1, 3).reshape(N, T, h * dh)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "check_heads", "locked": true, "points": 2, "schema_version": 3, "solution": false}
def check_heads(N, T, D, heads, seed):
    x = np.random.default_rng(seed).standard_normal((N, T, D))
    dh, context = D // heads, f"For x {x.shape} and {heads} heads: "
    untouched = check_not_modified(split_heads, x, heads)
    assert untouched.ok, f"{context}{untouched}"
    split = np.asarray(split_heads(x.copy(), heads))
    if T > 1 and heads > 1 and same(split, x.reshape(N, heads, T, dh)):
        raise AssertionError(
            f"{context}split_heads cut x in the wrong order (expected head j to hold features "
            f"j*dh to (j+1)*dh of every token): a reshape to (N, h, T, dh) without a transpose "
            f"mixes tokens into heads; reshape to (N, T, h, dh), then transpose(0, 2, 1, 3)."
        )
    assert split.shape == (N, heads, T, dh), (
        f"{context}split_heads must return shape (N, h, T, dh) = {(N, heads, T, dh)}, "
        f"got {split.shape}."
    )
    for j in range(heads):
        expect_close(split[:, j], x[..., j * dh : (j + 1) * dh], f"split_heads(x)[:, {j}]", context)
    parts = np.stack([x[..., j * dh : (j + 1) * dh] for j in range(heads)], axis=1)
    merged = np.asarray(merge_heads(parts.copy()))
    if T > 1 and heads > 1 and same(merged, parts.reshape(N, T, D)):
        raise AssertionError(
            f"{context}merge_heads put the heads back in the wrong order (expected the heads' "
            f"features side by side for every token): a reshape to (N, T, h*dh) without a "
            f"transpose mixes tokens; transpose(0, 2, 1, 3) first, then reshape."
        )
    expect_close(merged, x, "merge_heads(split)", context)


check_heads(2, 3, 8, 2, seed=1)
check_heads(1, 5, 6, 3, seed=2)
check_heads(3, 4, 4, 1, seed=3)
print("split_heads and merge_heads: all visible checks passed.")
### BEGIN HIDDEN TESTS
check_heads(2, 7, 12, 4, seed=4)
### END HIDDEN TESTS

# %% [markdown]
# Multi-head attention is then four matrix products around your functions: project the
# tokens to queries, keys and values, split them into heads, attend, merge, and project back.
# `dlcourse.nn.MultiHeadAttention` (Keras's layer) keeps each projection as a kernel
# (D, heads, head width); reshaped to (D, heads * width), its columns come head by head, the
# order `split_heads` cuts. With the layer's own weights, your pieces give its output:

# %%
from dlcourse.nn import MultiHeadAttention

tokens = rng.standard_normal((2, 6, 8)).astype(np.float32)
mha = MultiHeadAttention(num_heads=2, key_dim=4)
layer_out = np.asarray(mha(tokens, tokens, use_causal_mask=True))
w = {name: np.asarray(value) for name, value in zip(mha.weight_names, mha.get_weights())}


def project(x, name):
    kernel = w[f"{name}_kernel"]
    return x @ kernel.reshape(kernel.shape[0], -1) + w[f"{name}_bias"].reshape(-1)


heads_q, heads_k, heads_v = (split_heads(project(tokens, n), 2) for n in ("query", "key", "value"))
attended, _ = attention_forward(heads_q, heads_k, heads_v, causal_mask(6))
by_hand = merge_heads(attended) @ w["output_kernel"].reshape(8, 8) + w["output_bias"]
print(f"largest difference from MultiHeadAttention: {np.abs(by_hand - layer_out).max():.1e}")
assert np.allclose(by_hand, layer_out, atol=1e-5)

# %% [markdown]
# ## 5. Byte-pair encoding
#
# A model reads numbers, so text must become token ids. Characters give a small vocabulary
# but long sequences; whole words give short sequences but a huge vocabulary, and no id for
# a word never seen. **Byte-pair encoding** (BPE, used by GPT-2 and its successors) starts
# from the bytes of the text, ids 0 to 255, and learns merges: count every pair of
# neighbouring tokens, give the most frequent pair a new id (256, then 257, ...) and replace
# it everywhere; repeat. Frequent fragments ("the ", "ing") become one token, and any text
# can still be encoded, byte by byte if need be.
#
# Replacing a pair scans **left to right**, and a token used by one merge cannot start the
# next: `[a, a, a]` with the pair `(a, a)` becomes `[X, a]`, not `[X, X]` (there are two
# overlapping pairs, but only three tokens to make them from).
#
# ### Exercise 5 (2 points): `bpe_merge`
#
# `tokens` is a list of ints, `pair` a tuple `(a, b)`. Return a **new** list in which every
# occurrence of `a` followed by `b`, found from the left, is replaced by `new_token`. Leave
# `tokens` unchanged.


# %% nbgrader={"grade": false, "grade_id": "bpe_merge", "locked": false, "schema_version": 3, "solution": true}
def bpe_merge(tokens, pair, new_token):
    """A new list: tokens with each (a, b) = pair, scanned from the left, replaced by new_token."""
    ### BEGIN SOLUTION
    merged, i = [], 0
    while i < len(tokens):
        if i + 1 < len(tokens) and tokens[i] == pair[0] and tokens[i + 1] == pair[1]:
            merged.append(new_token)
            i += 2
        else:
            merged.append(tokens[i])
            i += 1
    return merged
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "check_bpe_merge", "locked": true, "points": 2, "schema_version": 3, "solution": false}
def overlapping_merge(tokens, pair, new_token):
    """What a merge that does not skip the second token of a pair gives."""
    out = []
    for i, t in enumerate(tokens):
        if i + 1 < len(tokens) and (t, tokens[i + 1]) == tuple(pair):
            out.append(new_token)
        elif not (i > 0 and (tokens[i - 1], t) == tuple(pair)):
            out.append(t)
    return out


def stepped_once(tokens, pair, new_token):
    """What a merge that moves on by one token, not two, after a pair gives."""
    out = []
    for i, t in enumerate(tokens):
        out.append(new_token if (t, *tokens[i + 1 : i + 2]) == tuple(pair) else t)
    return out


def check_merge(tokens, pair, new_token):
    context = f"For tokens {tokens} and pair {pair}: "
    before = list(tokens)
    got = bpe_merge(tokens, pair, new_token)
    assert tokens == before, f"{context}bpe_merge changed its input tokens: return a new list."
    want = bpe_reference.merge_pair(tokens, pair, new_token)
    wrong = (overlapping_merge(tokens, pair, new_token), stepped_once(tokens, pair, new_token))
    if list(got) != want and list(got) in wrong:
        raise AssertionError(
            f"{context}bpe_merge gave {list(got)}, expected {want}: an overlapping run was "
            f"merged twice (the middle token used by two pairs); after a merge, skip both "
            f"tokens of the pair (i += 2)."
        )
    assert list(got) == want, f"{context}bpe_merge gave {list(got)}, expected {want}."


check_merge([97, 98, 99, 97, 98], (97, 98), 256)
check_merge([97, 97, 97], (97, 97), 256)  # "aaa": one merge, then the last a
check_merge([1, 2, 3], (3, 1), 256)  # the pair does not occur
check_merge([], (1, 2), 256)
print("bpe_merge: all visible checks passed.")
### BEGIN HIDDEN TESTS
check_merge([5, 5, 5, 5, 5, 2, 5, 5], (5, 5), 300)
check_merge([7], (7, 7), 256)
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 6 (2 points): `bpe_encode`
#
# Training gives a list `merges` of pairs, merge `k` having made token `256 + k`. To encode a
# new text, start from its bytes, `list(text.encode("utf-8"))`, and apply every merge **in
# the order it was learned** (a later merge may use a token an earlier one made) with your
# `bpe_merge`. Return the list of token ids.


# %% nbgrader={"grade": false, "grade_id": "bpe_encode", "locked": false, "schema_version": 3, "solution": true}
def bpe_encode(text, merges):
    """Token ids of text: its UTF-8 bytes, then merge k (making token 256 + k), in order."""
    ### BEGIN SOLUTION
    tokens = list(text.encode("utf-8"))
    for k, pair in enumerate(merges):
        tokens = bpe_merge(tokens, pair, 256 + k)
    return tokens
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "check_bpe_encode", "locked": true, "points": 2, "schema_version": 3, "solution": false}
def check_encode(text, merges):
    context = f"For {text!r} and {len(merges)} merges: "
    got = list(bpe_encode(text, merges))
    want = bpe_reference.bpe_encode(text, merges)
    last_first = list(text.encode("utf-8"))
    for k in reversed(range(len(merges))):  # each merge keeps its own token, 256 + k
        last_first = bpe_reference.merge_pair(last_first, merges[k], 256 + k)
    if got != want and got == last_first:
        raise AssertionError(
            f"{context}bpe_encode gave {got}, expected {want}: the merges were applied in the "
            f"reverse order; apply merge 0 first, as learned."
        )
    assert got == want, f"{context}bpe_encode gave {got}, expected {want}."
    assert bpe_reference.bpe_decode(got, merges) == text, f"{context}decoding does not give text."


toy_merges = bpe_reference.bpe_train("the cat and the hat", 4)
check_encode("the cat and the hat", toy_merges)
check_encode("that", toy_merges)
check_encode("xyz", toy_merges)  # no merge applies: the bytes themselves
check_encode("aaaa", [(97, 97), (256, 256)])  # the second merge uses the first's token
print("bpe_encode: all visible checks passed.")
### BEGIN HIDDEN TESTS
check_encode("the theme then", bpe_reference.bpe_train("the theme then", 5))
check_encode("héé", [(195, 169), (256, 256)])  # é is two bytes in UTF-8
### END HIDDEN TESTS

# %% [markdown]
# ### A tokenizer for the course's text
#
# Training is your `bpe_merge` in a loop: count the pairs (`collections.Counter` over
# `zip(tokens, tokens[1:])`), merge the most frequent, and repeat. Decoding turns every id
# back into its bytes (a merged token's bytes are its pair's, joined). The text is the one of
# chapter 13, the documentation of the course's own library; nothing is downloaded.

# %%
from collections import Counter

import dlcourse
import dlcourse.nn.layers
from dlcourse.data.library_text import library_text


def bpe_train(text, n_merges):
    tokens, merges = list(text.encode("utf-8")), []
    for k in range(n_merges):
        counts = Counter(zip(tokens, tokens[1:]))
        pair = max(counts, key=counts.get)
        tokens = bpe_merge(tokens, pair, 256 + k)
        merges.append(pair)
    return merges


def bpe_decode(tokens, merges):
    pieces = {i: bytes([i]) for i in range(256)}
    for k, (a, b) in enumerate(merges):
        pieces[256 + k] = pieces[a] + pieces[b]
    return b"".join(pieces[t] for t in tokens).decode("utf-8", errors="replace")


text = library_text(F, dlcourse.nn.layers)
start = time.perf_counter()
merges = bpe_train(text, 60)
encoded = bpe_encode(text, merges)
print(f"60 merges learned in {time.perf_counter() - start:.2f} s")
print("the first merges:", [bpe_decode([256 + k], merges) for k in range(12)])
print("the last merges: ", [bpe_decode([256 + k], merges) for k in range(48, 60)])
print(f"{len(text):,} bytes -> {len(encoded):,} tokens ({len(encoded) / len(text):.0%})")
assert bpe_decode(encoded, merges) == text, "decoding must give the text back"
sentence = "the layer keeps its weights."
print(repr(sentence), "->", [bpe_decode([t], merges) for t in bpe_encode(sentence, merges)])

# %% [markdown]
# Sixty merges shorten the text by about a third and learn its frequent pieces: common
# endings, "the ", "of ". GPT-2 learns 50,000 merges from far more text. The tiny model below
# keeps to characters: with 29 of them and a short run, every token is seen thousands of
# times.
#
# ## 6. A tiny GPT
#
# A decoder-only transformer, the architecture of GPT, is attention and a small MLP, stacked:
#
# * a **token embedding** (chapter 13) plus a learned **position embedding**, since attention
#   itself does not know the order of its inputs;
# * blocks of `h + MultiHeadAttention(LN(h))` with the **causal mask**, then
#   `h + MLP(LN(h))`: LayerNorm (chapter 12) before each part, a **residual** around it
#   (chapter 12), the "pre-norm" layout of GPT-2;
# * a last LayerNorm and a dense layer that scores every character as the next one, **at every
#   position**: a window of 16 characters gives 16 predictions, each made from the characters
#   up to it, which the causal mask guarantees.
#
# The loss is the cross-entropy of each next character, averaged over every position. The
# model is built with the Functional API of `dlcourse.nn`; `TokenDense` is the course's
# `Dense` applied to every token of a sequence.

# %%
from dlcourse import nn
from dlcourse.bench.token_dense import TokenDense

chars = sorted(set(text))
V = len(chars)
text_ids = np.array([chars.index(ch) for ch in text])
CONTEXT, WIDTH, HEADS, MLP_WIDTH, BLOCKS = 16, 32, 4, 64, 2


def windows(ids, stride, count):
    """(count, CONTEXT) inputs and their targets, the same characters one step later."""
    starts = np.arange(0, len(ids) - CONTEXT - 1, stride)[:count]
    return np.stack([ids[s : s + CONTEXT] for s in starts]), np.stack(
        [ids[s + 1 : s + CONTEXT + 1] for s in starts]
    )


split = int(0.9 * len(text_ids))  # the last tenth of the text is kept for validation
x_train, y_train = windows(text_ids[:split], stride=7, count=3200)
x_val, y_val = windows(text_ids[split:], stride=CONTEXT, count=300)
print(f"{len(text):,} characters, a vocabulary of {V}: {''.join(chars)!r}")
print("training windows", x_train.shape, "validation windows", x_val.shape)


def tiny_gpt(seed=0):
    ids = nn.Input((CONTEXT,), dtype="int64")
    h = nn.PositionEmbedding(CONTEXT)(nn.Embedding(V, WIDTH)(ids))
    for _ in range(BLOCKS):
        a = nn.LayerNormalization()(h)
        attention = nn.MultiHeadAttention(HEADS, WIDTH // HEADS)
        h = nn.Add()([h, attention(a, a, use_causal_mask=True)])
        m = TokenDense(MLP_WIDTH, activation="relu")(nn.LayerNormalization()(h))
        h = nn.Add()([h, TokenDense(WIDTH)(m)])
    logits = TokenDense(V)(nn.LayerNormalization()(h))  # (batch, CONTEXT, V)
    return nn.Model(ids, logits, seed=seed)


def compiled(model):
    model.compile(
        optimizer=nn.Adam(learning_rate=0.01),
        loss=nn.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


# %% [markdown]
# ### One model, three backends
#
# First the same model, from the same initial weights, for 10 steps on three backends, in
# float64:
# `manual` runs the hand-written passes of `dlcourse.functional` (the attention backward of
# section 2 among them), `torch` and `jax` let those libraries take the derivatives. A backend
# whose library is missing is skipped.

# %%
short_runs, backends = {}, []
nn.set_floatx("float64")  # for the comparison: Adam turns float32 round-off into real steps
for name in ["manual", "torch", "jax"]:
    try:
        with dlcourse.backend(name):
            model = compiled(tiny_gpt())
    except ImportError as err:  # the library is not installed: the message says how
        print(f"{name}: skipped. {err}")
        continue
    start = time.perf_counter()
    history = model.fit(
        x_train[:320],
        y_train[:320],
        epochs=1,
        batch_size=32,
        verbose=0,
        shuffle=False,
        validation_data=(x_val[:64], y_val[:64]),
    )
    short_runs[name], seconds = history.history, time.perf_counter() - start
    backends.append(name)
    losses = ", ".join(f"{v:.5f}" for v in history.history["loss"] + history.history["val_loss"])
    print(f"{name:7s} 10 steps in {seconds:5.2f} s; loss, val_loss: {losses}")

for name in backends[1:]:
    runs = [np.array(short_runs[n]["loss"] + short_runs[n]["val_loss"]) for n in ("manual", name)]
    gap = np.max(np.abs(runs[1] - runs[0]))
    print(f"largest difference from manual, {name}: {gap:.1e}")
    # float64 sums in another order: far below 1e-8 apart, while 10 steps move the loss by 0.3
    assert gap < 1e-8, f"{name} and manual should give the same losses from the same weights."
nn.set_floatx("float32")  # the real run below: float32, twice as fast

# %% [markdown]
# ### Training
#
# Now the real run: 600 steps of 32 windows, on PyTorch when it is installed (the fastest of
# the three on a CPU here), else on `manual`.

# %%
backend_name = "torch" if "torch" in backends else "manual"
with dlcourse.backend(backend_name):
    gpt = compiled(tiny_gpt())
start = time.perf_counter()
history = gpt.fit(
    x_train, y_train, epochs=6, batch_size=32, verbose=0, validation_data=(x_val, y_val)
)
print(f"{backend_name}: 600 steps in {time.perf_counter() - start:.1f} s")
print("loss per epoch:    ", ", ".join(f"{v:.3f}" for v in history.history["loss"]))
print("val_loss per epoch:", ", ".join(f"{v:.3f}" for v in history.history["val_loss"]))
val_loss = history.history["val_loss"][-1]
print(
    f"validation loss {val_loss:.3f} nats per character (a uniform guess: ln {V} = {np.log(V):.3f})"
)
assert val_loss < 2.3, "the tiny GPT should reach a validation loss below 2.3 (about 2.1 here)"

fig, ax = plt.subplots(figsize=(6, 3.5))
epochs_axis = range(1, len(history.history["loss"]) + 1)
ax.plot(epochs_axis, history.history["loss"], "o-", label="training")
ax.plot(epochs_axis, history.history["val_loss"], "s-", label="validation")
ax.axhline(np.log(V), color="gray", linestyle=":", label="uniform guess")
ax.set_xlabel("epoch (100 steps)")
ax.set_ylabel("loss (nats per character)")
ax.set_title("A tiny GPT on the library's documentation")
ax.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# ### Sampling
#
# To write, the model reads the last 16 characters, and its scores at the **last** position
# are the next character's: divided by a temperature, turned into probabilities by a softmax,
# drawn from, appended; the window slides along.


# %%
def sample(model, prompt, length, temperature, seed):
    sample_rng = np.random.default_rng(seed)
    ids = [chars.index(ch) for ch in prompt]
    for _ in range(length):
        scores = np.asarray(model.predict(np.array([ids[-CONTEXT:]]))[0, -1], dtype=np.float64)
        p = np.exp((scores - scores.max()) / temperature)
        ids.append(int(sample_rng.choice(V, p=p / p.sum())))
    return "".join(chars[k] for k in ids)


prompt = text[split : split + CONTEXT]
for temperature in (0.5, 1.0):
    print(f"temperature {temperature}: {sample(gpt, prompt, 100, temperature, 0)!r}")

# %% [markdown]
# ### Parameters and FLOPs
#
# Where do the parameters sit, and what does a step cost? The matrix products are the work:
# per block, the attention's four projections, $q k^{\top}$ and $p v$ over every pair of
# positions, and the MLP's two layers; a training step does each product three times (the
# forward, the weights' gradient, the inputs' gradient). `dlcourse.bench.networks.decoder_flops`
# counts them for the benchmark's transformer; the head, a product per position, is added
# here. PyTorch's `FlopCounterMode` counts the products it actually runs, independently. (It
# has no formula for the CPU kernel that runs a whole attention at once, so the count runs the
# attention as its products: `attention_as_products`.)

# %%
from dlcourse.backends._torch_fused import attention_as_products
from dlcourse.bench.networks import decoder_flops

gpt.summary()
batch = 32
head_flops = 3 * 2 * batch * CONTEXT * WIDTH * V
step_flops = decoder_flops(batch, CONTEXT, WIDTH, MLP_WIDTH, BLOCKS) + head_flops
print(
    f"{gpt.count_params():,} parameters; one training step of {batch} windows: "
    f"{step_flops / 1e6:.1f} MFLOPs"
)
if backend_name == "torch":
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter, attention_as_products():
        gpt.loss_and_gradients(x_train[:batch], y_train[:batch])
    print(f"torch's FlopCounterMode: {counter.get_total_flops() / 1e6:.1f} MFLOPs")
    assert counter.get_total_flops() == step_flops

# %% [markdown]
# ### To Keras
#
# `to_keras()` rebuilds the model as a Keras 3 Functional model with the same weights (skipped
# when Keras is not installed); it must predict what ours predicts.

# %%
if importlib.util.find_spec("keras") is None:
    print("Keras is not installed: skipping the export (pip install keras).")
else:
    import os

    os.environ.setdefault(
        "KERAS_BACKEND", "torch"
    )  # torch is loaded already; TensorFlow is slow to
    keras_gpt = gpt.to_keras()
    ours = np.asarray(gpt.predict(x_val[:64]))
    theirs = np.asarray(keras_gpt.predict(x_val[:64], verbose=0))
    keras_gap = np.abs(ours - theirs).max()
    print(
        f"Keras {keras_gpt.count_params():,} parameters; largest difference in the "
        f"predictions: {keras_gap:.1e}"
    )
    assert keras_gap < 1e-4, "Keras should predict what our model predicts"

# %% [markdown]
# Forty seconds of training on a CPU will not write English, but the samples have words of
# the right length, spaces and punctuation where they belong, and pieces of the library's
# vocabulary, which the validation loss, well below a uniform guess, says too.
#
# ## Summary
#
# * Attention is a soft dictionary look-up: $\operatorname{softmax}(Q K^{\top} / \sqrt{d})\, V$,
#   each query a weighted mean of the values.
# * The $1/\sqrt{d}$ keeps the scores' spread independent of the width; without it the
#   softmax saturates (one-hot rows) and its gradient vanishes.
# * Backward: $dV = P^{\top} d\text{out}$, $dP = d\text{out}\, V^{\top}$, the softmax's
#   $dS = P \odot (dP - \text{rowsum}(dP \odot P))$, and $dQ$, $dK$ with the scale again.
# * The causal mask sets the future's scores to $-\infty$ **before** the softmax; heads are
#   a reshape **and** a transpose.
# * Byte-pair encoding merges the most frequent pair, scanning from the left, and encodes
#   by replaying the merges in order.
# * A decoder-only transformer (embeddings, causal multi-head attention, MLP, LayerNorm,
#   residuals) trains the same on manual, torch and jax, counts its FLOPs, and moves to Keras.
#
# ## Further reading
#
# * Ashish Vaswani et al., *Attention Is All You Need* (NeurIPS 2017): scaled dot-product
#   and multi-head attention.
# * Alec Radford et al., *Language Models are Unsupervised Multitask Learners* (2019): GPT-2,
#   its pre-norm blocks and its byte-level BPE.
# * Rico Sennrich, Barry Haddow and Alexandra Birch, *Neural Machine Translation of Rare
#   Words with Subword Units* (ACL 2016): byte-pair encoding for text.
# * Andrej Karpathy, *nanoGPT* and *minbpe*: small, readable GPT training and BPE code.
