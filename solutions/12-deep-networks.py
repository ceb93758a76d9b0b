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
# # 12. Making deep networks train
#
# A network with two layers trains on the digits in seconds. Stack ten and, with the same
# recipe, it often learns nothing: the signal that flows forward shrinks to zeros or grows to
# overflow, and so does the gradient that flows back. This notebook measures why, layer by
# layer, and then builds the tools that made deep networks trainable:
#
# * **initialization** with the right scale (Kaiming He's rule for ReLU layers);
# * **normalization**: batch norm and layer norm, whose backward passes you write by hand;
# * **regularization and validation**: how to see overfitting, and weight decay, dropout and
#   early stopping against it;
# * **residual connections**, which give the gradient a straight road back;
# * a **learning-rate schedule**, warm-up then cosine decay.
#
# **This notebook is worth 12 points**:
#
# | exercise | you write | points |
# |---|---|---|
# | 1 | `kaiming_std(shape)` | 2 |
# | 2 | `batchnorm_backward(dout, cache)` | 4 |
# | 3 | `layernorm_backward(dout, cache)` | 3 |
# | 4 | `cosine_with_warmup(step, total_steps, warmup_steps, peak_lr, min_lr)` | 3 |
#
# Replace each `raise NotImplementedError()` with your code and run the check cell below it.
#
# **How this notebook is graded.** The grader runs the solution cell of each exercise on its
# own, after this notebook's set-up cell, in a fresh process outside the notebook and on inputs
# of its own; the check cells are not run there, and a helper defined in any other cell is
# missing. The course's own answers are stubs there: the `he_normal` initializer,
# `F.batchnorm_forward`, `F.batchnorm_backward`, `F.layernorm_forward`,
# `F.layernorm_backward` and their relatives (the `BatchNorm` and `LayerNormalization`
# layers' `backward`), and the `one_cycle` schedule of `dlcourse.nn`: a graded function that
# calls one scores zero for that exercise. The two backward passes are to be written by hand,
# so PyTorch, JAX, TensorFlow, Keras, the course's autodiff and `dlcourse.gradcheck` cannot be
# imported while they are graded. There each exercise may use 20 CPU seconds and 4 GB of memory;
# code that needs more is stopped and scores zero for it. `dlcourse check --grader` on the saved
# notebook shows the points the grader would give. Beyond the visible checks:
#
# * exercise 1, `check_kaiming_std`, also tested: a `fan_in` of 1, and random shapes with
#   sizes up to 2,048 (each with `fan_in` different from `fan_out`);
# * exercise 2, `check_batchnorm_backward`, also tested: float32 inputs keep float32 (a batch
#   of 32), and a batch of two examples with a single feature;
# * exercise 3, `check_layernorm_backward`, also tested: float32 inputs keep float32;
# * exercise 4, `check_cosine_with_warmup`, also tested: schedules other than the visible ones
#   (three steps with one of warm-up, no warm-up with a floor above 0, random schedules of 20
#   to 400 steps), on the properties the visible check tests.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false}
import math
import time

import matplotlib.pyplot as plt
import numpy as np

from dlcourse import functional as F
from dlcourse.diagnose import check_not_modified, diagnose
from dlcourse.gradcheck import check_gradients
from dlcourse.nn.initializers import he_normal

np.set_printoptions(precision=4, suppress=True)
rng = np.random.default_rng(0)  # a fixed seed: the same numbers on every run

# %% [markdown]
# ## 1. Why depth is hard, measured
#
# Take a plain MLP of 10 layers, 256 units each, ReLU after every layer, and feed it a batch of
# 512 random inputs. Each layer computes $z = h W$ and $h' = \max(z, 0)$. The only thing we
# change is the standard deviation $\sigma$ of the initial weights $W \sim \mathcal N(0,
# \sigma^2)$. We record the activations of every layer, then push a random gradient back
# through the same layers (chapter 04's rules: $dh = (dh' \odot [z > 0])\, W^\top$) and record
# its size too.


# %%
def deep_relu_stack(std, depth=10, width=256, batch=512, seed=0):
    """Activations and input gradients of every layer of a random ReLU MLP.

    Returns (activations, gradients): lists of ``depth`` arrays; gradients[0] is the gradient
    that reaches the first layer's output.
    """
    stack_rng = np.random.default_rng(seed)
    h = stack_rng.standard_normal((batch, width))
    weights, pre, activations = [], [], []
    for _ in range(depth):
        w = stack_rng.standard_normal((width, width)) * std
        z = h @ w
        h = np.maximum(z, 0.0)
        weights.append(w)
        pre.append(z)
        activations.append(h)
    dh = stack_rng.standard_normal((batch, width))
    gradients = [None] * depth
    for layer in reversed(range(depth)):
        gradients[layer] = dh
        dh = (dh * (pre[layer] > 0)) @ weights[layer].T
    return activations, gradients


for label, std in [("too small, 0.01", 0.01), ("too large, 1.0", 1.0)]:
    acts, grads = deep_relu_stack(std)
    print(
        f"sigma {label:16s}: activation std at layer 1 {acts[0].std():.3g}, at layer 10 "
        f"{acts[-1].std():.3g}; gradient std at layer 1 {grads[0].std():.3g}"
    )

