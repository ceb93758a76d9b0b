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
# # 09. The real tools
#
# Everything so far ran on the course's own library, built to be read. Practitioners use
# libraries built to be *used*, and this chapter takes the same small digit classifier through
# five of them, each showing one idea of its own:
#
# | section | tool | the idea |
# |---|---|---|
# | 2 | **Keras 3** on TensorFlow, JAX and PyTorch | one model description, three engines |
# | 3 | (exercise) | weights have a *layout*, and ports break on it |
# | 4 | **fastai** on PyTorch | training by recipe: `lr_find`, `fit_one_cycle` |
# | 5 | **PyTensor**, Theano's heir | a symbolic graph, optimised and compiled |
# | 6 | **ONNX** and onnxruntime | a file format between frameworks: where CNTK's users went |
#
# Each tool that is not installed is skipped with the command that installs it. This notebook
# takes longer than the others: it starts TensorFlow, JAX, PyTorch, fastai and PyTensor, and
# each of them costs seconds just to import.
#
# **This notebook is worth 4 points**:
#
# | exercise | you write | points |
# |---|---|---|
# | 1 | `nchw_dense_to_nhwc(kernel, channels, height, width)` | 4 |
#
# **How this notebook is graded.** The grader runs the exercise's solution cell on its own,
# after this notebook's set-up cell, in a fresh process outside the notebook and on inputs of
# its own (none of the tools of this chapter is needed there). The check cell is not run
# there, and a helper defined in any other cell is missing: a solution that needs one scores
# zero. There each exercise may use 20 CPU seconds and 4 GB of memory; code that needs more is
# stopped and scores zero for it. `dlcourse check --grader` on the saved notebook shows the points
# the grader would give. Beyond the visible check:
#
# * exercise 1, `check_nchw_dense_to_nhwc`, also tested: a float32 kernel stays float32, square
#   maps, more channels than pixels, and a single unit.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false}
import atexit
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from dlcourse import functional as F
from dlcourse.data import load_digits
from dlcourse.diagnose import diagnose
from dlcourse.nn import Dense, Sequential

np.set_printoptions(precision=4, suppress=True)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow: errors only, no start-up chatter
sections_ran = []  # the framework sections that really ran, printed at the end


def installed(package, extra):
    """True when ``package`` can be imported; otherwise say how to install it."""
    if importlib.util.find_spec(package) is not None:
        return True
    print(f'skipped: {package} is not installed; install it with: pip install "dlcourse[{extra}]"')
    return False


# %% [markdown]
# ## 1. The model, in the course's library
#
# The network of chapter 08: 64 pixels, a hidden layer of 64 ReLU units, 10 softmax outputs,
# trained for 10 epochs with Adam on the `manual` backend. It is saved to one `.npz` file
# (weights and architecture as plain arrays and JSON), which is how it will travel to the other
# processes below.

# %%
workdir = Path(tempfile.mkdtemp(prefix="dlcourse-09-"))  # every file of this notebook goes here
atexit.register(shutil.rmtree, workdir, ignore_errors=True)  # removed when the kernel stops
data = load_digits()
model = Sequential([Dense(64, activation="relu"), Dense(10, activation="softmax")], seed=0)
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(data.x_train, data.y_train, epochs=10, batch_size=32, verbose=0)
ours = model.predict(data.x_test)
print(f"dlcourse: test accuracy {(ours.argmax(1) == data.y_test).mean():.1%}")
model_file = model.save(workdir / "digits.npz")
data_file = workdir / "data.npz"
np.savez(data_file, x=data.x_test, y=data.y_test, x_train=data.x_train, y_train=data.y_train)

# %% [markdown]
# ## 2. Keras 3: one model, three engines
#
# Keras (François Chollet, 2015) gave deep learning the `Sequential([...])`, `compile`, `fit`
# interface that chapter 08 imitated. It first ran on Theano and TensorFlow (and, for a while,
# CNTK); from 2019 it lived inside TensorFlow only; **Keras 3** (2023) is multi-backend again:
# its layers are written once against `keras.ops`, and TensorFlow, JAX or PyTorch computes
# them, exactly the design of `dlcourse.ops` and its backends.
#
# One difference matters here: Keras chooses its backend **once, when it is imported**, from
# the environment variable `KERAS_BACKEND`. A process that imported Keras on TensorFlow cannot
# switch to JAX. So each backend gets its own Python process, started below with
# `KERAS_BACKEND` set, running the short module `dlcourse.interop.keras_backend_run` (worth
# reading). Each process loads our saved model, converts it with `to_keras()` (a real
# `keras.Sequential` with our weights copied in), predicts the test digits with both, and then
# trains the Keras model for one epoch with Keras's own `fit`, to show its training running on
# that engine. The three processes run at the same time.

