"""Data-parallel training of a dlcourse model on real engines: torch.distributed and tf.distribute.

Data parallelism in one paragraph: every worker (a process, or a device) holds
a full copy of the model. Each step, the global batch is cut into one slice
per worker; each computes the gradients on its slice; the gradients are
averaged over all workers (an *all-reduce*); every worker applies that same
average to its own copy. The copies start equal and take equal steps, so they
stay equal -- and the result is the one a single worker would get on the
whole global batch, only computed by several at once.

::

    from dlcourse.distributed import train

    report = train("torch", nproc=2, epochs=3, batch_size=64)       # DDP over 2 processes
    report = train("tensorflow", nproc=2, epochs=3, batch_size=64)  # MirroredStrategy, 2 devices
    report["seconds"], report["accuracy"], report["replicas_identical"]

The same from a shell: ``dlcourse train --engine torch --nproc 2``; see
``dlcourse train --help`` for running it on several machines with torchrun.
torch and TensorFlow run in worker processes, never in the caller's.

Your own compiled model, on your own NumPy data (see ``DataParallel``)::

    from dlcourse.distributed import DataParallel

    history = model.fit(x, y, epochs=5, batch_size=64, distribute=DataParallel("torch", nproc=2))
    history = model.fit(x, y, epochs=5, batch_size=64, distribute=DataParallel("jax", nproc=2))
    history = model.fit(x, y, distribute=DataParallel("tensorflow", nproc=2))

(torch: one process per rank, gloo's all-reduce; jax: one fresh process with
N XLA devices on a ``jax.sharding.Mesh``, one jitted step for all;
tensorflow: one fresh process, a ``MirroredStrategy`` over N logical CPU devices.)

and from a shell, through that same ``fit``, a model saved with ``model.save``
or a function that returns one: ``dlcourse train --engine torch --model
my_models:build --data train.npz --output trained.npz`` (``user_model``).
A rank that raises, hangs or is killed is named in ``WorkerFailed``
(``blame``, from each rank's ``progress``); no process is left behind.
"""

from dlcourse.distributed.data_parallel import DataParallel
from dlcourse.distributed.options import TrainOptions
from dlcourse.distributed.processes import WorkerFailed

__all__ = ["DataParallel", "TrainOptions", "WorkerFailed", "train"]


def train(engine, nproc, **options):
    """Train data-parallel on ``engine`` ("torch" or "tensorflow") with ``nproc`` workers.

    ``options`` are :class:`TrainOptions`' fields: ``epochs``, ``batch_size``
    (the global batch), ``lr``, ``optimizer`` ("adam", "sgd"), ``dtype``,
    ``seed``, ``timeout`` (seconds), ``steps_per_epoch``, ``device``, ``threads``,
    ``json_path`` (also write the report there), ``verbose``.

    Returns the report (a dict; keys in ``dlcourse.distributed.report.REPORT_KEYS``).
    Raises ``WorkerFailed`` naming the rank when a worker fails or time runs out.
    """
    from dlcourse.distributed.launch import run

    return run(TrainOptions(engine=engine, nproc=nproc, **options))