# %% [markdown]
# With $\sigma = 0.01$ the activations of layer 10 are about $10^{-10}$: the last layers see
# zeros, and the gradient that reaches the first layers is as tiny, so they never learn. With
# $\sigma = 1$ everything is about $10^{10}$, growing elevenfold per layer: float16 (largest
# value 65504) would have overflowed at layer 5, and 40 such layers overflow float32. Neither
# shrinking nor growing is a matter of bad luck; it is a factor per layer, raised to the power
# of the depth.
#
# ### The variance rule
#
# One unit of the next layer sums $n = \text{fan\_in}$ products:
# $z_j = \sum_{i=1}^{n} h_i W_{ij}$. With independent weights of mean 0 and variance
# $\sigma^2$, independent of the inputs,
#
# $$\operatorname{Var}(z_j) = \sum_{i=1}^{n} \operatorname{Var}(h_i W_{ij})
# = n\, \sigma^2\, \mathbb E[h_i^2].$$
#
# (For a product of independent factors, one of mean 0, $\operatorname{Var}(hW) =
# \mathbb E[h^2]\,\mathbb E[W^2]$.) Now the ReLU: $z$ is symmetric around 0, and ReLU keeps
# its positive half, so $\mathbb E[\max(z, 0)^2] = \tfrac12 \operatorname{Var}(z)$. Going
# one layer up, the quantity $\mathbb E[h^2]$ is multiplied by
#
# $$\frac{\mathbb E[h'^2]}{\mathbb E[h^2]} = \frac{n\,\sigma^2}{2}.$$
#
# It stays the same through any number of layers exactly when $n \sigma^2 / 2 = 1$:
#
# $$\sigma = \sqrt{\frac{2}{\text{fan\_in}}}.$$
#
# This is **Kaiming (He) initialization** (He et al., 2015). The factor 2 pays for the half of
# the units that ReLU switches off. Glorot's rule (chapter 08's default, Glorot and Bengio,
# 2010) was derived for tanh-like units, which switch nothing off: variance
# $2 / (\text{fan\_in} + \text{fan\_out})$, i.e. $1 / n$ for a square layer, so with ReLU
# it loses half of $\mathbb E[h^2]$ per layer: $2^{-10} \approx 10^{-3}$ after ten.
#
# The same count run backwards gives $\sigma = \sqrt{2 / \text{fan\_out}}$ for the
# gradients; He et al. show that either choice keeps both sides well-behaved when the layers
# have similar widths, and the forward one (fan_in) is the usual default.
#
# ### Exercise 1 (2 points): `kaiming_std`
#
# Return the Kaiming standard deviation for a ReLU layer's weight matrix of shape
# `(fan_in, fan_out)` (this course's layout: inputs by outputs, `x @ w`), as a Python float.
# A weight matrix then starts as `rng.standard_normal(shape) * kaiming_std(shape)`.


# %% nbgrader={"grade": false, "grade_id": "kaiming_std", "locked": false, "schema_version": 3, "solution": true}
def kaiming_std(shape):
    """The standard deviation sqrt(2 / fan_in) for weights of shape (fan_in, fan_out)."""
    ### BEGIN SOLUTION
    fan_in, _fan_out = shape
    return math.sqrt(2.0 / fan_in)
    ### END SOLUTION


# %% nbgrader={"grade": false, "grade_id": "check_kaiming_helpers", "locked": true, "schema_version": 3, "solution": false}
def course_std(shape):
    """The std of the course's he_normal initializer, read off its numbers (a ratio)."""
    draws = np.random.default_rng(1).standard_normal(shape)
    weights = he_normal(shape, np.float64, np.random.default_rng(1))
    return float(np.median(weights / draws))


def check_kaiming(shape):
    """Check kaiming_std on one shape; the classic mistakes get their own message."""
    fan_in, fan_out = shape
    got = kaiming_std(shape)
    assert np.ndim(got) == 0, f"kaiming_std{shape} must return one number, got {got!r}."
    got = float(got)
    expected = course_std(shape)
    if math.isclose(got, expected, rel_tol=1e-9):
        return
    ratio = got / expected
    context = f"kaiming_std({shape}) is {got:.6g}, expected {expected:.6g}: "
    if math.isclose(ratio, math.sqrt(fan_in / fan_out), rel_tol=1e-9):
        raise AssertionError(
            context + "you used fan_out (the number of columns). The forward rule counts the "
            "inputs each unit sums: use fan_in = shape[0]."
        )
    if math.isclose(ratio, math.sqrt(0.5), rel_tol=1e-9):
        raise AssertionError(
            context + "the factor 2 is missing. ReLU zeroes half of the units, which halves "
            "E[h^2] at every layer: the variance must be 2 / fan_in."
        )
    if math.isclose(got, expected**2, rel_tol=1e-9):
        raise AssertionError(
            context + "that is the variance 2 / fan_in; return its square root, the standard "
            "deviation."
        )
    if math.isclose(ratio, math.sqrt(fan_in / (fan_in + fan_out)), rel_tol=1e-9):
        raise AssertionError(
            context + "that is Glorot's sqrt(2 / (fan_in + fan_out)), made for tanh units. "
            "For ReLU use sqrt(2 / fan_in)."
        )
    raise AssertionError(context + "the rule is sqrt(2 / fan_in), with fan_in = shape[0].")


# %% nbgrader={"grade": true, "grade_id": "check_kaiming_std", "locked": true, "points": 2, "schema_version": 3, "solution": false}
check_kaiming((256, 256))
check_kaiming((64, 10))
check_kaiming((8, 300))
assert isinstance(kaiming_std((64, 10)), float), "kaiming_std must return a Python float."
print("kaiming_std: all visible checks passed.")
### BEGIN HIDDEN TESTS
check_kaiming((1, 5))
check_kaiming((1000, 3))
check_kaiming((50, 50))
### END HIDDEN TESTS

# %% [markdown]
# Now the four initial scales side by side, drawn as histograms of the activations of layers
# 1, 4, 7 and 10 (each row has its own horizontal scale; the title gives the std):

# %%
scales = {
    "0.01": 0.01,
    "1.0": 1.0,
    "Glorot, sqrt(1/256)": math.sqrt(1 / 256),
    "Kaiming (yours)": kaiming_std((256, 256)),
}
runs = {label: deep_relu_stack(std) for label, std in scales.items()}
shown = [0, 3, 6, 9]
fig, axes = plt.subplots(len(runs), len(shown), figsize=(11, 7.5))
for row, (label, (acts, _)) in enumerate(runs.items()):
    for col, layer in enumerate(shown):
        values = acts[layer].ravel()
        axes[row, col].hist(values[values > 0], bins=40, color=f"C{row}")
        axes[row, col].set_title(f"layer {layer + 1}: std {values.std():.2g}", fontsize=9)
        axes[row, col].set_yticks([])
    axes[row, 0].set_ylabel(label)
