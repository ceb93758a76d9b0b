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
# # 05. Training by hand
#
# In chapters 01 to 04 you wrote every piece of a network's math: the dense layer, the
# activations, the loss, and the backward pass that turns the loss into a gradient for
# every weight. A network with correct gradients still knows nothing. **Training** is the
# loop that uses those gradients, step after step, to make the network better.
#
# In this notebook you write that loop and the three update rules that nearly all of deep
# learning runs on:
#
# - **minibatch SGD**: step against the gradient of a small random batch;
# - **momentum**: keep a running velocity so that steady directions speed up;
# - **Adam**: give every weight its own step size from running gradient statistics.
#
# Then you train a network on handwritten digits while its loss curve draws itself, compare
# the three rules on one plot, look at which digits it confuses, and watch a network carve
# the plane into spiral arms.
#
# **This notebook is worth 12 points.**
#
# | Exercise | Function | Points |
# |---|---|---|
# | 1 | `minibatch_indices`: shuffled batches for one epoch | 2 |
# | 2 | `sgd_momentum_update`: SGD with momentum | 3 |
# | 3 | `adam_update`: Adam | 3 |
# | 4 | `train`: the training loop, reaching 93% test accuracy on the digits | 4 |
#
# The network itself (forward, loss, backward) is given, built from the reference
# functions in `dlcourse.functional`: here you focus on optimization.
#
# How to work: run the cells from top to bottom. Where you see
# `raise NotImplementedError()`, replace that line with your code, then run the check
# cell below it; a failed check says what is wrong, not only that something is. From a
# terminal, `dlcourse check course/05-training.ipynb` runs the whole notebook and lists
# every check. The whole notebook runs in well under a minute on a laptop CPU.
#
# **How this notebook is graded.** The grader runs the solution cell of each exercise on its
# own, after this notebook's locked set-up cells, in a fresh process outside the notebook and
# on inputs of its own; the check cells are not run there, and a helper defined in any other
# cell is missing. The course's optimizers `F.SGD` and `F.Adam` are stubs there: an update
# rule that calls one scores zero for that exercise. PyTorch, JAX, TensorFlow, Keras, the
# course's autodiff and `dlcourse.gradcheck` cannot be imported while this notebook is graded.
# There each exercise may use 20 CPU seconds and 4 GB of memory; code that needs more is stopped
# and scores zero for it. `dlcourse check --grader` on the saved notebook shows the points the
# grader would give. Beyond the visible checks:
#
# * exercise 1, `check_minibatch_indices`, also tested: a large `n` (more indices than a byte
#   holds), an `n` that `batch_size` divides, fewer examples than one batch, and batches of one;
# * exercise 2, `check_sgd_momentum_update`, also tested: float32 parameters keep float32,
#   `momentum=0`, 3-D parameters, and your inputs left unchanged at every step of a run;
# * exercise 3, `check_adam_update`, also tested: float32 parameters keep float32, betas other
#   than the defaults, an `eps` other than the default where gradients are as small as it, 30
#   steps of gradients whose size changes by orders of magnitude, and a zero gradient at `t=1`
#   (a step of 0, not NaN);
# * exercise 4, `check_train`, also tested: float64 as well as float32 parameters, a batch size
#   that divides `n` and one larger than `n`, and the trained parameters (and, when the batch
#   size divides `n`, the loss history) compared number by number with the same loop run with
#   plain SGD, the same `seed` and the same shuffles. `train` runs there with the course's
#   `minibatch_indices` in place of yours, so a mistake in yours costs exercise 1 only.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false}
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import display

import dlcourse.functional as F
from dlcourse.data import load_digits, make_spirals
from dlcourse.diagnose import check_not_modified, diagnose
from dlcourse.gradcheck import check_gradients

digits = load_digits()  # scikit-learn's 8x8 digits, split 80/20 with a fixed seed
print(digits)

# %% [markdown]
# Each image is 8x8 pixels flattened into a row of 64 numbers in $[0, 1]$; each label is
# the digit it shows. Here are the first ten training images:

# %%
fig, axes = plt.subplots(1, 10, figsize=(9, 1.3))
for ax, image, label in zip(axes, digits.x_train, digits.y_train):
    ax.imshow(image.reshape(8, 8), cmap="gray_r")
    ax.set_title(str(label))
    ax.axis("off")
plt.show()


# %% nbgrader={"grade": false, "grade_id": "check_helpers", "locked": true, "schema_version": 3, "solution": false}
def update_message(d, hint=""):
    """The check cells' explanation of a wrong array returned by an update rule.

    ``diagnose`` and ``check_not_modified`` word their findings for gradients and
    backward functions (a factor of 2 "from differentiating a square"); for an optimizer's
    output a constant factor points at a coefficient instead, so those cases are reworded
    here and followed by a hint about the rule.
    """
    where = f"at index {list(d.worst_index or ())}"
    if d.kind == "sign":
        text = f"{d.name} has the right size but the opposite sign everywhere."
    elif d.kind in ("scale", "batch_scale"):
        text = (
            f"{d.name} is {d.factor:.4g} times the expected value everywhere ({where}: "
            f"got {d.got_value:.6g}, expected {d.expected_value:.6g})."
        )
    elif d.kind == "elementwise":
        text = (
            f"{d.name} differs from the expected value at {d.mismatches} element(s); the "
            f"worst {where}: got {d.got_value:.6g}, expected {d.expected_value:.6g}."
        )
    elif d.kind == "inplace":  # from check_not_modified
        change = ""
        if d.got_value is not None:
            change = f" ({d.name}{list(d.worst_index)}: was {d.expected_value:.6g}, now {d.got_value:.6g})"
        text = (
            f"the update rule changed its input {d.name} in place{change}: compute new "
            f"arrays (new_m = beta * m + ...) instead of updating the caller's (m *= beta, "
            f"w -= ...)."
        )
    else:  # shape, transposed, dtype, NaN, None: diagnose's own words fit
        text = d.message
    return f"{text} {hint}".strip()


# %% [markdown]
# ## 1. The network, ready-made
#
# We use a multilayer perceptron (MLP): dense layers with a ReLU between them. With one
# hidden layer of 64 units it computes, for a batch $X$ of shape $(N, 64)$,
#
# $$
# H = \mathrm{ReLU}(X W_1 + b_1), \qquad Z = H W_2 + b_2, \qquad
# L = \frac{1}{N} \sum_{i=1}^{N} -\log \mathrm{softmax}(Z_i)_{y_i}.
# $$
#
# Its parameters live in a dict, `{"w1": ..., "b1": ..., "w2": ..., "b2": ...}`. The cell
# below builds it from `dlcourse.functional`, the reference versions of what you wrote in
# chapters 01 to 04, and gives you four helpers:
#
# - `init_mlp(sizes, seed)`: fresh parameters for layer sizes such as `[64, 64, 10]`;
# - `loss_and_gradients(params, x, y)`: the mean loss on a batch and a dict of gradients
#   with the same keys as `params`;
# - `predict(params, x)`: the predicted class of each row;
# - `accuracy(params, x, y)`: the fraction of rows predicted right.


# %% nbgrader={"grade": false, "grade_id": "mlp_helpers", "locked": true, "schema_version": 3, "solution": false}
def init_mlp(sizes, seed=0, dtype=np.float32):
    """Parameters of an MLP with layer widths ``sizes`` (input, hidden..., classes).

    Weights are drawn with He scaling, N(0, 2 / fan_in), which keeps the size of the
    activations roughly constant through ReLU layers; biases start at 0.
    """
    rng = np.random.default_rng(seed)
    params = {}
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        scale = np.sqrt(2.0 / fan_in)
        params[f"w{i}"] = (scale * rng.standard_normal((fan_in, fan_out))).astype(dtype)
        params[f"b{i}"] = np.zeros(fan_out, dtype=dtype)
    return params


