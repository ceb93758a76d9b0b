"""Rank 0 and the caller, once per epoch: the epoch's numbers out, the callbacks' answer back.

The callbacks of ``fit`` run in the caller's process, on the caller's model:
that is where the user's objects live (a ``ModelCheckpoint``'s list of files,
an ``EarlyStopping``'s best epoch), and it makes them run exactly once, not
once per rank. At the end of every epoch rank 0 writes ``epoch-E.json`` (the
logs, all-reduced, so the same on every rank) and, when the callbacks need
the model, ``epoch-E.npz`` (its weights). When callbacks may change the run,
rank 0 then waits for ``decision-E.json`` -- stop or go on, and the learning
rate of the next epoch -- and broadcasts it, so every rank stops at the same
epoch with the same rate. Every file appears whole (written, then renamed).
"""

import json
import os
import time
from pathlib import Path

import numpy as np

__all__ = ["read_decision", "read_epoch", "wait_decision", "write_decision", "write_epoch"]

_POLL_SECONDS = 0.002


def _atomic(path, write):
    partial = path.with_name(path.name + ".partial")
    with open(partial, "wb") as f:
        write(f)
    os.replace(partial, path)


def write_epoch(folder, epoch, logs, weights=None):
    """Rank 0's part: the epoch's logs (and the weights, first, when given)."""
    folder = Path(folder)
    if weights is not None:
        arrays = {f"weight_{i:03d}": w for i, w in enumerate(weights)}
        _atomic(folder / f"epoch-{epoch}.npz", lambda f: np.savez(f, **arrays))
    _atomic(folder / f"epoch-{epoch}.json", lambda f: f.write(json.dumps(logs).encode()))


def read_epoch(folder, epoch):
    """``(logs, weights or None)`` of ``epoch``, or None while rank 0 has not written it."""
    folder = Path(folder)
    try:
        logs = json.loads((folder / f"epoch-{epoch}.json").read_text())
    except FileNotFoundError:
        return None
    weights_path = folder / f"epoch-{epoch}.npz"
    if not weights_path.exists():
        return logs, None
    with np.load(weights_path, allow_pickle=False) as data:
        return logs, [data[key] for key in sorted(data.files)]


def write_decision(folder, epoch, stop, learning_rate):
    """The caller's part: after the callbacks of ``epoch``, stop or not, and the next rate."""
    text = json.dumps({"stop": bool(stop), "learning_rate": float(learning_rate)})
    _atomic(Path(folder) / f"decision-{epoch}.json", lambda f: f.write(text.encode()))


def read_decision(folder, epoch):
    """``(stop, learning_rate)`` once the caller has decided, else None."""
    try:
        decision = json.loads((Path(folder) / f"decision-{epoch}.json").read_text())
    except FileNotFoundError:
        return None
    return decision["stop"], decision["learning_rate"]


def wait_decision(folder, epoch):
    """Rank 0 waits for the caller (the launcher's timeout ends a wait that lasts too long)."""
    while (decision := read_decision(folder, epoch)) is None:
        time.sleep(_POLL_SECONDS)
    return decision
