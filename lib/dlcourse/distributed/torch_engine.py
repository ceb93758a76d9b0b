"""Data-parallel training with torch.distributed and DistributedDataParallel (DDP).

Every rank is a process with a full copy of the model. At each step each rank
takes its own slice of the global batch, computes the gradients on it, and
DDP averages the gradients over all ranks (an all-reduce, run by gloo on the
CPU and NCCL on GPUs) while ``backward()`` is still running. Every rank then
takes the same optimizer step from the same weights, so the copies stay
equal -- and equal to one process training on the whole global batch.

Why the dlcourse model runs *as it is* here: on the ``torch`` backend its
weights already are leaf tensors and its forward pass is torch code, so no
translation is needed. DDP wants a ``torch.nn.Module`` whose parameters it
can hook, so :func:`as_module` wraps the model: it registers the weights
as ``nn.Parameter`` s and binds those into the layers (``model.bind``), and
its ``forward`` is the model's own ``call``. The optimizer is the one the
torch backend makes for ``model.compile``'s choice. What is trained is
therefore the dlcourse model itself; ``get_weights`` reads the trained weights.

Ranks are started either by :func:`launch` (this package's launcher, one
subprocess per rank on a free loopback port) or by ``torchrun``; both set
the variables ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and
``MASTER_PORT`` that :func:`run_rank` reads.
"""

import os
import sys
import time
from datetime import timedelta
from pathlib import Path

from dlcourse.distributed import fit_job, processes, report
from dlcourse.distributed import options as opts
from dlcourse.distributed.ports import free_port

__all__ = ["as_module", "launch", "loopback_environments", "run_rank", "under_torchrun"]


def under_torchrun():
    """True when torchrun (or another launcher using its variables) started this process."""
    return "TORCHELASTIC_RUN_ID" in os.environ or (
        "RANK" in os.environ
        and "WORLD_SIZE" in os.environ
        and "DLCOURSE_TRAIN_LAUNCHED" not in os.environ
    )


def launch(options, folder):
    """Start ``options.nproc`` ranks on this machine and wait; returns rank 0's result."""
    config = Path(folder) / "options.json"
    config.write_text(options.to_json())
    started = time.time()
    envs = loopback_environments(options.nproc, folder, options.threads)
    for env in envs:
        env["DLCOURSE_TRAIN_T0"] = repr(started)
    processes.run_workers(
        "dlcourse.distributed.torch_engine",
        config,
        envs,
        options.timeout,
        folder,
        show_rank0=options.verbose,
    )
    return report.read_result(folder)


def loopback_environments(nproc, folder, threads=None):
    """The environment of each of ``nproc`` ranks on this machine, meeting on a free port.

    ``threads``: CPU threads per rank (default: the cores shared out).
    """
    port = free_port()
    return [
        {
            "RANK": str(rank),
            "LOCAL_RANK": str(rank),
            "WORLD_SIZE": str(nproc),
            "LOCAL_WORLD_SIZE": str(nproc),
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
            "DLCOURSE_TRAIN_FOLDER": str(folder),
            "OMP_NUM_THREADS": str(threads or _threads_per_rank(nproc)),
        }
        for rank in range(nproc)
    ]