def mlp_forward(params, x):
    """Logits (N, classes) and the caches the backward pass needs, layer by layer."""
    layers = len(params) // 2
    caches = []
    h = x
    for i in range(1, layers + 1):
        h, dense_cache = F.dense_forward(h, params[f"w{i}"], params[f"b{i}"])
        relu_cache = None
        if i < layers:  # no ReLU after the last layer: the loss wants raw scores
            h, relu_cache = F.relu_forward(h)
        caches.append((dense_cache, relu_cache))
    return h, caches


def mlp_backward(dlogits, caches):
    """Gradients of every parameter, walking the layers from last to first."""
    grads = {}
    d = dlogits
    for i in range(len(caches), 0, -1):
        dense_cache, relu_cache = caches[i - 1]
        if relu_cache is not None:
            d = F.relu_backward(d, relu_cache)
        # The first layer's input is data: its gradient is never needed.
        d, grads[f"w{i}"], grads[f"b{i}"] = F.dense_backward(d, dense_cache, input_grad=i > 1)
    return grads


def loss_and_gradients(params, x, y):
    """Mean softmax cross-entropy on the batch (x, y) and its gradient for every parameter."""
    logits, caches = mlp_forward(params, x)
    loss, dlogits = F.softmax_cross_entropy(logits, y)
    return float(loss), mlp_backward(dlogits, caches)


def predict(params, x):
    """The class with the highest score, for each row of x."""
    logits, _ = mlp_forward(params, x)
    return logits.argmax(axis=1)


def accuracy(params, x, y):
    """Fraction of the rows of x whose predicted class equals y."""
    return float(np.mean(predict(params, x) == y))


# %% [markdown]
# **Check before you train.** A training run with a wrong gradient does not crash: the loss
# just goes down slowly, or not at all, and you lose an afternoon. So we first compare the
# whole network's gradient with finite differences (chapter 04's tool) on a tiny network
# and batch, in float64 where finite differences are accurate.

# %%
tiny = init_mlp([64, 8, 10], seed=1, dtype=np.float64)
x_tiny, y_tiny = digits.x_train[:5].astype(np.float64), digits.y_train[:5]


def network_loss(w1, b1, w2, b2):
    """The loss as a function of the parameters, with the (out, cache) convention."""
    logits, caches = mlp_forward({"w1": w1, "b1": b1, "w2": w2, "b2": b2}, x_tiny)
    loss, dlogits = F.softmax_cross_entropy(logits, y_tiny)
    return loss, mlp_backward(dlogits, caches)


def network_loss_backward(dout, grads):
    return tuple(dout * grads[name] for name in ("w1", "b1", "w2", "b2"))


print(check_gradients(network_loss, network_loss_backward, tiny))

# %% [markdown]
# ## 2. Gradient descent, one step at a time
#
# The gradient $\nabla_\theta L$ points in the direction in which the loss grows fastest.
# Gradient descent takes a small step the other way:
#
# $$\theta \leftarrow \theta - \eta \, \nabla_\theta L(\theta),$$
#
# where $\eta$ is the **learning rate**. One step on a batch of digits, with the reference
# `F.sgd_update`, already lowers the loss on that batch:

# %%
params = init_mlp([64, 64, 10], seed=0)
x_batch, y_batch = digits.x_train[:32], digits.y_train[:32]

loss_before, grads = loss_and_gradients(params, x_batch, y_batch)
stepped = {name: F.sgd_update(p, grads[name], lr=0.1) for name, p in params.items()}
loss_after, _ = loss_and_gradients(stepped, x_batch, y_batch)
print(f"loss on the batch before the step: {loss_before:.4f}, after: {loss_after:.4f}")

# %% [markdown]
# ### Minibatches
#
# The loss we care about is the mean over all $n$ training examples,
# $L(\theta) = \frac{1}{n}\sum_{i=1}^{n} \ell_i(\theta)$, and its exact gradient costs a
# pass over the whole training set. **Minibatch SGD** uses a random batch $\mathcal{B}$ of
# $B$ examples instead:
#
# $$
# g = \frac{1}{B} \sum_{i \in \mathcal{B}} \nabla_\theta \ell_i(\theta),
# \qquad \mathbb{E}[g] = \nabla_\theta L(\theta).
# $$
#
# On average $g$ is the true gradient, so the steps go the right way on average, and each
# costs $B/n$ of a full pass: with $B = 32$ on our 1,438 images we take 45 steps for the
# price of one. The noise in $g$ is not only a cost: in practice, training with small
# batches often finds solutions that generalize at least as well as full-batch training.
#
# One pass over the training set is an **epoch**. Each epoch we shuffle the examples and
# cut them into consecutive batches, so every example is seen exactly once per epoch.
#
# **Pitfalls.**
#
# - **Shuffle.** Data often arrives sorted: `make_spirals` returns all of class 0, then
#   all of class 1... Batches taken in that order hold one class each, and every step
#   pulls the network towards "always answer $k$". Shuffle again each epoch, so the
#   batches differ from epoch to epoch.
# - **Shuffle the inputs and the labels together.** Shuffle *indices*, then take
#   `x[idx]` and `y[idx]`; two separate shuffles would pair images with wrong labels.
# - **The last batch.** When $B$ does not divide $n$, the last batch is smaller. Keep it
#   (dropping it would leave some examples out), and never produce an empty batch when
#   $B$ does divide $n$.
#
# ### Exercise 1: `minibatch_indices` (2 points)
#
# Return the batches of one epoch as a list of integer index arrays. Draw the shuffle from
# the generator `rng` you are given (for example `rng.permutation(n)`), not from a new
# generator: the caller passes the same `rng` every epoch and expects a new order each
# time, and the same seed must always give the same batches.


# %% nbgrader={"grade": false, "grade_id": "minibatch_indices", "locked": false, "schema_version": 3, "solution": true}
def minibatch_indices(n, batch_size, rng):
    """Shuffled minibatches for one epoch over n examples.

    Args:
        n: number of examples.
        batch_size: examples per batch; the last batch holds the remainder when
            batch_size does not divide n.
        rng: a numpy.random.Generator; draw the shuffle from it.

    Returns:
        A list of 1-D integer arrays. Together they contain every index in range(n)
        exactly once, in a random order; each has batch_size elements except possibly
        the last, and none is empty.

    Example: n=5, batch_size=2 might give [array([3, 0]), array([4, 1]), array([2])].
    """
    ### BEGIN SOLUTION
    order = rng.permutation(n)
    return [order[start : start + batch_size] for start in range(0, n, batch_size)]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "check_minibatch_indices", "locked": true, "points": 2, "schema_version": 3, "solution": false}
def check_batches(n, batch_size, seed):
    """Check one epoch's batches; return them for further checks."""
    batches = minibatch_indices(n, batch_size, np.random.default_rng(seed))
    assert batches is not None, "minibatch_indices returned None: add a return statement."
    batches = [np.asarray(b) for b in batches]
    sizes = [len(b) for b in batches]
    full, rest = divmod(n, batch_size)
    want = [batch_size] * full + ([rest] if rest else [])
    assert sizes == want, (
        f"n={n}, batch_size={batch_size}: expected batch sizes {want}, got {sizes}. "
        f"Cut one shuffled order into consecutive slices of batch_size; only the last "
        f"may be shorter, and none may be empty."
    )
    for b in batches:
        assert np.issubdtype(b.dtype, np.integer), (
            f"each batch must be an integer index array (usable as x[idx]), got dtype {b.dtype}."
        )
    seen = np.concatenate(batches)
    missing = sorted(set(range(n)) - set(seen.tolist()))
    repeated = len(seen) - len(set(seen.tolist()))
    assert not missing and not repeated, (
        f"n={n}: every index must appear exactly once per epoch; missing {missing[:5]}, "
        f"{repeated} repeated. Sampling with replacement (rng.integers) repeats examples; "
        f"use a permutation."
    )
    return batches


