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
# # 07. The fancy calculators take the derivatives
#
# Chapter 04 derived the gradients of a two-layer network by hand; chapter 06 built an engine
# that derives them by itself. PyTorch, TensorFlow and JAX are such engines, industrial
# strength: they know thousands of operations, run them on many cores or a GPU, and give the
# gradient of any program written with them. This notebook puts them side by side:
#
# 1. the chapter-04 network's gradients five ways: hand-written (`dlcourse.functional`), the
#    course's engine (`dlcourse.autodiff`), `torch.autograd`, `tf.GradientTape` and `jax.grad`,
#    with a table of how far apart they are;
# 2. the **same hand-written NumPy code** run on PyTorch tensors, on a GPU when there is one,
#    by changing only where the arrays come from, timed against NumPy;
# 3. your own operations, softplus and GELU: you write their gradients by hand and check them
#    against the frameworks' automatic ones.
#
# **This notebook is worth 6 points**:
#
# | exercise | you write | points |
# |---|---|---|
# | 1 | `softplus_backward(dout, cache)` | 2 |
# | 2 | `gelu_backward(dout, cache)` | 4 |
#
# A framework that is not installed is skipped with a message saying how to install it. Replace
# each `raise NotImplementedError()` with your code and run the check cell below it.
#
# **How this notebook is graded.** The grader runs the solution cell of each exercise on its
# own, after this notebook's locked set-up cells, in a fresh process outside the notebook and
# on inputs of its own, and compares with formulas of its own: the check cells, and so their
# torch and JAX comparisons, are not run there, and a helper defined in any other cell is
# missing. The library's own GELU gradient, `dlcourse.functional.gelu_backward`, is a stub
# there: a `gelu_backward` that calls it scores zero for that exercise. There each exercise may
# use 20 CPU seconds and 4 GB of memory; code that needs more is stopped and scores zero for it.
# `dlcourse check --grader` on the saved notebook shows the points the grader would give. Beyond
# the visible checks:
#
# * exercise 1, `check_softplus_backward`, also tested: float32 inputs keep float32, 3-D and
#   one-element arrays, and `x` = ±800, where the slope is 0 and 1 and a slope written as
#   `exp(x) / (1 + exp(x))` gives NaN;
# * exercise 2, `check_gelu_backward`, also tested: float32 inputs keep float32, and 3-D and
#   one-element arrays.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false}
import os
import time

import matplotlib.pyplot as plt
import numpy as np
from array_api_compat import array_namespace

import dlcourse.functional as F
from dlcourse.data import load_digits
from dlcourse.diagnose import check_not_modified, diagnose
from dlcourse.gradcheck import (
    check_against_jax,
    check_against_torch,
    check_gradients,
    numerical_gradient,
)

np.set_printoptions(precision=4, suppress=True)
rng = np.random.default_rng(0)  # a fixed seed: the same numbers on every run
# TensorFlow logs from C++ straight to the process's error stream; "3" hides all but fatal ones.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def expect_close(got, expected, name, context="", **options):
    """Fail with dlcourse.diagnose's explanation unless ``got`` matches ``expected``."""
    d = diagnose(got, expected, name=name, **options)
    assert d.ok, f"{context}: {d.message}" if context else d.message


# %% [markdown]
# ## 1. The network of chapter 04, differentiated by hand
#
# Two dense layers with a ReLU between them and a softmax cross-entropy loss:
#
# $$ L = \operatorname{CE}\bigl(\operatorname{ReLU}(x W_1 + b_1)\, W_2 + b_2,\; y\bigr) .$$
#
# The gradients come from the backward functions of `dlcourse.functional`, called in the
# reverse order of the forwards, exactly as you wrote them in chapter 04. Everything in float64,
# so that the comparison below measures the methods, not the rounding of float32.

