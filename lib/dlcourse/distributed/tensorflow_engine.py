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

Why the dlcourse model runs *as it is* here: on the ``tensorflow`` backend its
weights are ``tf.Variable`` s and its forward pass is TensorFlow code. Built
inside ``strategy.scope()``, each weight becomes a ``MirroredVariable`` (one
copy per device), and the course's own update rules
(``dlcourse.backends._tensorflow_optimizers``, the formulas of
``dlcourse.functional``) create their slots mirrored too. The step, per replica:

1. forward and ``GradientTape`` on the replica's slice (a mean over its rows);
2. ``all_reduce(MEAN)`` of the gradients -- the mean of equal-sized slices'
   means is the mean over the global batch;
3. ``merge_call`` + ``extended.update``: every replica applies the averaged
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

from dlcourse.distributed import options as opts
from dlcourse.distributed import processes, report

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


def _devices(tf, options):
    """The replicas' device names: the GPUs when there are enough, else logical CPUs."""
    gpus = tf.config.list_physical_devices("GPU")
    if options.device != "cpu" and gpus:
        if len(gpus) < options.nproc:
            raise ValueError(
                f"nproc={options.nproc}: TensorFlow sees {len(gpus)} GPU(s); use --nproc "
                f"{len(gpus)} or --device cpu for logical CPU devices."
            )
        return [f"/gpu:{i}" for i in range(options.nproc)]
    if options.device == "cuda":
        raise ValueError("device='cuda': TensorFlow sees no GPU here; use --device cpu.")
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(options.nproc)]
    )
    return [device.name for device in tf.config.list_logical_devices("CPU")][: options.nproc]


def train_in_this_process(options, folder, started):
    """Set up the devices, train, and write the result (TensorFlow must not be started yet)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    if options.threads:  # shared by the replicas: logical devices are one process's threads
        tf.config.threading.set_intra_op_parallelism_threads(options.threads)
    strategy = tf.distribute.MirroredStrategy(devices=_devices(tf, options))
    return _train(tf, strategy, options, folder, started)


def _train(tf, strategy, options, folder, started):
    import dlcourse
    from dlcourse import backends
    from dlcourse.backends._tensorflow_optimizers import variable_rule

    x_train, y_train, x_test, y_test = opts.load_data(options)
    with strategy.scope():  # every variable made in here is mirrored on each device
        # no device pinning: the strategy places each replica's variables and ops
        with dlcourse.backend("tensorflow"):
            model = opts.build_model(options, x_train.shape[1])
        params = model.trainable_weights
        rule = variable_rule(model.optimizer, params, tf)
    lr = tf.constant(options.lr, dtype=options.dtype)

    def replica_step(x, y):
        with backends.running(model.backend):
            with tf.GradientTape() as tape:
                loss = model.loss(y, model.call(x, True))
            grads = tape.gradient(loss, params)
        context = tf.distribute.get_replica_context()
        grads = context.all_reduce(tf.distribute.ReduceOp.MEAN, grads)

        def apply_on_every_replica(strategy, grads):
            def apply(_, *replica_grads):  # runs once per device, on that device's copies
                rule.apply(params, list(replica_grads), lr)
                return tf.constant(0)

            return strategy.extended.update(params[0], apply, args=tuple(grads), group=True)

        context.merge_call(apply_on_every_replica, args=(grads,))
        return loss

    @tf.function
    def step(x, y):
        losses = strategy.run(replica_step, args=(x, y))
        return strategy.reduce(tf.distribute.ReduceOp.MEAN, losses, axis=None)

    steps = opts.steps_per_epoch(options, len(x_train))
    orders = opts.epoch_order(options, len(x_train), options.epochs)

    def slices(order, s, array):
        # replica r gets the rows rank r would get from torch: same shards on both engines
        def for_replica(context):
            rows = opts.shard(order, s, options, context.replica_id_in_sync_group)
            return tf.constant(array[rows])

        return strategy.experimental_distribute_values_from_function(for_replica)

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
                x, y = slices(order, s, x_train), slices(order, s, y_train)
                total += float(step(x, y))
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


def _worker_main(config_path):
    """Entry point of the TensorFlow subprocess: train, or record the error and exit 1."""
    processes.die_with_parent()
    folder = os.environ["DLCOURSE_TRAIN_FOLDER"]
    try:
        options = opts.TrainOptions.from_json(Path(config_path).read_text())
        train_in_this_process(options, folder, float(os.environ["DLCOURSE_TRAIN_T0"]))
    except BaseException as err:  # noqa: BLE001 (any failure must reach the launcher)
        processes.record_failure(folder, 0, err)
        raise SystemExit(1) from None


if __name__ == "__main__":
    _worker_main(sys.argv[1])