batches = check_batches(10, 4, seed=0)
assert not np.array_equal(np.concatenate(batches), np.arange(10)), (
    "the indices come out in order 0, 1, 2, ...: shuffle them (rng.permutation(n))."
)
rng = np.random.default_rng(0)
first = np.concatenate(minibatch_indices(10, 4, rng))
second = np.concatenate(minibatch_indices(10, 4, rng))
assert not np.array_equal(first, second), (
    "two calls with the same rng gave the same order: draw the shuffle from the rng you "
    "are given (rng.permutation(n)) instead of creating a new generator inside the function."
)
again = np.concatenate(minibatch_indices(10, 4, np.random.default_rng(0)))
assert np.array_equal(first, again), (
    "the same seed gave different batches: use only the rng you are given for randomness "
    "(not np.random.* or a generator without a seed)."
)
print("minibatch_indices: all visible checks passed.")
### BEGIN HIDDEN TESTS
check_batches(1438, 32, seed=3)  # the digits: 44 full batches and one of 30
check_batches(300, 60, seed=4)  # divides exactly: no empty batch at the end
check_batches(7, 10, seed=5)  # fewer examples than one batch
check_batches(5, 1, seed=6)  # one example per batch
epochs = [np.concatenate(minibatch_indices(50, 8, rng)) for rng in [np.random.default_rng(7)] * 3]
assert not np.array_equal(epochs[1], epochs[2]), "later epochs must be shuffled anew."
### END HIDDEN TESTS

# %% [markdown]
# ## 3. Momentum
#
# Plain SGD forgets everything between steps. Picture the loss as a long, narrow ravine:
# steep across, gently sloping along. The gradient points mostly *across*. A learning
# rate small enough for the steep walls makes SGD creep along the gentle floor; a larger
# one makes it bounce from wall to wall, and larger still, the bouncing explodes.
#
# **Momentum** keeps a velocity $v$, a running sum of past gradients, and steps along it:
#
# $$
# v \leftarrow \mu\, v + g, \qquad \theta \leftarrow \theta - \eta\, v,
# \qquad v = 0 \text{ before the first step},
# $$
#
# with $\mu \in [0, 1)$, typically $0.9$. Unrolled, $v_t = g_t + \mu g_{t-1} + \mu^2
# g_{t-2} + \dots$: where the gradient keeps its direction the terms add up, to
# $g / (1 - \mu)$, ten times the plain step for $\mu = 0.9$; where it flips sign from step
# to step (across the ravine) they cancel.
#
# **A small example by hand.** $\theta = 1$, gradient $g = 0.5$ at both steps, $\eta = 0.1$,
# $\mu = 0.9$:
#
# | step | $v$ | $\theta$ |
# |---|---|---|
# | 1 | $0.9 \cdot 0 + 0.5 = 0.5$ | $1 - 0.1 \cdot 0.5 = 0.95$ |
# | 2 | $0.9 \cdot 0.5 + 0.5 = 0.95$ | $0.95 - 0.1 \cdot 0.95 = 0.855$ |
#
# The second step is almost twice the first although the gradient did not change.
#
# **Two conventions.** Some texts (CS231n, for one) store the step itself,
# $v \leftarrow \mu v - \eta g$, $\theta \leftarrow \theta + v$. With a constant $\eta$ the
# parameters follow the same path; we use the form above, which PyTorch and
# `dlcourse.functional.SGD` use, so $v$ is a sum of gradients.
#
# **Pure functions.** `F.SGD` writes into the parameter and velocity arrays it is given,
# which saves memory in a framework. Your version is a *pure function*: it returns new
# arrays and leaves its inputs untouched, so nothing can change behind the caller's back.
# Avoid `velocity *= momentum` or `w -= ...`: they write into the caller's arrays.
#
# ### Exercise 2: `sgd_momentum_update` (3 points)


# %% nbgrader={"grade": false, "grade_id": "sgd_momentum_update", "locked": false, "schema_version": 3, "solution": true}
def sgd_momentum_update(w, dw, velocity, lr, momentum):
    """One step of SGD with momentum, as a pure function.

    Args:
        w: the parameter array.
        dw: the gradient of the loss with respect to w (same shape).
        velocity: the velocity from the previous step (zeros before the first step).
        lr: the learning rate eta.
        momentum: mu in [0, 1); momentum=0 is plain SGD.

    Returns:
        (new_w, new_velocity) with new_velocity = momentum * velocity + dw and
        new_w = w - lr * new_velocity. Same shapes and dtype as w; the inputs are
        not modified.
    """
    ### BEGIN SOLUTION
    new_velocity = momentum * velocity + dw
    new_w = w - lr * new_velocity
    return new_w, new_velocity
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "check_sgd_momentum_update", "locked": true, "points": 3, "schema_version": 3, "solution": false}
MOMENTUM_RULE = (
    "Expected new_velocity = momentum * velocity + dw, then new_w = w - lr * new_velocity."
)


def compare_momentum_step(w_before, result, want_w, want_v, lr, when):
    """Compare one step's (new_w, new_velocity) with the expected pair."""
    assert isinstance(result, tuple) and len(result) == 2, (
        f"sgd_momentum_update must return a tuple (new_w, new_velocity), got {type(result)}."
    )
    new_w, new_velocity = result
    d = diagnose(new_velocity, want_v, name=f"new_velocity {when}")
    if not d.ok and d.kind in ("scale", "batch_scale") and np.isclose(d.factor, -lr):
        raise AssertionError(
            f"new_velocity {when} is -lr times the expected velocity: you stored the step "
            f"(v = momentum*v - lr*dw, CS231n's form). Here the velocity is a sum of "
            f"gradients, as in PyTorch: v = momentum*v + dw, then w - lr*v."
        )
    assert d.ok, update_message(d, MOMENTUM_RULE)
    d = diagnose(new_w, want_w, name=f"new_w {when}")
    if not d.ok and d.kind in ("sign", "scale", "batch_scale", "elementwise"):
        # Compare the steps themselves: a wrong sign or step size shows up as a clean factor.
        d = diagnose(new_w - w_before, want_w - w_before, name=f"the step new_w - w {when}")
    assert d.ok, update_message(d, MOMENTUM_RULE)
    return new_w, new_velocity


def check_momentum_steps(w0, grads, lr, momentum):
    """Run the rule for several steps next to dlcourse.functional.SGD; compare every step."""
    reference = F.SGD(lr=lr, momentum=momentum)
    w_ref = w0.copy()  # the reference writes in place: give it its own copy
    state = reference.init_state(w_ref)
    w, velocity = w0, np.zeros_like(w0)
    for step, dw in enumerate(grads, start=1):
        result = sgd_momentum_update(w, dw, velocity, lr, momentum)
        reference.update(w_ref, dw, state)
        v_ref = state.get("velocity", dw)  # momentum=0 keeps no state: the velocity is dw
        w, velocity = compare_momentum_step(w, result, w_ref, v_ref, lr, f"after step {step}")


