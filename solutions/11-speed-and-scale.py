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
# # 11. Speed and scale
#
# Every chapter so far asked *is it right?* This one asks *how fast is it, and what stops it
# from going faster?* The answers decide what you can train: a step that takes 10 ms instead
# of 100 ms is the difference between an afternoon and a week.
#
# We measure, on the machine this notebook runs on:
#
# 1. the machine's limit: how many floating-point operations per second (FLOP/s) a large
#    matrix product reaches;
# 2. how much work a training step really is, so that a time can be compared with the limit;
# 3. where a step's time goes: matrix products, memory-bound element-wise work, and Python;
# 4. a short run of `dlcourse bench`: the same network on several libraries, one thread
#    against all cores;
# 5. what a GPU changes, and what the old claim "TensorFlow does best on one machine, other
#    libraries scale better across machines" looks like today;
# 6. training data-parallel on several processes with `dlcourse train`, and how the same
#    command runs on several machines.
#
# **This notebook is worth 8 points**:
#
# | exercise | you write | points |
# |---|---|---|
# | 1 | `dense_training_flops(sizes, batch)`: the work of one training step | 3 |
# | 2 | `ring_allreduce_bytes(n_params, workers)`: the traffic of data-parallel training | 2 |
# | 3 | `ring_allreduce(tensor, rank, world_size)`: the ring itself, on `torch.distributed` | 3 |
#
# **About the figures.** Every time here is measured while the notebook runs, with few
# repetitions to keep it under a minute, on whatever else the machine is doing at the same
# time. Expect them to vary from run to run; the explanations say which conclusions are
# robust. For careful figures run `dlcourse bench` (its defaults: more steps and repeats) on
# an otherwise idle machine.
#
# **How this notebook is graded.** The grader runs the solution cell of each exercise on its
# own, after this notebook's set-up cell, in a fresh process outside the notebook and on inputs
# of its own; the check cells are not run there, and a helper defined in any other cell is
# missing. The benchmark's own FLOP counter (`flops_per_step` in `dlcourse.bench.networks`,
# and its helper `_dense_flops`) is a stub there: a `dense_training_flops` that calls it scores
# zero for that exercise. There each exercise may use 20 CPU seconds and 4 GB of memory; code that
# needs more is stopped and scores zero for it. `dlcourse check --grader` on the saved notebook
# shows the points the grader would give. Beyond the visible checks:
#
# * exercise 1, `check_dense_training_flops`, also tested: `sizes` given as a list, a single
#   layer, a deep narrow stack with a batch of one, and random stacks of two to five layers of
#   up to 2,000 units with batches up to 1,024;
# * exercise 2, `check_ring_allreduce_bytes`, also tested: 8 workers with 2-byte values, and
#   random gradients of up to 50 million values over 2 to 128 workers, with 1, 2, 4 or 8 bytes
#   per value;
# * exercise 3, `check_ring_allreduce`, also tested: 2 and 3 ranks on random float64 tensors of
#   lengths that do and do not divide by the number of ranks, fewer values than ranks, and up
#   to 5,000 values. The grader cannot start processes, so its ranks are threads of one process
#   whose `dist` offers `send`, `recv`, `isend` and `irecv` with gloo's meaning (a send waits for
#   the matching receive); a collective such as `dist.all_reduce` raises there and scores zero,
#   and a deadlock is named with what every rank waits for.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false}
import json
import time

import matplotlib.pyplot as plt
import numpy as np

from dlcourse import functional as F

np.set_printoptions(precision=4, suppress=True)


# %% [markdown]
# ## 1. The limit: a large matrix product
#
# Multiplying an $m \times k$ matrix by a $k \times n$ one computes $mn$ dot products of
# length $k$: $mnk$ multiplications and as many additions, **$2mnk$ FLOPs**. Dividing by the
# time gives FLOP/s, usually in GFLOP/s ($10^9$). A large square product is the best case a
# processor has: every number loaded from memory is used $n$ times, so the arithmetic units,
# not the memory, set the pace. Its FLOP/s is the practical **peak** of the machine, the limit
# every training step is measured against below.
#
# Here is NumPy's float32 matrix product (which calls the BLAS library, OpenBLAS or MKL) at
# growing sizes:


# %%
def seconds_per_call(function, min_seconds=0.02, rounds=3):
    """The best time of one call of ``function()``.

    Calls are timed in rounds of several calls (a single fast call is too short for the
    clock); the number of calls per round grows until a round lasts ``min_seconds``, then
    ``rounds`` rounds are timed and the fastest counts: the least disturbed by other programs.
    """
    calls = 1
    while True:
        start = time.perf_counter()
        for _ in range(calls):
            function()
        if time.perf_counter() - start >= min_seconds:
            break
        calls *= 4
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(calls):
            function()
        best = min(best, (time.perf_counter() - start) / calls)
    return best


rng = np.random.default_rng(0)
sizes = [8, 32, 128, 512, 1024]
matmul_gflops = []
for n in sizes:
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    seconds = seconds_per_call(lambda a=a, b=b: a @ b)
    matmul_gflops.append(2 * n**3 / seconds / 1e9)
    print(f"{n:5d} x {n:<5d} {1e6 * seconds:10.1f} us   {matmul_gflops[-1]:7.1f} GFLOP/s")

fig, ax = plt.subplots(figsize=(6, 3))
ax.semilogx(sizes, matmul_gflops, "o-", base=2)
ax.set_xlabel("n (an n x n times n x n product)")
ax.set_ylabel("GFLOP/s")
ax.set_title("float32 matrix product: small ones cannot reach the peak")
plt.tight_layout()
plt.show()