# %%
KERAS_BACKENDS = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}  # backend: package
keras_results = {}
if installed("keras", "keras"):
    processes = {}
    for backend, package in KERAS_BACKENDS.items():
        if not installed(package, package):
            continue
        out_file, log_file = workdir / f"keras-{backend}.json", workdir / f"keras-{backend}.log"
        command = [sys.executable, "-m", "dlcourse.interop.keras_backend_run"]
        command += [str(model_file), str(data_file), str(out_file)]
        # three processes share the cores, and 64x64 matrices gain nothing from more threads
        environment = {**os.environ, "KERAS_BACKEND": backend, "OMP_NUM_THREADS": "1"}
        with open(log_file, "w") as log:  # the child keeps its own copy of the file
            child = subprocess.Popen(command, env=environment, stdout=log, stderr=log)
        processes[backend] = (child, out_file, log_file)
    for backend, (child, out_file, log_file) in processes.items():
        if child.wait(timeout=600) != 0:
            raise RuntimeError(f"Keras on {backend} failed:\n{log_file.read_text()[-3000:]}")
        keras_results[backend] = json.loads(out_file.read_text())

for r in keras_results.values():
    print(
        f"Keras {r['keras_version']} on {r['backend']:10s}: max |keras - dlcourse| = "
        f"{r['max_abs_difference']:.1e}, same classes: {r['same_predicted_classes']}, "
        f"accuracy {r['accuracy_converted']:.1%}; after 1 epoch of keras fit: "
        f"{r['accuracy_after_keras_fit']:.1%} ({r['total_seconds']:.0f} s, "
        f"{r['import_seconds']:.0f} s of it importing)"
    )
    sections_ran.append(f"keras/{r['backend']}")

# %% [markdown]
# The predictions agree to about $10^{-7}$, float32's rounding: same weights, same function,
# computed by three different engines. Most of each process's time is spent importing the
# engine; that is why a notebook picks its backend once and keeps it.
#
# ## 3. Layouts: where ports break
#
# Our `to_keras` made that look easy, but it had one real problem to solve. An image batch can
# be stored **channels first**, $(N, C, H, W)$ ("NCHW", PyTorch's and this course's layout), or
# **channels last**, $(N, H, W, C)$ ("NHWC", TensorFlow's and Keras's default, because its CPU
# convolutions want it). Convolution kernels can be transposed between the two with one
# `np.transpose`. The trap is the layer after `Flatten`.
#
# `Flatten` lays each example's feature maps out as one row. For NCHW the row runs through
# channel 0's pixels, then channel 1's, ...: element $(c, h, w)$ lands at position
# $(c \cdot H + h) \cdot W + w$. For NHWC it runs pixel by pixel, all channels of a pixel
# together: $(h, w, c)$ lands at $(h \cdot W + w) \cdot C + c$. The next `Dense` kernel has
# one **row per position**, so a kernel trained after an NCHW flatten gives garbage after an
# NHWC flatten, with no error, since the shapes are the same. (`to_keras` sidesteps it by
# permuting the maps back to NCHW before `Flatten`; a hand port, or a converter that does not,
# must move the rows.)
#
# Worked example, $C = 2$ channels of $H = 1$ by $W = 2$ pixels, rows named by $(c, h, w)$:
#
# | position | 0 | 1 | 2 | 3 |
# |---|---|---|---|---|
# | NCHW flatten holds | (0,0,0) | (0,0,1) | (1,0,0) | (1,0,1) |
# | NHWC flatten holds | (0,0,0) | (1,0,0) | (0,0,1) | (1,0,1) |
#
# so the NHWC kernel's rows are the NCHW kernel's rows 0, 2, 1, 3.
#
# ### Exercise 1 (4 points): `nchw_dense_to_nhwc`
#
# Given the kernel of a `Dense` layer that follows `Flatten` of $(C, H, W)$ feature maps,
# shape $(C \cdot H \cdot W, \text{units})$, return the kernel that gives the same outputs after
# `Flatten` of the same maps stored as $(H, W, C)$. Hint: view the rows as a $(C, H, W)$ grid
# (`reshape`), put the axes in the new order (`transpose`), and flatten back. Return a new array;
# do not modify `kernel`.


