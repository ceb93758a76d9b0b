"""``model.fit`` on the jax backend against Keras 3 on its JAX backend.

MLP 784-256-128-10, batch 128, float32, SGD(0.01), from logits, shuffled every
epoch, on random data, progress bar off (``verbose=0``) on both sides. Keras
gets ``KERAS_BACKEND=jax`` in its environment, so the variable is set before
Keras is first imported.

Each side runs in its own fresh process, the sides alternating round after round
so that both see the same machine state. Within a round a side warms up with one
epoch (this is where both compile their train step), then times ``--epochs``
whole ``fit`` epochs. The figure per side is the median over rounds of the time
per step.

``--tensorflow`` adds the same pair on TensorFlow (dlcourse's ``tensorflow``
backend, and Keras with ``KERAS_BACKEND=tensorflow``), for reference.

    python benchmarks/fit_jax.py                  # default threads, 7 rounds
    python benchmarks/fit_jax.py --threads 1 --tensorflow
    python benchmarks/fit_jax.py --json out.json

The target in issue 3 is dlcourse on jax <= 1.2x Keras on JAX.
"""

import argparse
import json
import time

from alternating import alternate, medians, run_worker, spread, write_json
from fit_torch import BATCH, LR, SIZES, data

from dlcourse.bench.threads import child_env


def dlcourse_fit(backend):
    def make(x, y):
        """Returns a function that trains for ``epochs`` with model.fit."""
        import dlcourse
        from dlcourse import nn

        dlcourse.set_backend(backend)
        layers = [nn.Dense(n, activation="relu") for n in SIZES[1:-1]] + [nn.Dense(SIZES[-1])]
        model = nn.Sequential(layers, seed=0)
        model.compile(
            optimizer=nn.SGD(learning_rate=LR),
            loss=nn.SparseCategoricalCrossentropy(from_logits=True),
        )
        return lambda epochs: model.fit(x, y, epochs=epochs, batch_size=BATCH, verbose=0)

    return make


def keras_fit(x, y):
    """The same training with Keras 3 (its backend comes from KERAS_BACKEND)."""
    import keras

    keras.utils.set_random_seed(0)
    layers = [keras.layers.Dense(n, activation="relu") for n in SIZES[1:-1]]
    model = keras.Sequential([keras.Input((SIZES[0],)), *layers, keras.layers.Dense(SIZES[-1])])
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=LR),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return lambda epochs: model.fit(x, y, epochs=epochs, batch_size=BATCH, verbose=0)


# name -> (factory, KERAS_BACKEND for its process)
IMPLEMENTATIONS = {
    "dlcourse jax": (dlcourse_fit("jax"), "jax"),
    "keras jax": (keras_fit, "jax"),
    "dlcourse tensorflow": (dlcourse_fit("tensorflow"), "tensorflow"),
    "keras tensorflow": (keras_fit, "tensorflow"),
}


def worker(name, args):
    x, y = data(args.steps)
    run = IMPLEMENTATIONS[name][0](x, y)
    run(1)  # warm-up: compilation and other first-call costs
    start = time.perf_counter()
    run(args.epochs)
    elapsed = time.perf_counter() - start
    print(json.dumps({"ms_per_step": 1e3 * elapsed / (args.epochs * args.steps)}))


def worker_env(name, threads):
    # thread limits for BLAS, TensorFlow and XLA, and KERAS_BACKEND before Keras is imported
    return child_env(threads, keras_backend=IMPLEMENTATIONS[name][1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=100, help="batches per epoch")
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs per round")
    parser.add_argument("--threads", type=int, default=0, help="0: the libraries' default")
    parser.add_argument("--tensorflow", action="store_true", help="also time both on TensorFlow")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args)
        return
    names = [n for n in IMPLEMENTATIONS if args.tensorflow or "tensorflow" not in n]
    options = ["--steps", str(args.steps), "--epochs", str(args.epochs)]
    per_round = alternate(
        names,
        lambda name: run_worker(
            __file__, name, options, worker_env(name, args.threads), args.threads
        ),
        args.rounds,
    )
    result = medians(per_round)
    threads = args.threads or "default"
    print(
        f"MLP 784-256-128-10, batch {BATCH}, float32, SGD; threads: {threads}; "
        f"{args.rounds} alternating rounds of {args.epochs} epochs x {args.steps} steps"
    )
    for name, ms in result.items():
        print(f"  {name:20s} {ms:.3f} ms/step   rounds: {spread(per_round[name])}")
    ratios = {"jax": result["dlcourse jax"] / result["keras jax"]}
    print(f"  ratio dlcourse / keras on jax = {ratios['jax']:.3f}  (target <= 1.2)")
    if args.tensorflow:
        ratios["tensorflow"] = result["dlcourse tensorflow"] / result["keras tensorflow"]
        print(f"  ratio dlcourse / keras on tensorflow = {ratios['tensorflow']:.3f}")
    if args.json:
        payload = {"threads": threads, "ms_per_step": result, "rounds": per_round, "ratio": ratios}
        write_json(args.json, payload)


if __name__ == "__main__":
    main()