# %% [markdown]
# Small products are far from the peak: an 8x8 product is 1,024 FLOPs, done in nanoseconds,
# but each call also pays a fixed cost (Python calling NumPy, NumPy checking its arguments,
# allocating the result) of a microsecond or so. Only when the work per call dwarfs that
# fixed cost does the curve flatten: that plateau is the peak. Keep this curve in mind: a
# network is a sequence of such calls, and whether its calls are "large" decides how close
# it gets.
#
# ## 2. How much work is one training step?
#
# The benchmark's MLP has layers 784-256-128-10 and a batch of $B = 128$ examples. Almost all
# of its arithmetic is in the matrix products of its dense layers. A layer with $a$ inputs and
# $b$ outputs does, in one training step, three products of the same size $B \cdot a \cdot b$:
#
# | product | shapes | FLOPs |
# |---|---|---|
# | forward $Y = XW$ | $(B, a) \times (a, b)$ | $2Bab$ |
# | weight gradient $dW = X^{\top} dY$ | $(a, B) \times (B, b)$ | $2Bab$ |
# | input gradient $dX = dY\, W^{\top}$ | $(B, b) \times (b, a)$ | $2Bab$ |
#
# with one exception: the **first** layer's input is the data, whose gradient nobody needs,
# so a good implementation skips it (chapter 05's `dense_backward(..., input_grad=False)`).
# Biases, ReLU, softmax and the update add a few FLOPs per number; we do not count them here
# (section 3 shows that they still cost time).
#
# ### Exercise 1 (3 points): `dense_training_flops`
#
# Given the layer sizes (input first) and the batch size, return the FLOPs of the matrix
# products of one training step: $3 \cdot 2Bab$ for every layer, minus the first layer's input
# gradient $2B\,a_0 a_1$. Worked example, sizes (4, 3, 2) and $B = 5$: the forward products
# are $2 \cdot 5 \cdot 4 \cdot 3 = 120$ and $2 \cdot 5 \cdot 3 \cdot 2 = 60$ FLOPs, so the step
# is $3 \cdot 180 - 120 = 420$ FLOPs.


# %% nbgrader={"grade": false, "grade_id": "dense_training_flops", "locked": false, "schema_version": 3, "solution": true}
def dense_training_flops(sizes, batch):
    """FLOPs of the matrix products of one training step of a stack of dense layers.

    sizes: layer widths, input first, e.g. (784, 256, 128, 10); batch: examples per step.
    Every layer (a -> b) costs 2*batch*a*b FLOPs forward, as much for its weight gradient
    and as much for its input gradient, except the first layer, whose input gradient is
    skipped. Returns an int.
    """
    ### BEGIN SOLUTION
    forward = [2 * batch * a * b for a, b in zip(sizes[:-1], sizes[1:])]
    return 3 * sum(forward) - forward[0]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "check_dense_training_flops", "locked": true, "points": 3, "schema_version": 3, "solution": false}
def check_flops(sizes, batch):
    """Compare with the count worked out layer by layer; name the classic mistakes."""
    products = [2 * batch * a * b for a, b in zip(sizes[:-1], sizes[1:])]
    expected = 3 * sum(products) - products[0]
    got = dense_training_flops(sizes, batch)
    where = f"For sizes {tuple(sizes)} and batch {batch}: "
    assert got is not None, "dense_training_flops returned None: add a return statement."
    mistakes = {
        sum(products): "that is the forward pass only; training also computes the weight "
        "gradients and the input gradients, each as large as the forward.",
        3 * sum(products): "that counts the first layer's input gradient, which nobody needs "
        "(its input is the data): subtract 2*batch*sizes[0]*sizes[1].",
        expected // 2: "that counts a multiply-add as one FLOP; it is two (a multiplication "
        "and an addition): 2*batch*a*b per product.",
    }
    if got != expected and got in mistakes:
        raise AssertionError(f"{where}got {got:,}, expected {expected:,}: {mistakes[got]}")
    assert got == expected, (
        f"{where}got {got:,} FLOPs, expected {expected:,}. Per layer a -> b: three products "
        f"of 2*batch*a*b FLOPs; the first layer has no input gradient."
    )


check_flops((4, 3, 2), 5)  # the worked example ...
assert dense_training_flops((4, 3, 2), 5) == 420, (  # ... whose answer we know by hand
    f"the worked example (4, 3, 2) with batch 5 gives 420 FLOPs, got "
    f"{dense_training_flops((4, 3, 2), 5)}."
)
check_flops((784, 256, 128, 10), 128)  # the benchmark's MLP
print(f"the benchmark's MLP: {dense_training_flops((784, 256, 128, 10), 128):,} FLOPs per step")
### BEGIN HIDDEN TESTS
check_flops((10, 3), 7)  # one layer: forward and weight gradient only
check_flops((5, 8, 8, 8, 2), 1)
check_flops([64, 64, 10], 32)  # a list works as well as a tuple
check_flops((1000, 4000, 4000, 1000), 512)
### END HIDDEN TESTS

# %% [markdown]
# About 129 million FLOPs per step. At a peak of, say, 50 GFLOP/s a step could not take less
# than $0.129 / 50$ s $\approx 2.6$ ms. That is the yardstick: **the fraction of the peak** a
# step reaches is (FLOPs per step / seconds per step) / peak.
#
# ## 3. Where the time goes
#
# One training step of that MLP, written with `dlcourse.functional` exactly as the `manual`
# backend runs it: dense and ReLU forward, softmax cross-entropy, the backward pass, and an
# SGD update. We time the whole step, then the same step's five matrix products alone (the
# same shapes, computed with NumPy directly).


# %%
def init_mlp(sizes, seed=0):
    init_rng = np.random.default_rng(seed)
    return [
        (
            (init_rng.standard_normal((a, b)) * np.sqrt(2 / a)).astype(np.float32),
            np.zeros(b, np.float32),
        )
        for a, b in zip(sizes[:-1], sizes[1:])
    ]


def train_step(params, x, y, lr=0.01):
    """Forward, loss, backward and SGD update of the MLP: new parameters and the loss."""
    caches, h = [], x
    for i, (w, b) in enumerate(params):
        h, dense_cache = F.dense_forward(h, w, b)
        relu_cache = None
        if i < len(params) - 1:
            h, relu_cache = F.relu_forward(h)
        caches.append((dense_cache, relu_cache))
    loss, d = F.softmax_cross_entropy(h, y)
    new_params = [None] * len(params)
    for i in reversed(range(len(params))):
        dense_cache, relu_cache = caches[i]
        if relu_cache is not None:
            d = F.relu_backward(d, relu_cache)
        d, dw, db = F.dense_backward(d, dense_cache, input_grad=i > 0)
        w, b = params[i]
        new_params[i] = (w - lr * dw, b - lr * db)
    return new_params, loss


def matmuls_only(sizes, batch, seed=1):
    """A function doing the step's matrix products alone, on arrays of the same shapes."""
    mm_rng = np.random.default_rng(seed)
    arrays = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        x = mm_rng.standard_normal((batch, a), dtype=np.float32)
        w = mm_rng.standard_normal((a, b), dtype=np.float32)
        dy = mm_rng.standard_normal((batch, b), dtype=np.float32)
        arrays.append((x, w, dy, i > 0))

    def run():
        for x, w, dy, input_grad in arrays:
            x @ w  # forward
            x.T @ dy  # weight gradient
            if input_grad:
                dy @ w.T  # input gradient

    return run


