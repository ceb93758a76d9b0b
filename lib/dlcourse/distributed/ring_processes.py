"""Run a ring all-reduce written in a notebook on real gloo processes, against dist.all_reduce.

For the notebook's check cell: ``world_size`` processes on 127.0.0.1, each
with a random float64 tensor of its own, call the student's function, then
``dist.all_reduce`` on a copy of the same tensor as the reference. The
processes are *forked*, so a function defined in a notebook cell is already
in them (spawn would have to import it from a file, and a cell is not one);
fork is Linux's default and works on macOS for this short, torch-only work.
Every process sends back its input, its result and its error, if any; one
that does not finish in time is killed, and the message says which ranks
were still waiting.
"""

import datetime
import multiprocessing
import queue
import time

from dlcourse.distributed.ports import free_port
from dlcourse.distributed.ring_threads import COLLECTIVES, refusal


class collectives_refused:
    """Inside: the collectives of ``dist`` raise (the student builds one); outside: restored."""

    def __init__(self, dist):
        self.dist = dist

    def __enter__(self):
        self.saved = {n: getattr(self.dist, n) for n in COLLECTIVES if hasattr(self.dist, n)}
        for name in self.saved:
            setattr(self.dist, name, refusal(name))

    def __exit__(self, *exc):
        for name, function in self.saved.items():
            setattr(self.dist, name, function)


def _rank_main(function, rank, world_size, port, length, seed, timeout_s, results):
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    report = {"rank": rank, "stage": "connecting"}
    try:
        dist.init_process_group(
            "gloo",
            init_method=f"tcp://127.0.0.1:{port}",
            rank=rank,
            world_size=world_size,
            timeout=datetime.timedelta(seconds=timeout_s),
        )
        generator = torch.Generator().manual_seed(seed * 1000 + rank)
        tensor = torch.randn(length, dtype=torch.float64, generator=generator)
        report["input"] = tensor.numpy().copy()
        report["stage"] = "in ring_allreduce"
        results.put(dict(report))  # so that a rank stuck in the ring is named with its input
        with collectives_refused(dist):
            out = function(tensor, rank, world_size)
        report["result"] = (tensor if out is None else out).detach().numpy().copy()
        report["stage"] = "in dist.all_reduce (the reference)"
        reference = torch.from_numpy(report["input"].copy())
        dist.all_reduce(reference)
        report["reference"] = reference.numpy()
        report["stage"] = "done"
        dist.destroy_process_group()
    except Exception as err:  # sent to the parent, which explains it
        report["error"] = f"{type(err).__name__}: {err}"
    results.put(report)


def run_on_gloo(function, world_size, length, seed=0, timeout_s=20.0):
    """Per rank, a dict: ``input``, ``result``, ``reference`` (arrays), ``stage``, ``error``.

    A rank that did not report ``done`` within ``timeout_s`` is killed; its dict keeps the
    last stage it reported.
    """
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    port = free_port()
    processes = [
        context.Process(
            target=_rank_main,
            args=(function, rank, world_size, port, length, seed, timeout_s, results),
            daemon=True,
        )
        for rank in range(world_size)
    ]
    for process in processes:
        process.start()
    reports = {rank: {"rank": rank, "stage": "starting"} for rank in range(world_size)}
    deadline = time.monotonic() + timeout_s + 5
    finished = set()
    while len(finished) < world_size and time.monotonic() < deadline:
        try:
            report = results.get(timeout=0.1)
        except queue.Empty:
            continue
        reports[report["rank"]] = report
        if report["stage"] == "done" or "error" in report:
            finished.add(report["rank"])
        if "error" in report:  # the others may wait for it forever: a moment to report theirs
            deadline = min(deadline, time.monotonic() + 2)
    for process in processes:
        if process.is_alive() and process.pid is not None:
            process.kill()
        process.join()
    return [reports[rank] for rank in range(world_size)]


DEADLOCK_HINT = (
    "a deadlock: a blocking dist.send waits until the neighbour posts the matching receive, so "
    "when every rank sent before anyone received, nobody ever receives. Start the send with "
    "dist.isend, then dist.recv, then wait() on the send (or let even ranks send first and odd "
    "ranks receive first)"
)


def explain_gloo_run(reports):
    """None when every rank ended with the reference sum; otherwise what went wrong, in words."""
    from dlcourse.distributed.ring_feedback import explain_ring_result

    stuck = [
        r["rank"]
        for r in reports
        if r["stage"] == "in ring_allreduce"
        and ("error" not in r or "imed out" in r["error"] or "imeout" in r["error"])
    ]
    if stuck:
        return (
            f"ranks {stuck} of {len(reports)} never returned from ring_allreduce: {DEADLOCK_HINT}."
        )
    for r in reports:
        if "error" in r:
            return f"rank {r['rank']} of {len(reports)} failed {r['stage']}: {r['error']}"
    for r in reports:
        if r["stage"] != "done":
            return f"rank {r['rank']} of {len(reports)} stopped while {r['stage']}"
    return explain_ring_result([r["input"] for r in reports], [r["result"] for r in reports])
