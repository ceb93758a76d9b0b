"""Which rank to name when a run fails or runs out of time, and what to say about it.

One rank's trouble soon shows on every rank: when rank 1 dies, rank 0's
all-reduce fails ("connection closed by peer") and rank 0 exits with an
error of its own. The rank to name is the cause, found in this order:

1. a rank killed by a signal (SIGKILL, a segfault): nobody else kills them;
2. a rank that raised while working (not while waiting for its peers),
   the earliest if several did;
3. a rank that exited non-zero without leaving an error record;
4. a rank still running and working while the others wait for it;
5. the earliest error of any kind (a collective that failed by itself).

"Working" or "waiting" comes from each rank's slot in ``progress`` (absent for
engines that do not keep one: then every rank counts as working). Error
records are the ``rankN.error`` files of ``processes.record_failure``.
"""

import json
import signal
from pathlib import Path

from dlcourse.distributed import progress

__all__ = ["failure", "timeout"]


def _records(folder):
    found = {}
    for path in Path(folder).glob("rank*.error"):
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        found[record["rank"]] = record
    return found


def _signal_name(number):
    try:
        return f"{number} ({signal.Signals(number).name})"
    except ValueError:
        return str(number)


def _working(slots, rank):
    return slots[rank] is None or slots[rank][2] == progress.WORKING


def _log_tail(folder, rank, lines=15):
    path = Path(folder) / f"rank{rank}.log"
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _with_detail(message, folder, rank, trace=""):
    detail = trace.strip() or _log_tail(folder, rank)
    return message + (f"\n--- rank {rank} ---\n{detail}" if detail else "")


def _raised(folder, record):
    rank = record["rank"]
    message = f"rank {rank} failed: {record['error']}"
    return rank, _with_detail(message, folder, rank, record["traceback"])


def failure(folder, codes):
    """``(rank, message)`` for a run in which some rank exited non-zero.

    ``codes``: each rank's exit code, None for those still running.
    """
    slots = progress.read(folder, len(codes))
    records = _records(folder)
    killed = [r for r, code in enumerate(codes) if code is not None and code < 0]
    if killed:
        rank = killed[0]
        return rank, _with_detail(
            f"rank {rank} was killed by signal {_signal_name(-codes[rank])} "
            f"{progress.describe(slots[rank], state=False)}; the other ranks were stopped.",
            folder,
            rank,
        )
    raised = [rec for r, rec in records.items() if _working(slots, r)]
    if raised:
        return _raised(folder, min(raised, key=lambda rec: rec["time"]))
    silent = [r for r, code in enumerate(codes) if code and r not in records]
    if silent:
        rank = silent[0]
        return rank, _with_detail(
            f"rank {rank} failed: exited with code {codes[rank]} without recording an error",
            folder,
            rank,
        )
    running = [r for r, code in enumerate(codes) if code is None]
    stuck = progress.stuck(slots, running)
    first = min(records.values(), key=lambda rec: rec["time"])
    if len(stuck) == 1:
        rank = stuck[0]
        return rank, (
            f"rank {rank} stopped answering {progress.describe(slots[rank], state=False)}: "
            f"rank {first['rank']} gave up waiting for it ({first['error']}); all workers "
            "were stopped."
        )
    return _raised(folder, first)


def timeout(folder, codes, seconds):
    """``(rank or None, message)`` for a run still going after ``seconds``."""
    slots = progress.read(folder, len(codes))
    running = [r for r, code in enumerate(codes) if code is None]
    stuck = progress.stuck(slots, running)
    if len(stuck) == 1 and len(running) > 1:
        rank = stuck[0]
        others = "; ".join(f"rank {r} {progress.describe(slots[r])}" for r in running if r != rank)
        return rank, (
            f"timeout: rank {rank} did not finish within {seconds:g} s: it was "
            f"{progress.describe(slots[rank], state=False)} and still working, while the "
            f"others waited for it ({others}). All workers were stopped; look at what rank "
            f"{rank} does there, or raise the timeout if the run is only slow."
        )
    places = "; ".join(f"rank {r} {progress.describe(slots[r])}" for r in running)
    if all(slot is None for slot in slots):
        places = f"rank(s) {running} still running"
    return (running[0] if len(running) == 1 else None), (
        f"timeout: the run did not finish within {seconds:g} s ({places}); all workers "
        "were stopped. Raise the timeout for longer runs, or look for a rank stuck waiting "
        "for a peer."
    )