MLP = (784, 256, 128, 10)
data_rng = np.random.default_rng(2)
params = init_mlp(MLP)
x_big = data_rng.random((512, 784), dtype=np.float32)
y_big = data_rng.integers(0, 10, 512)
step_s = seconds_per_call(lambda: train_step(params, x_big[:128], y_big[:128]))
matmul_s = seconds_per_call(matmuls_only(MLP, 128))
flops = dense_training_flops(MLP, 128)
print(f"whole step:          {1e3 * step_s:6.2f} ms  ({flops / step_s / 1e9:5.1f} GFLOP/s)")
print(f"its matrix products: {1e3 * matmul_s:6.2f} ms  ({flops / matmul_s / 1e9:5.1f} GFLOP/s)")
print(f"everything else:     {1e3 * (step_s - matmul_s):6.2f} ms  ({1 - matmul_s / step_s:.0%})")

# %% [markdown]
# The matrix products do nearly all the FLOPs, yet "everything else" takes a visible share of
# the time. Three reasons:
#
# * **Memory-bound work.** ReLU, its backward, the softmax and the update do one or two
#   operations per number they read and write. A matrix product of $n \times n$ matrices does
#   about $2n^3$ FLOPs on $3n^2$ numbers, hundreds of FLOPs per number moved for $n$ in the
#   hundreds; ReLU does one comparison per 4-byte number read and 4 written. Its speed is set
#   by memory bandwidth (tens of GB/s), not by the arithmetic units: in FLOP/s it runs an
#   order of magnitude or more below the matmul peak. Frameworks fight this by **fusing**
#   element-wise operations into one pass over memory (XLA in JAX and TensorFlow,
#   `torch.compile`).
# * **Python overhead.** Every NumPy call costs about a microsecond before any arithmetic;
#   a step makes a few dozen calls.
# * **Fresh memory.** `w - lr * dw` and `x.T @ dy` each make a new array, and the first
#   layer's weight gradient is 784 x 256 float32, 0.8 MB. The C library often hands an array
#   that large back to the operating system when it is freed, and the next step pays again to
#   get zeroed pages. That is why `dlcourse.functional`'s optimizers update in place, and
#   why the `manual` backend's `Dense` writes its weight gradient into the same array every
#   step (`dense_backward(..., dw_out=...)`). In a training loop of this MLP over shuffled
#   batches, that alone made the step about a fifth faster on the machine this chapter was
#   written on (two cores).
#
# ReLU alone makes the memory-bound point:

# %%
big = data_rng.standard_normal(4_000_000, dtype=np.float32)
relu_s = seconds_per_call(lambda: np.maximum(big, 0))
print(
    f"ReLU on {big.size:,} float32: {1e3 * relu_s:.2f} ms, {big.size / relu_s / 1e9:.2f} "
    f"GFLOP/s, {2 * big.nbytes / relu_s / 1e9:.1f} GB/s of memory traffic"
)

# %% [markdown]
# The overhead shows when the batch shrinks: the fixed cost per call stays while the work
# per call falls. Time per step and FLOP/s for batches from 1 to 512:

# %%
batches = [1, 8, 32, 128, 512]
step_ms, step_gflops = [], []
for batch in batches:
    seconds = seconds_per_call(lambda batch=batch: train_step(params, x_big[:batch], y_big[:batch]))
    step_ms.append(1e3 * seconds)
    step_gflops.append(dense_training_flops(MLP, batch) / seconds / 1e9)
    print(
        f"batch {batch:4d}: {step_ms[-1]:7.3f} ms per step, {1e3 * seconds / batch:7.4f} ms "
        f"per example, {step_gflops[-1]:6.1f} GFLOP/s"
    )

fig, axes = plt.subplots(1, 2, figsize=(10, 3))
axes[0].loglog(batches, step_ms, "o-")
axes[0].set_xlabel("batch size")
axes[0].set_ylabel("ms per step")
axes[1].semilogx(batches, step_gflops, "o-")
axes[1].set_xlabel("batch size")
axes[1].set_ylabel("GFLOP/s")
axes[1].set_title("larger batches: more work per call")
plt.tight_layout()
plt.show()

# %% [markdown]
# From batch 1 to 8 the step should barely get slower (unless another program got in the
# way): the time is fixed costs, not arithmetic. Only at large batches does the time grow
# with the work, and the FLOP/s climb towards the matmul curve of section 1. This is why we
# train in batches, and why GPUs, whose fixed cost per operation is higher still, want large
# ones.
#
# ## 4. The benchmark, a short run
#
# `dlcourse bench` trains fixed networks for a fixed number of steps with several libraries,
# each row in a fresh process that chooses its library and its number of threads before
# anything is imported. Its columns: ms per step (median of repeated runs after warm-up),
# samples per second, the fraction of the machine's matmul peak (measured by the command
# itself), and the ratio to a plain PyTorch training loop.
#
# Here is a **short** run: the MLP only, 10 steps after a warm-up run of 10 steps, 2 repeats,
# rows for the `manual` backend (NumPy, the hand-written math), the plain PyTorch loop and
# dlcourse's `tensorflow` backend, each with 1 thread and with the library's default (all
# cores). From a shell, the full version is `dlcourse bench --threads 1,default --json
# bench.json` (see `dlcourse bench --help`).

# %%
from dlcourse.bench import format_table, plot_bench, run_bench

report = run_bench(
    networks=("mlp",),
    impls=("manual", "pytorch", "tensorflow"),
    steps=10,
    warmup=1,
    repeats=2,
    threads=(1, None),
    peak_size=1024,
)
print(format_table(report))

# %%
plot_bench(report)

