"""The run's report: the JSON every engine writes, and the weights file next to it.

Chapter 11 reads these keys, so they stay as they are::

    engine, nproc, global_batch, epochs, seconds, startup_seconds,
    final_loss, accuracy, replicas_identical, weights_path

``seconds`` is the training loop alone (after every rank has started and
built its model; for TensorFlow it includes tracing the step into a graph
once); ``startup_seconds`` is the time from the launch to that point:
starting processes, importing the framework, connecting the ranks.
Extra keys (``replica_hashes``, ``dtype``...) say how the run was made.
"""

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np

__all__ = [
    "REPORT_KEYS",
    "finish_run",
    "read_result",
    "run_report",
    "save_weights",
    "weights_digest",
    "weights_path_for",
    "work_folder",
    "write_report",
]

REPORT_KEYS = (
    "engine",
    "nproc",
    "global_batch",
    "epochs",
    "seconds",
    "startup_seconds",
    "final_loss",
    "accuracy",
    "replicas_identical",
    "weights_path",
)
RESULT_FILE = "result.json"  # in the run's work folder: how the worker hands its report back


def run_report(
    engine,
    nproc,
    options,
    *,
    started,
    t_train,
    seconds,
    losses,
    steps,
    scores,
    digests,
    weights_path,
):
    """The report's keys that every engine fills alike; an engine adds its device keys."""
    return {
        "engine": engine,
        "nproc": nproc,
        "global_batch": options.batch_size,
        "epochs": options.epochs,
        "seconds": seconds,
        "startup_seconds": t_train - started,
        "final_loss": float(losses[-1]),
        "accuracy": float(scores["accuracy"]),
        "replicas_identical": len(set(digests)) == 1,
        "weights_path": weights_path,
        "replica_hashes": digests,
        "epoch_losses": losses,
        "steps_per_epoch": steps,
        "local_batch": options.local_batch,
        "dtype": options.dtype,
        "optimizer": options.optimizer,
        "lr": options.lr,
        "seed": options.seed,
    }


def finish_run(engine, nproc, options, model, test_data, folder, *, extra, **figures):
    """The worker's last act, alike for every engine: score the model on the test
    data, save its weights, and leave the report (``run_report``'s keys from
    ``figures``, then the engine's ``extra`` keys) in ``folder`` for the launcher."""
    scores = model.evaluate(*test_data, batch_size=256, return_dict=True)
    weights_path = weights_path_for(options.json_path)
    save_weights(model, weights_path)
    result = run_report(engine, nproc, options, scores=scores, weights_path=weights_path, **figures)
    result |= extra
    (Path(folder) / RESULT_FILE).write_text(json.dumps(result))
    return result


def read_result(folder):
    """The report a worker left in ``folder`` with ``finish_run``."""
    return json.loads((Path(folder) / RESULT_FILE).read_text())


def weights_digest(weights):
    """A SHA-256 of every weight's bytes: equal digests mean bit-for-bit equal weights."""
    digest = hashlib.sha256()
    for w in weights:
        w = np.ascontiguousarray(w)
        digest.update(str((w.dtype.str, w.shape)).encode())
        digest.update(w.tobytes())
    return digest.hexdigest()


def weights_path_for(json_path):
    """``run.json`` -> ``run.weights.npz`` next to it; without a JSON, a fresh temporary folder."""
    if not json_path:
        return str(Path(tempfile.mkdtemp(prefix="dlcourse-train-")) / "weights.npz")
    path = Path(json_path)
    return str(path.with_name(path.stem + ".weights.npz"))


def work_folder(json_path):
    """A fresh private folder for one run's workers (options, logs, error records).

    It sits next to the JSON when there is one (so that what a run leaves is
    easy to find), else in the system's temporary folder; the launcher removes it.
    """
    parent = None
    if json_path:
        parent = Path(json_path).resolve().parent
        parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=".dlcourse-train-", dir=parent))


def save_weights(model, path):
    """The model's weights in ``get_weights`` order, named ``NN_layer_weight``."""
    named = {}
    for layer in model.layers:
        for name, value in zip(layer.weight_names, layer.get_weights()):
            named[f"{len(named):02d}_{layer.name}_{name}"] = value
    np.savez(path, **named)
    return path


def write_report(report, json_path):
    """Write ``report`` as JSON (atomically: readers never see half a file)."""
    missing = [key for key in REPORT_KEYS if key not in report]
    if missing:
        raise ValueError(f"report: keys {missing} are missing; every engine must fill them.")
    path = Path(json_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(report, indent=2) + "\n")
    os.replace(partial, path)
    return str(path)
