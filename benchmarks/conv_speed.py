"""How much faster is im2col than four nested loops? Time both on one layer.

    python benchmarks/conv_speed.py [--batch 16] [--repeats 3]

Times forward and backward of a 3x3 convolution, (16, 3, 28, 28) images and
8 filters with padding 1, for the loop version and the vectorized one on
NumPy, then the vectorized one on PyTorch tensors (CPU, and CUDA when there
is a GPU) and PyTorch's own conv2d for scale. Each figure is the best of
``--repeats`` runs, in milliseconds.
"""

import argparse
import time

import numpy as np

from dlcourse.functional.conv import conv2d_backward, conv2d_forward
from dlcourse.functional.conv_naive import conv2d_backward_naive, conv2d_forward_naive


def best_time(fn, repeats, sync=None):
    """The shortest of ``repeats`` runs of ``fn()``, in seconds (after one warm-up run)."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        if sync:
            sync()
        start = time.perf_counter()
        fn()
        if sync:
            sync()
        best = min(best, time.perf_counter() - start)
    return best


def forward_backward(forward, backward, x, w, b, dout):
    def step():
        _, cache = forward(x, w, b, stride=1, pad=1)
        backward(dout, cache)

    return step


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.batch, 3, 28, 28)).astype(np.float32)
    w = rng.standard_normal((8, 3, 3, 3)).astype(np.float32)
    b = rng.standard_normal(8).astype(np.float32)
    dout = rng.standard_normal((args.batch, 8, 28, 28)).astype(np.float32)
    print(f"conv2d forward+backward, x {x.shape}, w {w.shape}, pad 1, float32")

    rows = []
    naive = best_time(
        forward_backward(conv2d_forward_naive, conv2d_backward_naive, x, w, b, dout), 1
    )
    rows.append(("naive loops, NumPy", naive))
    rows.append(
        (
            "im2col, NumPy",
            best_time(
                forward_backward(conv2d_forward, conv2d_backward, x, w, b, dout), args.repeats
            ),
        )
    )

    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
        for dev in devices:
            sync = torch.cuda.synchronize if dev == "cuda" else None
            xt, wt, bt, dt = (torch.tensor(a, device=dev) for a in (x, w, b, dout))
            step = forward_backward(conv2d_forward, conv2d_backward, xt, wt, bt, dt)
            rows.append((f"im2col, torch {dev}", best_time(step, args.repeats, sync)))

            xr, wr, br = (t.clone().requires_grad_(True) for t in (xt, wt, bt))

            def reference(xr=xr, wr=wr, br=br, dt=dt):
                out = torch.nn.functional.conv2d(xr, wr, br, padding=1)
                torch.autograd.grad(out, (xr, wr, br), dt)

            rows.append(
                (f"torch.nn.functional.conv2d, {dev}", best_time(reference, args.repeats, sync))
            )

    for name, seconds in rows:
        print(f"  {name:36s} {seconds * 1e3:10.2f} ms   {naive / seconds:8.0f}x naive")


if __name__ == "__main__":
    main()