# %% [markdown]
# **Reading the table.**
#
# * **% peak** divides each row's FLOP/s (your `dense_training_flops` over the time per step)
#   by the matmul peak measured with the same number of threads. The rows do the same arithmetic; what separates them is everything
#   else: per-operation overhead, memory-bound work, and how each library splits a product
#   among threads. The check below recomputes the column with your function.
# * **vs torch** is the row's time divided by the plain PyTorch loop's at the same thread
#   count: below 1 is faster.
# * **A busy machine shows.** The peak and the rows are measured at different moments; if
#   other programs were busier while the peak was measured than during a row, that row can
#   even show more than 100% of "the peak". Rerun before reading much into one figure.
# * **One thread against all cores.** This machine's CPUs are listed in the header. A large
#   matmul splits across cores almost perfectly, but the MLP's products are small (the largest
#   is $128 \times 784 \times 256$, 51 MFLOPs, a few milliseconds): cutting it into per-thread
#   pieces and waiting for the slowest piece costs time on every call, and if another program
#   is using the cores, a thread that must wait for a busy core stalls the whole product. So
#   "default threads" can be faster than one thread, no faster, or, on a busy machine, far
#   slower. Compare the two halves of the table row by row.

# %%
peak_by_threads = report["machine"]["peak_gflops_by_threads"]  # GFLOP/s per thread count
for row in report["results"]:
    if row["ms_per_step"] is None:
        print(f"{row['impl']}/{row['backend']}: skipped ({row.get('skipped') or row.get('error')})")
        continue
    threads = "default" if row["threads"] is None else str(row["threads"])
    mine = dense_training_flops(MLP, 128) / (row["ms_per_step"] / 1e3) / 1e9
    print(
        f"{row['impl']:9s} {row['backend']:11s} threads {threads:8s}: {mine:6.1f} GFLOP/s "
        f"against a peak of {peak_by_threads[threads]:5.1f} with as many threads: "
        f"{mine / peak_by_threads[threads]:6.1%} (the table: {row['peak_fraction']:.1%})"
    )

# %% [markdown]
# ## 5. What a GPU changes
#
# A data-centre GPU has thousands of arithmetic units and memory several times faster than a
# CPU's, and its matrix units (tensor cores) multiply float16, bfloat16 and TF32 matrices
# faster still: its matmul peak is one to three orders of magnitude above a CPU's, depending
# on the CPU and the precision. Three things do not change, and they decide whether a network
# gets anywhere near that peak:
#
# * **Fixed costs are larger.** Every operation is a *kernel launch*, several microseconds of
#   CPU work before the GPU starts; a small network is a sequence of small launches, and the
#   GPU spends most of its time waiting for the next one. Section 3's batch curve moves far
#   to the right: a GPU needs batches of thousands, not hundreds, to be busy. CUDA graphs and
#   compilers (`torch.compile`, XLA) cut the launches.
# * **Memory-bound work stays memory-bound**, at the GPU's higher bandwidth; fusion matters
#   even more, since the matmuls got so much faster.
# * **Data must get there.** Copies between the CPU's and the GPU's memory cross PCIe, which
#   is slower than either memory: keep the data and the model on the GPU.
# * **Waiting for a result stops the queue.** PyTorch on a GPU, and JAX everywhere, run
#   *asynchronously*: a call queues its work and returns at once, and Python goes on to
#   queue the next one while the device computes. Turning a result into a Python number
#   (`float(loss)`, `.item()`, printing it) waits until everything queued before it is done;
#   after that wait the device sits idle until Python has queued the next step. One such
#   read every step puts Python's own time back between the device's steps. That is why
#   training loops log every few hundred steps, not every step, and why `fit` on the `jax`
#   backend, when no metric or callback looks at single batches, runs up to 64 steps in one
#   compiled call (a loop compiled by XLA with `lax.scan`) and reads their losses together
#   afterwards. Keras offers the same as `compile(steps_per_execution=...)`. On a CPU it
#   helps too: with two cores, Python's work for each step would take a core from the
#   arithmetic.
#
# You can see the queue with JAX on this CPU: the call returns long before the product is
# computed.

# %%
try:
    import jax
    import jax.numpy as jnp
except ImportError:
    print("JAX is not installed here: `pip install jax` to run this cell.")
else:
    square = jax.jit(lambda a: a @ a)
    a = jnp.ones((2048, 2048), jnp.float32)
    square(a).block_until_ready()  # compile once, outside the timing
    start = time.perf_counter()
    queued = square(a)
    returned_s = time.perf_counter() - start
    queued.block_until_ready()
    finished_s = time.perf_counter() - start
    print(f"the call returned after {1e3 * returned_s:7.3f} ms")
    print(f"the result was ready after {1e3 * finished_s:7.3f} ms")

# %% [markdown]
# The benchmark measures GPU rows with `dlcourse bench --device cuda` on a machine that has
# one. Figures from such runs are committed to the course as data files
# (`dlcourse/data/bench_*.json`), each labelled with the machine it ran on; this cell shows
# every one it finds.

# %%
from importlib import resources

committed = sorted(
    p for p in resources.files("dlcourse.data").iterdir() if p.name.startswith("bench_")
)
if not committed:
    print(
        "No committed benchmark figures yet: no GPU run has been measured for this course.\n"
        "To add one, run on a machine with a CUDA GPU:\n"
        "    dlcourse bench --device cuda --json lib/dlcourse/data/bench_gpu_<machine>.json\n"
        "and this cell will show it, labelled with that machine."
    )
for path in committed:
    saved = json.loads(path.read_text())
    machine = saved["machine"]
    label = machine.get("gpu") or machine.get("processor")
    print(f"=== {path.name}: measured on {label}, {machine.get('date', 'date unknown')} ===")
    print(format_table(saved))

# %% [markdown]
# ## 6. "TensorFlow does best on one machine, other libraries scale better across machines"
#
# Around 2016-2017, benchmarks that compared deep-learning tools on one CPU, one GPU and many
# GPUs (the DLBench study among them, with the same three kinds of network as
# `dlcourse bench`: fully connected, convolutional, recurrent) found large differences
# between the tools, and claims such as this one came from them. Those tools (Caffe, CNTK,
# MXNet, Torch7, early TensorFlow) shipped their own kernels and their own ways of
# communicating between machines.
#
# Much of that has converged. Today the libraries call the same vendor kernels for the heavy
# arithmetic (oneDNN or OpenBLAS on CPUs, cuBLAS and cuDNN on NVIDIA GPUs) and the same
# collective-communication libraries between devices and machines (NCCL on GPUs, gloo or MPI
# on CPUs); PyTorch's DistributedDataParallel and tf.distribute both overlap the gradient
# all-reduce with the backward pass. What still differs on one machine is what happens
# *around* the kernels: per-operation dispatch in eager mode, graph compilation and fusion
# (XLA, `tf.function`, `torch.compile`), the threading of small operations. Across machines,
# scaling is decided by the model's size against the network (exercise 2 below), far more
# than by the library.
#
# Our own figures, from the short run above (the MLP on this CPU):

