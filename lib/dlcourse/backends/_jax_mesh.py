"""Data parallelism inside one JAX process: the ``jax`` backend's ``data_parallel=N`` option.

A ``jax.sharding.Mesh`` lays N devices along one axis, ``"data"``. Every
array the backend makes (weights, optimizer state, random keys, the data
set) is placed *replicated*: each device holds a full copy. Inside every
compiled step the batch is constrained to be *split* along ``"data"``
(``NamedSharding(mesh, PartitionSpec("data"))``): each device computes the
forward and backward pass of its rows only.

The step itself is the one-process step, unchanged: nothing here says
"all-reduce". XLA's partitioner sees that the loss is a mean over the whole
batch and that the weights must stay replicated, and inserts the all-reduces
that this requires -- for the gradients, for the loss, and for batch-norm
statistics, which are therefore those of the whole batch, as in one process.
A batch that does not divide into N equal shards is padded by XLA inside the
step and the padding masked out of every reduction, so a ragged last batch
gives one process's numbers too. (``shard_map`` with an explicit ``psum``
would show the all-reduce, but it needs the step rewritten per shard -- the
mean loss re-weighted by each shard's rows, batch norm made per device or
reduced by hand -- which is exactly where one process and N devices would
start to disagree.)

On a CPU, XLA shows N host devices only when ``XLA_FLAGS`` holds
``--xla_force_host_platform_device_count=N`` before JAX starts, which is
why ``DataParallel("jax", nproc=N)`` trains in a fresh process.
"""

import numpy as np

__all__ = ["DataMesh"]

AXIS = "data"


class DataMesh:
    """``n`` devices of ``platform`` on a ``"data"`` axis: where arrays go, how batches split."""

    def __init__(self, jax, platform, n):
        from jax.sharding import Mesh, NamedSharding, PartitionSpec

        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"data_parallel: expected a positive int (devices), got {n!r}.")
        devices = jax.devices(platform)
        if len(devices) < n:
            raise ValueError(
                f"data_parallel={n}: JAX sees {len(devices)} {platform} device(s) here. "
                "On the CPU, XLA makes N host devices only when XLA_FLAGS holds "
                f"--xla_force_host_platform_device_count={n} before JAX starts; "
                f'DataParallel("jax", nproc={n}) trains in a fresh process that sets it.'
            )
        self._jax, self.size = jax, n
        self.mesh = Mesh(np.array(devices[:n]), (AXIS,))
        self.replicated = NamedSharding(self.mesh, PartitionSpec())
        self.split = NamedSharding(self.mesh, PartitionSpec(AXIS))

    def split_batch(self, tree):
        """Inside a compiled step: each array of ``tree`` split by rows over the devices."""
        constrain = self._jax.lax.with_sharding_constraint
        return self._jax.tree.map(lambda a: constrain(a, self.split), tree)