# %%
digits = load_digits()
x = digits.x_train[:64].astype(np.float64)  # a batch of 64 images of 8 x 8 pixels
y = digits.y_train[:64]
init = np.random.default_rng(1)
params = {
    "w1": init.standard_normal((64, 32)) / 8.0,
    "b1": init.standard_normal(32) * 0.1,
    "w2": init.standard_normal((32, 10)) / np.sqrt(32),
    "b2": np.zeros(10),
}
NAMES = ("w1", "b1", "w2", "b2")


def hand_written_gradients(params, x, y):
    """Loss and gradients of the two-layer network from the hand-written backward functions."""
    h_pre, dense1 = F.dense_forward(x, params["w1"], params["b1"])
    h, relu = F.relu_forward(h_pre)
    scores, dense2 = F.dense_forward(h, params["w2"], params["b2"])
    loss, dscores = F.softmax_cross_entropy(scores, y)
    dh, dw2, db2 = F.dense_backward(dscores, dense2)
    _, dw1, db1 = F.dense_backward(F.relu_backward(dh, relu), dense1)
    return float(loss), {"w1": dw1, "b1": db1, "w2": dw2, "b2": db2}


loss, by_hand = hand_written_gradients(params, x, y)
print(f"loss {loss:.6f}; gradient shapes:", {k: v.shape for k, v in by_hand.items()})

# %% [markdown]
# ## 2. Four calculators that take the derivatives themselves
#
# Each of them is given only the **forward** computation. Notice how alike the four are:
# mark what to differentiate, compute the loss, ask for the gradient.
#
# * **`dlcourse.autodiff`** (chapter 06): wrap the parameters in `Tensor(..., requires_grad=True)`,
#   compute, call `loss.backward()`, read `.grad`.
# * **PyTorch**: the same, with `torch.tensor(..., requires_grad=True)`. PyTorch records the
#   operations as they run (*define-by-run*), exactly like our engine.
# * **TensorFlow**: operations run inside `with tf.GradientTape() as tape:` are recorded on the
#   "tape"; `tape.gradient(loss, variables)` plays it backwards.
# * **JAX**: no recording object at all. `jax.grad(f)` takes a *function* and returns a new
#   function that computes its gradient; JAX traces `f` to find its operations.
#
# The cell below imports each framework if it is there, without the C++ start-up chatter.


# %%
from dlcourse.optional import optional_import

torch = optional_import("torch", "torch", "its rows are skipped")
tf = optional_import("tensorflow", "tensorflow", "its rows are skipped")
jax = optional_import("jax", "jax", "its rows are skipped")
for framework in (torch, tf, jax):
    if framework is not None:
        print(f"{framework.__name__} {framework.__version__}")


# %%
def engine_gradients(params, x, y):
    """dlcourse.autodiff: the engine of chapter 06."""
    from dlcourse.autodiff import Tensor, cross_entropy

    p = {k: Tensor(v, requires_grad=True) for k, v in params.items()}
    scores = (x @ p["w1"] + p["b1"]).relu() @ p["w2"] + p["b2"]
    loss = cross_entropy(scores, y)
    loss.backward()
    return float(loss), {k: p[k].grad for k in NAMES}


def torch_gradients(params, x, y):
    """torch.autograd: tensors that require grad, then loss.backward()."""
    p = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    hidden = torch.relu(torch.as_tensor(x) @ p["w1"] + p["b1"])
    loss = torch.nn.functional.cross_entropy(hidden @ p["w2"] + p["b2"], torch.as_tensor(y))
    loss.backward()
    return loss.item(), {k: p[k].grad.numpy() for k in NAMES}


def torch_through_hand_written_forward(params, x, y):
    """torch.autograd differentiating dlcourse.functional's forward code itself."""
    p = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    h_pre, _ = F.dense_forward(torch.as_tensor(x), p["w1"], p["b1"])
    scores, _ = F.dense_forward(F.relu_forward(h_pre)[0], p["w2"], p["b2"])
    loss, _ = F.softmax_cross_entropy(scores, torch.as_tensor(y))  # its dscores is not used
    loss.backward()
    return loss.item(), {k: p[k].grad.numpy() for k in NAMES}


