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
# # 03. Losses: how wrong is the network?
#
# A network turns an input into a prediction. To improve it we need **one number** that says
# how wrong the predictions are on a batch of examples: the *loss*. Training is the search for
# weights that make the loss small, and that search follows the loss's gradient. So a loss
# function has two jobs:
#
# 1. the value $L$, which we watch go down while training;
# 2. the gradient $\partial L / \partial(\text{prediction})$, which is where backpropagation
#    *starts*: it is the first `dout` that flows back through the layers (chapter 04).
#
# This notebook covers the two losses you will use most:
#
# - **mean squared error** for regression (predicting numbers);
# - **softmax cross-entropy** for classification (predicting one class out of $C$),
#   including the *numerically stable* way to compute it and why the obvious way breaks.
#
# **This notebook is worth 10 points**: `mse_loss` (3), `softmax_cross_entropy` (4) and its
# stability with huge logits (3).
#
# **Conventions** (the same as `dlcourse.functional.losses`): a loss function returns a pair
# `(loss, dinput)`. `loss` is a single number, the **mean** over the batch; `dinput` is the
# gradient of that mean with respect to the prediction, with the same shape and dtype as the
# prediction. Because of the mean, `dinput` already contains the factor $1/N$: a training loop
# passes it straight into the last layer's backward.
#
# How to work: run the cells from top to bottom. Where you see `raise NotImplementedError()`,
# replace that line with your code, then run the check cell below it; a failed check says
# what is wrong, not only that something is. From a terminal,
# `dlcourse check course/03-losses.ipynb` runs the whole notebook and lists every check.
#
# **How this notebook is graded.** The grader runs the solution cell of each exercise on its
# own, after this notebook's set-up cell, in a fresh process outside the notebook and on inputs
# of its own; the check cells are not run there, and a helper defined in any other cell is
# missing. The course's `F.mse_loss` and `F.softmax_cross_entropy` are stubs there: a solution
# that calls one scores zero for that exercise. The gradients are to be written by hand, so
# PyTorch, JAX, TensorFlow, Keras, the course's autodiff and `dlcourse.gradcheck` cannot be
# imported while this notebook is graded. There each exercise may use 20 CPU seconds and 4 GB of
# memory; code that needs more is stopped and scores zero for it. `dlcourse check --grader` on the
# saved notebook shows the points the grader would give. Beyond the visible checks:
#
# * exercise 1, `check_mse_loss`, also tested: float32 inputs give a float32 `dpred`, 3-D
#   arrays and a single element, and other pairs of shapes that must raise ValueError (`(3,)`
#   with `(3, 1)`, `(2, 3)` with `(3, 2)`);
# * exercise 2, `check_softmax_cross_entropy`, also tested: as many examples as classes (where
#   `logits[:, labels]` has the right shape and the wrong numbers), int32 labels, and float32
#   logits giving a float32 `dlogits`;
# * exercise 3, `check_softmax_cross_entropy_stable`, also tested: random logits in the
#   thousands and tens of thousands, in float64 and in float32.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false}
import matplotlib.pyplot as plt
import numpy as np

import dlcourse.functional as F
from dlcourse.diagnose import check_not_modified, diagnose
from dlcourse.gradcheck import check_loss_gradient, tolerance

rng = np.random.default_rng(0)
CE_HINT = "Average -log p of the true class, one per row: log_probs[np.arange(N), labels]."


def expect_close(got, expected, name, context="", **options):
    """Fail with dlcourse.diagnose's explanation unless ``got`` matches ``expected``.

    context: where the arrays come from ("float32 inputs", ...), put before the message.
    """
    d = diagnose(got, expected, name=name, **options)
    assert d.ok, f"{context}: {d.message}" if context else d.message


