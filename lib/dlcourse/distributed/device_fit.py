"""The worker of the engines whose one process trains over several devices (jax, tensorflow).

The model is loaded from its file on the engine's backend with
``data_parallel=nproc`` -- the backend then splits every batch over its
devices inside the step -- and trained by the one-process ``fit`` itself:
its loop, its step, its loss and optimizer code, so N devices give one
process's numbers. The caller's shuffling generator travels in the job, so
the batches are those the caller would draw.

The caller's callbacks are reached through :class:`CallerHandoff`, an epoch
callback of the worker's ``fit``: at each epoch's end it hands the logs
(and, when they need the model, the weights) to the caller and takes back
its decision (``handoff``), as rank 0 of the torch engine does. Its
``progress`` slot says which epoch it is at, for the launcher's messages.

A backend whose replicas are processes (tensorflow's ``multi_worker``) runs
this in each of them, on the same batches: rank 0 hands its epochs over and
writes the weights; every rank takes the caller's decision from its file.
"""

from dlcourse.distributed import fit_job, handoff, model_transfer, progress
from dlcourse.nn.callbacks import Callback

__all__ = ["CallerHandoff", "fit_on_devices"]


class CallerHandoff(Callback):
    """Each epoch's end: the logs to the caller; back (``sync``), its stop and learning rate."""

    def __init__(self, folder, epochs, sync, rank=0):
        super().__init__()
        self.folder, self.epochs, self.sync, self.rank = folder, epochs, sync, rank
        self.progress = progress.RankProgress(folder, rank)

    def on_epoch_begin(self, epoch, logs=None):
        self.progress.at(epoch, 0)

    def on_epoch_end(self, epoch, logs=None):
        self.progress.at(epoch, self.params["steps"])
        if self.rank == 0:
            weights = self.model.get_weights() if self.sync else None  # for the callbacks
            handoff.write_epoch(self.folder, epoch, logs, weights)
        if self.sync and epoch + 1 < self.epochs:
            self.progress.waiting(progress.WAITING_FOR_CALLER)
            stop, rate = handoff.wait_decision(self.folder, epoch)
            self.model.stop_training = stop
            self.model.optimizer.learning_rate = rate


def fit_on_devices(job, folder, backend, rank=0, **options):
    """Fit the job's model over ``job["nproc"]`` CPU devices of ``backend``; leave the weights.

    ``options``: more backend options; ``rank``: this process's, when there are several.
    """
    model = fit_job.load_job_model(
        job, folder, backend, device="cpu", data_parallel=job["nproc"], **options
    )
    x, y, _, validation = model_transfer.read_data(folder, job["inputs"])
    shuffle = job["shuffle_state"] is not None
    if shuffle:  # the caller's generator, so that fit here draws the caller's epoch orders
        model.shuffle_rng.bit_generator.state = job["shuffle_state"]
    model.fit(
        x,
        y,
        epochs=job["epochs"],
        batch_size=job["batch_size"],
        validation_data=validation,
        shuffle=shuffle,
        callbacks=[CallerHandoff(folder, job["epochs"], job["sync"], rank)],
        verbose=0,  # the caller draws the progress itself
    )
    if rank == 0:
        fit_job.write_result(folder, model.get_weights())