def tensorflow_gradients(params, x, y):
    """tf.GradientTape: variables, a recorded forward, tape.gradient."""
    p = {k: tf.Variable(v) for k, v in params.items()}
    with tf.GradientTape() as tape:
        hidden = tf.nn.relu(tf.constant(x) @ p["w1"] + p["b1"])
        scores = hidden @ p["w2"] + p["b2"]
        loss = tf.reduce_mean(
            tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.constant(y), logits=scores)
        )
    grads = tape.gradient(loss, [p[k] for k in NAMES])
    return float(loss), {k: g.numpy() for k, g in zip(NAMES, grads)}


def jax_gradients(params, x, y):
    """jax.grad: a function in, its gradient function out."""
    import jax.numpy as jnp

    def loss_fn(p):
        hidden = jax.nn.relu(x @ p["w1"] + p["b1"])
        log_probs = jax.nn.log_softmax(hidden @ p["w2"] + p["b2"])
        return -jnp.mean(log_probs[jnp.arange(len(y)), y])

    with jax.enable_x64(True):  # JAX computes in float32 unless asked
        p = {k: jnp.asarray(v) for k, v in params.items()}
        loss, grads = jax.value_and_grad(loss_fn)(p)
        return float(loss), {k: np.asarray(grads[k]) for k in NAMES}


calculators = {"dlcourse.autodiff": engine_gradients}
if torch is not None:
    calculators["torch.autograd"] = torch_gradients
    calculators["torch.autograd through F's forward"] = torch_through_hand_written_forward
if tf is not None:
    calculators["tf.GradientTape"] = tensorflow_gradients
if jax is not None:
    calculators["jax.grad"] = jax_gradients

# %% [markdown]
# Now the table. For each calculator and each parameter, the largest absolute difference from
# the hand-written gradient, and `dlcourse.diagnose`'s verdict, which allows a relative error of
# $10^{-6}$ in float64 (the loss of each is compared too).

# %%
agreement = {}
print(f"{'calculator':38s} {'loss diff':>9s}  " + "  ".join(f"{'d' + k:>9s}" for k in NAMES))
for name, calculator in calculators.items():
    start = time.perf_counter()
    their_loss, theirs = calculator(params, x, y)
    seconds = time.perf_counter() - start
    diffs = [np.max(np.abs(np.asarray(theirs[k]) - by_hand[k])) for k in NAMES]
    verdicts = [diagnose(np.asarray(theirs[k]), by_hand[k], name="d" + k) for k in NAMES]
    agreement[name] = all(v.ok for v in verdicts) and abs(their_loss - loss) < 1e-10
    print(f"{name:38s} {abs(their_loss - loss):9.1e}  " + "  ".join(f"{d:9.1e}" for d in diffs)
          + f"  {'equal' if agreement[name] else 'DIFFERENT'} ({seconds * 1e3:.0f} ms)")  # fmt: skip
print(f"\n{sum(agreement.values())} of {len(agreement)} calculators agree with the hand-written "
      "gradients within the float64 tolerance (relative error 1e-6).")  # fmt: skip
assert all(agreement.values()), "a calculator disagrees with the hand-written gradients"

# %% [markdown]
# Differences of about $10^{-16}$ to $10^{-17}$: the last bit of a float64, from additions done
# in another order. Every one of these calculators computes the same reverse-mode chain rule,
# on the same graph, with the same local rules. (The times include each framework's one-time
# set-up, such as JAX's tracing; they say nothing about speed on real workloads.)
#
# ## 3. The hand-written code on a GPU, by changing where the arrays come from
#
# The functions of `dlcourse.functional` never name NumPy: each one asks its inputs which
# library they belong to (`array_api_compat.array_namespace`) and calls that library's
# functions. So the very same code runs on PyTorch tensors, and PyTorch tensors can live on a
# GPU. Here is the whole difference between the two runs below:
#
# ```python
# arrays = {k: v for k, v in problem.items()}                                   # NumPy
# arrays = {k: torch.as_tensor(v, device=device) for k, v in problem.items()}   # PyTorch
# ```
#
# The problem is bigger than the digits, so that there is something to time: a batch of 2048
# inputs of 256 features, 512 hidden units, float32 (a GPU's favourite number type).