def expect_loss(got, expected, batch_size, hint="Work one example out by hand and compare."):
    """Fail with a specific message unless the loss ``got`` is one number equal to ``expected``.

    hint: what to look at when the value is wrong in no recognisable pattern.
    """
    assert np.ndim(got) == 0, (
        f"loss should be a single number (shape ()), got shape {np.shape(got)}: take the mean "
        f"over the whole batch, without keepdims."
    )
    assert np.isfinite(float(got)), (
        f"loss is {float(got)} but should be {float(expected):.6g}: an exp overflowed or a log "
        f"saw 0. Compute log-probabilities as z - max - log(sum(exp(z - max))) (section 3)."
    )
    # Compare in float64 with the tolerance of the inputs' dtype: a float32 loss is fine.
    rtol = tolerance(np.asarray(expected).dtype)
    d = diagnose(np.float64(got), np.float64(expected), "loss", batch_size=batch_size, rtol=rtol)
    if d.ok:
        return
    # A factor of N, 2 or -1 has a known cause; any other factor between two numbers does not.
    if d.kind in ("sign", "batch_scale") or (d.kind == "scale" and abs(d.factor) in (2, 0.5)):
        message = d.message.replace(" everywhere", "").replace("expected gradient", "expected loss")
    else:
        message = f"loss is {float(got):.6g} but should be {float(expected):.6g}. {hint}"
    raise AssertionError(message)


# %% [markdown]
# ## 1. Mean squared error
#
# For a regression problem the network predicts numbers `pred` and the data holds the true
# numbers `target`, both of shape $(N, K)$: $N$ examples with $K$ outputs each. The mean squared
# error averages the squared differences over **every element**:
#
# $$
# L = \frac{1}{NK} \sum_{n=1}^{N} \sum_{k=1}^{K}
#     \left(\text{pred}_{nk} - \text{target}_{nk}\right)^2 .
# $$
#
# (PyTorch's `MSELoss()` and Keras's `"mse"` give the same number.) Squaring makes every error
# count as positive, and punishes one large error more than several small ones.
#
# **Its gradient.** Each element of `pred` appears in exactly one term of the sum, so
#
# $$
# \frac{\partial L}{\partial\, \text{pred}_{nk}}
#     = \frac{2}{NK}\left(\text{pred}_{nk} - \text{target}_{nk}\right),
# $$
#
# an array of the same shape as `pred`: the error itself, scaled. The sign matters: if a
# prediction is too big, the gradient is positive and gradient descent (which steps *against*
# the gradient) pushes it down.
#
# **A worked example.** `pred = [2.0, 0.5, 1.0]`, `target = [1.5, 0.5, 3.0]`
# (3 elements):
#
# | | element 0 | element 1 | element 2 |
# |---|---|---|---|
# | difference | 0.5 | 0.0 | −2.0 |
# | squared | 0.25 | 0.0 | 4.0 |
# | gradient $\tfrac{2}{3}\,\text{diff}$ | 1/3 | 0 | −4/3 |
#
# so $L = (0.25 + 0 + 4)/3 \approx 1.417$. The third element dominates both the loss and the
# gradient: that is the "large errors count more" property at work.

# %% [markdown]
# ### A trap: broadcasting
#
# NumPy broadcasts arrays of different shapes without complaint. A network with one output
# produces predictions of shape $(N, 1)$; labels often come as shape $(N,)$. Subtracting them
# gives an $(N, N)$ matrix, every prediction minus every target, and a loss that looks plausible
# but means nothing:

# %%
pred_column = np.array([[1.0], [2.0], [3.0]])  # (3, 1): one output per example
target_flat = np.array([1.0, 2.0, 3.0])  # (3,): perfect predictions!
diff = pred_column - target_flat
print("difference has shape", diff.shape)
print("'loss' =", np.mean(diff**2), "although every prediction is exactly right")

# %% [markdown]
# Your `mse_loss` must therefore **refuse arrays of different shapes** with a `ValueError` that
# names both shapes, instead of computing a wrong number quietly.
#
# ### Exercise 1 (3 points): `mse_loss`
#
# Write `mse_loss(pred, target)` returning `(loss, dpred)`:
#
# - `loss`: the mean of the squared differences over every element, a single number;
# - `dpred`: $\frac{2}{\text{size}}(\text{pred} - \text{target})$, same shape and dtype as `pred`;
# - a `ValueError` when the shapes differ.
#
# Do not modify `pred` or `target` (no `pred -= target`): they belong to the caller.


