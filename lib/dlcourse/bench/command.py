"""``dlcourse bench``: train fixed networks for a fixed number of steps with every library, timed.

Rows: each dlcourse backend installed (model.fit), the same network as a plain
PyTorch training loop, and Keras 3 on each of its installed backends; every
row runs in its own process. Columns: ms per step (median of repeated runs
after a warm-up), samples/s, the fraction of this machine's matmul peak
(measured first, with a large float32 matmul), and the ratio to the plain
PyTorch loop. A row whose library is missing is listed with how to install it.

Implementations (--impls): manual, autodiff, torch, tensorflow, jax, pytensor
(dlcourse backends), pytorch (the plain loop, always run: the reference),
keras-tensorflow, keras-jax, keras-torch; or the groups dlcourse and keras.

Examples:
  dlcourse bench --networks mlp --json bench.json     # the MLP, every library (about 2 min)
  dlcourse bench --threads 1,2 --plot bench.png       # all networks, 1 and 2 threads
  dlcourse bench --impls manual,jax,keras-jax --steps 100
  dlcourse bench --device cuda                        # the GPU rows, when there is a GPU
"""

import json
import sys

HELP = (
    "time training steps of an MLP, a CNN, an LSTM and a transformer on every library, with a table"
)


def _names(text):
    return [part.strip() for part in text.split(",") if part.strip()]


def _threads(text):
    counts = []
    for part in _names(text):
        if part.lower() in ("default", "all", "none"):
            counts.append(None)
            continue
        if not part.isdigit() or int(part) < 1:
            raise ValueError(
                f"--threads: expected positive numbers like 1,2 or 'default', got {part!r}."
            )
        counts.append(int(part))
    return counts or [None]


def add_arguments(parser):
    parser.add_argument(
        "--networks",
        default="mlp,cnn,rnn,transformer",
        help="comma-separated: mlp, cnn, rnn, transformer (default: all)",
    )
    parser.add_argument(
        "--impls", default=None, help="comma-separated implementations (default: all)"
    )
    parser.add_argument("--steps", type=int, default=50, help="timed steps per run (default 50)")
    parser.add_argument(
        "--warmup", type=int, default=1, help="untimed epochs of --steps steps first (default 1)"
    )
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per row (default 5)")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run every row this many times, the rows taking turns; median over rounds",
    )
    parser.add_argument(
        "--threads",
        default="default",
        help="thread counts for the CPU rows, e.g. 1,2 ('default': each library's own)",
    )
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--json", metavar="PATH", help="also write the report as JSON here")
    parser.add_argument("--plot", metavar="PATH", help="also draw the table as a PNG here")
    parser.add_argument(
        "--peak-size",
        type=int,
        default=None,
        help="side of the matrices that measure the matmul peak (default 2048; 8192 on a GPU)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args):
    from dlcourse.bench.runner import run_bench
    from dlcourse.bench.table import format_table

    try:
        report = run_bench(
            networks=_names(args.networks),
            impls=_names(args.impls) if args.impls else None,
            steps=args.steps,
            warmup=args.warmup,
            repeats=args.repeats,
            threads=_threads(args.threads),
            device=args.device,
            progress=not args.quiet,
            peak_size=args.peak_size,
            rounds=args.rounds,
        )
    except ValueError as err:
        print(f"dlcourse bench: {err}", file=sys.stderr)
        return 2
    no_gpu = args.device == "cuda" and not report["machine"].get("gpu")
    if not no_gpu:
        print(format_table(report))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
        print(f"\nwrote {args.json}")
    if no_gpu:
        print(
            "dlcourse bench: no CUDA GPU on this machine (PyTorch sees none), "
            "so nothing ran on a GPU; run without --device cuda for the CPU rows.",
            file=sys.stderr,
        )
        return 1
    if args.plot:
        from dlcourse.bench.plot import plot_bench

        plot_bench(report, args.plot)
        print(f"wrote {args.plot}")
    return 0
