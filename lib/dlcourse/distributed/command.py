"""``dlcourse train``: train a dlcourse model data-parallel on torch.distributed or tf.distribute.

Every worker holds a copy of the model, takes its slice of each global batch,
and the gradients are averaged over the workers before every step, so all
copies stay equal. Without --model it is the demo: an MLP 64-64-10 on
scikit-learn's digits, with a report.

  --engine torch       DistributedDataParallel, one process per rank (gloo on
                       the CPU, NCCL on GPUs); the command starts the processes
  --engine tensorflow  tf.distribute.MirroredStrategy in one process, one
                       replica per GPU, or per logical CPU device without GPUs

The report (--json PATH) holds engine, nproc, global_batch, epochs, seconds
(the training loop), startup_seconds, final_loss, accuracy (test split),
replicas_identical (every replica's final weights hash to the same value) and
weights_path (an .npz of the final weights next to the JSON).

A worker that fails stops the others; the command then exits 1 naming the
rank and its exception. --timeout stops everything after that many seconds.

Examples:
  dlcourse train --engine torch --nproc 2 --epochs 5 --json runs/ddp2.json
  dlcourse train --engine tensorflow --nproc 2 --batch-size 128
  torchrun --nproc-per-node 2 -m dlcourse train --engine torch

Several machines (torch): start the same command on every machine with
torchrun, which sets RANK/WORLD_SIZE/MASTER_ADDR for each process; this
command sees them and trains as that rank instead of starting processes.
With 2 machines of 4 processes each (global batch split 8 ways):
  # on machine 0 (reachable as 10.0.0.1):
  torchrun --nnodes 2 --node-rank 0 --nproc-per-node 4 \\
      --master-addr 10.0.0.1 --master-port 29500 -m dlcourse train --engine torch
  # on machine 1: the same with --node-rank 1
Or with elastic rendezvous, the same line on every machine:
  torchrun --nnodes 2 --nproc-per-node 4 --rdzv-backend c10d \\
      --rdzv-endpoint 10.0.0.1:29500 --rdzv-id run1 -m dlcourse train --engine torch
Rank 0 writes the report. (tf.distribute's multi-machine form is
MultiWorkerMirroredStrategy with a TF_CONFIG per machine; not wired here.)

Your own model (--engine torch, or jax: N host devices in one process),
trained by the same code as
``model.fit(..., distribute=DataParallel(engine, nproc=N))``:

  --model FILE           a model saved with model.save / save_model, compiled
  --model MOD:FUNCTION   a function in MOD.py (here, or installed) that returns
                         a compiled model
  --data FILE.npz        arrays x and y, optional x_val and y_val (validation);
                         default: digits (validation: its test split)
  --output FILE          where the trained model is written (model.save's
                         format); an existing file only with --overwrite

  dlcourse train --engine torch --nproc 2 --model my_models:build \\
      --data train.npz --epochs 10 --output trained.npz

Test hook (the demo only): DLCOURSE_TRAIN_FAIL=RANK:STEP makes that rank raise at that step.
"""

import json
import sys

HELP = "train a model data-parallel with torch DistributedDataParallel or tf MirroredStrategy"