# %% nbgrader={"grade": false, "grade_id": "mse_loss", "locked": false, "schema_version": 3, "solution": true}
def mse_loss(pred, target):
    """Mean squared error over every element, and its gradient.

    pred, target: float arrays of the same shape (any number of dimensions).
    Returns (loss, dpred): loss is a single number, mean((pred - target)**2);
    dpred = 2 * (pred - target) / pred.size has the shape and dtype of pred.
    Raises ValueError when the shapes differ.
    """
    ### BEGIN SOLUTION
    if pred.shape != target.shape:
        raise ValueError(
            f"target: expected the same shape as pred {pred.shape}, got {target.shape}."
        )
    diff = pred - target
    loss = np.mean(diff * diff)
    dpred = (2 / diff.size) * diff
    return loss, dpred
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "check_mse_loss", "locked": true, "points": 3, "schema_version": 3, "solution": false}
# The worked example above, checked against the numbers computed by hand.
loss, dpred = mse_loss(np.array([2.0, 0.5, 1.0]), np.array([1.5, 0.5, 3.0]))
expect_loss(loss, 4.25 / 3, batch_size=3)
expect_close(dpred, np.array([1.0, 0.0, -4.0]) / 3, "dpred", batch_size=3)

# A batch of 4 examples with 3 outputs each, against the reference implementation.
pred = rng.standard_normal((4, 3))
target = rng.standard_normal((4, 3))
ref_loss, ref_dpred = F.mse_loss(pred, target)
loss, dpred = mse_loss(pred, target)
expect_loss(loss, ref_loss, batch_size=12)
expect_close(dpred, ref_dpred, "dpred", batch_size=12)

# Your function must leave its inputs as they were.
d = check_not_modified(mse_loss, pred, target)
assert d.ok, d.message

# The gradient against finite differences of your own loss.
report = check_loss_gradient(mse_loss, {"pred": pred, "target": target})
assert report.passed, str(report)

# The broadcasting trap must be refused.
try:
    mse_loss(np.zeros((4, 1)), np.zeros(4))
except ValueError:
    pass
else:
    raise AssertionError(
        "mse_loss accepted pred of shape (4, 1) with target of shape (4,): broadcasting turned "
        "them into a (4, 4) difference. Compare pred.shape with target.shape and raise "
        "ValueError when they differ."
    )
print("mse_loss: all visible checks passed.")
### BEGIN HIDDEN TESTS
# float32 in, float32 out (a float64 constant would upcast dpred).
pred32 = rng.standard_normal((8, 2)).astype(np.float32)
target32 = rng.standard_normal((8, 2)).astype(np.float32)
ref_loss, ref_dpred = F.mse_loss(pred32, target32)
loss, dpred = mse_loss(pred32, target32)
expect_loss(loss, ref_loss, batch_size=16)
expect_close(dpred, ref_dpred, "dpred", "float32 inputs", batch_size=16)

# Other shapes: 1-D, 3-D, a single element.
for shape in [(7,), (2, 3, 4), (1, 1)]:
    pred = 3 * rng.standard_normal(shape)
    target = rng.standard_normal(shape)
    ref_loss, ref_dpred = F.mse_loss(pred, target)
    loss, dpred = mse_loss(pred, target)
    expect_loss(loss, ref_loss, batch_size=pred.size)
    expect_close(dpred, ref_dpred, "dpred", f"inputs of shape {shape}", batch_size=pred.size)

# Inputs left untouched.
pred = rng.standard_normal((5, 3))
target = rng.standard_normal((5, 3))
d = check_not_modified(mse_loss, pred, target)
assert d.ok, d.message

# A shape mismatch of the same size (transposed) must be refused as well.
try:
    mse_loss(np.zeros((2, 3)), np.zeros((3, 2)))
except ValueError:
    pass
else:
    raise AssertionError("mse_loss accepted pred (2, 3) with target (3, 2); raise ValueError.")
### END HIDDEN TESTS

