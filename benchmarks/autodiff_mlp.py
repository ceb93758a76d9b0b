"""One MLP training step with the course's autodiff Tensor vs the hand-written step.

MLP 784-256-128-10, batch 128, float32, SGD, the same weights and batch as
``mlp_step.py``. The hand-written step is the one in ``mlp_step.py``
(``dlcourse.functional``, derivatives written by hand); the autodiff step
builds the same network from ``dlcourse.autodiff.Tensor`` operations and
calls ``loss.backward()``. Both update the weights with the same
``functional.SGD``, so the only difference is who computes the gradients.

Each implementation runs in its own fresh process, the two alternating
round after round; the figure for each is the median over rounds of the
median step time within a round.

    python benchmarks/autodiff_mlp.py                # default threads, 7 rounds
    python benchmarks/autodiff_mlp.py --threads 1
    python benchmarks/autodiff_mlp.py --check        # same losses, step by step, then exit
"""

import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from alternating import alternate, medians, run_worker, spread, thread_env, write_json  # noqa: E402
from mlp_step import BATCH, FLOPS, LR, SIZES, batch, hand_written_step  # noqa: E402


def initial_params():
    """The same initial weights as mlp_step.hand_written_step (seed 0, scaled normal, zero bias)."""
    import numpy as np

    rng = np.random.default_rng(0)
    params = []
    for fan_in, fan_out in zip(SIZES, SIZES[1:]):
        w = rng.standard_normal((fan_in, fan_out)) / np.sqrt(fan_in)
        params.append(w.astype(np.float32))
        params.append(np.zeros(fan_out, dtype=np.float32))
    return params


def autodiff_step():
    """The same step, with the gradients from the Tensor engine's backward pass."""
    from dlcourse import functional as F
    from dlcourse.autodiff import Tensor, cross_entropy

    params = [Tensor(p, requires_grad=True) for p in initial_params()]
    w1, b1, w2, b2, w3, b3 = params
    opt = F.SGD(lr=LR)
    x, y = batch()
    x = Tensor(x)  # data: no gradient needed, so the first layer skips dL/dx

    def step():
        for p in params:
            p.zero_grad()
        h1 = (x @ w1 + b1).relu()
        h2 = (h1 @ w2 + b2).relu()
        loss = cross_entropy(h2 @ w3 + b3, y)
        loss.backward()
        opt.step([p.data for p in params], [p.grad for p in params])
        return loss.data

    return step


IMPLEMENTATIONS = {"hand-written": hand_written_step, "autodiff": autodiff_step}


def check(steps=5):
    """Both steps from the same start give the same losses (float32 rounding aside)."""
    hand, auto = hand_written_step(), autodiff_step()
    for i in range(steps):
        a, b = float(hand()), float(auto())
        print(f"step {i}: hand-written loss {a:.6f}, autodiff loss {b:.6f}")
        if abs(a - b) > 1e-4 * max(1.0, abs(a)):
            sys.exit("the two steps disagree")
    print("same losses")


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
    parser.add_argument("--check", action="store_true", help="compare the losses and exit")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.check:
        check()
        return
    if args.worker:
        worker(args.worker, args.steps, warmup=50)
        return
    options = ["--steps", str(args.steps)]
    env = thread_env(args.threads)
    per_round = alternate(
        IMPLEMENTATIONS,
        lambda name: run_worker(__file__, name, options, env, args.threads),
        args.rounds,
    )
    result = medians(per_round)
    threads = args.threads or "default"
    print(
        f"MLP 784-256-128-10, batch {BATCH}, float32, SGD; threads: {threads}; "
        f"{args.rounds} alternating rounds of {args.steps} steps"
    )
    for name, ms in result.items():
        print(
            f"  {name:13s} {ms:.3f} ms/step  {FLOPS / ms / 1e6:6.1f} GFLOP/s   "
            f"rounds: {spread(per_round[name])}"
        )
    ratio = result["autodiff"] / result["hand-written"]
    print(f"  ratio autodiff / hand-written = {ratio:.2f}  (target: at most 2)")
    if args.json:
        payload = {"threads": threads, "ms_per_step": result, "rounds": per_round, "ratio": ratio}
        write_json(args.json, payload)


if __name__ == "__main__":
    main()