fig.suptitle("Positive activations of a 10-layer ReLU MLP, by initial weight scale")
plt.tight_layout()
plt.show()

fig, ax = plt.subplots(figsize=(6, 3.5))
for label, (_, grads) in runs.items():
    ax.semilogy(range(1, 11), [g.std() for g in grads], "o-", label=label)
ax.set_xlabel("layer")
ax.set_ylabel("std of the gradient reaching it")
ax.set_title("The gradient flowing back, layer by layer")
ax.legend(fontsize=8)
plt.tight_layout()
plt.show()
for label, (acts, _) in runs.items():
    print(f"{label:20s} activation std, layer 10 / layer 1: {acts[-1].std() / acts[0].std():.3g}")

# The variance rule, measured: the factor by which E[h^2] grows from one layer to the next
# (a geometric mean over the nine steps), next to the n * sigma^2 / 2 derived above.
for label, std in scales.items():
    second_moments = np.array([np.mean(h**2) for h in runs[label][0]])
    measured = np.exp(np.mean(np.diff(np.log(second_moments))))
    print(f"{label:20s} E[h^2] factor per layer: measured {measured:.3g}, rule {256 * std**2 / 2:.3g}")

# %% [markdown]
# The measured factors are the derived $n \sigma^2 / 2$. Only Kaiming's scale, the factor 1,
# keeps the activations and the gradients the same size from the first layer to the last;
# Glorot's loses about half of $\mathbb E[h^2]$ per layer, as derived. A
# good initialization only sets the *start*, though. As the weights change during training,
# the scale can drift again. Normalization layers fix the scale at every step.
#
# ## 2. Batch normalization, backward by hand
#
# A batch-norm layer (Ioffe and Szegedy, 2015) standardizes every feature over the batch of
# $N$ examples, then lets the network choose a scale $\gamma$ and a shift $\beta$ of its own:
#
# $$\mu_j = \frac1N \sum_i x_{ij}, \qquad \sigma_j^2 = \frac1N \sum_i (x_{ij} - \mu_j)^2,
# \qquad \hat x_{ij} = \frac{x_{ij} - \mu_j}{\sqrt{\sigma_j^2 + \epsilon}}, \qquad
# y_{ij} = \gamma_j \hat x_{ij} + \beta_j .$$
#
# (Training mode. At prediction time it uses running averages of $\mu$ and $\sigma^2$ instead,
# see `dlcourse.functional.batchnorm_forward`.) Here is the forward pass, given, with the
# cache your backward will receive: $\hat x$, $\gamma$ and $1 / \sqrt{\sigma^2 + \epsilon}$
# per feature.


# %% nbgrader={"grade": false, "grade_id": "batchnorm_forward", "locked": true, "schema_version": 3, "solution": false}
def batchnorm_forward(x, gamma, beta, eps=1e-5):
    """Batch norm in training mode for x of shape (N, D); returns (out, cache).

    cache = (xhat, gamma, inv_std): xhat (N, D), gamma (D,), inv_std (D,) = 1 / sqrt(var + eps).
    """
    mean = x.mean(axis=0)
    var = x.var(axis=0)  # the biased variance, divided by N
    inv_std = 1.0 / np.sqrt(var + eps)
    xhat = (x - mean) * inv_std
    return gamma * xhat + beta, (xhat, gamma, inv_std)


# %% [markdown]
# ### The backward pass, step by step
#
# $d\beta$ and $d\gamma$ are as for any scale and shift, summed over the examples that used
# them: $d\beta_j = \sum_i dy_{ij}$ and $d\gamma_j = \sum_i dy_{ij} \hat x_{ij}$. The
# gradient reaching $\hat x$ is $d\hat x = dy \odot \gamma$.
#
# The trap is $dx$. A naive reading of $\hat x = (x - \mu) \cdot s$, with
# $s = 1/\sqrt{\sigma^2 + \epsilon}$, gives $dx = d\hat x \cdot s$. But $\mu$ and
# $\sigma^2$ are computed *from* $x$: moving one $x_{ij}$ moves the mean and the variance of
# feature $j$, and through them every other example's $\hat x$. Working back through the graph
# (for one feature; drop the $j$):
#
# $$ds = \sum_i d\hat x_i (x_i - \mu), \qquad
# d\sigma^2 = -\tfrac12 s^3\, ds, \qquad
# d\mu = -s \sum_i d\hat x_i \;\; (\text{plus a term through } \sigma^2
# \text{ that is } 0, \text{ since } \textstyle\sum_i (x_i - \mu) = 0),$$
#
# $$dx_i = \underbrace{s\, d\hat x_i}_{\text{direct}}
# + \underbrace{\tfrac{2}{N} (x_i - \mu)\, d\sigma^2}_{\text{through the variance}}
# + \underbrace{\tfrac1N d\mu}_{\text{through the mean}} .$$
#
# Substituting $x_i - \mu = \hat x_i / s$ and collecting terms gives a compact form that needs
# only the cache:
#
# $$dx_i = \frac{s}{N} \Big( N\, d\hat x_i - \sum_k d\hat x_k
# - \hat x_i \sum_k d\hat x_k\, \hat x_k \Big).$$
#
# The two subtracted terms remove from $d\hat x$ its mean and its component along $\hat x$: a
# shift or a rescaling of a whole feature is undone by the normalization, so the loss cannot
# feel it.
#
# ### Exercise 2 (4 points): `batchnorm_backward`
#
# `cache` is the `(xhat, gamma, inv_std)` of `batchnorm_forward` above. Return
# `(dx, dgamma, dbeta)`, shaped like `x`, `gamma` and `beta`, in the dtype of `dout`. Either
# the step-by-step chain or the compact form is fine. Do not modify `dout` or the cache.