# %%
def forward_backward(x, y, w1, b1, w2, b2):
    """One training step's worth of hand-written math, on whatever arrays it is given."""
    h_pre, dense1 = F.dense_forward(x, w1, b1)
    h, relu = F.relu_forward(h_pre)
    scores, dense2 = F.dense_forward(h, w2, b2)
    loss, dscores = F.softmax_cross_entropy(scores, y)
    dh, dw2, db2 = F.dense_backward(dscores, dense2)
    _, dw1, db1 = F.dense_backward(F.relu_backward(dh, relu), dense1)
    return loss, (dw1, db1, dw2, db2)


big = np.random.default_rng(2)
problem = {
    "x": big.standard_normal((2048, 256), dtype=np.float32),
    "y": big.integers(0, 10, size=2048),
    "w1": big.standard_normal((256, 512), dtype=np.float32) / 16,
    "b1": np.zeros(512, dtype=np.float32),
    "w2": big.standard_normal((512, 10), dtype=np.float32) / np.sqrt(512, dtype=np.float32),
    "b2": np.zeros(10, dtype=np.float32),
}


def best_time(step, repeat=3):
    """The fastest of ``repeat`` runs of step(), after one warm-up run (seconds)."""
    step()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return min(times)


numpy_loss, numpy_grads = forward_backward(**problem)
numpy_seconds = best_time(lambda: forward_backward(**problem))
print(f"NumPy:   loss {float(numpy_loss):.6f}, {numpy_seconds * 1e3:7.1f} ms per step")

if torch is None:
    print('PyTorch is not installed, so the GPU run is skipped: pip install "dlcourse[torch]"')
else:
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        print("note: no CUDA GPU here (torch.cuda.is_available() is False), so PyTorch runs on "
              "the CPU: expect about NumPy's speed. On a GPU machine this same cell uses it.")  # fmt: skip
    arrays = {k: torch.as_tensor(v, device=device) for k, v in problem.items()}

    def torch_step():
        out = forward_backward(**arrays)
        if device == "cuda":
            torch.cuda.synchronize()  # a GPU works asynchronously: wait before reading the clock
        return out

    torch_loss, torch_grads = torch_step()
    torch_seconds = best_time(torch_step)
    print(f"PyTorch: loss {float(torch_loss):.6f}, {torch_seconds * 1e3:7.1f} ms per step "
          f"on {device} ({numpy_seconds / torch_seconds:.1f}x NumPy's speed)")  # fmt: skip
    print("the gradients live on", torch_grads[0].device, "as", type(torch_grads[0]).__name__)
    for name, got, want in zip(("dw1", "db1", "dw2", "db2"), torch_grads, numpy_grads):
        d = diagnose(got.cpu().numpy(), want, name=name)  # float32: tolerance 2e-3
        print(f"  {name}: max |PyTorch - NumPy| = {np.max(np.abs(got.cpu().numpy() - want)):.1e}",
              "(equal within float32 tolerance)" if d.ok else f"DIFFERENT: {d.message}")  # fmt: skip

