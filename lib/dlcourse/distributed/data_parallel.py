"""``DataParallel``: ``model.fit`` of the caller's own model, on several processes or devices.

::

    from dlcourse.distributed import DataParallel

    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=5, batch_size=64, distribute=DataParallel("torch", nproc=2))
    history = model.fit(x, y, epochs=5, batch_size=64, distribute=DataParallel("jax", nproc=2))
    history = model.fit(x, y, epochs=5, batch_size=64,
                        distribute=DataParallel("tensorflow", nproc=2))

Any compiled dlcourse model (Sequential, Functional) with the loss, optimizer
and metrics it was compiled with, on NumPy data, built on any backend.
``batch_size`` is the global batch, cut into ``nproc`` shares each step. Three
engines:

- ``"torch"``: ``nproc`` processes; each takes its slice of the batch, and
  the gradients are summed over the processes with ``torch.distributed``'s
  ``all_reduce`` (gloo, on the CPU) (``fit_worker``). The History's loss is
  the mean over each whole global batch; a metric is the mean of the
  processes' values weighted by their examples (exact for per-example means
  such as accuracy). Dropout masks and batch-norm statistics are each
  process's own (rank 0's statistics come back), so a model with them does
  not match one process exactly.
- ``"jax"``: one fresh process with ``nproc`` XLA devices (host devices on
  the CPU), a ``jax.sharding.Mesh`` over them, the weights and optimizer
  state replicated, each batch split over the mesh's ``"data"`` axis, and
  one jitted step for all (``jax_fit_worker``; the jax backend's
  ``data_parallel`` option). It is one-process ``fit`` on the jax backend,
  partitioned by XLA: metrics, batch-norm statistics and dropout masks are
  those of one process, and a batch that does not split evenly is padded
  inside the step, so any ``batch_size`` works.
- ``"tensorflow"``: one fresh process with a ``tf.distribute.MirroredStrategy``
  over ``nproc`` logical CPU devices: every variable (weights, the course's
  optimizer slots) mirrored, one copy per device; in the step each replica
  takes its contiguous share of the batch (as the torch engine's ranks),
  the loss and gradients weighted by share are summed by the strategy's
  ``all_reduce``, and every device applies the sum to its own copies
  (``tensorflow_fit_worker``; the tensorflow backend's ``data_parallel``
  option). The loop, the metrics and the validation are one-process ``fit``
  on the tensorflow backend (the step hands back the whole batch's
  predictions); batch norm normalises by each replica's rows and dropout
  draws per replica, so a model with them does not match one process exactly.
  ``workers="processes"``: ``nproc`` processes instead, one replica each, a
  ``MultiWorkerMirroredStrategy`` over a ``TF_CONFIG`` cluster on free
  loopback ports -- the path that spans machines, run on this one; the same
  step, the all-reduce between the processes.

On all three, one process on the same batches gives the same weights (to
rounding: float64, within 1e-10, asserted in the tests). The trained weights
and the History come back into ``model``; if a process fails, ``model``
keeps the weights it had, and ``WorkerFailed`` says which process and why.

``validation_data`` and ``validation_split`` work as in one-process fit: the
ranks (devices) each score their share of the validation rows and the sums
are all-reduced, so ``val_loss`` and the ``val_`` metrics are those of one
process. The callbacks run in this process, once per epoch, on ``model``
holding that epoch's weights: ``EarlyStopping`` (and its
``restore_best_weights``), ``ModelCheckpoint`` (one file per save, not one
per rank), ``LearningRateScheduler``, and your own epoch callbacks; their
decision to stop, and the next learning rate, reach every rank, so all stop
at the same epoch. Callbacks that act at every batch (``OneCycle``) are
refused with the reason. ``verbose`` shows rank 0's progress, here.

What travels to the processes is the model file of ``model.save`` and the
data, never a pickle; a layer class of your own must therefore be importable
(in a .py file, not defined in a notebook cell).
"""

import json
import math
import shutil
import sys

import numpy as np