# %%
rows = {
    (r["backend"], r["impl"], r["threads"]): r
    for r in report["results"]
    if r["ms_per_step"] is not None
}
for threads in (1, None):
    tf_row = rows.get(("tensorflow", "dlcourse", threads))
    torch_row = rows.get(("torch", "pytorch", threads))
    label = "1 thread" if threads == 1 else "default threads"
    if tf_row is None or torch_row is None:
        print(f"{label}: the TensorFlow or PyTorch row did not run (see the table).")
        continue
    ratio = tf_row["ms_per_step"] / torch_row["ms_per_step"]
    verdict = "faster than" if ratio < 0.95 else "slower than" if ratio > 1.05 else "as fast as"
    print(
        f"{label:16s}: TensorFlow {tf_row['ms_per_step']:7.2f} ms per step, PyTorch loop "
        f"{torch_row['ms_per_step']:7.2f} ms: TensorFlow is {verdict} PyTorch ({ratio:.2f}x)"
    )

# %% [markdown]
# Whichever way this run came out, note what it measures: one small network on one CPU, a
# few steps. The ratio between two libraries changes with the network, the batch size, the
# number of threads and the version of each library, which is exactly why the course ships
# a benchmark command instead of a verdict. The "across machines" half of the claim is the
# subject of the next section.
#
# ## 7. Data-parallel training
#
# When one machine is not enough, the most common remedy is **data parallelism**. Each of
# $n$ workers (a process, usually one per GPU) holds a full copy of the model. At every step:
#
# 1. the global batch of $B$ examples is cut into $n$ slices of $B/n$;
# 2. each worker computes the gradient of the loss on its slice;
# 3. the gradients are averaged over the workers, an **all-reduce**, so every worker now
#    holds the gradient of the whole batch;
# 4. every worker applies the same update to its own copy.
#
# The copies start equal (same seed) and take equal steps, so they stay equal, and the
# result is the one a single worker would get with the global batch $B$. Each worker does
# $1/n$ of the arithmetic; the price is step 3, sent over the network at every step.
#
# **The ring all-reduce.** The workers sit in a ring. Each cuts its gradient into $n$ chunks;
# in $n - 1$ rounds every worker passes one chunk to its neighbour, which adds its own
# (after which each worker holds the full sum of one chunk), then in $n - 1$ more rounds the
# finished chunks travel around the ring. Each round moves $1/n$ of the gradient, so each
# worker sends $2(n-1)/n$ times the gradient's size in bytes: almost twice the gradient, and,
# remarkably, *independent of the number of workers*. NCCL and gloo use this algorithm (and
# tree variants of it).
#
# ### Exercise 2 (2 points): `ring_allreduce_bytes`
#
# Return the number of bytes each worker sends in one ring all-reduce of a gradient of
# `n_params` numbers of `bytes_per_value` bytes each (4 for float32), over `workers` workers.
# One worker sends nothing. Worked example: a million float32 gradients over 4 workers:
# $2 \cdot 3/4 \cdot 10^6 \cdot 4 = 6{,}000{,}000$ bytes.


# %% nbgrader={"grade": false, "grade_id": "ring_allreduce_bytes", "locked": false, "schema_version": 3, "solution": true}
def ring_allreduce_bytes(n_params, workers, bytes_per_value=4):
    """Bytes each worker sends in a ring all-reduce: 2 * (workers - 1) / workers * size.

    size = n_params * bytes_per_value is the gradient's size in bytes. Returns a float.
    """
    ### BEGIN SOLUTION
    return 2 * (workers - 1) / workers * n_params * bytes_per_value
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "check_ring_allreduce_bytes", "locked": true, "points": 2, "schema_version": 3, "solution": false}
def check_ring(n_params, workers, bytes_per_value=4):
    expected = 2 * (workers - 1) / workers * n_params * bytes_per_value
    got = ring_allreduce_bytes(n_params, workers, bytes_per_value)
    where = f"For {n_params:,} values of {bytes_per_value} bytes over {workers} workers: "
    assert got is not None, "ring_allreduce_bytes returned None: add a return statement."
    size = n_params * bytes_per_value
    if workers > 1 and np.isclose(got, 2 * (workers - 1) * size):
        raise AssertionError(
            f"{where}got {got:,.0f}: each round moves one chunk of size/workers, not the "
            f"whole gradient; the total is 2 * (workers - 1) / workers * size."
        )
    if workers > 1 and np.isclose(got, (workers - 1) / workers * size):
        raise AssertionError(
            f"{where}got {got:,.0f}, half the expected {expected:,.0f}: the ring has two "
            f"phases (reduce-scatter, then all-gather), each of workers - 1 rounds."
        )
    if workers > 1 and bytes_per_value != 1 and np.isclose(got, expected / bytes_per_value):
        raise AssertionError(f"{where}got {got:,.0f}: that counts values, not bytes.")
    assert np.isclose(got, expected), f"{where}expected {expected:,.0f} bytes, got {got:,.0f}."


check_ring(1_000_000, 4)
check_ring(1_000_000, 1)  # alone: nothing to send
check_ring(235_146, 2)  # the benchmark's MLP on 2 workers
print("ring_allreduce_bytes: all visible checks passed.")
### BEGIN HIDDEN TESTS
check_ring(1_000, 8, bytes_per_value=2)  # float16 gradients
check_ring(7, 3, bytes_per_value=8)
check_ring(25_000_000, 64)  # a ResNet-50-sized gradient on 64 GPUs
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 3 (3 points): `ring_allreduce`, for real
#
# Now write the ring itself, on `torch.distributed`. Every rank runs the same function on its
# own tensor; when it returns, every rank must hold the sum of all the ranks' tensors (what
# `dist.all_reduce` gives). Use only the point-to-point calls: `dist.send(tensor, dst)` and
# `dist.recv(tensor, src)`, or their asynchronous forms `dist.isend` and `dist.irecv`, which
# return a request whose `wait()` finishes the transfer. The collectives (`all_reduce`,
# `reduce_scatter`, `all_gather`, `broadcast`, ...) are off limits: they would do the work.
#
# Cut the tensor into `world_size` chunks with `torch.tensor_split(tensor, world_size)`: its
# chunks are views, so adding into a chunk changes the tensor, and when the length does not
# divide, the first chunks are one value longer. Rank $r$ sends to rank $r + 1$ and receives
# from rank $r - 1$ (around the ring, modulo `world_size`).
#
# * **Reduce-scatter**, `world_size - 1` rounds: in round $s$, rank $r$ sends chunk
#   $(r - s) \bmod n$ and adds what it receives into chunk $(r - s - 1) \bmod n$. Afterwards
#   rank $r$ holds the full sum of chunk $(r + 1) \bmod n$.
# * **All-gather**, `world_size - 1` more rounds: in round $s$, rank $r$ sends chunk
#   $(r - s + 1) \bmod n$, the one it has just finished, and *copies* what it receives into
#   chunk $(r - s) \bmod n$.
#
# One trap: `dist.send` blocks until the neighbour has posted the matching receive. If every
# rank first sends and then receives, every rank waits in its send and nobody ever receives: a
# deadlock. Start the send with `dist.isend`, receive, then `wait()` on the send.
#
# The check below starts 2 and then 3 real processes (gloo, on this machine's loopback
# address 127.0.0.1), gives each a random float64 tensor whose length does not divide by the
# number of ranks, runs your function in every one, and compares with `dist.all_reduce`. The
# processes are forked from this notebook, so they already have your function.