# %% nbgrader={"grade": false, "grade_id": "batchnorm_backward", "locked": false, "schema_version": 3, "solution": true}
def batchnorm_backward(dout, cache):
    """Gradients of batch norm (training mode) for x of shape (N, D).

    dout: dL/dout (N, D); cache: (xhat, gamma, inv_std) from batchnorm_forward.
    Returns (dx, dgamma, dbeta).
    """
    ### BEGIN SOLUTION
    xhat, gamma, inv_std = cache
    n = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * xhat).sum(axis=0)
    dxhat = dout * gamma
    dx = (inv_std / n) * (
        n * dxhat - dxhat.sum(axis=0) - xhat * (dxhat * xhat).sum(axis=0)
    )
    return dx, dgamma, dbeta
    ### END SOLUTION


# %% nbgrader={"grade": false, "grade_id": "check_norm_helpers", "locked": true, "schema_version": 3, "solution": false}
# The check cells below share these helpers: read them to see what is checked.


def expect_close(got, expected, name, context=""):
    """Fail with dlcourse.diagnose's explanation unless ``got`` matches ``expected``."""
    d = diagnose(got, expected, name=name)
    assert d.ok, f"{context}{d}"


def norm_case(N, D, seed, dtype=np.float64):
    """Random x (N, D), gamma (D,), beta (D,) and dout (N, D)."""
    case_rng = np.random.default_rng(seed)
    x = (case_rng.standard_normal((N, D)) * 3 + 1).astype(dtype)
    gamma = case_rng.uniform(0.5, 2.0, D).astype(dtype)
    beta = case_rng.standard_normal(D).astype(dtype)
    dout = case_rng.standard_normal((N, D)).astype(dtype)
    return x, gamma, beta, dout


def check_norm_backward(backward, forward, reference, x, gamma, beta, dout, mistakes):
    """Check a normalization backward against the course's reference and finite differences.

    reference: (out, cache) = reference_forward(x, gamma, beta); mistakes: (function, message)
    pairs; a dx equal to function(dout, cache) fails with that message.
    """
    name = backward.__name__
    context = f"{name} for x of shape {x.shape}: "
    _, cache = forward(x, gamma, beta)
    untouched = check_not_modified(backward, dout, cache)
    assert untouched.ok, f"{context}{untouched}"
    result = backward(dout.copy(), cache)
    assert isinstance(result, tuple) and len(result) == 3, (
        f"{context}{name} must return the triple (dx, dgamma, dbeta), got "
        f"{type(result).__name__}."
    )
    dx, dgamma, dbeta = result
    ref_dx, ref_dgamma, ref_dbeta = reference(dout, x, gamma, beta)
    if getattr(dx, "shape", None) == ref_dx.shape and not diagnose(dx, ref_dx, "dx").ok:
        for mistake, message in mistakes:
            if np.allclose(dx, mistake(dout, cache), rtol=1e-6, atol=1e-9):
                raise AssertionError(context + message)
    expect_close(dx, ref_dx, "dx", context)
    expect_close(dgamma, ref_dgamma, "dgamma", context)
    expect_close(dbeta, ref_dbeta, "dbeta", context)
    if x.dtype == np.float64:
        report = check_gradients(forward, backward, {"x": x, "gamma": gamma, "beta": beta})
        assert report.passed, f"{context}{report}"


def batchnorm_reference(dout, x, gamma, beta):
    _, cache = F.batchnorm_forward(x, gamma, beta, None, True)
    return F.batchnorm_backward(dout, cache)


def bn_direct_only(dout, cache):
    xhat, gamma, inv_std = cache
    return dout * gamma * inv_std


def bn_without_variance(dout, cache):
    xhat, gamma, inv_std = cache
    dxhat = dout * gamma
    return inv_std * (dxhat - dxhat.mean(axis=0))


BATCHNORM_MISTAKES = [
    (
        bn_direct_only,
        "dx is dout * gamma * inv_std, the gradient as if the mean and the variance were "
        "constants. Both are computed from x: add the terms through them, "
        "dx = inv_std / N * (N*dxhat - sum(dxhat) - xhat * sum(dxhat * xhat)) (sums over axis 0).",
    ),
    (
        bn_without_variance,
        "dx has the term through the mean but not the one through the variance: subtract "
        "xhat * sum(dxhat * xhat, axis=0) too, inside inv_std / N * (...).",
    ),
]

# %% nbgrader={"grade": true, "grade_id": "check_batchnorm_backward", "locked": true, "points": 4, "schema_version": 3, "solution": false}
args = (batchnorm_backward, batchnorm_forward, batchnorm_reference)
check_norm_backward(*args, *norm_case(6, 4, seed=1), BATCHNORM_MISTAKES)
check_norm_backward(*args, *norm_case(3, 7, seed=2), BATCHNORM_MISTAKES)
print("batchnorm_backward: all visible checks passed.")
### BEGIN HIDDEN TESTS
check_norm_backward(*args, *norm_case(2, 1, seed=11), BATCHNORM_MISTAKES)
check_norm_backward(*args, *norm_case(16, 5, seed=12, dtype=np.float32), BATCHNORM_MISTAKES)
x32, gamma32, beta32, dout32 = norm_case(16, 5, seed=12, dtype=np.float32)
dx32 = batchnorm_backward(dout32, batchnorm_forward(x32, gamma32, beta32)[1])[0]
assert dx32.dtype == np.float32, f"float32 inputs must give a float32 dx, got {dx32.dtype}."
### END HIDDEN TESTS

# %% [markdown]
# ### What batch norm buys: the bad initialization, rescued
#
# The 10-layer stack of section 1 with $\sigma = 1$ exploded to $10^{10}$. The same weights
# with a batch norm after every linear layer ($\gamma = 1, \beta = 0$): every layer's input
# is standardized again, whatever the scale of the weights. The backward goes through **your**
# `batchnorm_backward`.

# %%
bn_rng = np.random.default_rng(0)
h = bn_rng.standard_normal((512, 256))
ones, zeros = np.ones(256), np.zeros(256)
layers = []
for _ in range(10):
    w = bn_rng.standard_normal((256, 256))  # sigma = 1: far too large
    z = h @ w
    zn, bn_cache = batchnorm_forward(z, ones, zeros)
    h = np.maximum(zn, 0.0)
    layers.append((w, zn, bn_cache))
