"""``model.fit`` on the torch backend against a plain PyTorch training loop.

MLP 784-256-128-10, batch 128, float32, SGD(0.01), shuffled every epoch, on
random data. Both sides do the same work per step: pick a shuffled batch by
index, clear the gradients, forward, cross-entropy, backward, update, and read
the loss as a Python number (``loss.item()``, as every tutorial loop does).

Each side runs in its own fresh process, the two alternating round after round
so that both see the same machine state. Within a round a side warms up with one
epoch, then times ``--epochs`` whole epochs; ``fit``'s time includes everything
the call does (checks, conversion, the loop). The figure per side is the median
over rounds of the time per step.

    python benchmarks/fit_torch.py                  # default threads, 7 rounds
    python benchmarks/fit_torch.py --threads 1
    python benchmarks/fit_torch.py --json out.json

The target in issue 3 is fit <= 1.15x the plain loop.
"""

import argparse
import json
import os
import time

from alternating import alternate, medians, run_worker, spread, thread_env, write_json

from dlcourse.bench.networks import LEARNING_RATE as LR
from dlcourse.bench.networks import MLP_SIZES as SIZES
from dlcourse.bench.networks import NETWORKS

BATCH = NETWORKS["mlp"].batch


def data(steps_per_epoch, seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    n = steps_per_epoch * BATCH
    x = rng.standard_normal((n, SIZES[0]), dtype=np.float32)
    y = rng.integers(0, SIZES[-1], n)
    return x, y


def dlcourse_fit(x, y, epochs, verbose):
    """Returns a function that trains for ``epochs`` with model.fit."""
    import dlcourse
    from dlcourse import nn

    dlcourse.set_backend("torch", device="cpu")
    layers = [nn.Dense(n, activation="relu") for n in SIZES[1:-1]] + [nn.Dense(SIZES[-1])]
    model = nn.Sequential(layers, seed=0)
    model.compile(
        optimizer=nn.SGD(learning_rate=LR),
        loss=nn.SparseCategoricalCrossentropy(from_logits=True),
    )
    bar_sink = open(os.devnull, "w")  # verbose=1: draw the bar, but not on the terminal

    def run(epochs):
        if verbose:
            bar = nn.ProgressBar(file=bar_sink)
            model.fit(x, y, epochs=epochs, batch_size=BATCH, callbacks=[bar], verbose=0)
        else:
            model.fit(x, y, epochs=epochs, batch_size=BATCH, verbose=0)

    return run


def plain_torch(x, y, epochs, verbose):
    """The same training as a plain PyTorch loop."""
    import torch

    torch.manual_seed(0)
    layers = []
    for fan_in, fan_out in zip(SIZES, SIZES[1:]):
        layers += [torch.nn.Linear(fan_in, fan_out), torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers[:-1])
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    loss_fn = torch.nn.CrossEntropyLoss()
    xs, ys = torch.from_numpy(x), torch.from_numpy(y)
    n = len(xs)

    def run(epochs):
        for _ in range(epochs):
            order = torch.randperm(n)
            running = 0.0
            for lo in range(0, n, BATCH):
                index = order[lo : lo + BATCH]
                xb, yb = xs[index], ys[index]
                optimizer.zero_grad()
                loss = loss_fn(model(xb), yb)
                loss.backward()
                optimizer.step()
                running += loss.item()

    return run


IMPLEMENTATIONS = {"dlcourse fit": dlcourse_fit, "plain torch": plain_torch}


def worker(name, args):
    x, y = data(args.steps)
    run = IMPLEMENTATIONS[name](x, y, args.epochs, args.verbose)
    run(1)  # warm-up: first-call costs (allocations, lazy initialisation)
    start = time.perf_counter()
    run(args.epochs)
    elapsed = time.perf_counter() - start
    print(json.dumps({"ms_per_step": 1e3 * elapsed / (args.epochs * args.steps)}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=100, help="batches per epoch")
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs per round")
    parser.add_argument("--threads", type=int, default=0, help="0: the libraries' default")
    parser.add_argument("--verbose", action="store_true", help="fit draws its progress bar")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args)
        return
    options = ["--steps", str(args.steps), "--epochs", str(args.epochs)]
    options += ["--verbose"] if args.verbose else []
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
        f"progress bar: {'on' if args.verbose else 'off'}; {args.rounds} alternating rounds "
        f"of {args.epochs} epochs x {args.steps} steps"
    )
    for name, ms in result.items():
        print(f"  {name:13s} {ms:.3f} ms/step   rounds: {spread(per_round[name])}")
    ratio = result["dlcourse fit"] / result["plain torch"]
    print(f"  ratio fit / plain loop = {ratio:.3f}  (target <= 1.15)")
    if args.json:
        payload = {"threads": threads, "ms_per_step": result, "rounds": per_round, "ratio": ratio}
        write_json(args.json, payload)


if __name__ == "__main__":
    main()