# %% nbgrader={"grade": false, "grade_id": "torch_distributed", "locked": true, "schema_version": 3, "solution": false}
import torch
import torch.distributed as dist


# %% nbgrader={"grade": false, "grade_id": "ring_allreduce", "locked": false, "schema_version": 3, "solution": true}
def ring_allreduce(tensor, rank, world_size):
    """Sum ``tensor`` over all ranks in place with a ring of sends and receives; return it.

    tensor: this rank's 1-d tensor (the same length on every rank); rank: this process's
    rank, 0 to world_size - 1. Reduce-scatter over world_size chunks, then all-gather.
    """
    ### BEGIN SOLUTION
    chunks = torch.tensor_split(tensor, world_size)
    right, left = (rank + 1) % world_size, (rank - 1) % world_size
    for step in range(world_size - 1):  # reduce-scatter: add the neighbour's partial sums
        outgoing, incoming = (rank - step) % world_size, (rank - step - 1) % world_size
        received = torch.empty_like(chunks[incoming])
        sending = dist.isend(chunks[outgoing].clone(), right)
        dist.recv(received, left)
        sending.wait()
        chunks[incoming].add_(received)
    for step in range(world_size - 1):  # all-gather: pass the finished chunks around
        outgoing, incoming = (rank - step + 1) % world_size, (rank - step) % world_size
        sending = dist.isend(chunks[outgoing].clone(), right)
        dist.recv(chunks[incoming], left)
        sending.wait()
    return tensor
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "check_ring_allreduce", "locked": true, "points": 3, "schema_version": 3, "solution": false}
from dlcourse.distributed.ring_processes import explain_gloo_run, run_on_gloo


def check_ring_allreduce(world_size, length, seed=0):
    """Run ring_allreduce on world_size gloo processes; say what went wrong, rank by rank."""
    reports = run_on_gloo(ring_allreduce, world_size, length, seed=seed, timeout_s=8)
    problem = explain_gloo_run(reports)
    assert problem is None, f"ring_allreduce on {world_size} processes: {problem}"
    for report in reports:  # the sum we expect is the one the real engine computes
        assert np.allclose(report["result"], report["reference"], rtol=1e-12, atol=1e-12), (
            f"rank {report['rank']}: the result differs from dist.all_reduce's"
        )


check_ring_allreduce(2, 7)  # 7 values: chunks of 4 and 3
check_ring_allreduce(3, 10)  # chunks of 4, 3 and 3
print("ring_allreduce: every rank holds dist.all_reduce's sum, on 2 and on 3 processes.")
### BEGIN HIDDEN TESTS
check_ring_allreduce(3, 2, seed=1)  # fewer values than ranks: one chunk is empty
check_ring_allreduce(2, 1000, seed=2)
### END HIDDEN TESTS

# %% [markdown]
# **What that means for scaling.** The benchmark's MLP has 235,146 weights. Split over 2
# machines, each computes half of the 129 MFLOPs of a step, then sends its share of the
# all-reduce. With the step's compute time measured in section 3, here is the time of one
# step on $n$ machines, if communication and computation did not overlap, over three
# networks: ordinary 1 Gbit/s Ethernet, 10 Gbit/s, and a 100 Gbit/s cluster interconnect.

# %%
n_weights = sum(w.size + b.size for w, b in params)
print(f"MLP weights: {n_weights:,}; one step computes in {1e3 * step_s:.2f} ms on one worker")
for gbit in (1, 10, 100):
    times = []
    for workers in (1, 2, 4, 8):
        send_s = ring_allreduce_bytes(n_weights, workers) / (gbit * 1e9 / 8)
        times.append(step_s / workers + send_s)
    cells = "  ".join(f"{n} workers {1e3 * t:6.2f} ms" for n, t in zip((1, 2, 4, 8), times))
    print(f"{gbit:3d} Gbit/s: {cells}")

# %% [markdown]
# On a slow network, a small model gets *slower* with more machines: the all-reduce costs more
# than the computation it saves. Data parallelism pays when each step computes for long
# compared to the size of the gradient: large batches per worker, convolutions (much
# arithmetic per weight), fast interconnects. That, much more than the library, decides
# what "scales well across machines".
#
# ### `dlcourse train`: the real thing
#
# `dlcourse train` trains an MLP (64-64-10) on the digits data-parallel, on
# `torch.distributed` (DistributedDataParallel: one process per worker, gloo on CPUs, NCCL on
# GPUs) or on `tf.distribute` (MirroredStrategy: one process, one replica per device). From
# Python it is `dlcourse.distributed.train(engine, nproc, ...)`. Below, the same global batch
# of 64 with 1 process and with 2 processes of 32 examples each. The report says how long the
# training loop took (`seconds`), how long starting the workers took (`startup_seconds`:
# importing PyTorch, connecting the processes), the final loss and test accuracy, and
# whether every replica ended with identical weights.

# %%
import os
import tempfile
from pathlib import Path

from dlcourse.distributed import WorkerFailed, train