print("activation std at layer 10 with batch norm:", round(float(h.std()), 3))
dh = bn_rng.standard_normal(h.shape)
for w, zn, bn_cache in reversed(layers):
    dz, _, _ = batchnorm_backward(dh * (zn > 0), bn_cache)
    dh = dz @ w.T
print("gradient std reaching the input:", f"{float(dh.std()):.3g}")

# %% [markdown]
# The activations stay near a standard deviation of 0.58 (a standardized value through a
# ReLU), and the gradient stays finite: its scale is set by $1/\sigma_j$ of every layer,
# which undoes the weights' scale. Batch norm has a price: an example's output depends on
# the other examples of its batch, it behaves differently in training and prediction, and
# with batches of one or two it has nothing to average.
#
# ## 3. Layer normalization
#
# Layer norm (Ba, Kiros and Hinton, 2016) takes the same formulas along the other axis: each
# *example* is standardized over its own $D$ features,
#
# $$\mu_i = \frac1D \sum_j x_{ij}, \qquad \sigma_i^2 = \frac1D \sum_j (x_{ij} - \mu_i)^2,
# \qquad y_{ij} = \gamma_j \frac{x_{ij} - \mu_i}{\sqrt{\sigma_i^2 + \epsilon}} + \beta_j .$$
#
# No example depends on another, training and prediction are the same, and a batch of one is
# fine: this is the normalization of transformers (chapter 14). The statistics are now one per
# *row*, so `inv_std` has shape (N, 1) and the sums of the backward run along axis 1; $\gamma$
# and $\beta$ are still one per feature, so $d\gamma$ and $d\beta$ still sum over the
# examples, axis 0.


# %% nbgrader={"grade": false, "grade_id": "layernorm_forward", "locked": true, "schema_version": 3, "solution": false}
def layernorm_forward(x, gamma, beta, eps=1e-5):
    """Layer norm for x of shape (N, D), over the features; returns (out, cache).

    cache = (xhat, gamma, inv_std): xhat (N, D), gamma (D,), inv_std (N, 1).
    """
    mean = x.mean(axis=1, keepdims=True)
    var = x.var(axis=1, keepdims=True)
    inv_std = 1.0 / np.sqrt(var + eps)
    xhat = (x - mean) * inv_std
    return gamma * xhat + beta, (xhat, gamma, inv_std)


# %% [markdown]
# ### Exercise 3 (3 points): `layernorm_backward`
#
# Same derivation, with the roles of the axes swapped for $dx$:
#
# $$d\hat x = dy \odot \gamma, \qquad dx_{ij} = \frac{s_i}{D} \Big( D\, d\hat x_{ij}
# - \sum_k d\hat x_{ik} - \hat x_{ij} \sum_k d\hat x_{ik}\, \hat x_{ik} \Big).$$
#
# `cache` is `(xhat, gamma, inv_std)` from `layernorm_forward`, with `inv_std` of shape
# (N, 1). Return `(dx, dgamma, dbeta)` shaped like `x`, `gamma`, `beta`.


# %% nbgrader={"grade": false, "grade_id": "layernorm_backward", "locked": false, "schema_version": 3, "solution": true}
def layernorm_backward(dout, cache):
    """Gradients of layer norm over the features of x (N, D).

    dout: dL/dout (N, D); cache: (xhat, gamma, inv_std) from layernorm_forward.
    Returns (dx, dgamma, dbeta).
    """
    ### BEGIN SOLUTION
    xhat, gamma, inv_std = cache
    d = dout.shape[1]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * xhat).sum(axis=0)
    dxhat = dout * gamma
    sum_dxhat = dxhat.sum(axis=1, keepdims=True)
    sum_dxhat_xhat = (dxhat * xhat).sum(axis=1, keepdims=True)
    dx = (inv_std / d) * (d * dxhat - sum_dxhat - xhat * sum_dxhat_xhat)
    return dx, dgamma, dbeta
    ### END SOLUTION


# %% nbgrader={"grade": false, "grade_id": "check_layernorm_helpers", "locked": true, "schema_version": 3, "solution": false}
def layernorm_reference(dout, x, gamma, beta):
    _, cache = F.layernorm_forward(x, gamma, beta)
    return F.layernorm_backward(dout, cache)


def ln_over_the_batch(dout, cache):
    xhat, gamma, inv_std = cache
    dxhat = dout * gamma
    n = dout.shape[0]
    return (inv_std / n) * (n * dxhat - dxhat.sum(axis=0) - xhat * (dxhat * xhat).sum(axis=0))


def ln_direct_only(dout, cache):
    xhat, gamma, inv_std = cache
    return dout * gamma * inv_std


LAYERNORM_MISTAKES = [
    (
        ln_over_the_batch,
        "dx sums over the batch (axis 0), as batch norm does. Layer norm's mean and variance "
        "are taken over each example's features: sum over axis 1 (keepdims=True) and divide "
        "by D.",
    ),
    (
        ln_direct_only,
        "dx is dout * gamma * inv_std, as if each row's mean and variance were constants: add "
        "the terms through them, inv_std / D * (D*dxhat - sum(dxhat) - xhat * sum(dxhat*xhat)) "
        "with sums over axis 1.",
    ),
]

# %% nbgrader={"grade": true, "grade_id": "check_layernorm_backward", "locked": true, "points": 3, "schema_version": 3, "solution": false}
args = (layernorm_backward, layernorm_forward, layernorm_reference)
check_norm_backward(*args, *norm_case(5, 6, seed=3), LAYERNORM_MISTAKES)
check_norm_backward(*args, *norm_case(1, 8, seed=4), LAYERNORM_MISTAKES)  # a batch of one
print("layernorm_backward: all visible checks passed.")
### BEGIN HIDDEN TESTS
check_norm_backward(*args, *norm_case(7, 3, seed=13), LAYERNORM_MISTAKES)
check_norm_backward(*args, *norm_case(9, 12, seed=14, dtype=np.float32), LAYERNORM_MISTAKES)
### END HIDDEN TESTS