# %% nbgrader={"grade": false, "grade_id": "nchw_dense_to_nhwc", "locked": false, "schema_version": 3, "solution": true}
def nchw_dense_to_nhwc(kernel, channels, height, width):
    """The kernel that computes after an NHWC Flatten what ``kernel`` computes after an NCHW one.

    kernel: (channels * height * width, units); its row (c * height + h) * width + w belongs
    to feature (c, h, w). Returns a new array of the same shape and dtype in which that row
    sits at (h * width + w) * channels + c.
    """
    ### BEGIN SOLUTION
    units = kernel.shape[1]
    grid = kernel.reshape(channels, height, width, units)
    return grid.transpose(1, 2, 0, 3).reshape(channels * height * width, units)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "check_nchw_dense_to_nhwc", "locked": true, "points": 4, "schema_version": 3, "solution": false}
def flatten_nchw(maps):
    """(N, C, H, W) maps flattened as the trained model saw them: channel by channel."""
    return maps.reshape(len(maps), -1)


def flatten_nhwc(maps):
    """The same maps stored channels last, (N, H, W, C), and flattened: pixel by pixel."""
    return np.moveaxis(maps, 1, -1).reshape(len(maps), -1)


def flatten_nwhc(maps):
    """The same maps stored (N, W, H, C): pixels column by column, a classic slip."""
    return np.moveaxis(maps, 1, -1).swapaxes(1, 2).reshape(len(maps), -1)


def first_misplaced(got, kernel, channels, height, width):
    """A sentence naming the first feature whose weights the port takes from another feature."""
    shape = (channels, height, width)

    def named(index):
        return tuple(int(i) for i in np.unravel_index(index, shape))

    one_hot = np.eye(kernel.shape[0]).reshape(-1, *shape)  # one map per feature (c, h, w)
    weights = flatten_nhwc(one_hot) @ got  # the weights the port gives each feature
    for feature in range(kernel.shape[0]):
        if not np.allclose(weights[feature], kernel[feature]):
            rows = np.flatnonzero(np.all(np.isclose(kernel, weights[feature]), axis=1))
            source = f"feature {named(rows[0])}" if len(rows) else "no feature (they are no row)"
            return (f"feature (c, h, w) = {named(feature)} of the maps gets the weights of "
                    f"{source}: check which axis each layout runs through fastest.")  # fmt: skip
    return "the outputs differ, yet every feature gets its own weights: is a row scaled?"


def check_layout(kernel, channels, height, width, seed=0):
    """Same outputs after an NHWC flatten as the original kernel after an NCHW flatten.

    The expected values are outputs: the maps go through the trained layout and through the
    port, and the two must agree. Classic mistakes are recognised the same way, by the
    layout under which the returned kernel *would* be right.
    """
    context = f"For (C, H, W) = {(channels, height, width)}: "
    before = kernel.copy()
    got = nchw_dense_to_nhwc(kernel, channels, height, width)
    assert np.array_equal(kernel, before), f"{context}kernel was modified: return a new array."
    assert got.shape == kernel.shape, (
        f"{context}the result has shape {got.shape}, expected {kernel.shape}: only the order of "
        "the rows changes."
    )
    maps = np.random.default_rng(seed).standard_normal((5, channels, height, width))
    expected_out = flatten_nchw(maps) @ kernel  # what the trained model computes (NCHW)
    got_out = flatten_nhwc(maps) @ got  # the port (NHWC)

    def agrees(computed):
        return np.allclose(computed, expected_out, rtol=1e-4, atol=1e-6)

    if not agrees(got_out):
        if np.array_equal(got, kernel):
            raise AssertionError(
                f"{context}the rows are in their original order: a reshape alone does not move "
                "them."
            )
        if agrees(flatten_nwhc(maps) @ got):
            raise AssertionError(
                f"{context}your kernel would be right for maps stored (W, H, C), pixels column "
                "by column; NHWC stores them row by row, (H, W, C)."
            )
        if np.allclose(flatten_nchw(maps) @ got, flatten_nhwc(maps) @ kernel):
            raise AssertionError(
                f"{context}the rows moved the other way: after an NCHW Flatten your kernel "
                "computes what the original computes after an NHWC one. View the rows as the "
                "(C, H, W) grid they are now and put C last."
            )
        raise AssertionError(context + first_misplaced(got, kernel, channels, height, width))
    d = diagnose(got_out, expected_out, name="outputs of the ported Dense layer")
    assert d.ok, f"{context}{d}"
    assert got.dtype == kernel.dtype, f"{context}dtype {got.dtype}, expected {kernel.dtype}."