runs = {}
with tempfile.TemporaryDirectory() as folder:  # the reports and final weights go here
    for nproc in (1, 2):
        report_path = str(Path(folder) / f"train-{nproc}.json")
        try:
            runs[nproc] = train(
                "torch",
                nproc,
                epochs=2,
                batch_size=64,
                timeout=240,
                verbose=False,
                json_path=report_path,
            )
        except (ImportError, WorkerFailed) as err:
            print(f"{nproc} process(es): did not run: {err}")
            print('PyTorch is needed for this section: pip install "dlcourse[torch]"')
cores = os.cpu_count() or 1  # what dlcourse train shares out among its processes
for nproc, run in runs.items():
    steps = run["epochs"] * run["steps_per_epoch"]
    print(
        f"{nproc} process(es), {cores // nproc} thread(s) each: training {run['seconds']:6.2f} s "
        f"({1e3 * run['seconds'] / steps:6.2f} ms per step; + {run['startup_seconds']:5.2f} s "
        f"start-up), final loss {run['final_loss']:.6f}, test accuracy {run['accuracy']:.3f}, "
        f"replicas identical: {run['replicas_identical']}"
    )
if len(runs) == 2:
    gap = abs(runs[1]["final_loss"] - runs[2]["final_loss"])
    speedup = runs[1]["seconds"] / runs[2]["seconds"]
    print(f"\nfinal loss, 1 vs 2 processes: differ by {gap:.1e}")
    print(f"training loop, 1 process / 2 processes: {speedup:.2f}x")

# %% [markdown]
# The two runs reach the same loss up to float32 rounding (the sums are taken in another
# order): two processes with 32 examples each compute what one process does with 64, which
# is the whole point.
#
# The times need care. This MLP is tiny (4,810 weights; a step is well under a millisecond
# of arithmetic), so the per-step figures are mostly overhead: PyTorch's dispatch and, with 2
# processes, a gloo all-reduce at every step. Both runs share the same cores: `dlcourse train`
# gives each process its share of them as threads (all of them to the single process, half to
# each of two). On an idle machine that makes the two runs similar, with little or no speed-up
# and perhaps a slow-down. On a busy machine (this one, if section 4's default-thread rows were
# much slower than its 1-thread rows), the single process's threads stall waiting for each
# other on every tiny operation while the single-threaded processes do not, and two processes
# can look many times faster: an effect of threads, not of data parallelism. Either way the
# start-up (importing PyTorch in every process, connecting them) costs more than this short
# training. On several machines, or several GPUs, each worker brings compute of its own, and
# the estimate of the previous cell applies.
#
# ### Measuring the all-reduce: the alpha-beta model
#
# The estimate before `dlcourse train` took the network's speed from a label (1, 10, 100
# Gbit/s). Here we measure it: two processes on this machine, connected by gloo over the
# loopback address, time `dist.all_reduce` on float32 tensors from 256 values (1 kB) to 4
# million (16 MB). The simplest model of a message says it costs a fixed **latency** $\alpha$
# (waking the other side, system calls, headers) plus **$\beta$ seconds per byte** (the
# inverse of the bandwidth): $t(S) = \alpha + \beta S$. A ring all-reduce over $n$ workers
# is $2(n - 1)$ such messages of $S/n$ bytes each:
#
# $$t_{\text{all-reduce}}(S, n) = 2(n-1)\,\alpha + 2\frac{n-1}{n}\,\beta S.$$
#
# The fit below is a least-squares fit of $\alpha$ and $\beta$ to the measured times, in
# *relative* error (each row divided by its time), so that the 1 kB messages, which take tens
# of microseconds, count as much as the 16 MB ones, which take milliseconds.

# %%
from dlcourse.distributed.allreduce_timing import allreduce_seconds

message_values = [2**k for k in range(8, 23, 2)]  # float32 values per all-reduce
message_bytes = 4 * np.array(message_values, dtype=float)
measured_s = np.array(allreduce_seconds(message_values, world_size=2))
design = np.stack([np.ones_like(message_bytes), message_bytes], axis=1) / measured_s[:, None]
(fit_a, fit_b), *_ = np.linalg.lstsq(design, np.ones_like(measured_s), rcond=None)
# with 2 ranks the ring sends 2 messages of S/2 bytes: t = 2 alpha + beta S
alpha, beta = fit_a / 2, fit_b
print(f"alpha (latency per message) = {1e6 * alpha:.1f} us")
print(f"beta = {1e12 * beta:.1f} ps per byte, a bandwidth of {1 / beta / 1e9:.2f} GB/s")
for size, seconds in zip(message_bytes, measured_s):
    model = 2 * alpha + beta * size
    print(
        f"{size / 1e3:9.1f} kB: measured {1e6 * seconds:9.1f} us, model {1e6 * model:9.1f} us, "
        f"{size / seconds / 1e9:6.3f} GB/s"
    )

fig, ax = plt.subplots(figsize=(6, 3))
ax.loglog(message_bytes, measured_s, "o", label="measured (gloo, 2 processes)")
ax.loglog(message_bytes, 2 * alpha + beta * message_bytes, "-", label="alpha-beta model")
ax.set_xlabel("bytes per all-reduce")
ax.set_ylabel("seconds")
ax.set_title("small messages pay latency, large ones bandwidth")
ax.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# Below some tens of kilobytes the time hardly depends on the size: that is $\alpha$. Above
# a megabyte or so it grows in proportion: that is $\beta$. Loopback is memory copies
# through the operating system, much faster than a real network (a 10 Gbit/s link is
# 1.25 GB/s) and with a latency of tens of microseconds rather than the hundreds a network
# adds; expect the fit to move by tens of per cent between runs on a busy machine.
#
# **Predicted speed-up.** With $n$ workers a step computes $1/n$ of the batch, then
# all-reduces the gradient: $T(n) = T(1)/n + t_{\text{all-reduce}}(S, n)$, and the speed-up is
# $T(1)/T(n)$. Two networks: the benchmark's MLP (235,146 weights, the step time measured in
# section 3) and the small MLP that `dlcourse train` trained above (4,810 weights, its step
# time from the 1-process run), with its measured 2-process run as a point.

# %%
from dlcourse.bench.networks import MLP_SIZES

workers = np.arange(1, 65)


def predicted_speedup(step_seconds, n_values, n_workers):
    """T(1) / T(n) when each worker computes 1/n of the step, then all-reduces the gradient."""
    size = 4 * n_values  # float32 gradients
    allreduce = np.where(
        n_workers > 1, 2 * (n_workers - 1) * alpha + 2 * (n_workers - 1) / n_workers * beta * size, 0
    )
    return step_seconds / (step_seconds / n_workers + allreduce)


