"""Starting worker processes, watching them, and never leaving one behind.

The launcher starts each worker as ``python -m MODULE CONFIG`` in a process
group of its own, then polls them. Three endings:

- every worker exits 0: done;
- one exits non-zero: the others are stopped at once (a rank waiting in an
  all-reduce for a dead peer would otherwise wait for the collective's own
  timeout), and :class:`WorkerFailed` names the rank that failed first and
  its exception, read from the ``rankN.error`` file the worker wrote;
- the run takes longer than ``timeout``: every worker is stopped and
  :class:`WorkerFailed` says which ranks were still running.

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

__all__ = ["WorkerFailed", "die_with_parent", "record_failure", "run_workers"]

_POLL_SECONDS = 0.05
_GRACE_SECONDS = 3.0  # between SIGTERM and SIGKILL


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


def _first_error(folder, failed_rank, returncode):
    """The earliest error a worker recorded; else what the exit code says."""
    records = []
    for path in Path(folder).glob("rank*.error"):
        try:
            records.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue
    if records:
        first = min(records, key=lambda r: r["time"])
        return first["rank"], first["error"], first["traceback"]
    if returncode < 0:
        reason = f"killed by signal {signal.Signals(-returncode).name}"
    else:
        reason = f"exited with code {returncode} without recording an error"
    return failed_rank, reason, ""


def _log_tail(folder, rank, lines=15):
    path = Path(folder) / f"rank{rank}.log"
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def run_workers(module, config_path, envs, timeout, folder, show_rank0=True):
    """Run one ``python -m module config_path`` per env in ``envs``; wait for all.

    ``envs[r]`` holds the extra environment of rank ``r``. Output of rank 0
    goes to this terminal when ``show_rank0`` (its progress bar), every other
    rank's to ``folder/rankN.log``. Raises :class:`WorkerFailed`.
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
        _wait(procs, timeout, folder)
    finally:
        _stop(procs)
        for log in logs:
            log.close()


def _wait(procs, timeout, folder):
    deadline = time.monotonic() + timeout
    while True:
        codes = [p.poll() for p in procs]
        for rank, code in enumerate(codes):
            if code not in (None, 0):
                _stop(procs)
                first_rank, error, trace = _first_error(folder, rank, code)
                detail = trace.strip() or _log_tail(folder, first_rank)
                raise WorkerFailed(
                    f"rank {first_rank} failed: {error}"
                    + (f"\n--- rank {first_rank} ---\n{detail}" if detail else ""),
                    rank=first_rank,
                )
        if all(code == 0 for code in codes):
            return
        if time.monotonic() > deadline:
            running = [rank for rank, code in enumerate(codes) if code is None]
            _stop(procs)
            raise WorkerFailed(
                f"timeout: rank(s) {running} still running after {timeout:g} s; all workers "
                "were stopped. Raise --timeout for longer runs, or look for a rank stuck "
                "waiting for a peer.",
                rank=running[0] if len(running) == 1 else None,
            )
        time.sleep(_POLL_SECONDS)