# %% [markdown]
# ## 2. Classification: softmax and cross-entropy
#
# A classifier's last dense layer produces one raw score per class, the **logits**
# $z \in \mathbb{R}^{C}$ (a row of an $(N, C)$ array). Softmax turns them into probabilities
# (chapter 02):
#
# $$
# p_j = \operatorname{softmax}(z)_j = \frac{e^{z_j}}{\sum_{k=1}^{C} e^{z_k}} ,
# \qquad p_j > 0,\quad \sum_j p_j = 1 .
# $$
#
# The label is a class index $y$. A good model gives the true class a high probability, so the
# loss for one example is the **negative log-probability of the true class**, and the batch
# loss is its mean:
#
# $$
# \ell_n = -\log p_{n,\,y_n}, \qquad L = \frac{1}{N}\sum_{n=1}^{N} \ell_n .
# $$
#
# Why the logarithm? The probability that the model assigns to a whole data set is the
# *product* of the examples' probabilities; the log turns the product into a sum, and
# minimising $L$ is maximising that likelihood. The log also keeps punishing a confident
# mistake: $-\log p \to \infty$ as $p \to 0$, while a perfect answer ($p = 1$) costs 0.
#
# **Its gradient** is remarkably simple. Write the log-probability as
# $\log p_y = z_y - \log \sum_k e^{z_k}$ and differentiate with respect to each logit $z_j$:
#
# $$
# \frac{\partial}{\partial z_j} \log \sum_k e^{z_k} = \frac{e^{z_j}}{\sum_k e^{z_k}} = p_j
# \quad\Longrightarrow\quad
# \frac{\partial \ell}{\partial z_j} = p_j - [\,j = y\,],
# $$
#
# where $[j = y]$ is 1 for the true class and 0 for the others, the one-hot label. For the
# batch mean, divide by $N$:
#
# $$
# \frac{\partial L}{\partial Z} = \frac{1}{N}\left(P - Y_{\text{one-hot}}\right) .
# $$
#
# Read it as "predicted minus wanted": the true class's logit is pushed up by $1 - p_y$ and
# every other logit is pushed down by its own probability.
#
# **A worked example.** Logits $z = (2.0, -1.0, 0.5)$ with true class $y = 2$:
#
# - $e^{z} = (7.389, 0.368, 1.649)$, sum $9.406$;
# - $p = (0.786, 0.039, 0.175)$: the model prefers class 0, wrongly;
# - $\ell = -\log 0.175 = 1.741$;
# - $\partial \ell / \partial z = (0.786, 0.039, 0.175 - 1) = (0.786, 0.039, -0.825)$.
#
# The picture below shows one example's loss as a function of the true class's logit, with the
# other two logits held at $1.0$ and $-0.5$. Far left (the model is confidently wrong) the loss
# is a straight line of slope $-1$: the gradient never fades while the answer is wrong. Far
# right it flattens to 0: once the model is right and sure, there is little left to learn.

# %%
other_logits = np.array([1.0, -0.5])
z_true = np.linspace(-6, 8, 281)
losses, slopes = [], []
for z in z_true:
    logits = np.concatenate([[z], other_logits])[None, :]  # one example, true class 0
    loss, dlogits = F.softmax_cross_entropy(logits, np.array([0]))
    losses.append(loss)
    slopes.append(dlogits[0, 0])

fig, ax = plt.subplots(figsize=(7, 3.5))
ax.plot(z_true, losses, label=r"loss $\ell = -\log p_y$")
ax.plot(z_true, slopes, label=r"slope $\partial\ell/\partial z_y = p_y - 1$")
ax.axhline(0, color="grey", lw=0.5)
ax.axvline(other_logits.max(), color="grey", ls=":", label="largest other logit")
ax.set_xlabel(r"logit of the true class $z_y$")
ax.set_title("Cross-entropy of one example as its correct logit grows")
ax.legend()
plt.show()

# %% [markdown]
# ## 3. Numerical stability: why the obvious code breaks
#
# The formulas above are right, but a computer does not compute with real numbers.
# `np.exp` overflows to `inf` as soon as its argument passes $\log(\text{largest float})$:
# about 709.8 in float64 and only **88.7 in float32**, the dtype networks usually run in.
# Logits of a few hundred are ordinary in a network that has just started training with a
# large learning rate, or that is very sure of itself.

# %%
largest = np.finfo(np.float32).max
print("largest float32:", largest, "   its log:", np.log(largest))
with np.errstate(over="ignore"):  # NumPy would warn "overflow encountered in exp"
    print("exp(1000.0) in float64:", np.exp(1000.0))
    print("exp(100.0) in float32: ", np.exp(np.float32(100.0)))