# %% [markdown]
# ## 4. Regularization and validation
#
# A network large enough to learn also learns things that are not there: with few examples
# it memorizes them, noise included. The training loss keeps falling while the loss on new
# examples stops falling and rises. To see it we need examples the model never trains on: a
# **validation split** (here `validation_split=0.3`, the last 30% of the training set). The
# test set stays untouched until the very end.
#
# We make overfitting easy: 300 digits only, and an MLP of two layers of 128 units. Then three
# standard cures, each alone:
#
# * **weight decay** (L2): every step also shrinks the weights,
#   $w \leftarrow w - \eta (g + \lambda w)$, which prefers small weights and smooth functions;
# * **dropout** (Srivastava et al., 2014): in training, each unit is zeroed with probability
#   $p$ (and the rest scaled by $1/(1-p)$), so no unit can rely on a particular other one;
# * **early stopping**: keep the weights of the epoch with the best validation loss
#   (`EarlyStopping(patience=5, restore_best_weights=True)`).

# %%
from dlcourse.data import load_digits
from dlcourse.nn import (
    SGD,
    Add,
    Callback,
    Dense,
    Dropout,
    EarlyStopping,
    Input,
    Model,
    Sequential,
    SparseCategoricalCrossentropy,
)
from dlcourse.nn.initializers import glorot_uniform

digits = load_digits()
x_small, y_small = digits.x_train[:300], digits.y_train[:300]


def mlp(dropout=0.0):
    layers = [Dense(128, activation="relu"), Dense(128, activation="relu")]
    if dropout:
        layers = [layers[0], Dropout(dropout), layers[1], Dropout(dropout)]
    return Sequential([*layers, Dense(10)], seed=0)


variants = {
    "plain": (mlp(), 0.0, []),
    "weight decay 1e-2": (mlp(), 1e-2, []),
    "dropout 0.5": (mlp(0.5), 0.0, []),
    "early stopping": (mlp(), 0.0, [EarlyStopping(patience=5, restore_best_weights=True)]),
}
curves = {}
start = time.perf_counter()
for label, (model, decay, callbacks) in variants.items():
    model.compile(
        optimizer=SGD(learning_rate=0.05, momentum=0.9, weight_decay=decay),
        loss=SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    history = model.fit(
        x_small, y_small, epochs=40, batch_size=32, validation_split=0.3, callbacks=callbacks,
        verbose=0,
    )
    curves[label] = history.history
    _, acc = model.evaluate(digits.x_test, digits.y_test)
    print(
        f"{label:18s} epochs {len(history.history['loss']):2d}, best val loss "
        f"{min(history.history['val_loss']):.3f}, test accuracy {acc:.3f}"
    )
print(f"(four models trained in {time.perf_counter() - start:.1f} s)")

# %%
fig, axes = plt.subplots(1, len(curves), figsize=(13, 3.2), sharey=True)
for ax, (label, hist) in zip(axes, curves.items()):
    ax.plot(hist["loss"], label="training")
    ax.plot(hist["val_loss"], label="validation")
    ax.set_title(label)
    ax.set_xlabel("epoch")
    ax.set_yscale("log")
axes[0].set_ylabel("loss")
axes[0].legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# In the plain model the training loss falls towards zero while the validation loss stops
# improving after about ten epochs and then drifts up: the model is learning the 210 training
# images, not the digits. Compare the best validation losses printed above: dropout helps
# most here; weight decay's effect depends on its strength $\lambda$ (try 0.05); early
# stopping does not change the training at all, it stops near the best validation epoch and
# keeps those weights, saving the time of the useless epochs. (The test accuracies need not
# follow the validation losses: the loss also punishes confident mistakes, which accuracy
# ignores, and 90 validation images are few. Compare settings on the quantity you train for.)
# In practice the cures are combined, their strengths tuned on the validation split, and the
# validation curve tells you whether they are needed.
#
# ## 5. Residual connections
#
# Even with good initialization and normalization, very deep plain networks train worse than
# shallower ones (He et al., 2016). The fix is to let each block learn a *change* to its input
# instead of a replacement: $h_{l+1} = h_l + f(h_l)$. The gradient then has a direct path
# back, because $\partial h_{l+1} / \partial h_l = I + \partial f / \partial h_l$: the
# identity carries it through every block, whatever $f$ does.
#
# Two MLPs of 20 hidden layers of 32 units, one plain, one with a skip around every layer,
# built with the Functional API (`Add()([h, Dense(...)(h)])`), both from Glorot's initial
# weights (Keras's default). A sum of 20 branches would add up their variances, so each
# residual branch starts smaller, scaled by $1/\sqrt{20}$ (GPT-2 does the same with its
# residual layers). We compare the gradient norm of every layer's kernel on one batch of
# digits, then train both for a few epochs.


# %%
def small_glorot(depth):
    """Glorot's initial weights scaled by 1 / sqrt(depth), for the residual branches."""

    def initializer(shape, dtype, rng):
        return glorot_uniform(shape, dtype, rng) / math.sqrt(depth)

    return initializer


def deep_mlp(residual, depth=20, width=32):
    inputs = Input((64,))
    h = Dense(width, activation="relu")(inputs)
    for _ in range(depth - 1):
        if residual:
            h = Add()([h, Dense(width, "relu", kernel_initializer=small_glorot(depth))(h)])
        else:
            h = Dense(width, activation="relu")(h)
    return Model(inputs, Dense(10)(h), seed=0)


gradient_norms, deep_curves = {}, {}
for label, residual in [("plain", False), ("residual", True)]:
    model = deep_mlp(residual)
    model.compile(
        optimizer=SGD(learning_rate=0.01), loss=SparseCategoricalCrossentropy(from_logits=True)
    )
    _, grads = model.loss_and_gradients(digits.x_train[:256], digits.y_train[:256])
    kernels = [g for g in grads if g.ndim == 2][:-1]  # the hidden layers' kernels
    gradient_norms[label] = [float(np.linalg.norm(g)) for g in kernels]
    deep_curves[label] = model.fit(
        digits.x_train, digits.y_train, epochs=5, batch_size=64, verbose=0
    ).history["loss"]
    print(
        f"{label:9s} gradient norm, first hidden layer {gradient_norms[label][0]:.2e}, last "
        f"{gradient_norms[label][-1]:.2e}; loss after 5 epochs {deep_curves[label][-1]:.3f}"
    )

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.5))
for label in gradient_norms:
    ax1.semilogy(range(1, 21), gradient_norms[label], "o-", label=label)
    ax2.plot(range(1, 6), deep_curves[label], "o-", label=label)
