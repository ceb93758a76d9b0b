"""``DataParallel``: ``model.fit`` of the caller's own model, on several processes.

::

    from dlcourse.distributed import DataParallel

    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=5, batch_size=64, distribute=DataParallel("torch", nproc=2))

Any compiled dlcourse model (Sequential, Functional) with the loss, optimizer
and metrics it was compiled with, on NumPy data. ``batch_size`` is the global
batch: each step, each of the ``nproc`` processes takes its slice of it, and
the gradients are summed over the processes with ``torch.distributed``'s
``all_reduce`` (gloo, on the CPU). One process on the same batches gives the
same weights (to rounding). The trained weights and the History come back
into ``model``; if a process fails, ``model`` keeps the weights it had, and
``WorkerFailed`` names the rank. The History's loss is the mean over each
whole global batch; a metric is the mean of the processes' values weighted by
their examples (exact for per-example means such as accuracy). Dropout masks
and batch-norm statistics are each process's own (rank 0's statistics come
back), so a model with them does not match one process exactly.

What travels to the processes is the model file of ``model.save`` and the
data, never a pickle; a layer class of your own must therefore be importable
(in a .py file, not defined in a notebook cell).
"""

import json
import shutil
import sys

import numpy as np

from dlcourse.distributed import model_transfer, processes, progress, report

__all__ = ["DataParallel"]

ENGINES = ("torch",)


class DataParallel:
    """Data-parallel training on ``engine`` ("torch") over ``nproc`` processes on this machine.

    ``timeout``: seconds the whole run may take before every process is stopped.
    ``threads``: CPU threads per process (default: the cores shared out).
    Give it to ``model.fit(..., distribute=DataParallel("torch", nproc=2))``.
    """

    def __init__(self, engine="torch", nproc=2, timeout=300.0, threads=None):
        if engine not in ENGINES:
            raise ValueError(
                f"DataParallel: engine {engine!r} is not available yet; expected one of {ENGINES}."
            )
        for name, value in (("nproc", nproc), ("threads", threads or 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"DataParallel: {name} must be a positive int, got {value!r}.")
        if not (isinstance(timeout, (int, float)) and timeout > 0):
            raise ValueError(f"DataParallel: timeout must be positive seconds, got {timeout!r}.")
        self.engine, self.nproc, self.timeout, self.threads = engine, nproc, timeout, threads

    def __repr__(self):
        return f"DataParallel({self.engine!r}, nproc={self.nproc})"

    def fit(self, model, x, y, epochs=1, batch_size=32, shuffle=True, verbose=1, **unsupported):
        """What ``model.fit(..., distribute=self)`` runs; returns the ``History``.

        ``verbose`` 1 or 2 prints one line per epoch once the processes are done
        (their own output would not reach a notebook).
        """
        given = [name for name, value in unsupported.items() if value]
        if given:
            raise NotImplementedError(
                f"DataParallel: fit's {', '.join(given)} is not supported across processes "
                "yet; evaluate the returned model on your validation data after fit instead."
            )
        if verbose not in (0, 1, 2):
            raise ValueError(
                f"verbose: expected 0 (silent), 1 or 2 (one line per epoch), got {verbose!r}."
            )
        x, y = _prepared(model, x, y, epochs, batch_size)
        orders_state = model.shuffle_rng.bit_generator.state
        # the epoch orders one-process fit would draw, from the same generator
        orders = None
        if shuffle:
            orders = np.stack([model.shuffle_rng.permutation(len(y)) for _ in range(epochs)])
        folder = report.work_folder(None)
        try:
            weights, logs = self._run(model, x, y, orders, folder, epochs, batch_size)
        except BaseException:
            model.shuffle_rng.bit_generator.state = orders_state  # as if fit never ran
            raise
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        model.set_weights(weights)
        history = _history(model, logs)
        if verbose:
            _print_epochs(history)
        return history

    def _run(self, model, x, y, orders, folder, epochs, batch_size):
        from dlcourse.distributed import fit_worker
        from dlcourse.distributed.torch_engine import loopback_environments

        job = {
            "custom_classes": model_transfer.custom_classes(model),
            "sys_path": [entry for entry in sys.path if entry],
            "inputs": model_transfer.write_data(folder, x, y, orders),
            "epochs": epochs,
            "batch_size": batch_size,
            "timeout": self.timeout,
        }
        model_transfer.write_model(model, folder)
        progress.create(folder, self.nproc)
        job_path = folder / "job.json"
        job_path.write_text(json.dumps(job))
        envs = loopback_environments(self.nproc, folder, self.threads)
        processes.run_workers(
            "dlcourse.distributed.fit_worker",
            job_path,
            envs,
            self.timeout,
            folder,
            show_rank0=False,  # rank 0's output goes to its log: a notebook would not show it
        )
        return fit_worker.read_result(folder)


def _prepared(model, x, y, epochs, batch_size):
    """``(x, y)`` checked and converted as one-process fit does, before any process starts."""
    from dlcourse.nn.arrays import as_numpy, num_examples
    from dlcourse.nn.training import prepare_targets

    model.require_compiled("fit")
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}: expected a positive int, got {value!r}.")
    x = model.prepare_inputs(x)
    y = as_numpy("y", y)
    if num_examples(x) != len(y) or len(y) == 0:
        raise ValueError(
            f"x has {num_examples(x)} examples and y has {len(y)}; they must pair up one to "
            "one, and there must be at least one."
        )
    return x, prepare_targets(model, y)


def _history(model, logs):
    from dlcourse.nn.history import History

    history = History()
    for epoch in range(len(logs.get("loss", []))):
        history.on_epoch_end(epoch, {key: values[epoch] for key, values in logs.items()})
    model.history = history
    return history


def _print_epochs(history):
    """One line per epoch, as ``verbose=2`` prints, once every process is done."""
    epochs = len(history.epoch)
    for epoch in history.epoch:
        numbers = " - ".join(f"{k}: {v[epoch]:.4f}" for k, v in history.history.items())
        print(f"Epoch {epoch + 1}/{epochs} - {numbers}")
