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
# # 08. Neural nets as legos
#
# Chapters 01-05 wrote every layer as a pair of functions and wired them together by hand:
# forward through each layer, keep the caches, backward in reverse order, update every weight.
# That wiring is the same for every network, so libraries write it once. What is left for you
# is to say *which bricks*, in which order:
#
# ```python
# model = Sequential([Dense(64, activation="relu"), Dense(10, activation="softmax")])
# model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
# model.fit(x_train, y_train, epochs=10)
# ```
#
# This is the interface Keras made popular in 2015, and `dlcourse.nn` copies it. Behind it sits
# a second idea that Keras 3 made central: the layers are written once, against a small set of
# operations (`dlcourse.ops`), and a **backend** decides which library computes them, so the
# *same* model trains on NumPy with hand-written gradients, on the course's own autodiff engine,
# on PyTorch, TensorFlow, JAX or PyTensor, by changing one setting.
#
# You will train one model on every backend installed here, compare the curves, and then write
# a brick of your own, a layer with a learned weight, that plugs into any model and runs on all
# of them.
#
# **This notebook is worth 8 points**:
#
# | exercise | you write | points |
# |---|---|---|
# | 1 | `PReLU.call(x)`: the forward pass of your own layer | 3 |
# | 2 | `PReLU.backward(dout)`: its gradients, for the `manual` backend | 5 |
#
# Replace each `raise NotImplementedError()` with your code and run the check cell below it.
#
# **How this notebook is graded.** The grader runs your `PReLU` cell on its own, after this
# notebook's set-up cell, in a fresh process outside the notebook and on inputs of its own: it
# builds the layer on the `manual` backend, sets `alpha` with `set_weights`, and calls `call`
# and `backward` itself. The check cells, and so the other backends' comparisons, are not run
# there, and a helper defined in any other cell is missing. The course's leaky ReLU
# (`F.leaky_relu_forward`, `F.leaky_relu_backward`), which computes PReLU when handed an array
# `alpha`, is a stub there: a `PReLU` that calls it scores zero for both exercises. There each
# exercise may use 20 CPU seconds and 4 GB of memory; code that needs more is stopped and scores
# zero for it. `dlcourse check --grader` on the saved notebook shows the points the grader would
# give. Beyond the visible checks:
#
# * exercise 1, `check_prelu_call`, also tested: a float32 layer on float32 inputs gives a
#   float32 output, slopes `alpha` from 0 up to 2, and a batch whose inputs are all negative;
# * exercise 2, `check_prelu_backward`, also tested: a float32 layer gives float32 `dx` and
#   `dalpha`, slopes `alpha` from 0 up to 2, and a batch whose inputs are all negative.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false}
import importlib.util
import os
import time

import matplotlib.pyplot as plt
import numpy as np

import dlcourse
from dlcourse import ops
from dlcourse.backends import BACKENDS
from dlcourse.data import load_digits
from dlcourse.diagnose import diagnose
from dlcourse.gradcheck import check_gradients
from dlcourse.nn import Dense, Layer, Sequential

np.set_printoptions(precision=4, suppress=True)


def installed(backend):
    """True when ``backend``'s library is installed; otherwise say how to install it."""
    extra = BACKENDS[backend]
    if extra is None or importlib.util.find_spec(extra) is not None:
        return True
    print(f'skipping {backend}: {extra} is not installed (pip install "dlcourse[{extra}]")')
    return False


# %% [markdown]
# ## 1. A model in a few lines
#
# The data: scikit-learn's 1,797 handwritten digits, 8x8 pixels each, flattened to rows of 64
# numbers in $[0, 1]$ (1,437 to train on, 360 to test on).
#
# A `Sequential` model is a list of layers applied one after the other. `Dense(64)` does not
# ask for its number of inputs: it reads it from the first batch it sees (its `build` method),
# which is what lets you snap bricks together without counting. `compile` chooses the loss, the
# optimizer and the metrics; `fit` runs the loop of chapter 05 (shuffle, cut into minibatches,
# forward, backward, update) and returns a `History` of the loss per epoch.