# %% [markdown]
# The results agree to float32 rounding: the two libraries add the same numbers in different
# orders. Nothing in the hand-written code changed. That is the point of writing it against an
# array *namespace* rather than against NumPy: the "fancy calculator" brings its hardware, and
# the math stays ours.
#
# ## 4. Your own operation, checked by the calculators
#
# Frameworks know thousands of operations, but not every one you will want. When you add one,
# you write its backward by hand, and you check it against an **oracle**: an independent way of
# getting the same gradient. `dlcourse.gradcheck` offers three:
#
# * `check_gradients(forward, backward, inputs)`: finite differences, always available;
# * `check_against_torch(...)`: runs *your forward* on PyTorch tensors and asks
#   `torch.autograd` for the gradient (this works because the forward is written against the
#   array namespace, like `dlcourse.functional`);
# * `check_against_jax(...)`: the same with `jax.vjp`.
#
# ### Softplus
#
# $$ \operatorname{softplus}(x) = \log(1 + e^{x}) $$
#
# is a smooth ReLU: close to 0 for very negative $x$, close to $x$ for large $x$. Written as it
# stands, $e^{x}$ overflows for $x > 709$, so the forward below uses the equal expression
# $\max(x, 0) + \log(1 + e^{-|x|})$, where the exponential never sees a positive number.
# Its derivative is an old friend:
#
# $$ \frac{d}{dx}\log(1 + e^{x}) = \frac{e^{x}}{1 + e^{x}} = \frac{1}{1 + e^{-x}} = \sigma(x) .$$


# %% nbgrader={"grade": false, "grade_id": "softplus_forward", "locked": true, "schema_version": 3, "solution": false}
def softplus_forward(x):
    """softplus(x) = log(1 + exp(x)), computed stably; the cache is x itself."""
    xp = array_namespace(x)  # NumPy, PyTorch or JAX: whatever x belongs to
    return xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x))), x


# %% [markdown]
# ### Exercise 1 (2 points): `softplus_backward`
#
# Return $dx = dout \odot \sigma(x)$, with the shape and dtype of `dout`, where `cache` is $x$.
# For a sigmoid that never overflows, use $e^{-|x|}$ again: $\sigma(x) = 1/(1 + e^{-|x|})$ for
# $x \ge 0$ and $e^{-|x|}/(1 + e^{-|x|})$ for $x < 0$ (`np.where` picks per element).
# `dlcourse.functional.sigmoid_forward` is there too, if you prefer.


# %% nbgrader={"grade": false, "grade_id": "softplus_backward", "locked": false, "schema_version": 3, "solution": true}
def softplus_backward(dout, cache):
    """Gradient of softplus: dx = dout * sigmoid(x), where cache is x."""
    ### BEGIN SOLUTION
    x = cache
    e = np.exp(-np.abs(x))
    sigmoid = np.where(x >= 0, 1 / (1 + e), e / (1 + e))
    return dout * sigmoid
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "check_softplus_backward", "locked": true, "points": 2, "schema_version": 3, "solution": false}
def measured_dx(forward, dout, x):
    """dout times the slope of ``forward`` at ``x``, measured by centred finite differences.

    Only the forward is evaluated (in float64): no formula for the derivative goes in.
    """
    output = lambda v: forward(v)[0]  # noqa: E731 -- the output alone, without the cache
    return numerical_gradient(output, x.astype(np.float64), dout.astype(np.float64))


def resembles(got, wanted):
    """Same shape and, to a float32's precision, the same numbers."""
    scale = max(1.0, float(np.max(np.abs(wanted), initial=0.0)))
    return got.shape == wanted.shape and np.allclose(got, wanted, rtol=1e-4, atol=1e-6 * scale)


def classic_mistakes(name, forward, dout, x):
    """Wrong answers recognised by a property of the measured slope, never by its formula."""
    return [
        (measured_dx(forward, np.ones_like(dout), x), "dx is the slope alone: multiply it by dout."),
        (measured_dx(forward, dout, -x), "dx is dout times the slope at -x, the mirror image of "
         "the right one: check the sign of x (or of an exponent) in your formula."),
        (dout * forward(x)[0], f"dx is dout * {name}(x), the function itself: return dout times "
         f"its derivative."),
    ]  # fmt: skip


