"""Ranks as threads of one process, with torch.distributed's point-to-point calls.

The grader's sandbox allows no new processes and no sockets, so it cannot
start gloo. It runs the student's ``ring_allreduce`` on N threads instead,
each seeing a ``dist`` that has what the exercise may use -- ``send``,
``recv``, ``isend``, ``irecv``, ``get_rank``, ``get_world_size`` -- with
gloo's meaning: a send completes only when the matching receive has been
posted (a blocking ``send`` waits for it). Collectives are not there: calling
``dist.all_reduce`` raises and says why.

Because every rank lives in this process, a deadlock is seen, not guessed:
when every unfinished rank waits on an operation nobody can match, all of
them stop with a message naming what each one waits for.
"""

import threading
import time

COLLECTIVES = (
    "all_reduce",
    "reduce",
    "reduce_scatter",
    "reduce_scatter_tensor",
    "all_gather",
    "all_gather_into_tensor",
    "all_gather_object",
    "all_to_all",
    "all_to_all_single",
    "broadcast",
    "broadcast_object_list",
    "gather",
    "scatter",
    "barrier",
)


def refusal(name):
    """A stand-in for the collective ``dist.<name>`` that raises and says why."""

    def refused(*args, **kwargs):
        raise PermissionError(
            f"dist.{name} is not allowed in ring_allreduce: it does the exercise's work (or "
            f"part of it). Build the ring from dist.send and dist.recv (or isend and irecv)."
        )

    return refused


class RingDeadlock(RuntimeError):
    """Every unfinished rank waits for an operation no other rank will ever match."""


class _Op:
    def __init__(self, kind, rank, peer, tensor, tag):
        self.kind, self.rank, self.peer, self.tensor, self.tag = kind, rank, peer, tensor, tag
        self.done = False

    def describe(self):
        if self.kind == "send":
            return f"rank {self.rank} waits in a send to rank {self.peer}"
        source = "any rank" if self.peer is None else f"rank {self.peer}"
        return f"rank {self.rank} waits in a receive from {source}"


class _Work:
    """What isend and irecv return: ``wait()`` blocks until the operation is matched."""

    def __init__(self, world, op):
        self._world, self._op = world, op

    def wait(self, timeout=None):
        self._world.wait_for(self._op)
        return True

    def is_completed(self):
        return self._op.done