bench_weights = sum(a * b + b for a, b in zip(MLP_SIZES[:-1], MLP_SIZES[1:]))
curves = {f"bench MLP ({bench_weights:,} weights)": (step_s, bench_weights)}
if len(runs) == 2:
    digits_step_s = runs[1]["seconds"] / (runs[1]["epochs"] * runs[1]["steps_per_epoch"])
    curves["digits MLP (4,810 weights)"] = (digits_step_s, 4_810)

fig, ax = plt.subplots(figsize=(6, 3.5))
for label, (seconds, n_values) in curves.items():
    speedup = predicted_speedup(seconds, n_values, workers)
    best = workers[np.argmax(speedup)]
    ax.plot(workers, speedup, label=label)
    print(
        f"{label}: a step of {1e3 * seconds:.2f} ms; predicted speed-up {speedup[1]:.2f}x on 2 "
        f"workers, at most {speedup.max():.2f}x on {best} workers, {speedup[-1]:.2f}x on 64"
    )
if len(runs) == 2:
    measured = runs[1]["seconds"] / runs[2]["seconds"]
    ax.plot([1, 2], [1, measured], "ks", label="digits MLP, measured (dlcourse train)")
    print(f"digits MLP, measured with dlcourse train: {measured:.2f}x on 2 processes")
ax.plot(workers, workers, ":", color="grey", label="perfect")
ax.set_xlabel("workers")
ax.set_ylabel("speed-up")
ax.set_ylim(0, min(64, 1.2 * max(predicted_speedup(t, v, workers).max() for t, v in curves.values())))
ax.legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# Each curve rises while the saved computation, $T(1)(1/n - 1/(n+1))$, is larger than the
# extra communication, and falls after its maximum: from there on, **communication costs
# more than it saves**, and every worker added makes the step slower. The latency term
# $2(n-1)\alpha$ grows with every worker whatever the model, so even a perfect network has a
# best number of workers; the bandwidth term is almost constant in $n$ but large for a large
# gradient. Where the maximum lies depends on the step time: on an idle machine the digits
# MLP's step is a fraction of a millisecond, about what one all-reduce costs, so it gains
# little or nothing from a second worker; the benchmark's MLP, a few milliseconds a step but a
# gradient of almost 1 MB, gains somewhat, with its best at a handful of workers. On a busy
# machine every
# step is slower, the computation saved grows, and the curves reach further (read the step
# times printed above). The measured 2-process point shares this machine's cores with the
# other process and pays PyTorch's overheads that the model leaves out, so it sits where the
# `dlcourse train` section explained, possibly far from the curve; the model answers the
# question "would more machines, each with its own cores, help?", not "would two processes on
# these cores?".
#
# ### The same command on several machines
#
# `torchrun` starts the processes, on each machine, and tells each its rank; `dlcourse train`
# sees torchrun's environment variables (`RANK`, `WORLD_SIZE`, `MASTER_ADDR`, ...) and trains
# as that rank instead of starting processes itself. Two machines with 4 processes each (a
# global batch split 8 ways), machine 0 reachable at 10.0.0.1:
#
# ```bash
# # on machine 0
# torchrun --nnodes 2 --node-rank 0 --nproc-per-node 4 \
#     --master-addr 10.0.0.1 --master-port 29500 -m dlcourse train --engine torch --epochs 5
# # on machine 1: the same line with --node-rank 1
# ```
#
# or, with elastic rendezvous, the *same* line on every machine (workers may join late, and
# a failed one can be restarted):
#
# ```bash
# torchrun --nnodes 2 --nproc-per-node 4 --rdzv-backend c10d \
#     --rdzv-endpoint 10.0.0.1:29500 --rdzv-id run1 -m dlcourse train --engine torch
# ```
#
# On GPUs, one process per GPU (`--nproc-per-node` = the number of GPUs) and NCCL replace
# gloo. With TensorFlow, `dlcourse train --engine tensorflow --nproc 2` runs MirroredStrategy
# over 2 devices of one machine; TensorFlow's multi-machine form is
# MultiWorkerMirroredStrategy, configured by a `TF_CONFIG` variable on each machine.
#
# ## Summary
#
# * The practical limit of a machine is the FLOP/s of a large matrix product; small products
#   stay far below it because of fixed costs per call.
# * A training step of dense layers costs $3 \times 2Bab$ FLOPs per layer (forward, weight
#   gradient, input gradient), minus the first layer's input gradient. FLOPs over time over
#   peak is the fraction of the peak.
# * Time that is not matmul goes to memory-bound element-wise work (fusion helps) and to
#   per-call overhead (larger batches and compilation help).
# * More threads help large products; small ones, and busy machines, gain little or lose.
# * A GPU raises the peak by one to three orders of magnitude, depending on the CPU and the
#   precision, and the fixed costs too: it needs large batches, fused operations and data that
#   stays on the device.
# * Libraries now share kernels and communication libraries; measure instead of trusting a
#   ranking, as `dlcourse bench` does.
# * Data parallelism: slices of the batch, gradients averaged by an all-reduce, identical
#   replicas, the same result as one worker. Each worker sends about twice the gradient per
#   step, so it pays off when computation per step outweighs that traffic.
# * `dlcourse train --engine torch --nproc N` on one machine; the same command under
#   `torchrun --nnodes ... --node-rank ...` on several.

# %% [markdown]
# ## Further reading
#
# * Samuel Williams, Andrew Waterman and David Patterson, *Roofline: An Insightful Visual
#   Performance Model for Multicore Architectures* (Communications of the ACM, 2009): peak
#   FLOP/s against memory bandwidth.
# * Horace He, *Making Deep Learning Go Brrrr From First Principles* (blog post, 2022): compute,
#   memory bandwidth and overhead, the three costs this chapter measures.
# * Shen Li et al., *PyTorch Distributed: Experiences on Accelerating Data Parallel Training*
#   (VLDB 2020), and the PyTorch tutorial *Getting Started with Distributed Data Parallel*.
# * Priya Goyal et al., *Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour* (2017): what
#   data parallelism does to the batch size and the learning rate.
#
# Credits: the ring all-reduce and its $2(n-1)/n$ traffic per worker are from Patarasuk and Yuan,
# *Bandwidth optimal all-reduce algorithms for clusters of workstations* (2009).