def check_custom_op(name, forward, backward, x, known=None, seed=0, oracles=True):
    """Check ``backward`` at ``x``: classic mistakes, finite differences, known slopes, torch, JAX.

    known: (points, slopes, mistakes), slopes at a few points written as numbers (computed once,
    offline), with wrong answers at those points and what they mean. oracles=False skips torch
    and JAX (the hidden tests: finite differences suffice there).
    """
    _, cache = forward(x)
    dout = np.random.default_rng(seed).standard_normal(x.shape).astype(x.dtype)
    context = f"{name} at x of shape {x.shape} ({x.dtype})"
    untouched = check_not_modified(backward, dout, cache)
    assert untouched.ok, f"{context}: {untouched.message}"
    got = backward(dout, cache)
    expected = measured_dx(forward, dout, x)
    for wrong, why in classic_mistakes(name, forward, dout, x):
        if resembles(got, wrong) and not resembles(got, expected):
            raise AssertionError(f"{context}: {why}")
    if known is not None:  # the specific mistakes first: their messages say more
        points, slopes, mistakes = known
        at_points = backward(np.ones_like(points), forward(points)[1])
        for wrong, why in mistakes:
            if resembles(at_points, wrong) and not resembles(at_points, slopes):
                raise AssertionError(f"{name} at x = {points}: {why}")
    expect_close(got, expected.astype(x.dtype), "dx", context)
    assert got.dtype == x.dtype, f"{context}: dx has dtype {got.dtype}, expected {x.dtype}."
    if known is not None:
        expect_close(at_points, slopes, "dx", f"{name} at x = {points}, dout = 1")
    report = check_gradients(forward, backward, {"x": x}, seed=seed)
    assert report.passed, f"{context}\n{report}"
    for oracle in (check_against_torch, check_against_jax) if oracles else ():
        report = oracle(forward, backward, {"x": x}, seed=seed)
        assert report.passed or report.skipped, f"{context}\n{report}"
        print(report if report.skipped else f"{context}: {report.reference} agrees")


# Known answers: the sigmoid at a few points, computed once offline and written as numbers.
SOFTPLUS_KNOWN = (
    np.array([-30.0, -1.0, 0.0, 1.0, 30.0]),
    np.array([9.357622968839299e-14, 0.2689414213699951, 0.5, 0.7310585786300049,
              0.9999999999999065]),
    [],
)  # fmt: skip

check_custom_op("softplus", softplus_forward, softplus_backward, rng.normal(0, 2, size=(4, 5)),
                known=SOFTPLUS_KNOWN)  # fmt: skip
print("All visible checks passed.")
### BEGIN HIDDEN TESTS
hidden = np.random.default_rng(707)
check_custom_op("softplus", softplus_forward, softplus_backward,
                hidden.normal(0, 3, size=(3, 2, 4)).astype(np.float32), seed=1, oracles=False)  # fmt: skip
# far from 0: the values must be right (1 / (1 + inf) = 0 is, with a warning NumPy hides here)
with np.errstate(over="ignore"):
    far = np.array([-800.0, -30.0, 0.0, 30.0, 800.0])
    expect_close(softplus_backward(np.ones(5), far), np.array([0.0, 9.357622968839299e-14, 0.5,
                 0.9999999999999065, 1.0]), "dx", "far from 0")  # fmt: skip
### END HIDDEN TESTS