rng = np.random.default_rng(0)
check_layout(rng.standard_normal((3 * 4 * 5, 7)), 3, 4, 5)
# the worked example, a known answer: rows 0, 1, 2, 3 become rows 0, 2, 1, 3
by_hand = nchw_dense_to_nhwc(np.array([[0.0], [1.0], [2.0], [3.0]]), 2, 1, 2)
assert np.array_equal(by_hand.ravel(), [0.0, 2.0, 1.0, 3.0]), f"by hand: got rows {by_hand.ravel()}"
print("All visible checks passed.")
### BEGIN HIDDEN TESTS
hidden_rng = np.random.default_rng(909)
check_layout(hidden_rng.standard_normal((8 * 2 * 2, 10)), 8, 2, 2, seed=1)
check_layout(hidden_rng.standard_normal((1 * 3 * 3, 4)), 1, 3, 3, seed=2)  # one channel
check_layout(hidden_rng.standard_normal((4 * 3 * 3, 1)).astype(np.float32), 4, 3, 3, seed=3)
check_layout(hidden_rng.standard_normal((2 * 5 * 1, 6)), 2, 5, 1, seed=4)
### END HIDDEN TESTS

# %% [markdown]
# ## 4. fastai: training by recipe
#
# fastai (Jeremy Howard and Sylvain Gugger, 2018) sits on top of PyTorch. Its `Learner` holds
# a model, the data, a loss and an optimizer, and its behaviour comes from small callbacks
# (chapter 05's `fit` loop, with hooks). It is known for packaging good defaults, two of which
# are here:
#
# * **`lr_find`** (Leslie Smith's learning-rate range test): train for a hundred steps while the
#   learning rate grows exponentially from $10^{-7}$ to $10$, and record the loss. Where the loss
#   falls fastest is a good learning rate; where it explodes is too far.
# * **`fit_one_cycle`**: warm the learning rate up to the chosen maximum and anneal it back down
#   to almost zero over the run (with momentum moving the other way). It trains faster and more
#   stably than a constant rate.
#
# fastai wants PyTorch `DataLoader`s; plain `TensorDataset`s of our digits are enough (its
# image tools need torchvision's compiled operators, which this CPU build of PyTorch does not
# load, and which a table of numbers does not need).

# %%
if installed("fastai", "fastai") and installed("torch", "torch"):
    import fastai.callback.schedule  # noqa: F401 -- adds lr_find and fit_one_cycle to Learner
    import torch
    from fastai.data.core import DataLoaders
    from fastai.learner import Learner
    from fastai.metrics import accuracy
    from torch.utils.data import DataLoader, TensorDataset

    torch.set_num_threads(1)  # 64x64 matrices: one thread beats a team that must synchronise
    torch.manual_seed(0)
    train_set = TensorDataset(torch.tensor(data.x_train), torch.tensor(data.y_train))
    test_set = TensorDataset(torch.tensor(data.x_test), torch.tensor(data.y_test))
    shuffled = torch.Generator().manual_seed(0)
    loaders = DataLoaders(
        DataLoader(train_set, batch_size=64, shuffle=True, generator=shuffled),
        DataLoader(test_set, batch_size=512),
    )
    net = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
    learn = Learner(loaders, net, loss_func=torch.nn.CrossEntropyLoss(), metrics=accuracy)
    with learn.no_bar(), learn.no_logging():
        suggestion = learn.lr_find(show_plot=False)
        finder_lrs, finder_losses = np.array(learn.recorder.lrs), np.array(learn.recorder.losses)
        start = time.perf_counter()
        learn.fit_one_cycle(4, suggestion.valley * 10)
        seconds = time.perf_counter() - start
    print(f"lr_find suggests {suggestion.valley:.1e} (the valley); fit_one_cycle peaks at 10x that")
    print("epoch  train loss  test loss  test accuracy")
    for epoch, (train_loss, test_loss, test_accuracy) in enumerate(learn.recorder.values):
        print(f"{epoch:5d}  {train_loss:10.4f}  {test_loss:9.4f}  {test_accuracy:13.1%}")
    print(f"fastai fit_one_cycle: 4 epochs in {seconds:.1f} s")

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.5))
    left.semilogx(finder_lrs, finder_losses)
    left.axvline(suggestion.valley, color="black", ls="--", label="valley")
    left.set_xlabel("learning rate (log scale)")
    left.set_ylabel("training loss")
    left.set_title("lr_find")
    left.legend()
    right.plot(learn.recorder.lrs)
    right.set_xlabel("training step")
    right.set_ylabel("learning rate")
    right.set_title("fit_one_cycle's schedule")
    plt.tight_layout()
    plt.show()
    sections_ran.append("fastai")

