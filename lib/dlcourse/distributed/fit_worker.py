"""One rank of ``DataParallel.fit``: the caller's model, trained on its slice of each batch.

Each global batch (the rows ``fit`` would take in one process) is cut into
``world`` contiguous slices, one per rank. A rank computes the loss on its
slice, scaled by ``slice size / batch size``, and backpropagates; one
``all_reduce`` then sums those gradients over the ranks -- the gradient of
the mean loss over the whole batch, exactly as one process computes it, even
when the last batch does not split evenly. The batch's loss travels in the
same buffer. Every rank applies the same sum with its own copy of the
optimizer, so the copies stay equal. After each epoch the ranks score
their shares of the validation rows (summed the same way); rank 0 hands the
epoch's logs to the caller, whose callbacks may answer "stop" or a new
learning rate, which rank 0 broadcasts (``handoff``). Rank 0 writes the
trained weights at the end. Each rank keeps its ``progress`` slot up to
date, so that a rank that hangs can be told from those waiting for it.

Started by ``python -m dlcourse.distributed.fit_worker JOB.json`` with the
variables of ``torch_engine.launch`` (``RANK``, ``WORLD_SIZE``, ``MASTER_*``).
"""

import math
import os
import sys
from datetime import timedelta

import numpy as np

from dlcourse.distributed import fit_job, handoff, model_transfer, progress
from dlcourse.nn.arrays import rows, take_rows
from dlcourse.nn.training import evaluate_native

__all__ = ["run_rank"]


def _gradient_buffer(torch, params, local_loss):
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    extra = torch.tensor([local_loss], dtype=params[0].dtype)
    return torch.cat([g.reshape(-1) for g in grads] + [extra])


def _unpack(buffer, params):
    offset = 0
    for p in params:
        size = p.numel()
        p.grad = buffer[offset : offset + size].view_as(p).clone()
        offset += size
    return buffer[offset].item()


def _epoch(ctx, order, epoch):
    """One pass over the data; returns the epoch's logs (the same on every rank)."""
    torch, dist, model, backend = ctx["torch"], ctx["dist"], ctx["model"], ctx["backend"]
    params, optimizer, group = ctx["params"], ctx["optimizer"], ctx["optimizer"].param_groups[0]
    rank, world, size, n = ctx["rank"], ctx["world"], ctx["batch_size"], len(order)
    for metric in model.metrics:
        metric.reset()
    total, seen_here = 0.0, 0
    steps = math.ceil(n / size)
    for b in range(steps):
        ctx["progress"].at(epoch, b)
        batch = order[b * size : (b + 1) * size]
        mine = np.array_split(batch, world)[rank]
        for p in params:
            p.grad = None
        local = 0.0
        if len(mine):
            index = backend.batch_index(mine)
            xb = take_rows(backend, ctx["xs"], index)
            y_pred = model.call(xb, True)
            value = model.loss(backend.take(ctx["ys"], index), y_pred)
            (value * (len(mine) / len(batch))).backward()
            local = value.item() * len(mine)
            seen_here += len(mine)
            predicted = backend.to_numpy(y_pred.detach())
            for metric in model.metrics:
                metric.update(ctx["y"][mine], predicted)
        buffer = _gradient_buffer(torch, params, local)
        ctx["progress"].waiting()  # a peer that never arrives is then not this rank's fault
        dist.all_reduce(buffer)  # summed over the ranks: the whole batch's gradient and loss
        batch_loss = _unpack(buffer, params) / len(batch)
        if not math.isfinite(batch_loss):
            raise FloatingPointError(
                f"the loss of epoch {epoch}, batch {b} is {batch_loss}: fit the model in one "
                "process (without distribute=) to find the layer whose output is not finite."
            )
        group["lr"] = model.optimizer.learning_rate
        optimizer.step()
        total += batch_loss * len(batch)
    logs = {"loss": total / n}
    if model.metrics:
        # a metric that is a mean over examples (accuracy, mae) is the weighted mean of the ranks'
        local_sums = [metric.result() * seen_here for metric in model.metrics] + [seen_here]
        sums = torch.tensor(local_sums, dtype=torch.float64)
        ctx["progress"].waiting()
        dist.all_reduce(sums)
        for metric, value in zip(model.metrics, sums[:-1].tolist()):
            logs[metric.name] = value / sums[-1].item()
    return logs