# %% [markdown]
# ### GELU
#
# The Gaussian error linear unit is the activation of BERT and the GPT models. It weighs its
# input by the probability that a standard normal variable is below it, $x\,\Phi(x)$; the
# common approximation, which PyTorch calls `gelu(x, approximate="tanh")`, is
#
# $$ \operatorname{gelu}(x) = \tfrac12\, x\,\bigl(1 + \tanh u\bigr), \qquad
# u = \sqrt{2/\pi}\,\bigl(x + 0.044715\,x^3\bigr). $$
#
# Its derivative needs the product rule (there is an $x$ in front), and the chain rule twice
# (through $\tanh$, then through $u$):
#
# $$ \frac{d\,\operatorname{gelu}}{dx} = \tfrac12 (1 + t)
# + \tfrac12\, x\, (1 - t^2)\, \sqrt{2/\pi}\,\bigl(1 + 3 \cdot 0.044715\, x^2\bigr),
# \qquad t = \tanh u .$$
#
# The forward caches $x$ and $t$, so the backward needs no $\tanh$ of its own. First, a check
# that this forward is PyTorch's GELU:

# %% nbgrader={"grade": false, "grade_id": "gelu_forward", "locked": true, "schema_version": 3, "solution": false}
SQRT_2_OVER_PI = float(np.sqrt(2 / np.pi))
GELU_C = 0.044715


def gelu_forward(x):
    """GELU, tanh approximation; the cache is (x, t) with t = tanh(u)."""
    xp = array_namespace(x)
    t = xp.tanh(SQRT_2_OVER_PI * (x + GELU_C * x**3))
    return 0.5 * x * (1 + t), (x, t)


# %%
z = np.linspace(-4, 4, 401)
if torch is not None:
    theirs = torch.nn.functional.gelu(torch.as_tensor(z), approximate="tanh").numpy()
    print(f"max |gelu_forward - torch's gelu| = {np.max(np.abs(gelu_forward(z)[0] - theirs)):.1e}")
fig, ax = plt.subplots(figsize=(7, 3.5))
ax.plot(z, np.maximum(z, 0), ":", color="grey", label="ReLU")
ax.plot(z, softplus_forward(z)[0], label="softplus")
ax.plot(z, gelu_forward(z)[0], label="GELU")
ax.plot(z, np.gradient(gelu_forward(z)[0], z), "--", label="slope of GELU (measured)")
ax.axhline(0, color="grey", lw=0.5)
ax.set_xlabel("x")
ax.set_title("Smooth relatives of ReLU")
ax.legend()
plt.show()

# %% [markdown]
# GELU dips slightly below 0 around $x \approx -0.75$, and its slope goes a little above 1 and
# below 0: unlike ReLU, it is not monotonic.
#
# ### Exercise 2 (4 points): `gelu_backward`
#
# `cache` is `(x, t)`. Return $dx$ = `dout` times the derivative above, with the shape and dtype
# of `dout`. The constants `SQRT_2_OVER_PI` and `GELU_C` are defined in the cell above.


# %% nbgrader={"grade": false, "grade_id": "gelu_backward", "locked": false, "schema_version": 3, "solution": true}
def gelu_backward(dout, cache):
    """Gradient of GELU (tanh approximation); cache is (x, t) with t = tanh(u)."""
    ### BEGIN SOLUTION
    x, t = cache
    du_dx = SQRT_2_OVER_PI * (1 + 3 * GELU_C * x * x)
    return dout * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du_dx)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "check_gelu_backward", "locked": true, "points": 4, "schema_version": 3, "solution": false}
# Known answers: GELU's slope at a few points, and two classic wrong ones there, computed once
# offline in float64 and written as numbers. At 0 the slope is 1/2; far out it is 0 and 1.
GELU_KNOWN = (
    np.array([-12.0, -3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0, 12.0]),
    np.array([0.0, -0.011584166631, -0.0829640838458, 0.132630096465, 0.5, 0.867369903535,
              1.08296408385, 1.01158416663, 1.0]),
    [
        (np.array([0.0, 0.00121246402726, 0.158808009392, 0.30857198035, 0.5, 0.69142801965,
                   0.841191990608, 0.998787535973, 1.0]),
         "dx has only the first term of the product rule, 0.5 * (1 + t): the x in front of "
         "(1 + t) depends on x too."),
        (np.array([0.0, -0.00605349972218, -0.108368041698, 0.0952166670569, 0.5,
                   0.904783332943, 1.1083680417, 1.00605349972, 1.0]),
         "dx stops the chain rule at tanh: t = tanh(u), and u depends on x, so the derivative of "
         "tanh(u) needs one more factor, du/dx (see the formula above)."),
    ],
)  # fmt: skip