ax1.set_xlabel("hidden layer")
ax1.set_ylabel("norm of dL/dkernel")
ax1.set_title("Gradients at the start, 20 layers")
ax2.set_xlabel("epoch")
ax2.set_ylabel("training loss")
ax2.set_title("Training, SGD 0.01")
ax1.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# In the plain network every kernel's gradient is about $10^{-4}$: Glorot's scale halves
# $\mathbb E[h^2]$ at each of the 20 ReLU layers, so the output hardly depends on the input
# or on the weights, and the loss stays at $\ln 10 \approx 2.30$, the loss of a uniform
# guess. With skips every layer's gradient is thousands of times larger, about the same
# from the first layer to the last, and the loss falls from the first epoch.
#
# ## 6. Learning-rate schedules: warm-up, then cosine
#
# A constant learning rate is a compromise: large enough to make progress early, small enough
# not to bounce around the minimum late. Two common fixes, used together for most large
# networks today:
#
# * **warm-up**: the first steps, taken from random weights with a fresh optimizer (Adam's
#   moment estimates start at zero), are the most fragile, so the rate climbs linearly to its
#   peak over `warmup_steps` steps;
# * **cosine decay** (Loshchilov and Hutter, 2017): then the rate glides from the peak down to
#   a floor along half a cosine, fast in the middle and slow at both ends.
#
# Precisely, for `step` = 0, 1, 2, ... with $W$ = `warmup_steps`, $T$ = `total_steps`:
#
# $$\text{lr}(t) = \begin{cases}
# \text{peak} \cdot \dfrac{t + 1}{W} & t < W \quad \text{(the first step already moves, the
# last warm-up step is at the peak)}\\[2ex]
# \text{floor} + (\text{peak} - \text{floor})\, \dfrac{1 + \cos(\pi p)}{2},\quad
# p = \dfrac{t - W}{T - 1 - W} & W \le t < T \quad (p \text{ from 0 to 1: step } T - 1
# \text{ is at the floor})\\[2ex]
# \text{floor} & t \ge T .
# \end{cases}$$
#
# With $W = 0$ there is no warm-up and step 0 is at the peak. You may assume $W < T - 1$.
#
# ### Exercise 4 (3 points): `cosine_with_warmup`
#
# Return the learning rate of step `step` as a Python float.


# %% nbgrader={"grade": false, "grade_id": "cosine_with_warmup", "locked": false, "schema_version": 3, "solution": true}
def cosine_with_warmup(step, total_steps, warmup_steps, peak_lr, min_lr=0.0):
    """The learning rate at ``step``: linear warm-up to peak_lr, then a cosine to min_lr."""
    ### BEGIN SOLUTION
    if step < warmup_steps:
        return peak_lr * (step + 1) / warmup_steps
    if step >= total_steps - 1:
        return float(min_lr)
    progress = (step - warmup_steps) / (total_steps - 1 - warmup_steps)
    return min_lr + (peak_lr - min_lr) * (1 + math.cos(math.pi * progress)) / 2
    ### END SOLUTION


# %% nbgrader={"grade": false, "grade_id": "check_schedule_helpers", "locked": true, "schema_version": 3, "solution": false}
def check_schedule(total, warmup, peak, floor):
    """Check the properties the definition fixes, on every step of one schedule."""
    context = f"cosine_with_warmup(step, {total}, {warmup}, {peak}, {floor}): "
    rates = [cosine_with_warmup(step, total, warmup, peak, floor) for step in range(total + 3)]
    assert all(np.ndim(r) == 0 for r in rates), context + "each call must return one number."
    rates = np.array(rates, dtype=float)
    if warmup:
        if rates[0] == 0:
            raise AssertionError(
                context + "the rate at step 0 is 0, so the first step does not move the "
                "weights: the warm-up is off by one, use peak_lr * (step + 1) / warmup_steps."
            )
        ramp = peak * np.arange(1, warmup + 1) / warmup
        if not np.allclose(rates[:warmup], ramp, rtol=1e-12):
            raise AssertionError(
                context + f"the warm-up gives {rates[:warmup]} for steps 0..{warmup - 1}, "
                f"expected {ramp}: peak_lr * (step + 1) / warmup_steps."
            )
    assert math.isclose(rates[warmup], peak, rel_tol=1e-12), (
        context + f"step {warmup} (= warmup_steps) gives {rates[warmup]:.6g}: the cosine starts "
        f"at the peak, {peak}."
    )
    if not math.isclose(rates[total - 1], floor, rel_tol=1e-12, abs_tol=1e-15):
        raise AssertionError(
            context + f"the last step, {total - 1}, gives {rates[total - 1]:.6g} instead of the "
            f"floor {floor}: the cosine does not reach the floor. Use progress = (step - "
            f"warmup_steps) / (total_steps - 1 - warmup_steps), which is 1 at the last step."
        )
    assert np.allclose(rates[total:], floor, rtol=1e-12, atol=1e-15), (
        context + f"after the last step the rate must stay at the floor, got {rates[total:]}: "
        "return min_lr for step >= total_steps - 1 (the cosine would climb again)."
    )
    decay = rates[warmup:total]
    assert np.all(np.diff(decay) < 0), context + "the rate must fall at every step of the cosine."
    assert np.allclose(decay + decay[::-1], peak + floor, rtol=1e-12), (
        context + "a cosine's half-period is symmetric: lr(W + k) + lr(T - 1 - k) must equal "
        "peak_lr + min_lr. Check the formula (1 + cos(pi * progress)) / 2."
    )


