"""Where each rank is, shared with the launcher through one small memory-mapped file.

When a run goes wrong the launcher must say *which* rank is to blame. A rank
that hangs inside a step and its peers that wait for it in the all-reduce are
all just "still running"; a rank killed by a signal takes its peers down with
it (their all-reduce fails), and they exit too. So each rank keeps, in its
own slot of ``progress.bin``, the epoch and batch it is at and whether it is
waiting (in a collective, or for the caller): a rank still running that is
*not* waiting is the one the others wait for. A slot is three integers
written into shared memory, with no system call: it costs nothing per step.
"""

import mmap
import struct
from pathlib import Path

__all__ = ["FILE", "RankProgress", "create", "describe", "read", "stuck"]

FILE = "progress.bin"
_SLOT = struct.Struct("<qqq")  # epoch + 1 (0: not training yet), batch, state
WORKING, IN_COLLECTIVE, WAITING_FOR_CALLER = 0, 1, 2
_STATES = {
    WORKING: "working",
    IN_COLLECTIVE: "waiting for the other ranks",
    WAITING_FOR_CALLER: "waiting for the callbacks",
}


def create(folder, world):
    """The launcher's part: a zeroed file with one slot per rank."""
    path = Path(folder) / FILE
    path.write_bytes(bytes(_SLOT.size * world))
    return path


class RankProgress:
    """A rank's own slot; ``at(epoch, batch, state)`` records where it is."""

    def __init__(self, folder, rank):
        path = Path(folder) / FILE
        self._file = open(path, "r+b")  # noqa: SIM115 (kept open for the rank's life)
        self._map = mmap.mmap(self._file.fileno(), 0)
        self._offset = rank * _SLOT.size
        self.epoch, self.batch = 0, 0

    def at(self, epoch, batch, state=WORKING):
        self.epoch, self.batch = epoch, batch
        _SLOT.pack_into(self._map, self._offset, epoch + 1, batch, state)

    def waiting(self, state=IN_COLLECTIVE):
        """The same place, now waiting (``state``) instead of working."""
        _SLOT.pack_into(self._map, self._offset, self.epoch + 1, self.batch, state)


def read(folder, world):
    """``[(epoch, batch, state) or None]`` per rank; None: not training yet (or no file)."""
    path = Path(folder) / FILE
    try:
        data = path.read_bytes()
    except OSError:
        return [None] * world
    slots = []
    for rank in range(world):
        if len(data) < (rank + 1) * _SLOT.size:
            slots.append(None)
            continue
        epoch, batch, state = _SLOT.unpack_from(data, rank * _SLOT.size)
        slots.append(None if epoch == 0 else (epoch - 1, batch, state))
    return slots


def describe(slot, state=True):
    """'at epoch 0, batch 3, working' for a slot of :func:`read` (without the state: False)."""
    if slot is None:
        return "before its first step"
    epoch, batch, now = slot
    place = f"at epoch {epoch}, batch {batch}"
    return f"{place}, {_STATES.get(now, 'in an unknown state')}" if state else place


def stuck(slots, running):
    """The running ranks not waiting for anyone: those the others wait for."""
    return [r for r in running if slots[r] is not None and slots[r][2] == WORKING]