from dlcourse.distributed import (
    caller_callbacks,
    fit_job,
    model_transfer,
    processes,
    progress,
    report,
)

__all__ = ["DataParallel"]

ENGINES = ("torch", "jax", "tensorflow")
# the engines whose one process trains over nproc devices (the others: nproc processes)
ONE_PROCESS = ("jax", "tensorflow")


class DataParallel:
    """Data-parallel training on ``engine`` over ``nproc`` workers on this machine.

    ``engine``: ``"torch"`` (``nproc`` processes, gloo's all-reduce),
    ``"jax"`` (one process, ``nproc`` XLA devices on a ``Mesh``, one jitted step)
    or ``"tensorflow"`` (one process, a ``MirroredStrategy`` over ``nproc``
    logical CPU devices; with ``workers="processes"``, ``nproc`` processes and a
    ``MultiWorkerMirroredStrategy`` over a loopback ``TF_CONFIG`` cluster).
    ``timeout``: seconds the whole run may take before every process is stopped.
    ``threads``: CPU threads per torch process (default: the cores shared out;
    the one process of jax or tensorflow shares them out among its devices itself).
    Give it to ``model.fit(..., distribute=DataParallel("tensorflow", nproc=2))``.
    """

    def __init__(self, engine="torch", nproc=2, timeout=300.0, threads=None, workers=None):
        if engine not in ENGINES:
            raise ValueError(
                f"DataParallel: engine {engine!r} is not available yet; expected one of {ENGINES}."
            )
        for name, value in (("nproc", nproc), ("threads", threads or 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"DataParallel: {name} must be a positive int, got {value!r}.")
        if engine in ONE_PROCESS and threads is not None:
            raise ValueError(
                f"DataParallel({engine!r}): threads is for the torch engine's processes; the "
                f"{engine} engine runs one process whose runtime shares the cores out among "
                "its devices itself. Leave threads unset."
            )
        if workers not in (None, "devices", "processes") or (
            workers is not None and engine != "tensorflow"
        ):
            raise ValueError(
                f"DataParallel({engine!r}): workers={workers!r} is not an option here; "
                "workers='devices' (the default) or 'processes' choose how the tensorflow "
                "engine's replicas run. Leave workers unset for the other engines."
            )
        self.workers = workers or "devices"
        if not (isinstance(timeout, (int, float)) and timeout > 0):
            raise ValueError(f"DataParallel: timeout must be positive seconds, got {timeout!r}.")
        self.engine, self.nproc, self.timeout, self.threads = engine, nproc, timeout, threads

    def __repr__(self):
        if self.workers == "processes":
            return f"DataParallel({self.engine!r}, nproc={self.nproc}, workers='processes')"
        return f"DataParallel({self.engine!r}, nproc={self.nproc})"

    @property
    def _one_process(self):
        """Whether one process trains over all ``nproc`` devices (its failure is the run's)."""
        return self.engine in ONE_PROCESS and self.workers == "devices"

    def fit(
        self,
        model,
        x,
        y,
        epochs=1,
        batch_size=32,
        validation_data=None,
        validation_split=0.0,
        shuffle=True,
        callbacks=None,
        verbose=1,
    ):
        """What ``model.fit(..., distribute=self)`` runs; returns the ``History``.

        The arguments mean what they mean to one-process ``fit``; ``callbacks``
        run in this process (see ``caller_callbacks``), ``verbose`` shows rank 0's progress.
        """
        from dlcourse.nn.callbacks import CallbackList
        from dlcourse.nn.history import History
        from dlcourse.nn.training import default_callbacks, prepare_fit_data

        model.require_compiled("fit")
        _positive("epochs", epochs)
        user = list(callbacks or [])
        caller_callbacks.check_callbacks(user)
        x, y, validation = prepare_fit_data(
            model, x, y, batch_size, validation_data, validation_split
        )
        weights_before = model.get_weights()
        rate_before = model.optimizer.learning_rate
        orders_state = model.shuffle_rng.bit_generator.state
        # the epoch orders one-process fit would draw, from the same generator
        orders = None
        if shuffle:
            orders = np.stack([model.shuffle_rng.permutation(len(y)) for _ in range(epochs)])
        history = History()
        steps = math.ceil(len(y) / batch_size)
        params = {"epochs": epochs, "steps": steps, "batch_size": batch_size, "samples": len(y)}
        # History after the user's callbacks, so that it records what they add to the logs
        callback_list = CallbackList([*user, history, *default_callbacks(verbose)], model, params)
        folder = report.work_folder(None)
        driver = caller_callbacks.EpochDriver(
            model, callback_list, folder, epochs, steps, sync=bool(user)
        )
        try:
            driver.begin()
            data = (x, y, validation, orders, orders_state if shuffle else None)
            final = self._run(model, data, folder, epochs, batch_size, driver)
            if not driver.sync:  # with sync, the model holds them already, as callbacks left it
                model.set_weights(final)
        except BaseException:
            # as if fit never ran: the weights and the shuffling generator as they were
            model.set_weights(weights_before)
            model.optimizer.learning_rate = rate_before
            model.shuffle_rng.bit_generator.state = orders_state
            raise
        finally:
            callback_list.on_train_end()
            shutil.rmtree(folder, ignore_errors=True)
        if shuffle:  # the generator moves as in one-process fit: one draw per epoch run
            model.shuffle_rng.bit_generator.state = orders_state
            for _ in history.epoch:
                model.shuffle_rng.permutation(len(y))
        model.history = history
        return history

    def _run(self, model, data, folder, epochs, batch_size, driver):
        x, y, validation, orders, shuffle_state = data
        job = {
            "custom_classes": model_transfer.custom_classes(model),
            "sys_path": [entry for entry in sys.path if entry],
            # a one-process engine's fit draws the orders itself, from the generator's state
            "inputs": model_transfer.write_data(
                folder, x, y, None if self.engine in ONE_PROCESS else orders, validation
            ),
            "validation": validation is not None,
            "epochs": epochs,
            "batch_size": batch_size,
            "timeout": self.timeout,
            "learning_rate": model.optimizer.learning_rate,  # as the callbacks set it for epoch 0
            "sync": driver.sync,
            "nproc": self.nproc,
            "shuffle_state": shuffle_state,
            "workers": self.workers,
        }
        model_transfer.write_model(model, folder)
        module, envs = self._workers(folder)
        progress.create(folder, len(envs))
        job_path = folder / "job.json"
        job_path.write_text(json.dumps(job))
        try:
            processes.run_workers(
                module,
                job_path,
                envs,
                self.timeout,
                folder,
                show_rank0=False,  # rank 0's output goes to its log: a notebook would not show it
                on_poll=driver.poll,
            )
        except processes.WorkerFailed as err:
            if not self._one_process:
                raise
            # one process, N devices: "rank 0" is that process, not one of the devices
            raise processes.WorkerFailed(
                f"DataParallel({self.engine!r}, nproc={self.nproc}): the training process "
                f"(one for all {self.nproc} devices) stopped; {err}",
                rank=err.rank,
            ) from None
        return fit_job.read_result(folder)

    def _workers(self, folder):
        """The worker module and each worker process's extra environment, for the engine."""
        if self.engine == "jax":
            from dlcourse.distributed import jax_fit_worker

            return jax_fit_worker.__name__, [jax_fit_worker.environment(self.nproc, folder)]
        if self.engine == "tensorflow":
            from dlcourse.distributed import tensorflow_fit_worker

            if self.workers == "processes":
                envs = tensorflow_fit_worker.cluster_environments(self.nproc, folder)
                return tensorflow_fit_worker.__name__, envs
            return tensorflow_fit_worker.__name__, [tensorflow_fit_worker.environment(folder)]
        from dlcourse.distributed import fit_worker
        from dlcourse.distributed.torch_engine import loopback_environments

        return fit_worker.__name__, loopback_environments(self.nproc, folder, self.threads)


def _positive(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}: expected a positive int, got {value!r}.")