def add_arguments(parser):
    parser.add_argument("--engine", required=True, choices=("torch", "tensorflow", "jax"))
    parser.add_argument(
        "--nproc",
        type=int,
        default=None,
        help="workers: processes (torch) or replicas (tensorflow); default 2, "
        "or torchrun's WORLD_SIZE",
    )
    parser.add_argument(
        "--model",
        default="mlp",
        help="mlp (the demo, default), a saved model file, or module:function (see above)",
    )
    parser.add_argument("--dataset", default="digits", choices=("digits",), help="default: digits")
    parser.add_argument("--data", metavar="FILE.npz", help="x, y (and x_val, y_val) for --model")
    parser.add_argument("--output", metavar="FILE", help="the trained --model is written here")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --output")
    parser.add_argument("--epochs", type=int, default=3, help="default: 3")
    parser.add_argument(
        "--batch-size",
        type=int,
        default=64,
        help="the GLOBAL batch, split evenly over the workers (default: 64)",
    )
    # the demo's own settings (None: the demo's default); a --model brings its own
    parser.add_argument("--lr", type=float, default=None, help="learning rate (default: 0.01)")
    parser.add_argument("--optimizer", default=None, choices=("adam", "sgd"), help="default: adam")
    parser.add_argument("--dtype", default=None, choices=("float32", "float64"), help="float32")
    parser.add_argument("--seed", type=int, default=None, help="weights and shuffling (default: 0)")
    parser.add_argument(
        "--steps-per-epoch", type=int, default=None, help="stop each epoch early (short runs)"
    )
    parser.add_argument(
        "--device", choices=("cpu", "cuda"), default=None, help="default: GPUs when present"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads per torch rank (default: cores / nproc); tensorflow: intra-op threads",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        help="stop every worker after this many seconds (default: 300)",
    )
    parser.add_argument("--json", metavar="PATH", help="write the report here (and PATH's .npz)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


DEMO_ENGINES = ("torch", "tensorflow")
DEMO_ONLY = ("lr", "optimizer", "dtype", "seed", "steps_per_epoch", "device", "json")


def run(args):
    from dlcourse.distributed import WorkerFailed

    nproc = args.nproc
    if nproc is None:
        import os

        nproc = int(os.environ.get("WORLD_SIZE", 2))
    try:
        if args.model == "mlp":
            result = _demo(args, nproc)
        else:
            result = _user_model(args, nproc)
    except ValueError as err:
        print(f"dlcourse train: {err}", file=sys.stderr)
        return 2
    except WorkerFailed as err:
        print(f"dlcourse train: {err}", file=sys.stderr)
        return 1
    if result is not None:  # None: a torchrun rank other than 0 (rank 0 reports)
        print(json.dumps(result, indent=2))
    return 0


def _demo(args, nproc):
    from dlcourse.distributed import TrainOptions
    from dlcourse.distributed.launch import run as launch_run

    if args.engine not in DEMO_ENGINES:
        raise ValueError(
            f"the demo network trains on --engine {' or '.join(DEMO_ENGINES)}; --engine "
            f"{args.engine} trains your own --model."
        )
    for flag in ("data", "output"):
        if getattr(args, flag) is not None:
            raise ValueError(
                f"--{flag} goes with --model (your own model); the demo network trains on "
                "digits and writes its report with --json."
            )
    options = TrainOptions(
        engine=args.engine,
        nproc=nproc,
        model=args.model,
        dataset=args.dataset,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=0.01 if args.lr is None else args.lr,
        optimizer=args.optimizer or "adam",
        dtype=args.dtype or "float32",
        seed=args.seed or 0,
        timeout=args.timeout,
        steps_per_epoch=args.steps_per_epoch,
        device=args.device,
        threads=args.threads,
        json_path=args.json,
        verbose=not args.quiet,
    )
    result = launch_run(options)
    if result is None:
        return None
    return {k: v for k, v in result.items() if k not in ("replica_hashes", "epoch_losses")}


def _user_model(args, nproc):
    """``--model``: the same ``model.fit(..., distribute=DataParallel(...))`` as from Python."""
    from dlcourse.distributed import DataParallel, user_model
    from dlcourse.distributed.data_parallel import ENGINES
    from dlcourse.distributed.torch_engine import under_torchrun

    given = [f"--{name.replace('_', '-')}" for name in DEMO_ONLY if getattr(args, name) is not None]
    if given:
        raise ValueError(
            f"{', '.join(given)}: the demo network's settings; --model {args.model} brings its "
            "own (optimizer, learning rate and dtype from its compile, weights and shuffling "
            "from its seed). Leave them out."
        )
    if args.engine not in ENGINES:
        raise ValueError(
            f"--model trains on --engine {' or '.join(ENGINES)} (not {args.engine}, for now); "
            "the demo network runs on it."
        )
    if under_torchrun():
        raise ValueError(
            "--model under torchrun: DataParallel starts its own processes on this machine; "
            "run dlcourse train without torchrun (--nproc N)."
        )
    output = user_model.output_path(args.output, args.overwrite)
    x, y, validation = user_model.load_data(args.data)
    model = user_model.resolve_model(args.model)
    distribute = DataParallel(args.engine, nproc=nproc, timeout=args.timeout, threads=args.threads)
    history = model.fit(
        x,
        y,
        epochs=args.epochs,
        batch_size=args.batch_size,
        validation_data=validation,
        verbose=0 if args.quiet else 1,
        distribute=distribute,
    )
    return {
        "output": model.save(output),
        "engine": args.engine,
        "nproc": nproc,
        "epochs": len(history.epoch),
        "final": {key: values[-1] for key, values in history.history.items()},
    }