# %%
data = load_digits()
print("train:", data.x_train.shape, data.y_train.shape, " test:", data.x_test.shape)

model = Sequential([Dense(64, activation="relu"), Dense(10, activation="softmax")], seed=0)
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
history = model.fit(data.x_train, data.y_train, epochs=8, batch_size=32, verbose=0)
loss, accuracy = model.evaluate(data.x_test, data.y_test)
model.summary()
print(f"test loss {loss:.3f}, test accuracy {accuracy:.1%}")

# %% [markdown]
# The summary counts the weights: $64 \cdot 64 + 64 = 4{,}160$ in the first layer and
# $64 \cdot 10 + 10 = 650$ in the second. Nothing above mentions a gradient: the model was
# built on the default backend, `manual`, which runs the hand-written backward of every layer,
# the very functions of `dlcourse.functional` that chapters 01-05 checked.
#
# ## 2. One model, every backend
#
# `dlcourse.backend(name)` (or `dlcourse.set_backend(name)` for the rest of the session, or the
# environment variable `DLCOURSE_BACKEND`) chooses the library that will compute the model built
# inside it:
#
# | backend | who computes | who takes the derivatives |
# |---|---|---|
# | `manual` | NumPy | each layer's hand-written `backward` |
# | `autodiff` | NumPy, through the course's engine (chapter 06) | the engine, in reverse |
# | `torch` | PyTorch | `torch.autograd` |
# | `tensorflow` | TensorFlow (`tf.function`) | `tf.GradientTape` |
# | `jax` | JAX (`jax.jit`) | `jax.grad` |
# | `pytensor` | PyTensor, compiled to C | `pytensor.grad`, on the symbolic graph |
#
# Weights are drawn in NumPy from the model's seed and then handed to the backend, so every
# backend starts from the same numbers. The loop below builds the same model on each backend
# installed, trains it for the same epochs on the same batches, and records the loss curve,
# the test accuracy and the time `fit` took.

# %%
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow: errors only, no start-up chatter
results = {}
for name in BACKENDS:
    if not installed(name):
        continue
    with dlcourse.backend(name):  # input_shape: build now, so fit's time leaves out imports
        layers = [Dense(64, activation="relu"), Dense(10, activation="softmax")]
        net = Sequential(layers, seed=0, input_shape=(64,))
    net.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    start = time.perf_counter()
    run = net.fit(data.x_train, data.y_train, epochs=8, batch_size=32, verbose=0)
    seconds = time.perf_counter() - start
    test_loss, test_accuracy = net.evaluate(data.x_test, data.y_test)
    results[name] = (run.history["loss"], test_accuracy, seconds)

reference = np.array(results["manual"][0])
print(f"{'backend':12s} {'test accuracy':>14s} {'fit time (s)':>13s} {'max |loss - manual|':>20s}")
for name, (losses, test_accuracy, seconds) in results.items():
    gap = np.abs(np.array(losses) - reference).max()
    print(f"{name:12s} {test_accuracy:14.1%} {seconds:13.2f} {gap:20.1e}")

fig, ax = plt.subplots(figsize=(7, 4))
for i, (name, (losses, _, _)) in enumerate(results.items()):
    epochs = np.arange(1, len(losses) + 1)
    ax.plot(epochs, losses, marker="o", lw=2, ms=9 - i, alpha=0.7, label=name)