# The worked example above, by hand: w = 1, dw = 0.5 twice, lr = 0.1, momentum = 0.9.
w, v = np.array([1.0]), np.array([0.0])
for step, (want_v, want_w) in enumerate([(0.5, 0.95), (0.95, 0.855)], start=1):
    result = sgd_momentum_update(w, np.array([0.5]), v, 0.1, 0.9)
    when = f"at step {step} of the worked example"
    w, v = compare_momentum_step(w, result, np.array([want_w]), np.array([want_v]), 0.1, when)

# Five steps with random gradients, against the library's F.SGD.
rng = np.random.default_rng(0)
w0 = rng.standard_normal((4, 3))
check_momentum_steps(w0, [rng.standard_normal((4, 3)) for _ in range(5)], lr=0.1, momentum=0.9)

# A pure function: the caller's arrays must come back unchanged.
dw, velocity = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
d = check_not_modified(sgd_momentum_update, w0, dw, velocity, 0.1, 0.9)
assert d.ok, update_message(d)
print("sgd_momentum_update: all visible checks passed.")
### BEGIN HIDDEN TESTS
rng = np.random.default_rng(11)
# momentum=0 is plain SGD
check_momentum_steps(rng.standard_normal(7), [rng.standard_normal(7) for _ in range(3)], 0.5, 0.0)
# another shape, rate and momentum, in float32: the dtype must be kept
w32 = rng.standard_normal((2, 3, 5)).astype(np.float32)
grads32 = [rng.standard_normal((2, 3, 5)).astype(np.float32) for _ in range(8)]
check_momentum_steps(w32, grads32, lr=0.01, momentum=0.5)
w_new, v_new = sgd_momentum_update(w32, grads32[0], np.zeros_like(w32), 0.01, 0.5)
assert w_new.dtype == np.float32 and v_new.dtype == np.float32, (
    f"float32 inputs must give float32 outputs, got {w_new.dtype} and {v_new.dtype}."
)
d = check_not_modified(sgd_momentum_update, w32, grads32[0], grads32[1], 0.01, 0.5)
assert d.ok, update_message(d)
### END HIDDEN TESTS

# %% [markdown]
# ### Momentum in a ravine
#
# The loss $L(\theta) = \tfrac12 (\theta_1^2 + 20\,\theta_2^2)$ is a ravine: 20 times
# steeper across ($\theta_2$) than along ($\theta_1$). Its gradient is
# $(\theta_1, 20\,\theta_2)$. We start at $(-4, 1)$ and take 40 steps with $\eta = 0.02$.

# %%
CURVATURE = np.array([1.0, 20.0])  # the ravine's steepness along each axis
START = np.array([-4.0, 1.0])


def ravine_loss(theta):
    return 0.5 * np.sum(CURVATURE * theta**2, axis=-1)


def ravine_grad(theta):
    return CURVATURE * theta


def momentum_path(lr, momentum, steps=40):
    """The points visited by your sgd_momentum_update on the ravine."""
    theta, velocity = START, np.zeros(2)
    path = [theta]
    for _ in range(steps):
        theta, velocity = sgd_momentum_update(theta, ravine_grad(theta), velocity, lr, momentum)
        path.append(theta)
    return np.array(path)


def draw_ravine(ax):
    t1, t2 = np.meshgrid(np.linspace(-4.5, 1.5, 200), np.linspace(-1.4, 1.4, 200))
    levels = ravine_loss(np.stack([t1, t2], axis=-1))
    ax.contour(t1, t2, levels, levels=np.geomspace(0.01, 30, 12), colors="0.8")
    ax.plot(0, 0, "k*", markersize=12)
    ax.set(xlabel=r"$\theta_1$ (along)", ylabel=r"$\theta_2$ (across)")


fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4))
draw_ravine(left)
for momentum, color in [(0.0, "tab:blue"), (0.9, "tab:orange")]:
    path = momentum_path(lr=0.02, momentum=momentum)
    left.plot(*path.T, "o-", color=color, markersize=3, label=f"momentum {momentum}")
left.set_title(r"40 steps with $\eta = 0.02$")
left.legend()

for lr, color in [(0.02, "tab:blue"), (0.09, "tab:green"), (0.105, "tab:red")]:
    right.semilogy(ravine_loss(momentum_path(lr, 0.0)), color=color, label=f"SGD, lr={lr}")
right.set(xlabel="step", ylabel="loss (log scale)", title="Plain SGD: the learning rate limit")
right.legend()
plt.show()

# %% [markdown]
# On the left, plain SGD (blue) settles onto the floor of the ravine at once but then
# crawls: each step shrinks $\theta_1$ by only 2%, and after 40 steps it is still near
# $\theta_1 = -1.8$. Momentum (orange) swings
# from wall to wall like a heavy ball rolling down a gutter, but it builds up speed along
# the floor, reaches the minimum and circles in; the swings fade by a factor
# $\sqrt{\mu}$ per step.
#
# On the right, plain SGD can only go so fast. Across the ravine each step multiplies
# $\theta_2$ by $1 - 20\eta$, which shrinks only while $\eta < 2/20 = 0.1$: at
# $\eta = 0.09$ SGD zig-zags but converges; at $\eta = 0.105$ it **diverges**. In general
# the steepest direction (the largest curvature $\lambda_{\max}$) caps the learning rate at
# $2/\lambda_{\max}$, and the flattest direction then decides how slow progress is. When
# the loss of a real network shoots up or becomes `nan`, the learning rate is the first
# suspect.

# %% [markdown]
# ## 4. Adam
#
# Momentum still uses one learning rate for every weight. But weights see gradients of
# very different sizes: in the ravine $20\times$ apart, in a network often many orders of
# magnitude. **Adam** (Kingma and Ba, 2015) keeps two running averages per weight, of the
# gradient and of its square,
#
# $$
# m \leftarrow \beta_1 m + (1 - \beta_1)\, g, \qquad
# v \leftarrow \beta_2 v + (1 - \beta_2)\, g^2,
# $$
#
# and divides the one by the square root of the other:
#
# $$
# \hat m = \frac{m}{1 - \beta_1^t}, \qquad \hat v = \frac{v}{1 - \beta_2^t}, \qquad
# \theta \leftarrow \theta - \eta\, \frac{\hat m}{\sqrt{\hat v} + \epsilon}.
# $$
#
# Here $t = 1, 2, \dots$ counts the steps, and the defaults are $\beta_1 = 0.9$,
# $\beta_2 = 0.999$, $\epsilon = 10^{-8}$. $m$ is momentum (an average instead of a sum);
# $\sqrt{v}$ is the typical size of this weight's gradient, so each weight's step is
# measured in units of its own gradient.
#
# **Why the bias correction.** $m$ and $v$ start at 0. After the first step
# $m = (1 - \beta_1) g = 0.1\, g$ and $v = 0.001\, g^2$: far too small, because an average
# that started at 0 needs about $1/(1-\beta)$ steps to forget its start. Dividing by
# $1 - \beta^t$ undoes exactly that shrinkage ($1 - \beta_1^1 = 0.1$), and fades away
# as $t$ grows.
#
# **A small example by hand.** At $t = 1$ the corrections give $\hat m = g$ and
# $\hat v = g^2$, so the first update is
#
# $$
# \theta \leftarrow \theta - \eta\, \frac{g}{|g| + \epsilon}
# \approx \theta - \eta \cdot \mathrm{sign}(g).
# $$
#
# With $\theta = (1, 1)$, $g = (0.5, -0.001)$ and $\eta = 0.1$, both coordinates move by
# $0.1$: $\theta$ becomes about $(0.9, 1.1)$, although one gradient is 500 times smaller
# than the other. Adam's step size is set by $\eta$, not by the scale of the gradient.
#
# **Pitfalls.**
#
# - $t$ starts at **1**: with $t = 0$ the correction divides by $1 - \beta^0 = 0$.
# - $\epsilon$ goes **outside** the square root, as in PyTorch and `F.Adam`. It only
#   prevents a division by zero when a gradient is exactly 0.
# - $g^2$ is elementwise (`dw * dw` or `dw**2`), not a matrix product.
#
# ### Exercise 3: `adam_update` (3 points)
#
# Your function receives the step number `t` already counted (1 on the first step) and
# returns the new parameter and the new running averages, leaving its inputs untouched.