def naive_softmax(z):
    """The textbook formula, exactly as written: breaks for large logits."""
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


big = np.array([[1000.0, 999.0, 998.0]])
with np.errstate(over="ignore", invalid="ignore"):
    print("naive softmax of", big, "->", naive_softmax(big))

# %% [markdown]
# `inf / inf` is `NaN`, and a single NaN in the loss spreads to every gradient and then to
# every weight: training is over.
#
# **Fix 1: shift by the maximum.** Softmax does not change when the same constant $c$ is
# subtracted from every logit, because $e^{-c}$ cancels:
#
# $$
# \frac{e^{z_j - c}}{\sum_k e^{z_k - c}} = \frac{e^{-c}\, e^{z_j}}{e^{-c} \sum_k e^{z_k}}
# = \frac{e^{z_j}}{\sum_k e^{z_k}} .
# $$
#
# With $c = m = \max_k z_k$, every exponent is $\le 0$, so no `exp` exceeds 1, and the largest
# one is exactly $e^0 = 1$, so the sum is at least 1: no overflow, no division by 0.
#
# **That is not enough for the loss.** When the true class's logit is far *below* the maximum,
# its probability underflows to exactly 0 and $-\log 0 = \infty$:

# %%
z = np.array([[0.0, -1000.0]])  # the true class is 1, a thousand units below class 0
shifted = z - z.max(axis=1, keepdims=True)
probs = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
with np.errstate(divide="ignore"):
    print("probabilities:", probs, "  -> loss -log p_1 =", -np.log(probs[0, 1]))

# %% [markdown]
# The right answer is a loss of 1000, an ordinary number. The information was lost the moment
# we computed $p_1 = e^{-1000}$ as a float. Adding a small epsilon, `-log(p + 1e-12)`, only
# hides the problem: the loss is capped near 27.6 and is simply wrong.
#
# **Fix 2: never form the probability; compute its log directly** (the *log-sum-exp trick*):
#
# $$
# \log p_j = z_j - \log \sum_k e^{z_k} = (z_j - m) - \log \sum_k e^{z_k - m} .
# $$
#
# Every exponent is $\le 0$ (no overflow) and the sum lies between 1 and $C$, so its log is
# between 0 and $\log C$ (never $\log 0$). The only large number left is $z_j - m$, which is
# just a subtraction:

# %%
m = z.max(axis=1, keepdims=True)
log_probs = (z - m) - np.log(np.exp(z - m).sum(axis=1, keepdims=True))
print("log-probabilities:", log_probs, "  -> loss -log p_1 =", -log_probs[0, 1])

# %% [markdown]
# The gradient $p - y_{\text{one-hot}}$ needs the probabilities themselves, but there an
# underflow to 0 is harmless: $e^{-1000}$ *is* 0 to any precision that matters.
# You can get them from the stable log-probabilities with `np.exp(log_probs)`.
#
# The figure compares the three ways of computing one example's loss in **float32**, the
# other two logits held at 0, as the true class's logit sweeps from −150 to 150. Each unstable
# formula stops where it produces `inf` or `NaN` (matplotlib draws nothing there): the naive
# one fails on **both** sides, by overflow to the right and by underflow to the left.

# %%
z_true = np.linspace(-150, 150, 601, dtype=np.float32)
logits = np.stack([z_true, np.zeros_like(z_true), np.zeros_like(z_true)], axis=1)
rows = np.arange(len(z_true))  # the true class is 0 in every row

with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
    naive = -np.log(naive_softmax(logits)[rows, 0])
    shifted = logits - logits.max(axis=1, keepdims=True)
    softmax_then_log = -np.log(naive_softmax(shifted)[rows, 0])
stable = [F.softmax_cross_entropy(row[None, :], np.array([0]))[0] for row in logits]

