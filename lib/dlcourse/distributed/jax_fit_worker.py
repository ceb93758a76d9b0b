"""The ``jax`` engine of ``DataParallel.fit``: one process, N devices, one compiled step.

Started by ``python -m dlcourse.distributed.jax_fit_worker JOB.json`` with
the environment of :func:`environment`, which asks XLA for ``nproc`` host
devices; that request is read once, when JAX starts, which is why this runs
in a fresh process and never in the caller's. The model is loaded on the
``jax`` backend with ``data_parallel=nproc`` (``_jax_mesh``: a ``Mesh`` over
the devices, weights and optimizer state replicated, every batch split over
its ``"data"`` axis) and trained by one-process ``fit`` (``device_fit``).
"""

import os
import sys

from dlcourse.distributed import device_fit, fit_job

__all__ = ["environment", "train"]


_DEVICE_COUNT = "--xla_force_host_platform_device_count="


def environment(nproc, folder):
    """The worker's extra environment: ``nproc`` CPU devices for XLA, JAX on the CPU only.

    The caller's own ``XLA_FLAGS`` are kept, but for a device count of theirs.
    """
    kept = [flag for flag in os.environ.get("XLA_FLAGS", "").split() if _DEVICE_COUNT not in flag]
    return {
        "XLA_FLAGS": " ".join([*kept, f"{_DEVICE_COUNT}{nproc}"]),
        "JAX_PLATFORMS": "cpu",
        "DLCOURSE_TRAIN_FOLDER": str(folder),
    }


def train(job, folder):
    """Fit the job's model on its data over ``job["nproc"]`` XLA devices; leave the weights."""
    device_fit.fit_on_devices(job, folder, "jax")


if __name__ == "__main__":
    fit_job.worker_main(train, sys.argv[1])