# %% nbgrader={"grade": false, "grade_id": "adam_update", "locked": false, "schema_version": 3, "solution": true}
def adam_update(w, dw, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    """One Adam step, as a pure function.

    Args:
        w: the parameter array; dw: its gradient (same shape).
        m, v: running averages of dw and dw**2 from the previous step (zeros at first).
        t: the number of this step, starting at 1.
        lr: the learning rate; beta1, beta2: the decay rates of m and v;
        eps: added to sqrt(v_hat) to avoid dividing by zero.

    Returns:
        (new_w, new_m, new_v), each with the shape and dtype of w. The inputs are not
        modified.
    """
    ### BEGIN SOLUTION
    new_m = beta1 * m + (1 - beta1) * dw
    new_v = beta2 * v + (1 - beta2) * (dw * dw)
    m_hat = new_m / (1 - beta1**t)
    v_hat = new_v / (1 - beta2**t)
    new_w = w - lr * m_hat / (np.sqrt(v_hat) + eps)
    return new_w, new_m, new_v
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "check_adam_update", "locked": true, "points": 3, "schema_version": 3, "solution": false}
M_RULE = "Expected new_m = beta1 * m + (1 - beta1) * dw."
V_RULE = "Expected new_v = beta2 * v + (1 - beta2) * dw**2 (elementwise square)."
STEP_RULE = (
    "Expected new_w = w - lr * m_hat / (sqrt(v_hat) + eps) with the bias corrections "
    "m_hat = new_m / (1 - beta1**t) and v_hat = new_v / (1 - beta2**t); t is used as given "
    "(it is already 1 on the first step) and eps is added outside the square root."
)


def check_adam_steps(w0, grads, lr, beta1, beta2, eps=1e-8):
    """Run adam_update for several steps next to dlcourse.functional.Adam."""
    reference = F.Adam(lr=lr, beta1=beta1, beta2=beta2, eps=eps)
    w_ref = w0.copy()  # the reference writes in place: give it its own copy
    state = reference.init_state(w_ref)
    w, m, v = w0, np.zeros_like(w0), np.zeros_like(w0)
    for t, dw in enumerate(grads, start=1):
        w_before, w_ref_before = w, w_ref.copy()
        result = adam_update(w, dw, m, v, t, lr, beta1, beta2, eps)
        assert isinstance(result, tuple) and len(result) == 3, (
            f"adam_update must return a tuple (new_w, new_m, new_v), got {type(result)}."
        )
        w, m, v = result
        reference.update(w_ref, dw, state)
        d = diagnose(m, state["m"], name=f"new_m at t={t}")
        assert d.ok, update_message(d, M_RULE)
        d = diagnose(v, state["v"], name=f"new_v at t={t}")
        assert d.ok, update_message(d, V_RULE)
        d = diagnose(w, w_ref, name=f"new_w at t={t}")
        if not d.ok and d.kind in ("sign", "scale", "batch_scale", "elementwise"):
            # Compare the steps themselves: a wrong step size shows up as a clean factor.
            d = diagnose(w - w_before, w_ref - w_ref_before, name=f"the step new_w - w at t={t}")
        assert d.ok, update_message(d, STEP_RULE)


# The worked example above, by hand: the first step is -lr * g / (|g| + eps).
g = np.array([0.5, -0.001])
w, m, v = adam_update(np.array([1.0, 1.0]), g, np.zeros(2), np.zeros(2), 1, 0.1)
d = diagnose(m, 0.1 * g, name="new_m at t=1 of the worked example")
assert d.ok, update_message(d, M_RULE)
d = diagnose(v, 0.001 * g**2, name="new_v at t=1 of the worked example")
assert d.ok, update_message(d, V_RULE)
d = diagnose(w - 1.0, -0.1 * g / (np.abs(g) + 1e-8), name="the first step new_w - w")
assert d.ok, update_message(d, STEP_RULE)

# Five steps with random gradients, against the library's F.Adam.
rng = np.random.default_rng(0)
w0 = rng.standard_normal((4, 3))
check_adam_steps(w0, [rng.standard_normal((4, 3)) for _ in range(5)], 0.01, 0.9, 0.999)

# A pure function: the caller's arrays must come back unchanged.
dw, m, v = rng.standard_normal((4, 3)), rng.standard_normal((4, 3)), rng.random((4, 3))
d = check_not_modified(adam_update, w0, dw, m, v, 3, 0.01)
assert d.ok, update_message(d)
print("adam_update: all visible checks passed.")
### BEGIN HIDDEN TESTS
rng = np.random.default_rng(21)
# other betas (catches beta1 and beta2 swapped), another shape, many steps
grads = [rng.standard_normal(6) * 10.0 ** rng.integers(-3, 3) for _ in range(30)]
check_adam_steps(rng.standard_normal(6), grads, lr=0.05, beta1=0.8, beta2=0.95, eps=1e-6)
# float32 keeps its dtype and matches the reference
w32 = rng.standard_normal((3, 2, 4)).astype(np.float32)
grads32 = [rng.standard_normal((3, 2, 4)).astype(np.float32) for _ in range(6)]
check_adam_steps(w32, grads32, lr=1e-3, beta1=0.9, beta2=0.999)
out = adam_update(w32, grads32[0], np.zeros_like(w32), np.zeros_like(w32), 1, 1e-3)
assert all(a.dtype == np.float32 for a in out), (
    f"float32 inputs must give float32 outputs, got {[str(a.dtype) for a in out]}."
)
# a zero gradient on the first step moves nothing and makes no NaN
w_zero, _, _ = adam_update(np.ones(3), np.zeros(3), np.zeros(3), np.zeros(3), 1, 0.1)
d = diagnose(w_zero, np.ones(3), name="new_w after a zero gradient at t=1")
assert d.ok, update_message(d, "eps belongs outside the square root: sqrt(v_hat) + eps.")
d = check_not_modified(adam_update, w32, grads32[1], grads32[2], grads32[3] ** 2, 5, 1e-3)
assert d.ok, update_message(d)
### END HIDDEN TESTS

# %% [markdown]
# ### Adam does not care about the scale of the gradient
#
# Multiply every gradient by 1,000 and plain SGD takes steps 1,000 times larger. Adam's
# $\hat m / \sqrt{\hat v}$ is a ratio, so the scale cancels:

# %%
g = np.array([0.3, -2.0, 0.01])
zeros = np.zeros(3)
step = adam_update(zeros, g, zeros, zeros, t=1, lr=0.1)[0]
step_scaled = adam_update(zeros, 1000 * g, zeros, zeros, t=1, lr=0.1)[0]
print("Adam, gradient g:        ", step)
print("Adam, gradient 1000 * g: ", step_scaled)
print("SGD,  gradient 1000 * g: ", F.sgd_update(zeros, 1000 * g, lr=0.1))

