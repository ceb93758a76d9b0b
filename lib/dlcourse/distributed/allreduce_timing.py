"""Time gloo's all-reduce between processes of this machine, for the alpha-beta cost model.

Two (or more) processes are forked, connected with gloo on 127.0.0.1, and
time ``dist.all_reduce`` on float32 tensors of each size: the best of a few
calls after one warm-up, so that a busy machine disturbs the figure less.
Rank 0 reports the times; the processes are gone when this returns.
"""

import datetime
import multiprocessing
import time

from dlcourse.distributed.ports import free_port


def _time_sizes(rank, world_size, port, sizes, repeats, results):
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo",
        init_method=f"tcp://127.0.0.1:{port}",
        rank=rank,
        world_size=world_size,
        timeout=datetime.timedelta(seconds=60),
    )
    seconds = []
    for size in sizes:
        tensor = torch.ones(size, dtype=torch.float32)
        dist.all_reduce(tensor)  # warm-up: buffers, connections
        best = float("inf")
        for _ in range(repeats):
            dist.barrier()
            start = time.perf_counter()
            dist.all_reduce(tensor)
            best = min(best, time.perf_counter() - start)
        seconds.append(best)
    dist.destroy_process_group()
    if rank == 0:
        results.put(seconds)


def allreduce_seconds(sizes, world_size=2, repeats=5, timeout_s=120.0):
    """Best seconds of one ``dist.all_reduce`` of ``size`` float32 values, for each size."""
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    port = free_port()
    processes = [
        context.Process(
            target=_time_sizes,
            args=(rank, world_size, port, list(sizes), repeats, results),
            daemon=True,
        )
        for rank in range(world_size)
    ]
    for process in processes:
        process.start()
    try:
        return results.get(timeout=timeout_s)
    finally:
        for process in processes:
            process.join(5)
            if process.is_alive():
                process.kill()
                process.join()