# %% nbgrader={"grade": true, "grade_id": "check_cosine_with_warmup", "locked": true, "points": 3, "schema_version": 3, "solution": false}
check_schedule(100, 10, 0.1, 0.001)
check_schedule(20, 0, 3e-4, 0.0)
# worked by hand: T = 7, W = 2, peak 1, floor 0: ramp 0.5, 1; cosine over 4 intervals
by_hand = [cosine_with_warmup(step, 7, 2, 1.0, 0.0) for step in range(7)]
expected_by_hand = [0.5, 1.0, 1.0, (1 + math.sqrt(0.5)) / 2, 0.5, (1 - math.sqrt(0.5)) / 2, 0.0]
assert np.allclose(by_hand, expected_by_hand, atol=1e-12), (
    f"for T=7, W=2, peak 1, floor 0 the rates should be {np.round(expected_by_hand, 4)}, "
    f"got {np.round(by_hand, 4)}."
)
print("cosine_with_warmup: all visible checks passed.")
### BEGIN HIDDEN TESTS
check_schedule(5, 1, 2.0, 0.5)
check_schedule(1000, 99, 1e-3, 1e-5)
### END HIDDEN TESTS

# %% [markdown]
# The schedule, drawn, and then used: plain SGD with momentum on the 20-layer
# residual MLP of section 5, once with a constant rate of 0.05 and once with warm-up (one
# epoch) and cosine from 0.05 down to 0. A small callback calls **your** function before every
# batch.

# %%
total_steps, warmup_steps = 200, 20
fig, ax = plt.subplots(figsize=(6, 2.8))
ax.plot([cosine_with_warmup(s, total_steps, warmup_steps, 0.05, 0.0) for s in range(total_steps)])
ax.set_xlabel("step")
ax.set_ylabel("learning rate")
ax.set_title(f"warm-up {warmup_steps} steps, cosine to step {total_steps - 1}")
plt.tight_layout()
plt.show()


class WarmupCosine(Callback):
    """Sets the optimizer's rate before every batch from cosine_with_warmup."""

    def __init__(self, peak_lr, warmup_epochs=1):
        super().__init__()
        self.peak_lr, self.warmup_epochs = peak_lr, warmup_epochs

    def on_train_begin(self, logs=None):
        self.total = self.params["epochs"] * self.params["steps"]
        self.warmup = self.warmup_epochs * self.params["steps"]
        self.step = 0

    def on_train_batch_begin(self, batch, logs=None):
        rate = cosine_with_warmup(self.step, self.total, self.warmup, self.peak_lr, 0.0)
        self.model.optimizer.learning_rate = max(rate, 1e-12)  # a rate must be positive
        self.step += 1


schedule_curves = {}
for label, callbacks in [("constant 0.05", []), ("warm-up + cosine", [WarmupCosine(0.05)])]:
    model = deep_mlp(residual=True)
    model.compile(
        optimizer=SGD(learning_rate=0.05, momentum=0.9),
        loss=SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    hist = model.fit(
        digits.x_train, digits.y_train, epochs=6, batch_size=64, callbacks=callbacks, verbose=0
    )
    schedule_curves[label] = hist.history["loss"]
    _, acc = model.evaluate(digits.x_test, digits.y_test)
    final_loss = hist.history["loss"][-1]
    print(f"{label:17s} final training loss {final_loss:.4f}, test accuracy {acc:.3f}")

fig, ax = plt.subplots(figsize=(6, 3.2))
for label, loss in schedule_curves.items():
    ax.semilogy(range(1, len(loss) + 1), loss, "o-", label=label)
ax.set_xlabel("epoch")
ax.set_ylabel("training loss")
ax.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# A rate high enough to be fast early is too high late: with the constant rate the loss stalls
# (or jumps) near the end, while the decaying rate settles into the minimum. The warm-up
# matters most for large models and large rates; here it mainly keeps the first epoch from
# overshooting.
#
# ## Summary
#
# * Through a ReLU layer $\mathbb E[h^2]$ is multiplied by $\text{fan\_in}\,\sigma^2 / 2$:
#   initialize with $\sigma = \sqrt{2/\text{fan\_in}}$ (Kaiming) to keep activations and
#   gradients the same size at every depth.
# * Batch norm standardizes each feature over the batch; its backward must include the paths
#   through the mean and the variance:
#   $dx = \frac{s}{N}(N\, d\hat x - \sum d\hat x - \hat x \sum d\hat x\, \hat x)$.
# * Layer norm does the same over each example's features: the same formula with sums over
#   axis 1; no dependence on the batch.
# * Overfitting shows as a gap between the training and the validation curves; weight decay,
#   dropout and early stopping narrow or exploit it.
# * Residual connections $h + f(h)$ carry the gradient back through the identity.
# * Warm-up then cosine: start gently, finish with small steps.
#
# **Next**, chapter 13 turns to sequences: embeddings, recurrent networks and
# backpropagation through time.

# %% [markdown]
# ## Further reading
#
# * Kaiming He, Xiangyu Zhang, Shaoqing Ren and Jian Sun, *Delving Deep into Rectifiers*
#   (2015): the variance rule for ReLU.
# * Xavier Glorot and Yoshua Bengio, *Understanding the difficulty of training deep
#   feedforward neural networks* (2010).
# * Sergey Ioffe and Christian Szegedy, *Batch Normalization* (2015); Jimmy Lei Ba, Jamie Ryan
#   Kiros and Geoffrey Hinton, *Layer Normalization* (2016).
# * Kaiming He et al., *Deep Residual Learning for Image Recognition* (2016).
# * Nitish Srivastava et al., *Dropout: A Simple Way to Prevent Neural Networks from
#   Overfitting* (2014); Ilya Loshchilov and Frank Hutter, *SGDR: Stochastic Gradient Descent
#   with Warm Restarts* (2017).
# * CS231n, assignment 2 (batch normalization), and Andrej Karpathy's lecture *Building
#   makemore part 4: becoming a backprop ninja*, which derive the batch-norm backward by hand.
