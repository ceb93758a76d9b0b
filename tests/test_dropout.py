"""Inverted dropout: mask statistics, modes, reproducibility and gradients."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from array_strategies import float_arrays
from dlcourse import gradcheck
from dlcourse.functional.dropout import dropout_backward, dropout_forward


def _cuda():
    torch = pytest.importorskip("torch", reason="CUDA tests need PyTorch")
    if not torch.cuda.is_available():
        pytest.skip("CUDA tests need an NVIDIA GPU (torch.cuda.is_available() is False)")
    return torch


@pytest.mark.parametrize("p", [-0.1, 1.0, 1.5, float("nan"), "0.5", True])
def test_bad_p_is_rejected_naming_p(p):
    with pytest.raises(ValueError, match=r"^p: expected a drop probability in \[0, 1\)"):
        dropout_forward(np.ones(3), p, True, np.random.default_rng(0))


def test_eval_mode_and_p_zero_are_the_identity():
    x = np.random.default_rng(0).standard_normal((4, 5))
    dout = np.random.default_rng(1).standard_normal((4, 5))
    for p, training in [(0.5, False), (0.0, True), (0.0, False)]:
        out, cache = dropout_forward(x, p, training, np.random.default_rng(0))
        np.testing.assert_array_equal(out, x)
        np.testing.assert_array_equal(dropout_backward(dout, cache), dout)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_fraction_kept_matches_one_minus_p(p):
    n = 200 * 500
    out, _ = dropout_forward(np.ones((200, 500)), p, True, np.random.default_rng(42))
    kept = np.count_nonzero(out) / n
    # The number kept is Binomial(n, 1 - p): allow 5 standard deviations.
    std = math.sqrt(p * (1 - p) / n)
    assert abs(kept - (1 - p)) < 5 * std, (kept, 1 - p, std)


@pytest.mark.parametrize("p", [0.25, 0.6])
def test_kept_units_are_scaled_and_expectation_is_preserved(p):
    rng = np.random.default_rng(1)
    x = rng.uniform(0.5, 2.0, size=(300, 300))
    out, _ = dropout_forward(x, p, True, np.random.default_rng(2))
    kept = out != 0
    # every unit is either 0 or x / (1 - p)
    np.testing.assert_allclose(out[kept], x[kept] / (1 - p), rtol=1e-15)
    # E[out / x] = 1, and each out / x is 0 or 1/(1-p): variance p / (1-p)
    ratio = out / x
    std_of_mean = math.sqrt(p / (1 - p) / ratio.size)
    assert abs(ratio.mean() - 1.0) < 5 * std_of_mean


def test_same_seed_same_mask_different_seed_different_mask():
    x = np.ones((50, 40))
    a, _ = dropout_forward(x, 0.5, True, np.random.default_rng(7))
    b, _ = dropout_forward(x, 0.5, True, np.random.default_rng(7))
    c, _ = dropout_forward(x, 0.5, True, np.random.default_rng(8))
    d, _ = dropout_forward(x, 0.5, True, 7)  # an int seed builds the same generator
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, d)
    assert not np.array_equal(a, c)


def test_one_generator_gives_fresh_masks_on_each_call():
    rng = np.random.default_rng(0)
    a, _ = dropout_forward(np.ones((30, 30)), 0.5, True, rng)
    b, _ = dropout_forward(np.ones((30, 30)), 0.5, True, rng)
    assert not np.array_equal(a, b)


def test_backward_uses_the_forward_mask():
    rng = np.random.default_rng(3)
    x = rng.uniform(1.0, 2.0, size=(20, 30))  # never 0, so out == 0 means dropped
    dout = rng.standard_normal((20, 30))
    p = 0.4
    out, cache = dropout_forward(x, p, True, np.random.default_rng(5))
    dx = dropout_backward(dout, cache)
    dropped = out == 0
    assert dropped.any() and (~dropped).any()
    np.testing.assert_array_equal(dx[dropped], 0.0)
    np.testing.assert_allclose(dx[~dropped], dout[~dropped] / (1 - p), rtol=1e-15)


def test_input_is_not_modified_and_dtype_is_kept():
    x = np.random.default_rng(0).standard_normal((10, 10)).astype(np.float32)
    before = x.copy()
    out, cache = dropout_forward(x, 0.5, True, np.random.default_rng(0))
    np.testing.assert_array_equal(x, before)
    assert out.dtype == np.float32
    assert dropout_backward(np.ones_like(x), cache).dtype == np.float32


def test_backward_rejects_dout_of_another_shape():
    _, cache = dropout_forward(np.ones((3, 4)), 0.5, True, np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"dout: expected shape \(3, 4\).*got \(4, 3\)"):
        dropout_backward(np.ones((4, 3)), cache)


def test_gradient_with_a_fixed_mask_matches_finite_differences():
    x = np.random.default_rng(0).standard_normal((6, 7))

    def forward(x):
        # a fresh generator with the same seed: every call draws the same mask
        return dropout_forward(x, 0.3, True, np.random.default_rng(11))

    report = gradcheck.check_gradients(forward, dropout_backward, {"x": x})
    assert report.passed, report


def test_gradient_matches_torch_autograd():
    torch = pytest.importorskip("torch", reason="the autograd oracle needs PyTorch")
    x = torch.randn(5, 8, dtype=torch.float64, requires_grad=True)
    dout = torch.randn(5, 8, dtype=torch.float64)
    out, cache = dropout_forward(x, 0.5, True, np.random.default_rng(4))
    out.backward(dout)
    np.testing.assert_allclose(dropout_backward(dout, cache).numpy(), x.grad.numpy(), rtol=1e-15)


def test_torch_tensor_with_numpy_generator_gets_the_numpy_mask():
    torch = pytest.importorskip("torch", reason="needs PyTorch")
    x = np.random.default_rng(0).standard_normal((6, 9))
    expected, _ = dropout_forward(x, 0.5, True, np.random.default_rng(9))
    for dtype in (torch.float32, torch.float64):
        out, _ = dropout_forward(
            torch.as_tensor(x, dtype=dtype), 0.5, True, np.random.default_rng(9)
        )
        assert isinstance(out, torch.Tensor) and out.dtype == dtype
        np.testing.assert_allclose(out.double().numpy(), expected, rtol=1e-6)


def test_torch_generator_is_reproducible_and_keeps_one_minus_p():
    torch = pytest.importorskip("torch", reason="needs PyTorch")
    x = torch.ones(300, 300)
    a, _ = dropout_forward(x, 0.3, True, torch.Generator().manual_seed(1))
    b, _ = dropout_forward(x, 0.3, True, torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    kept = torch.count_nonzero(a).item() / a.numel()
    assert abs(kept - 0.7) < 5 * math.sqrt(0.3 * 0.7 / a.numel())
    with pytest.raises(ValueError, match="rng: a torch.Generator only works with PyTorch"):
        dropout_forward(np.ones(3), 0.3, True, torch.Generator())


def test_integer_input_is_rejected():
    with pytest.raises(ValueError, match="^x: expected floating-point values"):
        dropout_forward(np.ones(3, dtype=np.int64), 0.5, True, np.random.default_rng(0))


def test_unknown_rng_is_rejected():
    with pytest.raises(ValueError, match="rng: expected a numpy.random.Generator"):
        dropout_forward(np.ones(3), 0.5, True, np.random.RandomState(0))


@pytest.mark.cuda
def test_cuda_tensor_with_numpy_and_cuda_generators():
    torch = _cuda()
    x = torch.ones(64, 64, device="cuda")
    out, cache = dropout_forward(x, 0.5, True, np.random.default_rng(0))
    assert out.device.type == "cuda" and cache["mask"].device.type == "cuda"
    expected, _ = dropout_forward(np.ones((64, 64)), 0.5, True, np.random.default_rng(0))
    np.testing.assert_allclose(out.cpu().numpy(), expected)
    gen = torch.Generator(device="cuda").manual_seed(0)
    out2, cache2 = dropout_forward(x, 0.5, True, gen)
    assert out2.device.type == "cuda"
    dx = dropout_backward(torch.ones_like(x), cache2)
    assert torch.equal(dx, out2)  # x is all ones, so out and dx are both the scaled mask


@given(
    x=st.tuples(st.integers(1, 5), st.integers(1, 5)).flatmap(float_arrays),
    p=st.floats(0.0, 0.9),
    seed=st.integers(0, 2**16),
)
def test_gradients_for_any_shape_and_rate(x, p, seed):
    def kwargs():  # the same mask at every call: a fresh generator from the same seed
        return {"p": p, "training": True, "rng": np.random.default_rng(seed)}

    for check in (gradcheck.check_gradients, gradcheck.check_against_torch):
        report = check(dropout_forward, dropout_backward, {"x": x}, kwargs=kwargs)
        assert report.passed, report
