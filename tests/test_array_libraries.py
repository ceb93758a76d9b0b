"""The same hand-written functions on NumPy arrays and PyTorch tensors give the same numbers."""

import numpy as np
import pytest

from dlcourse import functional as F
from dlcourse.gradcheck.convert import to_numpy
from layer_cases import CASES

torch = pytest.importorskip("torch", reason="comparing array libraries needs PyTorch")

TOLERANCE = {np.float64: 1e-10, np.float32: 1e-5}


def run(case, inputs, dout):
    out, cache = case.forward(**inputs, **case.kwargs)
    grads = case.backward(dout, cache)
    return out, grads if isinstance(grads, tuple) else (grads,)


def as_torch(arrays, device):
    return {k: torch.as_tensor(v, device=device) for k, v in arrays.items()}


def compare_libraries(case, dtype, device, rng):
    inputs = case.inputs(rng, dtype)
    out_np, _ = case.forward(**inputs, **case.kwargs)
    dout = rng.standard_normal(out_np.shape).astype(dtype)
    out_np, grads_np = run(case, inputs, dout)
    out_t, grads_t = run(case, as_torch(inputs, device), torch.as_tensor(dout, device=device))
    assert isinstance(out_t, torch.Tensor) and out_t.device.type == device
    assert out_t.dtype == torch.as_tensor(out_np).dtype
    tol = TOLERANCE[dtype]
    np.testing.assert_allclose(to_numpy(out_t), out_np, rtol=tol, atol=tol)
    for g_np, g_t in zip(grads_np, grads_t):
        assert isinstance(g_t, torch.Tensor) and g_t.device.type == device
        assert g_t.dtype == out_t.dtype
        np.testing.assert_allclose(to_numpy(g_t), g_np, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_numpy_and_torch_cpu_agree(case, dtype, rng):
    compare_libraries(case, dtype, "cpu", rng)


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_numpy_and_torch_cuda_agree(case, dtype, rng):
    compare_libraries(case, dtype, "cuda", rng)


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)])
def test_losses_agree_across_libraries(device, rng):
    logits = rng.standard_normal((6, 4)).astype(np.float32)
    labels = rng.integers(0, 4, 6)
    targets = rng.uniform(0, 1, (6, 4)).astype(np.float32)
    cases = [
        (F.softmax_cross_entropy, (logits, labels)),
        (F.mse_loss, (logits, targets)),
        (F.binary_cross_entropy_with_logits, (logits, targets)),
    ]
    for loss_fn, args in cases:
        loss_np, grad_np = loss_fn(*args)
        loss_t, grad_t = loss_fn(*(torch.as_tensor(a, device=device) for a in args))
        assert grad_t.device.type == device and grad_t.dtype == torch.float32
        np.testing.assert_allclose(float(loss_t), float(loss_np), rtol=1e-5)
        np.testing.assert_allclose(to_numpy(grad_t), grad_np, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)])
def test_update_rules_agree_across_libraries(device, rng):
    for make in (lambda: F.SGD(0.1, momentum=0.9), lambda: F.RMSProp(0.01), lambda: F.Adam(0.01)):
        w_np = rng.standard_normal((5, 3)).astype(np.float32)
        w_t = torch.as_tensor(w_np.copy(), device=device)
        opt_np, opt_t = make(), make()
        for _ in range(3):
            g = rng.standard_normal((5, 3)).astype(np.float32)
            opt_np.step([w_np], [g])
            opt_t.step([w_t], [torch.as_tensor(g, device=device)])
        np.testing.assert_allclose(to_numpy(w_t), w_np, rtol=1e-5, atol=1e-6)