# %% [markdown]
# In the ravine, that means Adam walks towards the minimum at about the same pace along
# both axes, where SGD was held back by the steep one:


# %%
def adam_path(lr, steps=40):
    """The points visited by your adam_update on the ravine."""
    theta, m, v = START, np.zeros(2), np.zeros(2)
    path = [theta]
    for t in range(1, steps + 1):
        theta, m, v = adam_update(theta, ravine_grad(theta), m, v, t, lr)
        path.append(theta)
    return np.array(path)


fig, ax = plt.subplots(figsize=(6, 4))
draw_ravine(ax)
for label, path, color in [
    ("SGD, lr=0.02", momentum_path(0.02, 0.0), "tab:blue"),
    ("momentum 0.9, lr=0.02", momentum_path(0.02, 0.9), "tab:orange"),
    ("Adam, lr=0.3", adam_path(0.3), "tab:green"),
]:
    ax.plot(*path.T, "o-", color=color, markersize=3, label=label)
ax.set_title("40 steps of each rule")
ax.legend()
plt.show()

# %% [markdown]
# Adam's first steps go diagonally, $\eta$ along each axis (the sign-like first step
# worked out above). Near the minimum it overshoots and circles back: $\hat v$ still
# remembers the larger gradients of the start, and the momentum in $\hat m$ carries it on.
# No rule wins everywhere; Adam is popular because it works reasonably well with little
# tuning.

# %% [markdown]
# ## 5. The training loop
#
# Everything comes together in one loop:
#
# ```text
# for each epoch:
#     for each minibatch (x_b, y_b) of a fresh shuffle:
#         loss, grads = forward and backward on the batch
#         for each parameter: new parameter, new state = optimizer step
#     record the epoch's mean loss; report progress
# ```
#
# To swap update rules without touching the loop, every optimizer below has the same two
# methods:
#
# - `optimizer.init(w)` returns the state for parameter `w` before its first step;
# - `optimizer.step(w, dw, state)` returns `(new_w, new_state)`.
#
# `SGDOptimizer` and `AdamOptimizer` run *your* update rules; `ReferenceOptimizer` runs
# the library's `F.SGD` or `F.Adam`, so that the check of your loop does not depend on
# your rules.


# %% nbgrader={"grade": false, "grade_id": "optimizers", "locked": true, "schema_version": 3, "solution": false}
class SGDOptimizer:
    """Your sgd_momentum_update behind the init/step interface (momentum=0: plain SGD)."""

    def __init__(self, lr, momentum=0.0):
        self.lr, self.momentum = lr, momentum

    def init(self, w):
        return np.zeros_like(w)  # the velocity starts at rest

    def step(self, w, dw, velocity):
        return sgd_momentum_update(w, dw, velocity, self.lr, self.momentum)


