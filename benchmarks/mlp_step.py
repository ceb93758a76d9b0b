"""One training step of the MLP 784-256-128-10 (batch 128, float32, SGD): by hand vs PyTorch.

Four implementations: ``dlcourse.functional`` as a student writes it, a bare
NumPy step (no checks, every update in place, gradients written into arrays
kept from step to step: about as fast as NumPy goes, a floor for any NumPy
code), PyTorch, and the step as one compiled JAX function (the floor for the
jax backend; left out when JAX is not installed). Each line also gives the
share of the matmul peak measured with the same threads (``dlcourse.bench.peak``).

Each implementation runs in its own fresh process, all of them alternating
round after round, so that all see the same machine state; the figure for each
is the median over rounds of the median step time within a round.

    python benchmarks/mlp_step.py                 # default threads, 7 rounds
    python benchmarks/mlp_step.py --threads 1     # one BLAS / torch thread each
    python benchmarks/mlp_step.py --json out.json

Every worker gets the same thread settings through the environment, set
before NumPy, PyTorch or JAX start their thread pools.
"""

import argparse
import importlib.util
import json
import statistics
import time

from alternating import alternate, medians, run_worker, spread, thread_env, write_json

from dlcourse.bench.networks import LEARNING_RATE as LR
from dlcourse.bench.networks import MLP_SIZES as SIZES
from dlcourse.bench.networks import NETWORKS

BATCH = NETWORKS["mlp"].batch
# three matmuls per layer (forward, dw, dx), less the first layer's dx: its input is data
FLOPS = NETWORKS["mlp"].flops


