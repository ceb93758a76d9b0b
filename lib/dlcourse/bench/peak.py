"""The machine's matmul peak: how many GFLOP/s one large float32 matrix product reaches.

A BLAS matrix product of large square matrices is about the fastest work a
processor does: its FLOPs per second are the practical limit that a training
step, made of smaller products and element-wise work, can approach. The peak
is measured, not looked up, in a fresh process with the same thread limits as
the rows (``python -m dlcourse.bench.peak``): on the CPU with both NumPy's
BLAS and PyTorch's (when installed), keeping the faster; on a GPU with PyTorch.
A product of two n x n matrices costs 2 n^3 FLOPs; the figure is the best of a
few repeats after a warm-up run.
"""

import json
import subprocess
import sys
import time

from dlcourse.bench import threads as thread_control

__all__ = ["measure_peak", "measure_peak_gflops"]

CPU_SIZE, GPU_SIZE = 2048, 8192
REPEATS = 5


def _best_seconds(product, sync, repeats):
    product()  # warm-up: thread pools start, memory is touched
    sync()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        product()
        sync()
        best = min(best, time.perf_counter() - start)
    return best


def _numpy_gflops(size, repeats):
    import numpy as np

    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((size, size), dtype=np.float32) for _ in range(2))
    out = np.empty_like(a)
    seconds = _best_seconds(lambda: np.matmul(a, b, out=out), lambda: None, repeats)
    return 2 * size**3 / seconds / 1e9


def _torch_gflops(size, repeats, device):
    import torch

    a, b = (torch.randn(size, size, device=device) for _ in range(2))
    out = torch.empty_like(a)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    seconds = _best_seconds(lambda: torch.matmul(a, b, out=out), sync, repeats)
    return 2 * size**3 / seconds / 1e9


def _measure_here(device, size, repeats):
    import importlib.util

    if device == "cuda":
        return {"gflops": _torch_gflops(size or GPU_SIZE, repeats, "cuda"), "library": "torch"}
    size = size or CPU_SIZE
    figures = {"numpy": _numpy_gflops(size, repeats)}
    if importlib.util.find_spec("torch") is not None:
        figures["torch"] = _torch_gflops(size, repeats, "cpu")
    library = max(figures, key=figures.get)
    return {"gflops": figures[library], "library": library, "by_library": figures, "size": size}


def measure_peak(threads=None, device="cpu", size=None, repeats=REPEATS):
    """The peak as a dict (gflops, the library that reached it, ...), from a fresh process."""
    spec = json.dumps({"threads": threads, "device": device, "size": size, "repeats": repeats})
    command = [sys.executable, "-m", "dlcourse.bench.peak", spec]
    env = thread_control.child_env(threads)
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"measuring the matmul peak failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure_peak_gflops(threads=None, device="cpu", size=None):
    """GFLOP/s of a large float32 matmul with ``threads`` threads (None: the default).

    ``size``: the side of the square matrices (default 2048 on a CPU, 8192 on a GPU).
    """
    return measure_peak(threads, device, size=size)["gflops"]


def main(argv=None):
    spec = json.loads((argv or sys.argv[1:])[0])
    if spec["threads"]:
        import importlib.util

        thread_control.apply_in_child(spec["threads"], None)  # pin the CPUs first
        if importlib.util.find_spec("torch") is not None:
            thread_control.apply_in_child(spec["threads"], "torch")
    result = _measure_here(spec["device"], spec["size"], spec["repeats"])
    result["threads_seen"] = thread_control.threads_seen()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