check_custom_op("gelu", gelu_forward, gelu_backward, rng.normal(0, 1.5, size=(6, 3)),
                known=GELU_KNOWN)  # fmt: skip
print("All visible checks passed.")
### BEGIN HIDDEN TESTS
hidden = np.random.default_rng(717)
check_custom_op("gelu", gelu_forward, gelu_backward,
                hidden.normal(0, 2, size=(2, 3, 5)).astype(np.float32), seed=2, oracles=False)  # fmt: skip
check_custom_op("gelu", gelu_forward, gelu_backward, hidden.normal(0, 4, size=(9,)), seed=3,
                oracles=False)  # fmt: skip
### END HIDDEN TESTS

# %% [markdown]
# ## 5. Your backward, plugged into a framework
#
# A framework accepts a hand-written gradient too: in PyTorch, a `torch.autograd.Function`
# with `forward` and `backward`, just like chapter 06's `Function`. Here your GELU becomes a
# PyTorch operation, and PyTorch's own backward pass calls your `gelu_backward` when it
# reaches it (the NumPy round trip keeps the example short; a real one would stay in torch).

# %%
if torch is None:
    print('PyTorch is not installed, so this section is skipped: pip install "dlcourse[torch]"')
else:

    class YourGELU(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            out, cache = gelu_forward(x.detach().numpy())
            ctx.cache = cache
            return torch.as_tensor(out)

        @staticmethod
        def backward(ctx, grad):
            return torch.as_tensor(gelu_backward(grad.numpy(), ctx.cache))

    w = torch.tensor(rng.normal(size=(5, 3)), requires_grad=True)
    inputs = torch.as_tensor(rng.normal(size=(4, 5)))
    YourGELU.apply(inputs @ w).sum().backward()
    yours = w.grad.clone()
    w.grad = None
    torch.nn.functional.gelu(inputs @ w, approximate="tanh").sum().backward()
    print(f"dL/dw through your GELU vs torch's own: max difference "
          f"{(yours - w.grad).abs().max().item():.1e}")  # fmt: skip

# %% [markdown]
# ## Summary
#
# * `torch.autograd`, `tf.GradientTape`, `jax.grad` and the course's own engine all compute
#   the same reverse-mode chain rule: given only the forward computation, they return the
#   gradients of chapter 04 to the last bit of a float64.
# * Their interfaces differ in how the forward is recorded: PyTorch and our engine record
#   operations as they run, TensorFlow records what runs inside a tape, JAX transforms a
#   function into its gradient function.
# * Hand-written math that takes its array module from its inputs runs unchanged on PyTorch
#   tensors, on a CPU or a GPU: only the place where the arrays are made changes. On a GPU,
#   synchronise before reading the clock.
# * A new operation needs a hand-written backward. Check it with finite differences and,
#   when a framework is installed, against its automatic derivative of the same forward.
#
# **Next**, chapter 08 stops writing layers one function at a time: `Sequential`, `Dense` and
# `fit` build and train a network in a few lines, on every backend.

# %% [markdown]
# ## Further reading
#
# * The PyTorch tutorial *A Gentle Introduction to torch.autograd*, and the note *Extending
#   PyTorch* for a custom `torch.autograd.Function`.
# * The TensorFlow guide *Introduction to gradients and automatic differentiation*
#   (`tf.GradientTape`).
# * The JAX documentation, *The Autodiff Cookbook*: `jax.grad`, `jax.vjp`, `jax.jvp` and how
#   they compose.
# * Dan Hendrycks and Kevin Gimpel, *Gaussian Error Linear Units (GELUs)* (2016), where GELU and
#   its tanh approximation come from.
