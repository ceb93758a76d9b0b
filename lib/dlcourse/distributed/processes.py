"""Starting worker processes, watching them, and never leaving one behind.

The launcher starts each worker as ``python -m MODULE CONFIG`` in a process
group of its own, then polls them. Three endings:

- every worker exits 0: done;
- one exits non-zero (it raised, or a signal killed it): the others are
  stopped at once (a rank waiting in an all-reduce for a dead peer would
  otherwise wait for the collective's own timeout), and :class:`WorkerFailed`
  names the rank that caused it (``blame``: the killed one, or the one whose
  exception, read from the ``rankN.error`` file it wrote, came first);
- the run takes longer than ``timeout``: every worker is stopped and
  :class:`WorkerFailed` names the rank the others were waiting for, when the
  workers keep a ``progress`` file, else those still running.

Workers also ask Linux to send them SIGTERM when the launcher dies
(:func:`die_with_parent`), so that even a killed launcher leaves no orphans.
"""

import json
import os
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path

from dlcourse.distributed import blame

__all__ = ["WorkerFailed", "die_with_parent", "record_failure", "run_workers"]

_POLL_SECONDS = 0.05
_GRACE_SECONDS = 3.0  # between SIGTERM and SIGKILL
_SETTLE_SECONDS = 0.5  # for the peers of a failed rank to fail in turn


class WorkerFailed(RuntimeError):
    """A worker raised, died or ran out of time; ``rank`` names it (None: several)."""

    def __init__(self, message, rank=None):
        super().__init__(message)
        self.rank = rank


def record_failure(folder, rank, err):
    """Called by a worker about to exit on ``err``: leave the launcher a readable account."""
    text = {
        "rank": rank,
        "time": time.time(),
        "error": f"{type(err).__name__}: {err}",
        "traceback": traceback.format_exc(),
    }
    path = Path(folder) / f"rank{rank}.error"
    path.write_text(json.dumps(text))


def die_with_parent():
    """Ask Linux to SIGTERM this process when its parent dies (no-op elsewhere)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    except OSError:
        pass
    if os.getppid() == 1:  # the parent was gone before prctl took effect
        os._exit(1)


def _stop(procs):
    """SIGTERM each still-running worker's group, then SIGKILL what is left."""
    alive = [p for p in procs if p.poll() is None]
    for p in alive:
        _signal_group(p, signal.SIGTERM)
    deadline = time.monotonic() + _GRACE_SECONDS
    for p in alive:
        try:
            p.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _signal_group(p, signal.SIGKILL)
            p.wait()


def _signal_group(proc, sig):
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def run_workers(module, config_path, envs, timeout, folder, show_rank0=True, on_poll=None):
    """Run one ``python -m module config_path`` per env in ``envs``; wait for all.

    ``envs[r]`` holds the extra environment of rank ``r``. Output of rank 0
    goes to this terminal when ``show_rank0`` (its progress bar), every other
    rank's to ``folder/rankN.log``. ``on_poll()``, when given, is called every
    poll while the workers run (and once after they all finished); what it
    raises stops them. Raises :class:`WorkerFailed` (see ``blame``).
    """
    procs, logs = [], []
    try:
        for rank, extra in enumerate(envs):
            env = {**os.environ, **extra, "DLCOURSE_TRAIN_LAUNCHED": "1"}
            if rank == 0 and show_rank0:
                out = None
            else:
                out = open(Path(folder) / f"rank{rank}.log", "w")  # noqa: SIM115 (closed below)
                logs.append(out)
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", module, str(config_path)],
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT if out else None,
                    start_new_session=True,  # its own group: stopping it stops its children
                )
            )
        _wait(procs, timeout, folder, on_poll)
    finally:
        _stop(procs)
        for log in logs:
            log.close()


def _wait(procs, timeout, folder, on_poll):
    deadline = time.monotonic() + timeout
    while True:
        codes = [p.poll() for p in procs]
        if any(code not in (None, 0) for code in codes):
            codes = _settled(procs, folder, codes)
            rank, message = blame.failure(folder, codes)
            _stop(procs)
            raise WorkerFailed(message, rank=rank)
        if on_poll is not None:
            on_poll()
        if all(code == 0 for code in codes):
            return
        if time.monotonic() > deadline:
            rank, message = blame.timeout(folder, codes, timeout)
            _stop(procs)
            raise WorkerFailed(message, rank=rank)
        time.sleep(_POLL_SECONDS)


def _settled(procs, folder, codes):
    """The exit codes once the peers of a failed rank have had a moment to fail too.

    A rank that only saw its peer's failure (its all-reduce broke) may exit
    before the peer that raised; waiting a little lets ``blame`` see both. A
    rank killed by a signal is the cause already: no wait then.
    """
    deadline = time.monotonic() + _SETTLE_SECONDS
    while time.monotonic() < deadline and None in codes and min(c or 0 for c in codes) >= 0:
        time.sleep(_POLL_SECONDS)
        codes = [p.poll() for p in procs]
    return codes
