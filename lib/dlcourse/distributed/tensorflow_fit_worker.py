"""The ``tensorflow`` engine of ``DataParallel.fit``: one process, a ``MirroredStrategy``.

Started by ``python -m dlcourse.distributed.tensorflow_fit_worker JOB.json``
with the environment of :func:`environment`. TensorFlow splits the CPU into
``nproc`` logical devices only before its runtime starts, which is why this
runs in a fresh process and never in the caller's. The model is loaded on
the ``tensorflow`` backend with ``data_parallel=nproc``
(``_tensorflow_mirrored``: every variable mirrored on each device, each
batch split over the replicas, the gradients all-reduced, every device
applying them to its own copies) and trained by one-process ``fit``
(``device_fit``).

``workers="processes"``: ``nproc`` such processes instead, one replica each,
meeting on free loopback ports named in ``TF_CONFIG``
(:func:`cluster_environments`), each on the backend's ``multi_worker``
option (``MultiWorkerMirroredStrategy``) -- the path that spans machines,
run on one.
"""

import json
import os
import sys

from dlcourse.distributed import device_fit, fit_job
from dlcourse.distributed.ports import free_ports

__all__ = ["cluster_environments", "environment", "train"]


def environment(folder):
    """The worker's extra environment: TensorFlow on the CPU, its start-up chatter quiet."""
    return {
        "CUDA_VISIBLE_DEVICES": "",  # logical CPU devices, even where a GPU is
        "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"),
        "DLCOURSE_TRAIN_FOLDER": str(folder),
    }


def cluster_environments(nproc, folder):
    """Each of ``nproc`` worker processes' environment: its rank and a loopback ``TF_CONFIG``."""
    workers = [f"127.0.0.1:{port}" for port in free_ports(nproc)]
    return [
        {
            **environment(folder),
            "RANK": str(rank),
            "TF_CONFIG": json.dumps(
                {"cluster": {"worker": workers}, "task": {"type": "worker", "index": rank}}
            ),
        }
        for rank in range(nproc)
    ]


def train(job, folder):
    """Fit the job's model over ``job["nproc"]`` replicas (devices or processes)."""
    if job.get("workers") == "processes":
        rank = int(os.environ["RANK"])
        device_fit.fit_on_devices(job, folder, "tensorflow", rank=rank, multi_worker=True)
    else:
        device_fit.fit_on_devices(job, folder, "tensorflow")


if __name__ == "__main__":
    fit_job.worker_main(train, sys.argv[1])
