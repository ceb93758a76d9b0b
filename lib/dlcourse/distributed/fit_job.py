"""A worker's side of ``DataParallel.fit``, whatever the engine: job in, model out, errors kept.

The caller leaves in the work folder the job (``job.json``), the model file
and the data (``model_transfer``). Every engine's worker loads the model with
:func:`load_job_model`, trains it its own way, and leaves the trained weights
with :func:`write_result` for the caller's :func:`read_result`.
:func:`worker_main` is the entry point they share: it records any failure
for the launcher (``processes.record_failure``) and never outlives the caller.
"""

import json
import os
import sys
from pathlib import Path

import numpy as np

from dlcourse.distributed import model_transfer, processes

__all__ = ["RESULT_FILE", "load_job_model", "read_result", "worker_main", "write_result"]

RESULT_FILE = "trained.npz"


def load_job_model(job, folder, backend, **options):
    """The caller's model, rebuilt from its file on ``backend``, at the learning rate of epoch 0."""
    import dlcourse
    from dlcourse.nn.saving import load_model

    custom = model_transfer.load_custom_classes(job["custom_classes"], job["sys_path"])
    with dlcourse.backend(backend, **options):
        model = load_model(Path(folder) / model_transfer.MODEL_FILE, custom_objects=custom)
    model.optimizer.learning_rate = job["learning_rate"]  # as the callbacks set it for epoch 0
    return model


def write_result(folder, weights):
    """The trained weights (NumPy arrays, in ``get_weights`` order), for the caller."""
    arrays = {f"weight_{i:03d}": w for i, w in enumerate(weights)}
    np.savez(Path(folder) / RESULT_FILE, **arrays)


def read_result(folder):
    """The trained weights a worker left in ``folder``."""
    with np.load(Path(folder) / RESULT_FILE, allow_pickle=False) as data:
        return [data[key] for key in sorted(data.files)]


def worker_main(run, job_path):
    """Run ``run(job, folder)``; on any failure record it for the launcher and exit 1."""
    processes.die_with_parent()
    folder = os.environ["DLCOURSE_TRAIN_FOLDER"]
    rank = int(os.environ.get("RANK", "0"))
    try:
        run(json.loads(Path(job_path).read_text()), folder)
    except BaseException as err:  # noqa: BLE001 (any failure must reach the launcher)
        processes.record_failure(folder, rank, err)
        raise SystemExit(1) from None
    # skip the interpreter's teardown, which can abort in gloo's threads (see torch_engine)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