fig, ax = plt.subplots(figsize=(7, 3.5))
ax.plot(z_true, stable, lw=6, alpha=0.3, label="log-sum-exp")
ax.plot(z_true, naive, label="naive exp")
ax.plot(z_true, softmax_then_log, "--", label="shifted softmax, then log")
overflow = np.log(np.finfo(np.float32).max)  # exp(z) is inf beyond this
underflow = z_true[np.isfinite(softmax_then_log)].min()  # p rounds to 0 below this
ax.axvspan(overflow, z_true.max(), color="tab:orange", alpha=0.15, label="naive: NaN")
ax.axvspan(z_true.min(), underflow, color="tab:green", alpha=0.15, label="both unstable: inf")
ax.set_xlabel(r"logit of the true class $z_y$ (float32, other logits 0)")
ax.set_ylabel("loss")
ax.legend()
plt.show()
for name, values in [("naive", naive), ("softmax then log", softmax_then_log)]:
    ok = z_true[np.isfinite(values)]
    print(f"{name:>16}: finite only for z in [{ok.min():.1f}, {ok.max():.1f}]")

# %% [markdown]
# ### Exercise 2 (4 + 3 points): `softmax_cross_entropy`
#
# Write `softmax_cross_entropy(logits, labels)` returning `(loss, dlogits)`:
#
# - `logits`: float array of shape $(N, C)$; `labels`: integer array of shape $(N,)$;
# - `loss`: the mean over the batch of $-\log p_{n, y_n}$, a single number;
# - `dlogits`: $(P - Y_{\text{one-hot}})/N$, with the shape **and dtype** of `logits`.
#
# It must stay finite for logits of any size (the second grade cell uses logits in the
# thousands), so compute log-probabilities with the log-sum-exp trick.
#
# Pitfalls that the checks will catch:
#
# - `logits[:, labels]` picks a *column* for every label, an $(N, N)$ array. To pick one
#   element per row use `log_probs[np.arange(N), labels]`.
# - `np.eye(C)[labels]` is a float64 one-hot matrix: subtracting it turns float32 gradients
#   into float64. `np.arange(C) == labels[:, None]` gives booleans, which keep the dtype.
# - `logits -= logits.max(...)` changes the caller's array. Create a new one.
# - The $1/N$ of the mean belongs in `dlogits` too.


# %% nbgrader={"grade": false, "grade_id": "softmax_cross_entropy", "locked": false, "schema_version": 3, "solution": true}
def softmax_cross_entropy(logits, labels):
    """Mean cross-entropy of softmax(logits) against integer labels, and its gradient.

    logits: (N, C) float array of raw class scores, one row per example.
    labels: (N,) integer array, the true class of each example (0 <= label < C).
    Returns (loss, dlogits): loss is a single number, the batch mean of
    -log softmax(logits)[n, labels[n]]; dlogits = (softmax(logits) - one_hot) / N
    has the shape and dtype of logits. Stays finite for logits of any magnitude.
    """
    ### BEGIN SOLUTION
    n = logits.shape[0]
    rows = np.arange(n)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -np.mean(log_probs[rows, labels])
    dlogits = np.exp(log_probs)
    dlogits[rows, labels] -= 1
    return loss, dlogits / n
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "check_softmax_cross_entropy", "locked": true, "points": 4, "schema_version": 3, "solution": false}
# The worked example: logits (2, -1, 0.5), true class 2.
z = np.array([[2.0, -1.0, 0.5]])
p = np.exp(z) / np.exp(z).sum()
loss, dlogits = softmax_cross_entropy(z, np.array([2]))
expect_loss(loss, -np.log(p[0, 2]), batch_size=1, hint=CE_HINT)
expect_close(dlogits, p - np.array([[0.0, 0.0, 1.0]]), "dlogits")

# A batch of 6 examples and 4 classes, against the reference implementation.
logits = rng.standard_normal((6, 4))
labels = np.array([0, 3, 1, 1, 2, 0])
ref_loss, ref_dlogits = F.softmax_cross_entropy(logits, labels)
loss, dlogits = softmax_cross_entropy(logits, labels)
expect_loss(loss, ref_loss, batch_size=6, hint=CE_HINT)
expect_close(dlogits, ref_dlogits, "dlogits", batch_size=6)

# Your function must leave its inputs as they were.
d = check_not_modified(softmax_cross_entropy, logits, labels)
assert d.ok, d.message