def batch(seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((BATCH, SIZES[0]), dtype=np.float32)
    y = rng.integers(0, SIZES[-1], BATCH)
    return x, y


def initial_params():
    """``[w1, b1, w2, b2, w3, b3]`` as float32 NumPy arrays: every implementation starts here."""
    import numpy as np

    rng = np.random.default_rng(0)
    params = []
    for fan_in, fan_out in zip(SIZES, SIZES[1:]):
        w = rng.standard_normal((fan_in, fan_out)) / np.sqrt(fan_in)
        params += [w.astype(np.float32), np.zeros(fan_out, dtype=np.float32)]
    return params


def hand_written_step():
    """A step written with dlcourse.functional, as a student would after chapter 05."""

    from dlcourse import functional as F

    params = initial_params()
    opt = F.SGD(lr=LR)
    x, y = batch()

    def step():
        h1, c1 = F.dense_forward(x, params[0], params[1])
        a1, r1 = F.relu_forward(h1)
        h2, c2 = F.dense_forward(a1, params[2], params[3])
        a2, r2 = F.relu_forward(h2)
        logits, c3 = F.dense_forward(a2, params[4], params[5])
        loss, dlogits = F.softmax_cross_entropy(logits, y)
        da2, dw3, db3 = F.dense_backward(dlogits, c3)
        da1, dw2, db2 = F.dense_backward(F.relu_backward(da2, r2), c2)
        _, dw1, db1 = F.dense_backward(F.relu_backward(da1, r1), c1, input_grad=False)
        opt.step(params, [dw1, db1, dw2, db2, dw3, db3])
        return loss

    return step


def bare_numpy_step():
    """The same step in NumPy with nothing but the arithmetic, in place wherever it can be."""
    import numpy as np

    params = initial_params()
    ws, bs = params[0::2], params[1::2]
    dws = [np.empty_like(w) for w in ws]
    x, y = batch()
    rows, lr = np.arange(BATCH), np.float32(LR)

    def step():
        acts = [x]
        for i, (w, b) in enumerate(zip(ws, bs)):
            h = acts[-1] @ w
            h += b
            if i < len(ws) - 1:
                np.maximum(h, 0, out=h)
            acts.append(h)
        logits = acts[-1]
        logits -= logits.max(axis=1, keepdims=True)
        g = np.exp(logits)
        g /= g.sum(axis=1, keepdims=True)
        loss = -np.log(g[rows, y]).mean()
        g[rows, y] -= 1
        g /= BATCH
        for i in reversed(range(len(ws))):
            np.matmul(acts[i].T, g, out=dws[i])
            db = g.sum(axis=0)
            if i:
                g = g @ ws[i].T
                g *= acts[i] > 0
            db *= lr
            bs[i] -= db
            dws[i] *= lr
            ws[i] -= dws[i]
        return loss

    return step


def torch_step():
    """The same network as a plain PyTorch eager training loop."""
    import torch

    torch.manual_seed(0)
    layers = []
    for fan_in, fan_out in zip(SIZES, SIZES[1:]):
        layers += [torch.nn.Linear(fan_in, fan_out), torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers[:-1])
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    loss_fn = torch.nn.CrossEntropyLoss()
    x, y = (torch.from_numpy(a) for a in batch())

    def step():
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return step


def jax_step():
    """The same step as one compiled JAX function: loss, gradients and update fused by XLA.

    Nothing of dlcourse in it, so it is the floor for the jax backend as the bare
    NumPy step is for the manual one. Each call queues a step, then reads the
    loss of the step before (``float`` waits for it), as ``fit`` on the jax
    backend does: the processor never waits for Python, and in a steady run each
    call takes one step's time.
    """
    import jax
    import jax.numpy as jnp

    params = [jnp.asarray(p) for p in initial_params()]
    x, y = (jnp.asarray(a) for a in batch())

    def loss_of(params, x, y):
        h = x
        for i in range(0, len(params), 2):
            h = h @ params[i] + params[i + 1]
            if i + 2 < len(params):
                h = jax.nn.relu(h)
        picked = jnp.take_along_axis(jax.nn.log_softmax(h), y[:, None], axis=1)
        return -jnp.mean(picked)

    @jax.jit  # the batch as an argument: baked in as a constant, it ran 10% slower here
    def update(params, x, y):
        loss, grads = jax.value_and_grad(loss_of)(params, x, y)
        return [p - LR * g for p, g in zip(params, grads)], loss

    previous = None

    def step():
        nonlocal params, previous
        params, loss = update(params, x, y)
        read, previous = previous, loss
        return None if read is None else float(read)

    return step


IMPLEMENTATIONS = {
    "hand-written": hand_written_step,
    "bare-numpy": bare_numpy_step,
    "torch": torch_step,
    "jax": jax_step,
}


def worker(name, steps, warmup):
    step = IMPLEMENTATIONS[name]()
    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    print(json.dumps({"ms_per_step": 1e3 * statistics.median(times)}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--threads", type=int, default=0, help="0: the libraries' default")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.steps, warmup=50)
        return
    options = ["--steps", str(args.steps)]
    env = thread_env(args.threads)
    names = [n for n in IMPLEMENTATIONS if n != "jax" or importlib.util.find_spec("jax")]
    per_round = alternate(
        names, lambda name: run_worker(__file__, name, options, env, args.threads), args.rounds
    )
    result = medians(per_round)
    threads = args.threads or "default"
    from dlcourse.bench import measure_peak_gflops

    peak = measure_peak_gflops(args.threads or None)
    print(
        f"MLP 784-256-128-10, batch {BATCH}, float32, SGD; threads: {threads}; "
        f"{args.rounds} alternating rounds of {args.steps} steps; matmul peak {peak:.0f} GFLOP/s"
    )
    for name, ms in result.items():
        print(
            f"  {name:13s} {ms:.3f} ms/step  {FLOPS / ms / 1e6:6.1f} GFLOP/s "
            f"({FLOPS / ms / 1e4 / peak:4.1f}% of peak)   "
            f"rounds: {spread(per_round[name])}"
        )
    ratio = result["hand-written"] / result["torch"]
    print(f"  ratio hand-written / torch = {ratio:.2f}")
    if args.json:
        payload = {
            "threads": threads,
            "peak_gflops": peak,
            "ms_per_step": result,
            "rounds": per_round,
            "ratio": ratio,
        }
        write_json(args.json, payload)


if __name__ == "__main__":
    main()
