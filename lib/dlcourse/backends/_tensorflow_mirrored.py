"""Data parallelism inside one TensorFlow process: the ``tensorflow`` backend's ``data_parallel=N``.

``tf.distribute.MirroredStrategy`` keeps one replica of the model per device:
every variable made inside ``strategy.scope()`` (weights, optimizer slots,
batch-norm statistics) becomes a ``MirroredVariable``, one copy per device.
On a machine with enough GPUs the devices are GPUs; otherwise the CPU is
split into N *logical* devices, which gives real replicas, real copies and a
real all-reduce without extra hardware. That split must happen before
TensorFlow starts its runtime, which is why ``DataParallel("tensorflow")``
and ``dlcourse train --engine tensorflow`` train in a fresh process.

With ``multi_worker=True`` the replicas are processes instead, one per
worker of the cluster that ``TF_CONFIG`` names (on one machine or several):
``tf.distribute.MultiWorkerMirroredStrategy``, the same variables and the
same step, the all-reduce going over the network between the processes.
Every worker runs the same program on the same batches and reads its own
share of each (``replica_id_in_sync_group`` counts across the workers).

The train step (:func:`make_replicated_step`) is the one-process step, cut
by replica. Each replica takes its contiguous share of the global batch (the
rows ``np.array_split`` would give it, so a batch that does not divide
evenly is fine), and its mean loss weighted by ``share / batch``; one
``all_reduce(SUM)`` of those losses and gradients gives the loss and the
gradient of the whole batch, as one process computes them. A ``merge_call``
then has every device apply that sum to *its own* copies with the course's
update rule (:func:`apply_on_every_replica`). Nothing but the arithmetic
keeps the copies equal, so checking them at the end is a real check.

Batch norm normalises by each replica's own rows (as in ``tf.distribute``
and the torch engine); its moving statistics are the replicas' weighted
mean. Dropout draws from the layer's generator on every replica.
"""

import os

from dlcourse import backends

__all__ = ["apply_on_every_replica", "make_replicated_step", "mirrored_strategy"]


def replica_devices(tf, n, device=None):
    """The replicas' device names: the GPUs when there are enough, else ``n`` logical CPUs."""
    gpus = tf.config.list_physical_devices("GPU")
    if device != "cpu" and gpus:
        if len(gpus) < n:
            raise ValueError(
                f"data_parallel={n}: TensorFlow sees {len(gpus)} GPU(s); use {len(gpus)} "
                "replicas, or device='cpu' for logical CPU devices."
            )
        return [f"/gpu:{i}" for i in range(n)]
    if device in ("gpu", "cuda"):
        raise ValueError(f"device={device!r}: TensorFlow sees no GPU here; use device='cpu'.")
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(n)]
        )
    except RuntimeError:  # TensorFlow has started: its devices are fixed, as they are
        pass
    cpus = tf.config.list_logical_devices("CPU")
    if len(cpus) < n:
        raise ValueError(
            f"data_parallel={n}: TensorFlow started with {len(cpus)} CPU device(s) in this "
            "process, and the CPU is split into logical devices only before it starts; "
            f'DataParallel("tensorflow", nproc={n}) trains in a fresh process that does it.'
        )
    return [d.name for d in cpus[:n]]


def mirrored_strategy(tf, n, device=None, multi_worker=False):
    """A ``MirroredStrategy`` over ``n`` devices (see :func:`replica_devices`), or, with
    ``multi_worker``, a ``MultiWorkerMirroredStrategy`` over the ``n`` workers of ``TF_CONFIG``."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"data_parallel: expected a positive int (replicas), got {n!r}.")
    if not multi_worker:
        return tf.distribute.MirroredStrategy(devices=replica_devices(tf, n, device))
    if "TF_CONFIG" not in os.environ:
        raise ValueError(
            "multi_worker=True: TF_CONFIG is not set; it names the cluster's workers and this "
            'process\'s index (DataParallel("tensorflow", workers="processes") sets it).'
        )
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    if strategy.num_replicas_in_sync != n:
        raise ValueError(
            f"data_parallel={n}: the cluster of TF_CONFIG has "
            f"{strategy.num_replicas_in_sync} replicas; give data_parallel that number."
        )
    return strategy


def apply_on_every_replica(tf, rule, params, grads, lr, finite=True, state=(), new_state=()):
    """In a replica: every device applies the (all-reduced) ``grads`` to its own copies.

    ``state``: variables to set to ``new_state`` on every device as well;
    ``finite``: False leaves every copy as it was (a non-finite loss).
    """
    count = len(params)

    def merged(strategy, finite, *values):
        def apply(_, finite, *values):  # once per device, on that device's copies
            def update():
                rule.apply(params, list(values[:count]), lr)
                for variable, new in zip(state, values[count:]):
                    variable.assign(new)
                return tf.constant(True)

            return tf.cond(finite, update, lambda: tf.constant(False))

        args = (finite, *values)
        return strategy.extended.update(params[0], apply, args=args, group=True)

    context = tf.distribute.get_replica_context()
    finite = tf.convert_to_tensor(finite)
    return context.merge_call(merged, args=(finite, *grads, *new_state))


def _share_bounds(tf, n, replica, replicas):
    """Rows ``[lo, hi)`` of a batch of ``n`` for ``replica``: ``np.array_split``'s shares."""
    base, extra = n // replicas, n % replicas
    lo = replica * base + tf.minimum(replica, extra)
    return lo, lo + base + tf.cast(replica < extra, n.dtype)


def make_replicated_step(backend, model, loss, rule, lr, tf, dense_grads):
    """``train(x, y) -> (loss, y_pred)`` over ``backend.strategy``'s replicas, for tf.function.

    ``x``, ``y``: the whole global batch (every replica reads its own share).
    ``y_pred`` comes back whole, in row order, for the metrics.
    """
    strategy = backend.strategy
    replicas = strategy.num_replicas_in_sync
    params = model.trainable_weights
    state = model.state_variables
    # the state the step updates: batch-norm statistics (a generator updates itself)
    updated = [i for i, s in enumerate(state) if isinstance(s, tf.Variable)]

    def replica_step(x, y):
        context = tf.distribute.get_replica_context()
        n = tf.shape(tf.nest.flatten(x)[0])[0]
        lo, hi = _share_bounds(tf, n, context.replica_id_in_sync_group, replicas)
        mine = tf.nest.map_structure(lambda a: a[lo:hi], (x, y))
        share = tf.cast(hi - lo, model.dtype) / tf.cast(n, model.dtype)
        with backends.running(backend):
            with tf.GradientTape() as tape:
                y_pred, new_state = model.stateless_call(params, state, mine[0], True)
                # an empty share (a batch smaller than the replicas) adds 0, not NaN
                value = tf.math.multiply_no_nan(loss(mine[1], y_pred), share)
            grads = dense_grads(params, tape.gradient(value, params))
        moved = [new_state[i] * tf.cast(share, new_state[i].dtype) for i in updated]
        total, grads, moved = context.all_reduce(tf.distribute.ReduceOp.SUM, (value, grads, moved))
        changed = [state[i] for i in updated]
        finite = tf.math.is_finite(total)
        apply_on_every_replica(tf, rule, params, grads, lr, finite, changed, moved)
        return total, y_pred

    def train(x, y):
        total, y_pred = strategy.run(replica_step, args=(x, y))
        whole = tf.nest.map_structure(lambda p: strategy.gather(p, axis=0), y_pred)
        return strategy.experimental_local_results(total)[0], whole

    return train