class AdamOptimizer:
    """Your adam_update behind the init/step interface; the state is (m, v, t)."""

    def __init__(self, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
        self.lr, self.beta1, self.beta2, self.eps = lr, beta1, beta2, eps

    def init(self, w):
        return np.zeros_like(w), np.zeros_like(w), 0

    def step(self, w, dw, state):
        m, v, t = state
        t += 1  # count this step first: Adam's t starts at 1
        new_w, m, v = adam_update(w, dw, m, v, t, self.lr, self.beta1, self.beta2, self.eps)
        return new_w, (m, v, t)


class ReferenceOptimizer:
    """A rule from dlcourse.functional (F.SGD, F.Adam) behind the init/step interface."""

    def __init__(self, rule):
        self.rule = rule

    def init(self, w):
        return self.rule.init_state(w)

    def step(self, w, dw, state):
        new_w = w.copy()  # the library writes in place; the caller's array stays as it was
        self.rule.update(new_w, dw, state)  # also updates the state dict in place
        return new_w, state


# %% [markdown]
# ### Exercise 4: `train` (4 points)
#
# Write the loop (it uses your `minibatch_indices` from exercise 1). The first lines are
# given: a generator `rng` made once, so each epoch's
# call of your `minibatch_indices(len(x), batch_size, rng)` gives a new shuffle; a new
# dict `params`, so that storing the updated arrays in it leaves the caller's dict alone;
# one optimizer state per parameter; and the list `history`.
#
# For each epoch: for each batch of indices `idx`, call
# `loss_and_gradients(params, x[idx], y[idx])`, then give every parameter its optimizer
# step. After the epoch, append the epoch's mean training loss to `history`: the batch
# losses weighted by batch size, $\frac{1}{n}\sum_{\text{batches}} B \cdot
# \text{loss}_{\text{batch}}$ (a plain mean of the batch losses would overweight a short
# last batch). Then, if `on_epoch` is given, call `on_epoch(epoch, history)` with
# `epoch` counted from 0: that is how the live plot below gets its data.
#
# The check trains a `[64, 64, 10]` network on the digits for 15 epochs with
# `ReferenceOptimizer(F.Adam(lr=1e-2))`, batches of 32, and requires **at least 93%
# accuracy on the test set** (a correct loop reaches about 96% in a second or two).


# %% nbgrader={"grade": false, "grade_id": "train", "locked": false, "schema_version": 3, "solution": true}
def train(params, x, y, optimizer, epochs, batch_size, seed=0, on_epoch=None):
    """Train the MLP with parameters ``params`` on (x, y) with minibatches.

    Args:
        params: dict of parameter arrays (from init_mlp); not modified.
        x, y: training inputs (n, features) and integer labels (n,).
        optimizer: an object with init(w) -> state and step(w, dw, state) -> (new_w, state).
        epochs: number of passes over the data.
        batch_size: examples per minibatch.
        seed: seeds the shuffling, so that a run can be repeated exactly.
        on_epoch: optional function called as on_epoch(epoch, history) after each epoch.

    Returns:
        (trained_params, history): a new dict of trained parameters, and a list with the
        mean training loss of each epoch.
    """
    rng = np.random.default_rng(seed)  # one generator for the whole run
    params = dict(params)  # a new dict: rebinding params[name] leaves the caller's alone
    state = {name: optimizer.init(p) for name, p in params.items()}
    history = []
    ### BEGIN SOLUTION
    for epoch in range(epochs):
        total = 0.0
        for idx in minibatch_indices(len(x), batch_size, rng):
            loss, grads = loss_and_gradients(params, x[idx], y[idx])
            for name in params:
                params[name], state[name] = optimizer.step(params[name], grads[name], state[name])
            total += loss * len(idx)
        history.append(total / len(x))
        if on_epoch is not None:
            on_epoch(epoch, history)
    ### END SOLUTION
    return params, history


# %% nbgrader={"grade": true, "grade_id": "check_train", "locked": true, "points": 4, "schema_version": 3, "solution": false}
class CountingOptimizer:
    """Plain SGD that counts its steps per parameter, to check the shape of the loop."""

    def __init__(self, lr=0.1):
        self.lr = lr
        self.inits = 0  # how many parameters asked for a state
        self.steps = {}  # parameter number -> steps taken

    def init(self, w):
        self.inits += 1
        return {"id": self.inits - 1}

    def step(self, w, dw, state):
        assert dw.shape == w.shape, (
            f"optimizer.step got a gradient of shape {dw.shape} for a parameter of shape "
            f"{w.shape}: pass grads[name] together with params[name] for the same name."
        )
        self.steps[state["id"]] = self.steps.get(state["id"], 0) + 1
        return w - self.lr * dw, state


def check_loop_shape(n, batch_size, epochs):
    """The loop must give every parameter one step per batch, every epoch."""
    params = init_mlp([64, 16, 10], seed=1)
    snapshot = {name: p.copy() for name, p in params.items()}
    calls, orders = [], []
    counter = CountingOptimizer()

    def recording_minibatch_indices(n, batch_size, rng):
        batches = list(your_minibatch_indices(n, batch_size, rng))
        orders.append(np.concatenate([np.asarray(b) for b in batches]))
        return batches

    global minibatch_indices  # listen in on train's calls, then put yours back
    your_minibatch_indices, minibatch_indices = minibatch_indices, recording_minibatch_indices
    try:
        result = train(
            params,
            digits.x_train[:n],
            digits.y_train[:n],
            counter,
            epochs=epochs,
            batch_size=batch_size,
            on_epoch=lambda epoch, history: calls.append((epoch, len(history))),
        )
    finally:
        minibatch_indices = your_minibatch_indices
    if len(orders) > 1 and n > 1:
        assert any(not np.array_equal(orders[0], o) for o in orders[1:]), (
            "every epoch used the same order of examples: create the generator once, "
            "before the epoch loop (as given), and pass that same rng to minibatch_indices."
        )
    assert isinstance(result, tuple) and len(result) == 2, (
        f"train must return (trained_params, history), got {type(result)}."
    )
    trained, history = result
    assert counter.inits == len(params), (
        f"optimizer.init should be called once per parameter ({len(params)}), before the "
        f"first epoch; it was called {counter.inits} times."
    )
    batches = -(-n // batch_size)  # ceil(n / batch_size): a short last batch counts too
    want = {i: epochs * batches for i in range(len(params))}
    assert counter.steps == want, (
        f"with n={n}, batch_size={batch_size} and {epochs} epochs, each of the "
        f"{len(params)} parameters should get {epochs} x {batches} = {epochs * batches} "
        f"optimizer steps; the step counts per parameter were {counter.steps}. One step per "
        f"parameter per batch, including a short last batch."
    )
    assert len(history) == epochs, (
        f"history should hold one mean loss per epoch ({epochs}), got {len(history)} entries."
    )
    assert calls == [(e, e + 1) for e in range(epochs)], (
        f"on_epoch should be called once per epoch as on_epoch(epoch, history), with epoch "
        f"counting from 0 and history already holding that epoch's loss; the (epoch, "
        f"len(history)) pairs were {calls}."
    )
    for name, p in params.items():
        assert np.array_equal(p, snapshot[name]), (
            f"train changed the caller's params['{name}'] in place: store the optimizer's "
            f"new arrays in the new dict instead of writing into the old arrays."
        )
    assert set(trained) == set(params), (
        f"trained_params should have the keys {sorted(params)}, got {sorted(trained)}."
    )
    return trained, history


check_loop_shape(n=100, batch_size=32, epochs=2)

# The real thing: the digits, Adam from the library, 15 epochs.
start_params = init_mlp([64, 64, 10], seed=0)
trained, history = train(
    start_params,
    digits.x_train,
    digits.y_train,
    ReferenceOptimizer(F.Adam(lr=1e-2)),
    epochs=15,
    batch_size=32,
)
assert np.all(np.isfinite(history)), f"the loss history holds NaN or inf: {history}"
assert history[-1] < 0.5 * history[0], (
    f"the mean training loss should fall to well under half of the first epoch's; it went "
    f"from {history[0]:.4f} to {history[-1]:.4f}. Is every parameter updated with its own "
    f"gradient, and the new value stored back into params?"
)
first_loss, _ = loss_and_gradients(start_params, digits.x_train, digits.y_train)
assert 0.2 * first_loss < history[0] < 1.5 * first_loss, (
    f"history[0] should be the mean loss over the first epoch's batches, of the order of "
    f"the loss before training ({first_loss:.2f}); got {history[0]:.4g}. Add up each "
    f"batch's loss times its size, then divide the sum by len(x)."
)
test_accuracy = accuracy(trained, digits.x_test, digits.y_test)
print(f"test accuracy after 15 epochs: {test_accuracy:.1%}")
assert test_accuracy >= 0.93, (
    f"the trained network reaches {test_accuracy:.1%} test accuracy; at least 93% is "
    f"expected. The loss went from {history[0]:.3f} to {history[-1]:.3f}."
)
print("train: all visible checks passed.")
### BEGIN HIDDEN TESTS
check_loop_shape(n=96, batch_size=32, epochs=3)  # batch size divides n: no empty batch
check_loop_shape(n=20, batch_size=50, epochs=1)  # a single short batch
# Spirals arrive sorted by class; float64 parameters and inputs.
x_sp, y_sp = make_spirals(100, classes=3, noise=0.2, seed=1)
x_sp64, sp_params = x_sp.astype(np.float64), init_mlp([2, 64, 64, 3], seed=2, dtype=np.float64)
x_copy, y_copy = x_sp64.copy(), y_sp.copy()
sp_trained, sp_history = train(
    sp_params, x_sp64, y_sp, ReferenceOptimizer(F.Adam(lr=1e-2)), 40, 64, seed=3
)
assert np.array_equal(x_sp64, x_copy) and np.array_equal(y_sp, y_copy), "train modified x or y."
assert all(p.dtype == np.float64 for p in sp_trained.values()), "train changed the dtype."
sp_accuracy = accuracy(sp_trained, x_sp64, y_sp)
assert sp_accuracy >= 0.9, f"spirals: training accuracy {sp_accuracy:.1%}, expected >= 90%."
# The same seed repeats a run exactly; another seed shuffles differently.
again = train(sp_params, x_sp64, y_sp, ReferenceOptimizer(F.Adam(lr=1e-2)), 3, 64, seed=3)[1]
other = train(sp_params, x_sp64, y_sp, ReferenceOptimizer(F.Adam(lr=1e-2)), 3, 64, seed=4)[1]
assert np.allclose(again, sp_history[:3]), "the same seed must give the same history."
assert not np.allclose(again, other), "the seed must decide the shuffling."
### END HIDDEN TESTS

# %% [markdown]
# ## 6. Watching a network learn
#
# Now the real run, with *your* Adam. A loss curve is the first thing to look at in any
# training run: it tells you whether the learning rate is sane (a smooth fall, not a jump
# to `nan`) and whether more epochs would still help. `on_epoch` redraws the figure every
# few epochs through a display handle: `display(fig, display_id=True)` shows the figure
# once and returns a handle, and `handle.update(fig)` replaces that output in place.

# %%
EPOCHS = 20
fig, ax = plt.subplots(figsize=(7, 3.5))
handle = display(fig, display_id=True)  # show the figure once and keep a handle on it


def show_progress(epoch, history):
    """Redraw the loss curve every 4 epochs and after the last one."""
    if epoch % 4 != 3 and epoch != EPOCHS - 1:
        return
    ax.clear()
    ax.plot(range(1, len(history) + 1), history, "o-")
    ax.set(xlim=(0.5, EPOCHS + 0.5), yscale="log", xlabel="epoch", ylabel="training loss")
    ax.set_xticks(range(2, EPOCHS + 1, 2))
    ax.set_title(f"epoch {epoch + 1}/{EPOCHS}: loss {history[-1]:.4f}")
    handle.update(fig)


params, history = train(
    init_mlp([64, 64, 10], seed=0),
    digits.x_train,
    digits.y_train,
    AdamOptimizer(lr=1e-2),
    epochs=EPOCHS,
    batch_size=32,
    on_epoch=show_progress,
)
plt.close(fig)  # the handle already shows it; do not draw it a second time
print(f"test accuracy: {accuracy(params, digits.x_test, digits.y_test):.1%}")

# %% [markdown]
# The training loss keeps falling towards 0, but the test accuracy is what counts: the
# network has seen the training images many times and may simply remember them. The gap
# between training and test performance is called **overfitting**; its remedies (weight
# decay, dropout, early stopping) are a topic of their own.

# %% [markdown]
# ## 7. SGD, momentum and Adam side by side
#
# The same network, the same initial weights and the same sequence of minibatches (same
# seed); only the update rule changes.

# %%
contenders = {
    "SGD, lr=0.1": SGDOptimizer(lr=0.1),
    "momentum 0.9, lr=0.1": SGDOptimizer(lr=0.1, momentum=0.9),
    "Adam, lr=1e-3": AdamOptimizer(lr=1e-3),
    "Adam, lr=1e-2": AdamOptimizer(lr=1e-2),
}
start = init_mlp([64, 64, 10], seed=0)
fig, ax = plt.subplots(figsize=(7, 4))
for label, optimizer in contenders.items():
    trained_here, curve = train(
        start, digits.x_train, digits.y_train, optimizer, epochs=20, batch_size=32, seed=0
    )
    test_acc = accuracy(trained_here, digits.x_test, digits.y_test)
    ax.plot(range(1, 21), curve, label=f"{label} (test {test_acc:.1%})")
ax.set(yscale="log", xlabel="epoch", ylabel="training loss", title="Same network, four rules")
ax.legend()
plt.show()

# %% [markdown]
# Momentum clearly beats plain SGD at the same learning rate: it takes larger effective
# steps along directions where the gradient agrees from batch to batch. Adam with its
# textbook default $\eta = 10^{-3}$ is *slower* than SGD here, and fast with
# $\eta = 10^{-2}$: the default is a starting point, not a law. A fair comparison tunes
# the learning rate of each rule; the ranking can change from problem to problem, which
# is why all three are still in daily use.

# %% [markdown]
# ## 8. Which digits does the network confuse?
#
# One accuracy number hides *which* mistakes are made. A **confusion matrix** counts, for
# every true class $i$ and predicted class $j$, how many test images of $i$ were called
# $j$. The diagonal holds the correct answers; everything off it is a mistake. It takes
# one line of NumPy: `np.add.at` adds 1 at each (true, predicted) pair, repeated pairs
# included (plain fancy-index assignment `cm[y, p] += 1` would count each pair only once).

# %%
predicted = predict(params, digits.x_test)
confusion = np.zeros((10, 10), dtype=np.int64)
np.add.at(confusion, (digits.y_test, predicted), 1)

fig, ax = plt.subplots(figsize=(6, 5.5))
image = ax.imshow(confusion, cmap="Blues")
for i in range(10):
    for j in range(10):
        if confusion[i, j]:
            color = "white" if confusion[i, j] > confusion.max() / 2 else "black"
            ax.text(j, i, confusion[i, j], ha="center", va="center", color=color)
ax.set(xticks=range(10), yticks=range(10), xlabel="predicted digit", ylabel="true digit")
ax.set_title(f"Digits test set: {np.trace(confusion)} of {confusion.sum()} right")
fig.colorbar(image, ax=ax, shrink=0.8)
plt.show()

mistakes = confusion - np.diag(np.diag(confusion))
true_digit, guessed = np.unravel_index(mistakes.argmax(), mistakes.shape)
print(f"most frequent mistake: {true_digit} read as {guessed} ({mistakes.max()} times)")

# %% [markdown]
# ## 9. Drawing the decision boundary
#
# With two input features we can colour every point of the plane by the class the network
# predicts there: its **decision boundary**. Spirals are a classic test, because no
# straight line separates them. We train two models with your Adam on 300 points: one
# without a hidden layer (a linear classifier, `[2, 3]`) and an MLP `[2, 64, 64, 3]`.

# %%
x_spiral, y_spiral = make_spirals(100, classes=3, noise=0.2, seed=0)
grid_1, grid_2 = np.meshgrid(np.linspace(-1.2, 1.2, 200), np.linspace(-1.2, 1.2, 200))
grid = np.stack([grid_1.ravel(), grid_2.ravel()], axis=1).astype(np.float32)
COLORS = np.array(["tab:blue", "tab:orange", "tab:green"])  # one colour per class

fig, axes = plt.subplots(1, 2, figsize=(11, 5))
for ax, sizes in zip(axes, [[2, 3], [2, 64, 64, 3]]):
    model, _ = train(
        init_mlp(sizes, seed=0), x_spiral, y_spiral, AdamOptimizer(lr=1e-2), 60, 32, seed=0
    )
    regions = predict(model, grid).reshape(grid_1.shape)
    ax.contourf(grid_1, grid_2, regions, levels=[-0.5, 0.5, 1.5, 2.5], colors=COLORS, alpha=0.25)
    ax.scatter(*x_spiral.T, c=COLORS[y_spiral], s=12, edgecolors="k", linewidths=0.3)
    ax.set_title(f"layers {sizes}: training accuracy {accuracy(model, x_spiral, y_spiral):.0%}")
    ax.set_aspect("equal")
plt.show()

# %% [markdown]
# The linear classifier can only cut the plane with straight lines into three wedges and
# gets roughly half of the points wrong, whatever the optimizer does. The hidden layers
# bend the boundary along the arms. A good optimizer cannot make up for a model that
# cannot express the answer, and a rich model is useless without a way to train it: this
# chapter gave you the second half.

# %% [markdown]
# ## Summary
#
# - **Training** repeats: shuffle, cut into minibatches, forward, loss, backward, update.
#   A minibatch gradient is a noisy but unbiased estimate of the full gradient at a
#   fraction of the cost.
# - **SGD** steps $\theta \leftarrow \theta - \eta g$. Its learning rate is capped by the
#   steepest direction ($\eta < 2/\lambda_{\max}$), so flat directions crawl.
# - **Momentum** accumulates a velocity $v \leftarrow \mu v + g$: consistent directions
#   speed up by up to $1/(1-\mu)$, oscillations cancel.
# - **Adam** divides a momentum average by the root of a squared-gradient average, with
#   bias corrections for their zero start: steps of about $\eta$ per weight, whatever the
#   gradient's scale.
# - **Look at your training**: the loss curve (is the learning rate sane?), the test
#   accuracy (does it generalize?), the confusion matrix (which mistakes?), and, in 2-D,
#   the decision boundary (what did it learn?).
# - Pitfalls met on the way: shuffle inputs and labels with the same indices, keep the
#   short last batch, Adam's $t$ starts at 1 and $\epsilon$ sits outside the root, and a
#   gradient check before any long run.
#
# **What comes next.** Writing every backward pass by hand does not scale to larger
# networks. The next chapters build **automatic differentiation**, which derives the
# backward pass from the forward one, and then wrap this very loop in a Keras-style
# `model.fit` that runs unchanged on NumPy, PyTorch, TensorFlow and JAX.

# %% [markdown]
# ## Further reading
#
# * CS231n notes, *Neural Networks Part 3: Learning and Evaluation*: SGD, momentum, Adam, and
#   how to read a loss curve.
# * Diederik Kingma and Jimmy Ba, *Adam: A Method for Stochastic Optimization* (ICLR 2015).
# * Gabriel Goh, *Why Momentum Really Works* (Distill, 2017): the $\eta < 2/\lambda_{\max}$
#   limit and momentum's speed-up, with interactive plots.
# * *Dive into Deep Learning*, chapter *Optimization Algorithms*.
#
# Credits: the spirals (three arms of 100 points, each arm turning 4 radians, with noise 0.2)
# are the data set of CS231n's *Putting it together: Minimal Neural Network Case Study*.