def _validation_logs(ctx, epoch):
    """``val_`` loss and metrics over every rank's share of the validation rows, summed.

    Each rank scores its contiguous share in inference mode; the sums of
    loss and metrics times examples are all-reduced: one process's numbers.
    """
    torch, dist, model, (xs, ys, y) = ctx["torch"], ctx["dist"], ctx["model"], ctx["val"]
    n = len(y)
    local = [0.0] * (1 + len(model.metrics))
    if n:
        scores = evaluate_native(model, xs, ys, y, ctx["batch_size"])
        local = [value * n for value in scores.values()]
    sums = torch.tensor([*local, n], dtype=torch.float64)
    ctx["progress"].at(epoch, ctx["steps"])
    ctx["progress"].waiting()
    dist.all_reduce(sums)
    names = ["loss", *(metric.name for metric in model.metrics)]
    total = sums[-1].item()
    return {f"val_{name}": value / total for name, value in zip(names, sums[:-1].tolist())}


def _decision(ctx, folder, epoch):
    """``(stop, learning rate)`` of the caller's callbacks, from rank 0 to every rank."""
    torch, dist = ctx["torch"], ctx["dist"]
    decision = torch.zeros(2, dtype=torch.float64)
    if ctx["rank"] == 0:
        ctx["progress"].waiting(progress.WAITING_FOR_CALLER)
        decision[:] = torch.tensor(handoff.wait_decision(folder, epoch), dtype=torch.float64)
    ctx["progress"].waiting()
    dist.broadcast(decision, src=0)  # every rank stops at the same epoch, with the same rate
    return bool(decision[0].item()), decision[1].item()


def _own_rows(data, world, rank):
    """This rank's contiguous share of the validation arrays ``(x, y)``."""
    x, y = data
    bounds = np.array_split(np.arange(len(y)), world)[rank]
    lo, hi = (bounds[0], bounds[-1] + 1) if len(bounds) else (0, 0)
    return rows(x, lo, hi), y[lo:hi]


def _train(job, folder, rank, world):
    import torch
    import torch.distributed as dist

    from dlcourse import backends

    model = fit_job.load_job_model(job, folder, "torch", device="cpu")
    x, y, orders, validation = model_transfer.read_data(folder, job["inputs"])
    backend = model.backend
    params = model.trainable_weights
    ctx = {
        "torch": torch,
        "dist": dist,
        "model": model,
        "backend": backend,
        "params": params,
        "optimizer": backend._optimizer(model.optimizer, params),
        "rank": rank,
        "world": world,
        "progress": progress.RankProgress(folder, rank),
        "batch_size": job["batch_size"],
        "steps": math.ceil(len(y) / job["batch_size"]),
        "y": y,
    }
    with backends.running(backend):
        ctx["xs"], ctx["ys"] = model.native_inputs(x), backend.asarray(y)
        if validation is not None:
            x_val, y_val = _own_rows(validation, world, rank)
            ctx["val"] = (model.native_inputs(x_val), backend.asarray(y_val), y_val)
        for epoch in range(job["epochs"]):
            order = np.arange(len(y)) if orders is None else orders[epoch]
            logs = _epoch(ctx, order, epoch)
            if validation is not None:
                logs |= _validation_logs(ctx, epoch)
            if rank == 0:
                weights = model.get_weights() if job["sync"] else None  # for the callbacks
                handoff.write_epoch(folder, epoch, logs, weights)
            if job["sync"] and epoch + 1 < job["epochs"]:
                stop, model.optimizer.learning_rate = _decision(ctx, folder, epoch)
                if stop:
                    break
    if rank == 0:
        fit_job.write_result(folder, model.get_weights())
    ctx["progress"].waiting()  # for the last barrier


def run_rank(job, folder):
    """Join the process group named by the environment, train, and leave together."""
    import torch
    import torch.distributed as dist

    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    dist.init_process_group(
        "gloo",
        rank=rank,
        world_size=world,
        timeout=timedelta(seconds=job["timeout"]),  # a dead peer ends a collective, not hangs it
    )
    try:
        _train(job, folder, rank, world)
        dist.barrier()  # rank 0 has written the result: every rank leaves together
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    fit_job.worker_main(run_rank, sys.argv[1])
