"""``dlcourse train``: train a dlcourse model data-parallel on torch.distributed or tf.distribute.

Every worker holds a copy of the model (an MLP 64-64-10 on scikit-learn's
digits), takes its slice of each global batch, and the gradients are averaged
over the workers before every step, so all copies stay equal.

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

Test hook: DLCOURSE_TRAIN_FAIL=RANK:STEP makes that rank raise at that step.
"""

import json
import sys

HELP = "train a model data-parallel with torch DistributedDataParallel or tf MirroredStrategy"


def add_arguments(parser):
    parser.add_argument("--engine", required=True, choices=("torch", "tensorflow"))
    parser.add_argument(
        "--nproc",
        type=int,
        default=None,
        help="workers: processes (torch) or replicas (tensorflow); default 2, "
        "or torchrun's WORLD_SIZE",
    )
    parser.add_argument("--model", default="mlp", choices=("mlp",), help="default: mlp")
    parser.add_argument("--dataset", default="digits", choices=("digits",), help="default: digits")
    parser.add_argument("--epochs", type=int, default=3, help="default: 3")
    parser.add_argument(
        "--batch-size",
        type=int,
        default=64,
        help="the GLOBAL batch, split evenly over the workers (default: 64)",
    )
    parser.add_argument("--lr", type=float, default=0.01, help="learning rate (default: 0.01)")
    parser.add_argument("--optimizer", default="adam", choices=("adam", "sgd"))
    parser.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    parser.add_argument("--seed", type=int, default=0, help="weights and shuffling (default: 0)")
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


def run(args):
    from dlcourse.distributed import TrainOptions, WorkerFailed
    from dlcourse.distributed.launch import run as launch_run

    nproc = args.nproc
    if nproc is None:
        import os

        nproc = int(os.environ.get("WORLD_SIZE", 2))
    try:
        options = TrainOptions(
            engine=args.engine,
            nproc=nproc,
            model=args.model,
            dataset=args.dataset,
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            optimizer=args.optimizer,
            dtype=args.dtype,
            seed=args.seed,
            timeout=args.timeout,
            steps_per_epoch=args.steps_per_epoch,
            device=args.device,
            threads=args.threads,
            json_path=args.json,
            verbose=not args.quiet,
        )
        result = launch_run(options)
    except ValueError as err:
        print(f"dlcourse train: {err}", file=sys.stderr)
        return 2
    except WorkerFailed as err:
        print(f"dlcourse train: {err}", file=sys.stderr)
        return 1
    if result is None:  # a torchrun rank other than 0: rank 0 reports
        return 0
    shown = {k: v for k, v in result.items() if k not in ("replica_hashes", "epoch_losses")}
    print(json.dumps(shown, indent=2))
    return 0