# %% [markdown]
# The loss barely moves while the rate is tiny, falls as it grows, and explodes past about 1.
# The "valley" marks where the fall begins; we let the one cycle peak ten times higher, in the
# steep part of the descent and far below the explosion. The schedule on the right climbs for
# the first quarter of the steps and then anneals along a cosine.
#
# ## 5. PyTensor: what Theano did
#
# **Theano** (Université de Montréal, MILA, 2007-2017) was the first widely used deep-learning
# framework in Python, and it worked differently from everything in chapters 06-08. You did not
# compute; you *described* a computation:
#
# 1. **Symbolic graph.** `x = matrix("x")` holds no numbers; `x @ w + b` builds a graph node.
# 2. **Symbolic differentiation.** `grad(loss, w)` walks that graph backwards (chapter 06's
#    reverse mode) and returns *another graph*, for the gradient.
# 3. **Optimisation.** Before running anything, Theano rewrote the graph: removed duplicate
#    and useless work, replaced unstable patterns (`log(softmax(z))`) with stable ones, fused
#    chains of elementwise operations into one loop.
# 4. **Compilation.** `function([inputs], outputs)` generated C (or CUDA) code for the
#    optimised graph, compiled it, and returned a Python callable.
#
# Theano's development stopped in 2017; it lives on as **PyTensor**, maintained by the PyMC
# project, with the same design and API. TensorFlow 1 followed the same define-then-run idea;
# `jax.jit` and `tf.function` are its modern, traced form. Below: the loss of a linear softmax
# classifier, its gradient, and what the optimiser did to the graph.

# %%
if installed("pytensor", "pytensor"):
    import pytensor
    import pytensor.tensor as pt
    from pytensor.graph.traversal import io_toposort

    x, w, b = pt.matrix("x"), pt.matrix("w"), pt.vector("b")
    labels = pt.ivector("labels")
    probabilities = pt.special.softmax(x @ w + b, axis=-1)
    loss = -pt.mean(pt.log(probabilities[pt.arange(labels.shape[0]), labels]))
    dw, db = pytensor.grad(loss, [w, b])  # graphs, not numbers

    described = len(io_toposort([x, w, b, labels], [loss, dw, db]))
    start = time.perf_counter()
    loss_and_grads = pytensor.function([x, w, b, labels], [loss, dw, db])
    compiled_in = time.perf_counter() - start
    optimised = len(loss_and_grads.maker.fgraph.apply_nodes)
    print(f"graph as described: {described} operations; after optimisation: {optimised}")
    print(f"compiled in {compiled_in:.1f} s (C code, cached on disk for the next run)")

    # numbers at last, compared with the hand-written math of chapters 01-04
    rng = np.random.default_rng(5)
    xs, ws, bs = rng.standard_normal((8, 64)), rng.standard_normal((64, 10)) * 0.1, np.zeros(10)
    ys = rng.integers(0, 10, size=8).astype(np.int32)
    loss_pt, dw_pt, db_pt = loss_and_grads(xs, ws, bs, ys)
    logits, dense_cache = F.dense_forward(xs, ws, bs)
    loss_hand, dlogits = F.softmax_cross_entropy(logits, ys)
    _, dw_hand, db_hand = F.dense_backward(dlogits, dense_cache)
    print(f"loss: pytensor {loss_pt:.6f}, by hand {loss_hand:.6f}")
    print(f"max |dw difference| = {np.abs(dw_pt - dw_hand).max():.1e}")
    print(f"max |db difference| = {np.abs(db_pt - db_hand).max():.1e}")

    # what the optimiser does with redundant math: log(exp(a)) * 2 + 0 * a is just 2a
    a = pt.scalar("a")
    silly = pt.log(pt.exp(a)) * 2 + 0 * a
    simplify = pytensor.function([a], [silly, pytensor.grad(silly, a)])
    print("\nthe compiled graph of log(exp(a)) * 2 + 0 * a and of its derivative:")
    pytensor.dprint(simplify)
    sections_ran.append("pytensor")