ax.set_xlabel("epoch")
ax.set_ylabel("training loss")
ax.set_title("The same model on every backend")
ax.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# The curves lie on top of each other: the backends agree to the precision of float32 (about
# $10^{-7}$ relative per operation, a few $10^{-6}$ after eight epochs of accumulated rounding).
# The accuracies are the same. The times are not, and the reason is instructive:
#
# * `manual` and `autodiff` call NumPy directly: no start-up cost, and on a network this small
#   NumPy's overhead per call is the smallest.
# * `torch` pays a little per operation for its autograd bookkeeping, and on matrices this
#   small its threads spend more time synchronising than computing.
# * `tensorflow`, `jax` and `pytensor` first **trace** the train step into a graph and compile
#   it; the first call costs seconds, every later one is fast. On a network a thousand times
#   larger (or on a GPU) the compiled step wins; here the compilation is most of the time.
#
# So "which framework is fastest" has no answer without "on which model, for how many steps".
# (These times come from one run, on a machine that may be busy with other work; the course's
# `benchmarks/backend_matrix.py` measures properly, each backend in fresh processes that take
# turns.)
#
# ## 3. A brick of your own: PReLU
#
# ReLU throws away everything negative. **PReLU** (He et al., 2015, the paper that first beat
# human accuracy on ImageNet) keeps a slope $\alpha$ for the negative side and *learns* it, one
# $\alpha_j$ per feature $j$:
#
# $$\operatorname{PReLU}(x)_{ij} = \begin{cases} x_{ij} & x_{ij} > 0 \\
# \alpha_j\, x_{ij} & x_{ij} \le 0 \end{cases}
# \;=\; \max(x_{ij}, 0) + \alpha_j \min(x_{ij}, 0).$$
#
# With $\alpha = 0$ it is ReLU, with $\alpha = 0.01$ fixed it is leaky ReLU, with $\alpha = 1$
# it is the identity. The network chooses.
#
# A layer is a subclass of `dlcourse.nn.Layer` with up to three methods:
#
# * `build(input_shape)`: create the weights once the input size is known
#   (`self.add_weight(name, shape, initializer)` stores the weight as `self.<name>`);
# * `call(x, training=False)`: the forward pass, written with **`dlcourse.ops`** only
#   (`ops.maximum`, `ops.minimum`, `ops.sum`, `ops.where`, ...) and ordinary arithmetic
#   (`+`, `*`). `ops` dispatches each function to the backend the model runs on, which is why
#   one `call` runs on NumPy, PyTorch, TensorFlow, JAX and PyTensor alike. Every autodiff
#   backend needs nothing more: it differentiates `call` itself;
# * `backward(dout)`: only for the `manual` backend, where nobody differentiates for you. Given
#   $dout = \partial L / \partial \text{out}$ it returns $\partial L / \partial x$ and puts the
#   gradient of each weight in `self.grads[name]`. What it needs from the forward pass, `call`
#   saves on `self` (here: `self.x = x`).
#
# ### The derivatives
#
# Element $x_{ij}$ only reaches the loss through $\text{out}_{ij}$, so, as for every
# elementwise function (chapter 02),
#
# $$\frac{\partial L}{\partial x_{ij}} = dout_{ij} \cdot
# \begin{cases} 1 & x_{ij} > 0 \\ \alpha_j & x_{ij} \le 0 \end{cases}$$
#
# But $\alpha_j$ is *shared* by every example $i$ in the batch (and $\text{out}_{ij}$ depends on
# it only where $x_{ij} \le 0$, through $\alpha_j x_{ij}$), so its gradient is a **sum over the
# batch**, exactly like a bias's in chapter 04:
#
# $$\frac{\partial L}{\partial \alpha_j} = \sum_i dout_{ij} \, \min(x_{ij}, 0).$$
#
# Worked numbers, one example with two features, $\alpha = (0.25, 0.5)$: for
# $x = (-2, 3)$, $\text{out} = (-0.5, 3)$; with $dout = (1, 1)$,
# $dx = (0.25, 1)$ and $d\alpha = (-2, 0)$.
#
# ### Exercises 1 and 2 (3 + 5 points): `PReLU.call` and `PReLU.backward`
#
# `__init__` and `build` are written. Write `call` with `ops` (save `x` on `self` for the
# backward), then `backward`. Shapes: `x` and `dout` are `(batch, features)`, `self.alpha` is
# `(features,)`. Do not modify `x` or `dout` in place.


