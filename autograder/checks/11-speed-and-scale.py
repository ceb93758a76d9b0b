"""Out-of-kernel checks of chapter 11, "Speed and scale" (see dlcourse.grading.spec).

The first two exercises are formulas: the expected numbers are written out
here, from the definitions in the notebook, and the benchmark's own FLOP
counter is hidden so that ``dense_training_flops`` cannot simply call it.
Numbers may reach the sandbox as 0-d arrays, so the drivers turn them back into
Python numbers (and the layer sizes into a list of ints) before calling.

The third, ``ring_allreduce``, needs several ranks, and the sandbox may start
no process and open no socket: its driver runs the ranks as threads
(``dlcourse.distributed.ring_threads``), whose ``dist`` has only the
point-to-point calls, with gloo's meaning, and refuses every collective. The
expected answer, on every rank, is the sum of all the ranks' tensors; a wrong
one is explained chunk by chunk (``dlcourse.distributed.ring_feedback``).
"""

import numpy as np

from dlcourse.distributed.ring_feedback import explain_ring_result
from dlcourse.grading import Exercise

FLOPS_DRIVER = """
def _flops(sizes, batch):
    return float(dense_training_flops([int(s) for s in sizes], int(batch)))
"""

RING_DRIVER = """
def _ring(n_params, workers, bytes_per_value):
    return float(ring_allreduce_bytes(int(n_params), int(workers), int(bytes_per_value)))
"""

# torch is imported on the call, not by the driver: the build's leak test runs drivers
# with the heavy frameworks made unimportable.
ALLREDUCE_DRIVER = """
def _allreduce(tensors):
    import torch as _torch

    from dlcourse.distributed.ring_threads import run_ranks as _run_ranks

    _torch.set_num_threads(1)  # the ranks are threads already; the sandbox caps them at 32
    inputs = [_torch.tensor(row, dtype=_torch.float64) for row in tensors]
    results = _run_ranks(ring_allreduce, inputs, timeout_s=5.0)
    return [_torch.as_tensor(r).detach().to(_torch.float64).numpy() for r in results]
"""


def flops_inputs(rng):
    """The benchmark's MLP, one layer, a deep narrow stack, and random stacks."""
    cases = [
        {"sizes": np.array([784, 256, 128, 10]), "batch": 128},
        {"sizes": np.array([10, 3]), "batch": 7},
        {"sizes": np.array([5, 8, 8, 8, 2]), "batch": 1},
    ]
    for depth in (2, 3, 5):
        sizes = rng.integers(1, 2000, size=depth + 1)
        cases.append({"sizes": sizes, "batch": int(rng.integers(1, 1024))})
    return cases


def flops_expected(sizes, batch):
    """Three products of 2*batch*a*b FLOPs per layer, less the first layer's input gradient."""
    sizes, batch = [int(s) for s in sizes], int(batch)
    products = [2 * batch * a * b for a, b in zip(sizes[:-1], sizes[1:])]
    return np.asarray(float(3 * sum(products) - products[0]))


def ring_inputs(rng):
    cases = [
        {"n_params": 1_000_000, "workers": 4, "bytes_per_value": 4},
        {"n_params": 1_000_000, "workers": 1, "bytes_per_value": 4},
        {"n_params": 1_000, "workers": 8, "bytes_per_value": 2},
    ]
    for _ in range(3):
        cases.append(
            {
                "n_params": int(rng.integers(1, 50_000_000)),
                "workers": int(rng.integers(2, 129)),
                "bytes_per_value": int(rng.choice([1, 2, 4, 8])),
            }
        )
    return cases


def ring_expected(n_params, workers, bytes_per_value):
    """Each of the 2 * (workers - 1) rounds sends one chunk of 1/workers of the gradient."""
    size = int(n_params) * int(bytes_per_value)
    return np.asarray(2 * (int(workers) - 1) / int(workers) * size)


def allreduce_inputs(rng):
    """2 and 3 ranks: lengths that divide and that do not, fewer values than ranks, longer."""
    shapes = [(2, 7), (3, 10), (3, 9), (3, 2), (2, 1)]
    shapes += [(2, int(rng.integers(100, 5000))), (3, int(rng.integers(100, 5000)))]
    return [{"tensors": rng.standard_normal(shape)} for shape in shapes]


def allreduce_expected(tensors):
    """Every rank holds the sum over the ranks."""
    return [np.sum(tensors, axis=0) for _ in tensors]


def allreduce_compare(got, expected, case):
    """None when every rank holds the sum; otherwise which rank's chunk is wrong, and why."""
    if len(got) != len(case["tensors"]):
        return f"expected one result per rank ({len(case['tensors'])}), got {len(got)}"
    return explain_ring_result(list(case["tensors"]), list(got))


EXERCISES = [
    Exercise(
        grade_id="check_dense_training_flops",
        solution=("dense_training_flops",),
        driver=FLOPS_DRIVER,
        call="_flops(sizes, batch)",
        expected=flops_expected,
        inputs=flops_inputs,
        hidden=(
            "dlcourse.bench.networks:flops_per_step",
            "dlcourse.bench.networks:_dense_flops",
        ),
    ),
    Exercise(
        grade_id="check_ring_allreduce_bytes",
        solution=("ring_allreduce_bytes",),
        driver=RING_DRIVER,
        call="_ring(n_params, workers, bytes_per_value)",
        expected=ring_expected,
        inputs=ring_inputs,
    ),
    Exercise(
        grade_id="check_ring_allreduce",
        setup=("setup", "torch_distributed"),  # torch is imported before the student's code
        solution=("ring_allreduce",),
        driver=ALLREDUCE_DRIVER,
        call="_allreduce(tensors)",
        expected=allreduce_expected,
        inputs=allreduce_inputs,
        compare=allreduce_compare,
    ),
]