def _threads_per_rank(nproc):
    # the cores shared out: more threads than cores only makes them wait for each other
    return max(1, (os.cpu_count() or 1) // nproc)


class _Torch:
    """torch and the DDP module wrapper, made on first use (importing stays light)."""

    module_class = None


def as_module(model):
    """A ``torch.nn.Module`` whose parameters are ``model``'s weights, bound back into it."""
    import torch

    if _Torch.module_class is None:

        class _ModelModule(torch.nn.Module):
            def __init__(self, model):
                super().__init__()
                self.model = model  # a plain attribute: DDP looks only at the parameters
                self.weights = torch.nn.ParameterList(
                    [torch.nn.Parameter(w.detach().clone()) for w in model.trainable_weights]
                )
                model.bind(list(self.weights), model.state_variables)

            def forward(self, x):
                return self.model.call(x, True)

        _Torch.module_class = _ModelModule
    return _Torch.module_class(model)


def _device(options, local_rank):
    import torch

    wants_gpu = options.device in (None, "cuda") and torch.cuda.is_available()
    if options.device == "cuda" and not wants_gpu:
        raise ValueError("device='cuda': this PyTorch sees no CUDA GPU; use --device cpu.")
    if wants_gpu:
        torch.cuda.set_device(local_rank % torch.cuda.device_count())
        return torch.device("cuda", torch.cuda.current_device()), "nccl"
    return torch.device("cpu"), "gloo"


def run_rank(options, folder, started=None):
    """Train as the rank named by the environment; rank 0 writes the result file.

    Returns the result dict on rank 0, None on the others.
    """
    import torch
    import torch.distributed as dist

    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    started = started if started is not None else time.time()
    threads = options.threads or _threads_per_rank(int(os.environ.get("LOCAL_WORLD_SIZE", world)))
    torch.set_num_threads(threads)
    device, comm = _device(options, local_rank)
    dist.init_process_group(
        comm,
        rank=rank,
        world_size=world,
        timeout=timedelta(seconds=options.timeout),  # a dead peer ends a collective, not hangs it
    )
    try:
        result = _train(options, folder, started, rank, world, device, comm)
        dist.barrier()  # rank 0 has written its result: every rank leaves together
    finally:
        dist.destroy_process_group()
    return result


def _train(options, folder, started, rank, world, device, comm):
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    import dlcourse
    from dlcourse import backends

    if world != options.nproc:
        options.nproc = world  # torchrun's --nproc-per-node x --nnodes decides
        options.__post_init__()
    x_train, y_train, x_test, y_test = opts.load_data(options)
    with dlcourse.backend("torch", device=str(device)):
        model = opts.build_model(options, x_train.shape[1])
    module = as_module(model)
    ddp = DistributedDataParallel(module, device_ids=[device.index] if comm == "nccl" else None)
    optimizer = model.backend._optimizer(model.optimizer, list(module.parameters()))
    xs = torch.as_tensor(x_train, device=device)
    ys = torch.as_tensor(y_train, device=device)
    steps = opts.steps_per_epoch(options, len(x_train))
    orders = opts.epoch_order(options, len(x_train), options.epochs)

    dist.barrier()  # every rank is ready: the training clock starts here
    t_train = time.time()
    progress = _progress(options, rank, steps)
    losses = []
    with backends.running(model.backend):
        for epoch, order in enumerate(orders):
            total = 0.0
            for step in range(steps):
                opts.injected_failure(rank, epoch * steps + step)
                rows = torch.as_tensor(opts.shard(order, step, options, rank), device=device)
                xb, yb = xs.index_select(0, rows), ys.index_select(0, rows)
                optimizer.zero_grad(set_to_none=True)
                loss = model.loss(yb, ddp(xb))
                loss.backward()  # DDP all-reduces (averages) the gradients here
                optimizer.step()
                total += loss.item()
                progress.update(1)
            losses.append(total / steps)
    epoch_losses = torch.tensor(losses, dtype=torch.float64, device=device)
    dist.all_reduce(epoch_losses)  # summed over the ranks: /world is the global batches' mean
    epoch_losses = (epoch_losses / world).tolist()
    dist.barrier()
    seconds = time.time() - t_train
    progress.close()

    weights = model.get_weights()
    digests = [None] * world
    dist.all_gather_object(digests, report.weights_digest(weights))
    if rank != 0:
        return None
    return report.finish_run(
        "torch",
        world,
        options,
        model,
        (x_test, y_test),
        folder,
        started=started,
        t_train=t_train,
        seconds=seconds,
        losses=epoch_losses,
        steps=steps,
        digests=digests,
        extra={
            "device": str(device),
            "communication": comm,
            "threads_per_rank": torch.get_num_threads(),
        },
    )


def _progress(options, rank, steps):
    from tqdm.auto import tqdm

    return tqdm(
        total=steps * options.epochs,
        desc=f"torch DDP x{options.nproc}",
        unit="step",
        disable=rank != 0 or not options.verbose,
        file=sys.stderr,
    )


def _run_demo_rank(job, folder):
    run_rank(opts.TrainOptions(**job), folder, started=float(os.environ["DLCOURSE_TRAIN_T0"]))


if __name__ == "__main__":  # one launched rank: fit_job's entry records a failure for the launcher
    fit_job.worker_main(_run_demo_rank, sys.argv[1])