# %% nbgrader={"grade": false, "grade_id": "prelu", "locked": false, "schema_version": 3, "solution": true}
class PReLU(Layer):
    """Parametric ReLU: x where x > 0, alpha * x elsewhere, with alpha learned per feature."""

    def __init__(self, initial_alpha=0.25, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.initial_alpha = initial_alpha

    def build(self, input_shape):
        def initial(shape, dtype, rng):  # every alpha starts at the same value
            return np.full(shape, self.initial_alpha, dtype=dtype)

        self.alpha = self.add_weight("alpha", (input_shape[-1],), initializer=initial)

    def call(self, x, training=False):
        """max(x, 0) + alpha * min(x, 0), written with dlcourse.ops; saves x for backward."""
        ### BEGIN SOLUTION
        self.x = x
        return ops.maximum(x, 0.0) + self.alpha * ops.minimum(x, 0.0)
        ### END SOLUTION

    def backward(self, dout):
        """Return dL/dx, and set self.grads["alpha"] = dL/dalpha, shape (features,)."""
        ### BEGIN SOLUTION
        x = self.x
        self.grads["alpha"] = ops.sum(dout * ops.minimum(x, 0.0), axis=0)
        return ops.where(x > 0, dout, self.alpha * dout)
        ### END SOLUTION


# %% nbgrader={"grade": false, "grade_id": "check_helpers", "locked": true, "schema_version": 3, "solution": false}
# The check cells below share these helpers: read them to see what is checked.


def expect_close(got, expected, name, context="", **options):
    """Fail with dlcourse.diagnose's explanation unless ``got`` matches ``expected``."""
    d = diagnose(np.asarray(got), np.asarray(expected), name=name, **options)
    assert d.ok, f"{context}{d}"


def expect_all_close(named, context="", **options):
    """``expect_close`` for each (name, got, expected); a failure says which ones are right."""
    found = [(n, diagnose(np.asarray(g), np.asarray(e), name=n, **options)) for n, g, e in named]
    right = [n for n, d in found if d.ok]
    wrong = [d for _, d in found if not d.ok]
    if wrong and right:  # which ones are right is the clue to where the mistake is
        verb = "is" if len(right) == 1 else "are"
        raise AssertionError(f"{context}{', '.join(right)} {verb} right, but {wrong[0].message}")
    assert not wrong, f"{context}{wrong[0] if wrong else ''}"


def prelu_layer(alpha, dtype="float64"):
    """Your PReLU, built on the 'manual' backend, with the weights ``alpha``."""
    with dlcourse.backend("manual"):
        layer = PReLU(dtype=dtype)
        layer(np.zeros((1, len(alpha)), dtype=dtype))  # the first call builds it
    layer.set_weights([np.asarray(alpha, dtype=dtype)])
    return layer


def prelu_reference(x, alpha, dout):
    """out, dx and dalpha of PReLU, written in NumPy to compare with."""
    out = np.where(x > 0, x, alpha * x)
    dx = np.where(x > 0, dout, alpha * dout)
    dalpha = (dout * np.minimum(x, 0)).sum(axis=0)
    return out, dx, dalpha


def on_backend(name, method, *args):
    """``prelu_model(name).method(*args)``, explaining a failure of the layer on that backend."""
    try:
        return getattr(prelu_model(name), method)(*args)
    except NotImplementedError:
        raise
    except Exception as err:
        raise AssertionError(
            f"your PReLU failed on the {name} backend ({type(err).__name__}: {err}). Write call "
            "with dlcourse.ops and arithmetic only (ops.maximum, ops.minimum, +, *): NumPy "
            f"functions cannot compute on {name}'s arrays."
        ) from err


def prelu_model(backend, seed=1):
    """A small float64 model with your PReLU in the middle, built on ``backend``."""
    with dlcourse.backend(backend):
        net = Sequential(
            [Dense(8), PReLU(initial_alpha=0.3), Dense(3)],
            seed=seed,
            dtype="float64",
            input_shape=(5,),
        )
    net.compile(optimizer="sgd", loss="mse")
    return net


# %% nbgrader={"grade": true, "grade_id": "check_prelu_call", "locked": true, "points": 3, "schema_version": 3, "solution": false}
def call_mistakes(x, alpha):
    """Classic wrong forwards for these inputs: (wrong output, explanation)."""
    return [
        (
            np.maximum(x, 0),
            "out is ReLU(x): the negative inputs must keep the slope alpha, "
            "out = max(x, 0) + alpha * min(x, 0).",
        ),
        (np.where(x > 0, x, alpha), "where x <= 0, out is alpha itself: multiply it by x."),
        (alpha * x, "out is alpha * x everywhere: positive inputs pass unchanged."),
    ]


def check_call(x, alpha, context):
    x_before = x.copy()
    out = np.asarray(prelu_layer(alpha, str(x.dtype))(x))
    expected = prelu_reference(x, alpha, np.ones_like(x))[0]
    assert np.array_equal(x, x_before), f"{context}call changed its input x: compute a new array."
    for wrong, explanation in call_mistakes(x, alpha):
        differs = not np.allclose(wrong, expected)
        if differs and out.shape == wrong.shape and np.allclose(out, wrong):
            raise AssertionError(context + explanation)
    expect_close(out, expected, "out", context)


# worked by hand (section 3): alpha = (0.25, 0.5), x = (-2, 3) -> out = (-0.5, 3)
check_call(np.array([[-2.0, 3.0]]), np.array([0.25, 0.5]), "By hand: ")
rng = np.random.default_rng(0)
check_call(rng.standard_normal((6, 4)), rng.uniform(0, 0.5, size=4), "A batch of 6 rows: ")

# the same call on every autodiff backend: each must predict what 'manual' predicts
x_model = rng.standard_normal((7, 5))
by_manual = prelu_model("manual").predict(x_model)
for name in BACKENDS:
    if name != "manual" and installed(name):
        predicted = on_backend(name, "predict", x_model)
        expect_close(predicted, by_manual, f"predictions on {name}")
        print(f"{name:10s}: same predictions as manual")
print("All visible checks passed.")
### BEGIN HIDDEN TESTS
hidden_rng = np.random.default_rng(808)
check_call(hidden_rng.standard_normal((3, 9)), hidden_rng.uniform(0, 1, 9), "Hidden (3, 9): ")
check_call(
    hidden_rng.standard_normal((10, 2)).astype(np.float32),
    hidden_rng.uniform(0, 1, 2).astype(np.float32),
    "Hidden, float32: ",
)
check_call(-np.abs(hidden_rng.standard_normal((4, 3))), np.array([0.0, 0.5, 2.0]), "All x < 0: ")
### END HIDDEN TESTS


# %% nbgrader={"grade": true, "grade_id": "check_prelu_backward", "locked": true, "points": 5, "schema_version": 3, "solution": false}
def check_backward(x, alpha, dout, context):
    layer = prelu_layer(alpha, str(x.dtype))
    x_before = x.copy()
    layer(x)
    assert np.array_equal(x, x_before), (
        f"{context}call changed its input x in place: fix call first (exercise 1), computing "
        "a new array instead of updating x; until then backward cannot be checked."
    )
    dout_before = dout.copy()
    dx = np.asarray(layer.backward(dout))
    dalpha = layer.grads.get("alpha")
    assert np.array_equal(dout, dout_before), (
        f"{context}backward changed dout: compute a new array."
    )
    assert dalpha is not None, (
        f"{context}backward did not set self.grads['alpha']: the manual backend reads the "
        "gradient of each weight there."
    )
    dalpha = np.asarray(dalpha)
    _, dx_ref, dalpha_ref = prelu_reference(x, alpha, dout)
    _, dx_no_dout, dalpha_no_dout = prelu_reference(x, alpha, np.ones_like(dout))
    if dalpha.shape == x.shape:
        raise AssertionError(
            f"{context}dalpha has shape {dalpha.shape}, one value per example and feature; alpha "
            f"is shared by the batch, so sum over it (axis=0) to get shape {alpha.shape}."
        )
    mistakes = [  # (array, wrong value, expected value, explanation)
        (dalpha, dalpha_ref / len(x), dalpha_ref, "dalpha is averaged over the batch: sum it."),
        (
            dalpha,
            (dout * x).sum(axis=0),
            dalpha_ref,
            "dalpha sums dout * x over every input, but alpha only acts where x <= 0: "
            "use dout * min(x, 0).",
        ),
        (dx, dout * (x > 0), dx_ref, "dx is ReLU's gradient: where x <= 0 the slope is alpha."),
        (dx, dout * alpha, dx_ref, "dx uses the slope alpha everywhere: where x > 0 it is 1."),
        (dx, dx_no_dout, dx_ref, "dx is the local slope alone: multiply it by dout."),
        (
            dalpha,
            dalpha_no_dout,
            dalpha_ref,
            "dalpha ignores dout: it sums min(x, 0) alone; sum dout * min(x, 0) over the batch.",
        ),
    ]
    for got, wrong, expected, explanation in mistakes:
        differs = not np.allclose(wrong, expected)
        if differs and got.shape == wrong.shape and np.allclose(got, wrong):
            raise AssertionError(context + explanation)
    named = [("dx", dx, dx_ref), ("dalpha", dalpha, dalpha_ref)]
    expect_all_close(named, context, batch_size=len(x))


# worked by hand (section 3): dx = (0.25, 1), dalpha = (-2, 0)
check_backward(np.array([[-2.0, 3.0]]), np.array([0.25, 0.5]), np.array([[1.0, 1.0]]), "By hand: ")
rng = np.random.default_rng(1)
x_check, alpha_check = rng.standard_normal((6, 4)), rng.uniform(0, 0.5, size=4)
check_backward(x_check, alpha_check, rng.standard_normal((6, 4)), "A batch of 6 rows: ")


# finite differences: nudge x and alpha, watch the output move (chapter 04)
def prelu_forward(x, alpha):
    layer = prelu_layer(alpha)
    return np.asarray(layer(x)), layer


def prelu_backward(dout, layer):
    dx = np.asarray(layer.backward(dout))
    return dx, np.asarray(layer.grads["alpha"])


report = check_gradients(prelu_forward, prelu_backward, {"x": x_check, "alpha": alpha_check})
assert report.passed, report

# the whole model: your backward on 'manual' against every autodiff backend differentiating call
x_model, y_model = rng.standard_normal((6, 5)), rng.standard_normal((6, 3))
loss_manual, grads_manual = prelu_model("manual").loss_and_gradients(x_model, y_model)
for name in BACKENDS:
    if name != "manual" and installed(name):
        loss_auto, grads_auto = on_backend(name, "loss_and_gradients", x_model, y_model)
        weights = ["dkernel1", "dbias1", "dalpha", "dkernel2", "dbias2"]  # Dense, PReLU, Dense
        named = list(zip(weights, grads_manual, grads_auto))
        expect_all_close(named, f"Your backward against {name}: ", batch_size=len(x_model))
        print(f"{name:10s}: the gradients of all 5 weights agree with your backward")
print("All visible checks passed.")
### BEGIN HIDDEN TESTS
hidden_rng = np.random.default_rng(909)
for shape in [(1, 3), (9, 2), (4, 7)]:
    check_backward(
        hidden_rng.standard_normal(shape),
        hidden_rng.uniform(0, 1, shape[1]),
        hidden_rng.standard_normal(shape),
        f"Hidden {shape}: ",
    )
check_backward(
    hidden_rng.standard_normal((5, 3)).astype(np.float32),
    hidden_rng.uniform(0, 1, 3).astype(np.float32),
    hidden_rng.standard_normal((5, 3)).astype(np.float32),
    "Hidden, float32: ",
)
### END HIDDEN TESTS

# %% [markdown]
# ## 4. Your layer, training
#
# Your `PReLU` is now an ordinary brick. Below, the same network as in section 2 with PReLU
# instead of ReLU, trained on `manual` (your `backward`) and on `autodiff` (the course's engine
# differentiating your `call`). Both start from the same seed, so the two runs must tell the
# same story; the histogram shows which slopes $\alpha_j$ the network chose for its 64
# features, all starting from 0.25.

# %%
trained = {}
for name in ["manual", "autodiff"]:
    with dlcourse.backend(name):
        net = Sequential([Dense(64), PReLU(), Dense(10, activation="softmax")], seed=0)
    net.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    run = net.fit(data.x_train, data.y_train, epochs=8, batch_size=32, verbose=0)
    _, test_accuracy = net.evaluate(data.x_test, data.y_test)
    trained[name] = net
    print(
        f"{name:8s}: final training loss {run.history['loss'][-1]:.4f}, "
        f"test accuracy {test_accuracy:.1%}"
    )

alphas = trained["manual"].layers[1].get_weights()[0]
gap = np.abs(alphas - trained["autodiff"].layers[1].get_weights()[0]).max()
print(f"largest difference between the learned alphas of the two runs: {gap:.1e}")
print(
    f"learned alphas: min {alphas.min():.3f}, median {np.median(alphas):.3f}, "
    f"max {alphas.max():.3f}"
)
fig, ax = plt.subplots(figsize=(6, 3))
ax.hist(alphas, bins=20)
ax.axvline(0.25, color="black", ls="--", label="initial alpha")
ax.set_xlabel("learned alpha")
ax.set_ylabel("features")
ax.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# The slopes spread out from 0.25 (the printed minimum and maximum), most of them upwards: in
# this small network the negative side of most features carries information worth keeping,
# while a few features are pushed toward plain ReLU. The two runs agree to float32 rounding:
# your hand-written `backward` and the engine's derivative of your `call` are the same
# function.
#
# ## Summary
#
# * A `Sequential` model is a list of layers; `compile` picks the loss, optimizer and metrics;
#   `fit` runs the training loop of chapter 05. `Dense(64)` learns its input size in `build`.
# * Layers are written against `dlcourse.ops`, and a **backend** computes them: switching
#   `dlcourse.backend(...)` trained the same model on NumPy, the course's engine, PyTorch,
#   TensorFlow, JAX and PyTensor, with the same losses to float32 precision.
# * Compiling backends (TensorFlow, JAX, PyTensor) pay seconds up front and run fast after;
#   on a small model the up-front cost dominates.
# * Your own layer needs `build` and `call`; every autodiff backend differentiates `call`.
#   Only `manual` needs `backward`, and the gradient of a weight shared by the batch is a
#   **sum over the batch**.
#
# **Next**, chapter 09 leaves the course's library: the same network in Keras 3 on three
# backends, in fastai, in PyTensor, and exported to ONNX.

# %% [markdown]
# ## Further reading
#
# * The Keras guides (keras.io) *The Sequential model*, *The Functional API* and *Making new
#   layers and models via subclassing*: the interface this chapter's `dlcourse.nn` copies.
# * François Chollet, *Deep Learning with Python* (Manning, 2nd edition, 2021), the chapter
#   *Working with Keras: a deep dive*.
# * Kaiming He, Xiangyu Zhang, Shaoqing Ren and Jian Sun, *Delving Deep into Rectifiers:
#   Surpassing Human-Level Performance on ImageNet Classification* (ICCV 2015), the PReLU paper.
#
# Credits: PReLU, its slope per feature and its starting value 0.25 are He et al.'s; `Sequential`,
# `compile`, `fit` and `Model(inputs, outputs)` follow Keras's design.