# The gradient against finite differences of your own loss.
report = check_loss_gradient(softmax_cross_entropy, {"logits": logits, "labels": labels})
assert report.passed, str(report)
print("softmax_cross_entropy: all visible checks passed.")
### BEGIN HIDDEN TESTS
# float32 logits keep float32 gradients.
logits32 = rng.standard_normal((16, 10)).astype(np.float32)
labels16 = rng.integers(0, 10, size=16)
ref_loss, ref_dlogits = F.softmax_cross_entropy(logits32, labels16)
loss, dlogits = softmax_cross_entropy(logits32, labels16)
expect_loss(loss, ref_loss, batch_size=16, hint=CE_HINT)
expect_close(dlogits, ref_dlogits, "dlogits", "float32 logits", batch_size=16)

# Other shapes: one example; two classes; many examples; int32 labels.
for n, c in [(1, 5), (9, 2), (64, 7)]:
    logits = 2 * rng.standard_normal((n, c))
    labels = rng.integers(0, c, size=n).astype(np.int32)
    ref_loss, ref_dlogits = F.softmax_cross_entropy(logits, labels)
    loss, dlogits = softmax_cross_entropy(logits, labels)
    expect_loss(loss, ref_loss, batch_size=n, hint=CE_HINT)
    expect_close(dlogits, ref_dlogits, "dlogits", f"logits of shape ({n}, {c})", batch_size=n)

# N == C: picking logits[:, labels] gives the right shape here, but wrong values.
logits = rng.standard_normal((4, 4))
labels = np.array([2, 2, 0, 1])
ref_loss, ref_dlogits = F.softmax_cross_entropy(logits, labels)
loss, dlogits = softmax_cross_entropy(logits, labels)
expect_loss(loss, ref_loss, batch_size=4, hint=CE_HINT)
expect_close(dlogits, ref_dlogits, "dlogits", "a (4, 4) batch", batch_size=4)

# Inputs left untouched.
logits = rng.standard_normal((5, 3))
d = check_not_modified(softmax_cross_entropy, logits, np.array([0, 1, 2, 1, 0]))
assert d.ok, d.message
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "check_softmax_cross_entropy_stable", "locked": true, "points": 3, "schema_version": 3, "solution": false}
# Huge logits: the naive formula gives NaN, softmax-then-log gives inf.
logits = np.array(
    [
        [1000.0, 999.0, 998.0],  # every exp overflows without the shift
        [0.0, -1000.0, 500.0],  # the true class (1) sits 1500 below the max
        [-800.0, -800.0, -800.0],  # every exp underflows to 0 without the shift
    ]
)
labels = np.array([0, 1, 2])

# One example at a time first, so that a failure names the row that breaks.
for row, label in zip(logits, labels):
    ref_loss, _ = F.softmax_cross_entropy(row[None, :], np.array([label]))
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        loss, _ = softmax_cross_entropy(row[None, :], np.array([label]))
    if not np.isfinite(loss):
        why = (
            "an exp overflowed or a log saw 0; subtract the row max before exp and compute "
            "log-probabilities directly, (z - m) - log(sum(exp(z - m))), not log(softmax)"
        )
    else:
        why = (
            "a probability underflowed to 0 and something (an epsilon?) capped -log p; "
            "compute log-probabilities directly, (z - m) - log(sum(exp(z - m)))"
        )
    assert np.isfinite(loss) and abs(loss - ref_loss) <= 1e-6 * abs(ref_loss), (
        f"for logits {row.tolist()} with true class {label} the loss should be "
        f"{ref_loss:.6g}, got {loss}: {why}."
    )

# Then the whole batch, loss and gradient.
ref_loss, ref_dlogits = F.softmax_cross_entropy(logits, labels)
with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
    loss, dlogits = softmax_cross_entropy(logits, labels)
expect_loss(loss, ref_loss, batch_size=3, hint=CE_HINT)
expect_close(dlogits, ref_dlogits, "dlogits", "logits around 1000", batch_size=3)
print("softmax_cross_entropy stays finite and right for logits around 1000.")
### BEGIN HIDDEN TESTS
# Logits of magnitude 1e4, in float64 and in float32.
for dtype in (np.float64, np.float32):
    logits = (1e4 * rng.standard_normal((8, 5))).astype(dtype)
    labels = rng.integers(0, 5, size=8)
    ref_loss, ref_dlogits = F.softmax_cross_entropy(logits, labels)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        loss, dlogits = softmax_cross_entropy(logits, labels)
    expect_loss(loss, ref_loss, batch_size=8, hint=CE_HINT)
    context = f"{dtype.__name__} logits of magnitude 1e4"
    expect_close(dlogits, ref_dlogits, "dlogits", context, batch_size=8)

