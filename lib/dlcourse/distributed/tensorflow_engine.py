"""Data-parallel training with tf.distribute.MirroredStrategy.

MirroredStrategy is data parallelism inside *one* process: one replica of the
model per device, each fed its slice of the global batch by one Python
program, with the gradients summed or averaged by an all-reduce between the
devices. On a machine with GPUs the devices are the GPUs; on a CPU-only
machine this engine splits the CPU into ``nproc`` *logical* devices
(``tf.config.set_logical_device_configuration``), which gives real replicas,
real mirrored variables and a real all-reduce, only without extra hardware.
That split must happen before TensorFlow initialises its devices, which is
why the training runs in a fresh subprocess (:func:`launch`), never in the
caller's Python.

The model is the dlcourse model on the ``tensorflow`` backend with
``data_parallel=nproc``: built inside the strategy's scope, each weight is a
``MirroredVariable`` (one copy per device), the course's own update rules
(``dlcourse.backends._tensorflow_optimizers``) create their slots mirrored
too, and ``model.train_step()`` is the backend's replicated step
(``dlcourse.backends._tensorflow_mirrored``, shared with
``DataParallel("tensorflow")``). Per replica:

1. forward and ``GradientTape`` on the replica's contiguous share of the
   global batch (the rows rank r gets from the torch engine), its mean loss
   weighted by its share of the rows;
2. ``all_reduce(SUM)`` of those gradients: the mean over the global batch;
3. ``merge_call`` + ``extended.update``: every replica applies the summed
   gradient to *its own* copy of the weights and slots.

Nothing forces the copies to agree but the arithmetic, so checking that they
are equal at the end (``replicas_identical``) is a real check. Going through
Keras (``dlcourse.interop.to_keras`` + ``keras.Model.fit``) would also work,
but with Keras's optimizers, which differ from the course's in where epsilon goes.
"""

import os
import sys
import time
from pathlib import Path

from dlcourse.distributed import fit_job, processes, report
from dlcourse.distributed import options as opts

__all__ = ["launch", "train_in_this_process"]


def launch(options, folder):
    """Train in a fresh TensorFlow subprocess and wait for it; returns its result."""
    config = Path(folder) / "options.json"
    config.write_text(options.to_json())
    env = {
        "DLCOURSE_TRAIN_T0": repr(time.time()),
        "DLCOURSE_TRAIN_FOLDER": str(folder),
        "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"),  # less chatter
    }
    processes.run_workers(
        "dlcourse.distributed.tensorflow_engine",
        config,
        [env],
        options.timeout,
        folder,
        show_rank0=options.verbose,
    )
    return report.read_result(folder)


def train_in_this_process(options, folder, started):
    """Set up the devices, train, and write the result (TensorFlow must not be started yet)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    if options.threads:  # shared by the replicas: logical devices are one process's threads
        tf.config.threading.set_intra_op_parallelism_threads(options.threads)
    return _train(tf, options, folder, started)


def _train(tf, options, folder, started):
    import dlcourse

    x_train, y_train, x_test, y_test = opts.load_data(options)
    # the GPUs when there are nproc of them, else nproc logical CPU devices
    with dlcourse.backend("tensorflow", device=options.device, data_parallel=options.nproc):
        model = opts.build_model(options, x_train.shape[1])
    backend, strategy, params = model.backend, model.backend.strategy, model.trainable_weights
    train_step = model.train_step()  # every replica reads its share of the global batch

    def step(order, s):
        rows = order[s * options.batch_size : (s + 1) * options.batch_size]
        return train_step(backend.asarray(x_train[rows]), backend.asarray(y_train[rows]))[0]

    steps = opts.steps_per_epoch(options, len(x_train))
    orders = opts.epoch_order(options, len(x_train), options.epochs)

    from tqdm.auto import tqdm

    t_train = time.time()
    losses = []
    with tqdm(
        total=steps * options.epochs,
        desc=f"tf MirroredStrategy x{options.nproc}",
        unit="step",
        disable=not options.verbose,
        file=sys.stderr,
    ) as progress:
        for epoch, order in enumerate(orders):
            total = 0.0
            for s in range(steps):
                opts.injected_failure(0, epoch * steps + s)
                total += float(step(order, s))
                progress.update(1)
            losses.append(total / steps)
    seconds = time.time() - t_train

    digests = [
        report.weights_digest([strategy.experimental_local_results(w)[i].numpy() for w in params])
        for i in range(options.nproc)
    ]
    return report.finish_run(
        "tensorflow",
        options.nproc,
        options,
        model,
        (x_test, y_test),
        folder,
        started=started,
        t_train=t_train,
        seconds=seconds,
        losses=losses,
        steps=steps,
        digests=digests,
        extra={
            "device": ",".join(strategy.extended.worker_devices),
            "threads": tf.config.threading.get_intra_op_parallelism_threads(),
        },
    )


def _run_demo(job, folder):
    options = opts.TrainOptions(**job)
    train_in_this_process(options, folder, float(os.environ["DLCOURSE_TRAIN_T0"]))


if __name__ == "__main__":  # the subprocess: fit_job's entry records a failure for the launcher
    fit_job.worker_main(_run_demo, sys.argv[1])