class ThreadWorld:
    """The shared mailbox of ``world_size`` rank threads."""

    def __init__(self, world_size, timeout_s):
        self.world_size, self.timeout_s = world_size, timeout_s
        self.lock = threading.Condition()
        self.posted = []  # operations not yet matched, in the order they were posted
        self.waiting = {}  # rank -> the operation it is blocked on
        self.finished = set()
        self.deadlock = None
        self.local = threading.local()

    # -- what the student's code sees as ``dist`` ------------------------------------------
    def get_rank(self, group=None):
        return self.local.rank

    def get_world_size(self, group=None):
        return self.world_size

    def is_initialized(self):
        return True

    def isend(self, tensor, dst, group=None, tag=0):
        return _Work(self, self._post("send", dst, tensor, tag))

    def irecv(self, tensor, src=None, group=None, tag=0):
        return _Work(self, self._post("recv", src, tensor, tag))

    def send(self, tensor, dst, group=None, tag=0):
        self.isend(tensor, dst, group, tag).wait()

    def recv(self, tensor, src=None, group=None, tag=0):
        op = self._post("recv", src, tensor, tag)
        self.wait_for(op)
        return op.peer

    def __getattr__(self, name):
        if name in COLLECTIVES:
            return refusal(name)
        raise AttributeError(f"the graded ring offers dist.send/recv/isend/irecv, not dist.{name}")

    # -- matching ---------------------------------------------------------------------------
    def _post(self, kind, peer, tensor, tag):
        rank = self.local.rank
        if peer is not None and not 0 <= int(peer) < self.world_size:
            raise ValueError(
                f"rank {rank}: peer {peer} is not a rank of a world of {self.world_size}"
            )
        if peer == rank:
            raise ValueError(f"rank {rank} tried to {kind} to itself: its neighbours are rank +- 1")
        op = _Op(kind, rank, None if peer is None else int(peer), tensor, tag)
        with self.lock:
            self._raise_if_deadlocked()
            partner = next((p for p in self.posted if self._matches(op, p)), None)
            if partner is None:
                self.posted.append(op)
            else:
                self.posted.remove(partner)
                send, recv = (op, partner) if kind == "send" else (partner, op)
                self._deliver(send, recv)
                self.lock.notify_all()
        return op

    @staticmethod
    def _matches(op, other):
        if op.kind == other.kind or op.tag != other.tag:
            return False
        send, recv = (op, other) if op.kind == "send" else (other, op)
        return send.peer == recv.rank and recv.peer in (None, send.rank)

    @staticmethod
    def _deliver(send, recv):
        if tuple(send.tensor.shape) != tuple(recv.tensor.shape):
            message = (
                f"rank {send.rank} sent a tensor of shape {tuple(send.tensor.shape)} to rank "
                f"{recv.rank}, which received into one of shape {tuple(recv.tensor.shape)}: "
                f"both sides must agree on the chunk they exchange (an off-by-one chunk index?)"
            )
            send.error = recv.error = ValueError(message)
        else:
            recv.tensor.copy_(send.tensor)
            recv.peer = send.rank
        send.done = recv.done = True

    def wait_for(self, op):
        deadline = time.monotonic() + self.timeout_s
        with self.lock:
            self.waiting[op.rank] = op
            try:
                while not op.done:
                    self._raise_if_deadlocked()
                    self.lock.wait(timeout=0.05)
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"{op.describe()} for over {self.timeout_s:g} s")
            finally:
                self.waiting.pop(op.rank, None)
        if getattr(op, "error", None) is not None:
            raise op.error

    def _raise_if_deadlocked(self):
        if self.deadlock is None:
            alive = self.world_size - len(self.finished)
            blocked = {r: op for r, op in self.waiting.items() if not op.done}
            if alive and len(blocked) == alive:
                stuck = "; ".join(blocked[r].describe() for r in sorted(blocked))
                sends = all(op.kind == "send" for op in blocked.values())
                why = (
                    "every rank sent before anyone received: a blocking dist.send waits for the "
                    "matching receive, so start the send with dist.isend, receive, then wait()"
                    if sends
                    else "the sends and receives do not pair up (each rank should send to "
                    "rank + 1 and receive from rank - 1, the same number of times)"
                )
                self.deadlock = RingDeadlock(f"deadlock: {stuck}. Likely cause: {why}.")
                self.lock.notify_all()
        if self.deadlock is not None:
            raise self.deadlock

    def finish(self, rank):
        with self.lock:
            self.finished.add(rank)
            self.lock.notify_all()


def run_ranks(function, tensors, timeout_s=10.0):
    """Call ``function(tensors[r], r, world_size)`` on one thread per rank; their results.

    ``function`` reads ``dist`` from its globals, which the caller points to the returned
    world's methods (see :func:`bind`). A rank's result is what it returned, or its tensor
    when it returned None (an all-reduce in place). The first error of any rank is raised,
    with the rank named.
    """
    world = ThreadWorld(len(tensors), timeout_s)
    results, errors = [None] * len(tensors), [None] * len(tensors)

    def rank_main(rank):
        world.local.rank = rank
        try:
            out = function(tensors[rank], rank, len(tensors))
            results[rank] = tensors[rank] if out is None else out
        except BaseException as err:  # reported to the caller, with the rank named
            errors[rank] = err
        finally:
            world.finish(rank)

    threads = [
        threading.Thread(target=rank_main, args=(r,), daemon=True) for r in range(len(tensors))
    ]
    with bound(function, world):
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout_s + 5)
    if any(thread.is_alive() for thread in threads):
        raise TimeoutError(f"a rank did not finish within {timeout_s:g} s (an endless loop?)")
    deadlock = next((e for e in errors if isinstance(e, RingDeadlock)), None)
    if deadlock is not None:
        raise deadlock
    for rank, err in enumerate(errors):
        if err is not None:
            raise RuntimeError(f"rank {rank}: {type(err).__name__}: {err}") from err
    return results


class bound:
    """Points the ``dist`` of ``function``'s globals at ``world`` for the duration of a run."""

    def __init__(self, function, world):
        self.names, self.world = function.__globals__, world

    def __enter__(self):
        self.before = self.names.get("dist")
        self.names["dist"] = self.world

    def __exit__(self, *exc):
        self.names["dist"] = self.before