# %% [markdown]
# The derivative of $\log(e^a) \cdot 2 + 0 \cdot a$ compiled to the constant 2: the optimiser
# cancelled the log against the exp and dropped the multiplication by 0 before any number was
# seen. This whole-graph view is what made Theano fast on the GPUs of 2010, and it is why
# compiling backends (PyTensor, `jax.jit`, `tf.function`) pay a start-up cost that eager ones
# (NumPy, PyTorch) do not, as the timings of chapter 08 showed.
#
# ## 6. ONNX: the file between frameworks, and what happened to CNTK
#
# Microsoft's **CNTK** (the Cognitive Toolkit, open-sourced in 2015) was, with TensorFlow and
# Theano, one of the big frameworks of its day, and one of Keras's backends. In 2017 Microsoft
# and Facebook started **ONNX** (Open Neural Network Exchange): a file format describing a
# trained model as a graph of standard operators (`Gemm`, `Relu`, `Conv`, ...) with its weights,
# so that a model trained in one framework runs in another, or in a runtime built only to run
# models fast. **CNTK 2.7, released on 29 March 2019, was its last release**: its announcement
# told users to carry their models on through ONNX and Microsoft's **onnxruntime**. CNTK has no
# build for any current Python (its wheels stop at Pythons long past their end of life), so it
# cannot run here; the path its users took can:

# %%
if installed("onnx", "onnx") and installed("onnxruntime", "onnx"):
    import onnx
    import onnxruntime

    from dlcourse.interop import export_onnx

    onnx_file = export_onnx(model, workdir / "digits.onnx")
    graph = onnx.load(onnx_file).graph
    print("operators:", [node.op_type for node in graph.node])
    print("weights:  ", {t.name: tuple(t.dims) for t in graph.initializer})
    session = onnxruntime.InferenceSession(onnx_file, providers=["CPUExecutionProvider"])
    start = time.perf_counter()
    from_onnx = session.run(None, {"input": data.x_test.astype(np.float32)})[0]
    seconds = time.perf_counter() - start
    print(
        f"onnxruntime {onnxruntime.__version__}: "
        f"max |onnx - dlcourse| = {np.abs(from_onnx - ours).max():.1e}"
    )
    print(
        f"same classes: {bool((from_onnx.argmax(1) == ours.argmax(1)).all())}, "
        f"{seconds * 1e3:.1f} ms for {len(from_onnx)} digits"
    )
    sections_ran.append("onnx")

# %% [markdown]
# The file holds five operators and four weight tensors, and onnxruntime, which knows nothing
# of our library, predicts what it predicts. The same file could be opened by TensorRT, by a
# browser (onnxruntime-web), or on a phone.
#
# ## Summary
#
# * **Keras 3** runs one model description on TensorFlow, JAX or PyTorch, chosen once per
#   process with `KERAS_BACKEND`; our weights gave the same predictions on all three.
# * **Layouts** (NCHW and NHWC) are where ports break silently: the `Dense` kernel after
#   `Flatten` must have its rows reordered, which you wrote with one reshape and transpose.
# * **fastai** packages training recipes on PyTorch: `lr_find` to choose the learning rate,
#   `fit_one_cycle` to schedule it.
# * **Theano**, now **PyTensor**, built a symbolic graph, differentiated it symbolically,
#   optimised it and compiled it to C: the define-then-run design that `jax.jit` and
#   `tf.function` carry on.
# * **ONNX** stores a model as a graph of standard operators; onnxruntime runs it anywhere.
#   CNTK's last release (2.7, 29 March 2019) sent its users there.

# %%
print("framework sections that ran:", sections_ran)

# %% [markdown]
# ## Further reading
#
# * The Keras 3 documentation (keras.io): choosing TensorFlow, JAX or PyTorch with
#   `KERAS_BACKEND`, and the `keras.ops` namespace the layers are written against.
# * Jeremy Howard and Sylvain Gugger, *Deep Learning for Coders with fastai and PyTorch*
#   (O'Reilly, 2020), and fastai's documentation of `Learner.lr_find` and `fit_one_cycle`.
# * Leslie Smith, *Cyclical Learning Rates for Training Neural Networks* (WACV 2017), where the
#   learning-rate range test comes from, and *A disciplined approach to neural network
#   hyper-parameters: Part 1* (2018), the one-cycle policy.
# * The PyTensor and ONNX documentation: PyTensor's graph rewrites and compilation, ONNX's list
#   of standard operators and onnxruntime's Python API.
