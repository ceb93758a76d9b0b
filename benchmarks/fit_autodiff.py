"""``model.fit`` on the ``autodiff`` backend against the ``manual`` one.

MLP 784-256-128-10, batch 128, float32, SGD(0.01), shuffled every epoch, on
random data: the same model, the same data, the same ``fit`` call; only the
backend differs (for ``autodiff``: the course's Tensor engine finds the
gradients instead of each layer's hand-written backward).

Each backend runs in its own fresh process, the backends alternating round
after round so that all see the same machine state. Within a round a backend
first trains one epoch (timed apart: it includes any compilation), then times
``--epochs`` whole epochs of ``fit``. The figure per backend is the median over
rounds of the time per step.

    python benchmarks/fit_autodiff.py                # default threads, 7 rounds
    python benchmarks/fit_autodiff.py --threads 1
    python benchmarks/fit_autodiff.py --json out.json

The target in issue 3 is autodiff <= 2x manual. ``benchmarks/fit_pytensor.py``
runs the same measurement for the pytensor backend's compile modes.
"""

import argparse
import json
import time

from alternating import alternate, medians, run_worker, spread, thread_env, write_json
from fit_torch import BATCH, LR, SIZES, data


def make_fit(spec, x, y):
    """A function that trains an MLP on backend ``spec`` ("name" or "name:mode")."""
    import dlcourse
    from dlcourse import nn

    name, _, mode = spec.partition(":")
    dlcourse.set_backend(name, **({"mode": mode} if mode else {}))
    layers = [nn.Dense(n, activation="relu") for n in SIZES[1:-1]] + [nn.Dense(SIZES[-1])]
    model = nn.Sequential(layers, seed=0, dtype="float32")
    model.compile(
        optimizer=nn.SGD(learning_rate=LR),
        loss=nn.SparseCategoricalCrossentropy(from_logits=True),
    )

    def run(epochs):
        model.fit(x, y, epochs=epochs, batch_size=BATCH, verbose=0)

    return run


def worker(spec, args):
    import warnings

    warnings.simplefilter("ignore")  # PyTensor's note about BLAS would hide the result line
    x, y = data(args.steps)
    run = make_fit(spec, x, y)
    start = time.perf_counter()
    run(1)  # warm-up: first-call costs (compilation, allocations, lazy imports)
    first = time.perf_counter() - start
    start = time.perf_counter()
    run(args.epochs)
    elapsed = time.perf_counter() - start
    print(json.dumps({"ms_per_step": 1e3 * elapsed / (args.epochs * args.steps), "first_s": first}))


def main(backends=("manual", "autodiff"), target="autodiff <= 2x manual"):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=100, help="batches per epoch")
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs per round")
    parser.add_argument("--threads", type=int, default=0, help="0: the libraries' default")
    parser.add_argument(
        "--backends", nargs="+", default=list(backends), help='"name" or "name:mode"'
    )
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args)
        return
    options = ["--steps", str(args.steps), "--epochs", str(args.epochs)]
    env = thread_env(args.threads)
    rounds = alternate(
        args.backends,
        lambda spec: run_worker(__file__, spec, options, env, args.threads),
        args.rounds,
    )
    ms, first = medians(rounds), medians(rounds, "first_s")
    reference = args.backends[0]
    print(
        f"MLP 784-256-128-10, batch {BATCH}, float32, SGD; threads: {args.threads or 'default'}; "
        f"{args.rounds} alternating rounds of {args.epochs} epochs x {args.steps} steps"
    )
    for spec in args.backends:
        print(
            f"  {spec:22s} {ms[spec]:7.3f} ms/step  x{ms[spec] / ms[reference]:.2f}   "
            f"first epoch {first[spec]:6.2f} s   rounds: {spread(rounds[spec])}"
        )
    print(f"  (target: {target})")
    if args.json:
        result = {"threads": args.threads or "default", "ms_per_step": ms, "first_s": first}
        write_json(args.json, {**result, "rounds": rounds})


if __name__ == "__main__":
    main()