# float32 logits just past exp's float32 limit (88.7).
logits = np.array([[100.0, 0.0], [0.0, 95.0], [-100.0, -200.0]], dtype=np.float32)
labels = np.array([1, 1, 0])
ref_loss, ref_dlogits = F.softmax_cross_entropy(logits, labels)
with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
    loss, dlogits = softmax_cross_entropy(logits, labels)
expect_loss(loss, ref_loss, batch_size=3, hint=CE_HINT)
expect_close(dlogits, ref_dlogits, "dlogits", "float32 logits around 100", batch_size=3)
### END HIDDEN TESTS

# %% [markdown]
# ## 4. Why not mean squared error for classification?
#
# One could put the softmax probabilities into `mse_loss` against the one-hot label. It works
# badly, and the gradient says why. Take an example the model gets confidently **wrong**:
# logits $(5, 0)$, true class 1. Compare the gradient that reaches the logits through each loss:

# %%
logits = np.array([[5.0, 0.0]])
labels = np.array([1])
one_hot = np.array([[0.0, 1.0]])

_, dlogits_ce = softmax_cross_entropy(logits, labels)

probs, softmax_cache = F.softmax_forward(logits)
_, dprobs = mse_loss(probs, one_hot)
dlogits_mse = F.softmax_backward(dprobs, softmax_cache)

print("probabilities:             ", probs.round(4))
print("gradient via cross-entropy:", dlogits_ce.round(4))
print("gradient via MSE on probs: ", dlogits_mse.round(4))
print(f"cross-entropy's gradient is {dlogits_ce[0, 1] / dlogits_mse[0, 1]:.0f} times larger")

# %% [markdown]
# Through MSE the gradient is about 75 times smaller, because the softmax's own slope
# $p(1 - p)$ is almost 0 when $p$ is near 0 or 1: the more confidently wrong the model, the
# less it learns. Cross-entropy's $\log$ cancels the softmax's $\exp$ and leaves $p - y$,
# which stays large for as long as the answer is wrong. Hence the rule: **cross-entropy for
# classification, MSE for regression.** (For two classes with one sigmoid output, the same
# reasoning gives `dlcourse.functional.binary_cross_entropy_with_logits`, whose stable form
# is written out in its docstring.)
#
# ## Summary
#
# - A loss returns the batch mean **and** its gradient, which is the first `dout` of
#   backpropagation; the $1/N$ of the mean is part of that gradient.
# - MSE: $L = \operatorname{mean}\big((\text{pred} - \text{target})^2\big)$,
#   gradient $\frac{2}{\text{size}}(\text{pred} - \text{target})$. Check shapes: broadcasting
#   turns an $(N, 1)$ vs $(N,)$ mismatch into a silent $(N, N)$ error.
# - Softmax cross-entropy: $L = -\frac{1}{N}\sum_n \log p_{n, y_n}$, gradient
#   $\frac{1}{N}(P - Y_{\text{one-hot}})$: "predicted minus wanted".
# - `exp` overflows at 88.7 in float32. Subtract the row maximum, and compute
#   $\log p = (z - m) - \log\sum e^{z - m}$ directly: stable softmax followed by `log`
#   still returns `inf` when a probability underflows to 0.
#
# **Next, chapter 04:** the gradient `dlogits` you computed here flows backwards through a
# two-layer network. You will write the backward pass of a dense layer, chain the layers
# together with the chain rule, and check every gradient with finite differences.

# %% [markdown]
# ## Further reading
#
# * CS231n notes, *Linear classification*, the part on the softmax classifier: the
#   cross-entropy loss and the shift by the row maximum for numerical stability.
# * *Dive into Deep Learning*, chapter *Linear Neural Networks for Classification*: softmax
#   regression, the cross-entropy loss and its gradient.
# * Goodfellow, Bengio and Courville, *Deep Learning*, section 4.1, *Overflow and Underflow*
#   (the stable softmax), and chapter 6's discussion of cost functions (why cross-entropy, not
#   squared error, goes with a saturating output).
