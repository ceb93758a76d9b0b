"""Batch norm and layer norm: gradients, PyTorch oracles, running statistics, modes."""

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from array_strategies import float_arrays
from dlcourse import gradcheck
from dlcourse.functional.batchnorm import batchnorm_backward, batchnorm_forward, batchnorm_state
from dlcourse.functional.layernorm import layernorm_backward, layernorm_forward


def _torch():
    return pytest.importorskip("torch", reason="the PyTorch oracle needs PyTorch")


def _cuda():
    torch = _torch()
    if not torch.cuda.is_available():
        pytest.skip("CUDA tests need an NVIDIA GPU (torch.cuda.is_available() is False)")
    return torch


def _params(shape, seed=0):
    """x of ``shape`` plus gamma and beta for its feature axis (axis 1), float64."""
    rng = np.random.default_rng(seed)
    x = rng.normal(2.0, 3.0, size=shape)  # far from N(0, 1), so normalizing matters
    features = shape[1]
    return x, rng.uniform(0.5, 1.5, features), rng.standard_normal(features)


def _feature_axes(x):
    return (0,) if x.ndim == 2 else (0, 2, 3)


# --- batch norm: forward ------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(8, 5), (4, 3, 2, 5)])
def test_training_output_is_normalized_per_feature(shape):
    x, _, _ = _params(shape)
    features = shape[1]
    out, _ = batchnorm_forward(x, np.ones(features), np.zeros(features), None, True)
    axes = _feature_axes(x)
    np.testing.assert_allclose(out.mean(axis=axes), 0.0, atol=1e-12)
    # biased variance is used for normalizing, so the biased variance comes out ~1
    np.testing.assert_allclose(out.var(axis=axes), 1.0, rtol=1e-4)


@pytest.mark.parametrize("shape", [(8, 5), (4, 3, 2, 5)])
def test_training_forward_and_gradients_match_torch_batch_norm(shape):
    torch = _torch()
    x, gamma, beta = _params(shape, seed=1)
    dout = np.random.default_rng(2).standard_normal(shape)
    out, cache = batchnorm_forward(x, gamma, beta, None, True)
    dx, dgamma, dbeta = batchnorm_backward(dout, cache)

    xt, gt, bt = (torch.tensor(a, requires_grad=True) for a in (x, gamma, beta))
    ref = torch.nn.functional.batch_norm(xt, None, None, gt, bt, training=True, eps=1e-5)
    ref.backward(torch.tensor(dout))
    np.testing.assert_allclose(out, ref.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(dgamma, gt.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(dbeta, bt.grad.numpy(), rtol=1e-10)


@pytest.mark.parametrize(
    ("shape", "torch_layer"), [((6, 4), "BatchNorm1d"), ((3, 4, 2, 3), "BatchNorm2d")]
)
def test_running_statistics_match_torch_after_several_steps(shape, torch_layer):
    torch = _torch()
    features = shape[1]
    x0, gamma, beta = _params(shape)
    # our momentum 0.9 (weight of the old value) is PyTorch's momentum 0.1 (weight of the new)
    state = batchnorm_state(features, like=x0, momentum=0.9)
    bn = getattr(torch.nn, torch_layer)(features, momentum=0.1, eps=1e-5, dtype=torch.float64)
    with torch.no_grad():
        bn.weight.copy_(torch.tensor(gamma))
        bn.bias.copy_(torch.tensor(beta))
    bn.train()
    rng = np.random.default_rng(5)
    for _ in range(5):
        x = rng.normal(1.0, 2.0, size=shape)
        out, _ = batchnorm_forward(x, gamma, beta, state, True)
        ref = bn(torch.tensor(x))
        np.testing.assert_allclose(out, ref.detach().numpy(), rtol=1e-10, atol=1e-12)
        # torch feeds the unbiased batch variance into running_var; so must we
        np.testing.assert_allclose(state["running_mean"], bn.running_mean.numpy(), rtol=1e-12)
        np.testing.assert_allclose(state["running_var"], bn.running_var.numpy(), rtol=1e-12)

    # eval mode: both normalize with the running statistics
    bn.eval()
    x = rng.normal(1.0, 2.0, size=shape)
    out, _ = batchnorm_forward(x, gamma, beta, state, False)
    np.testing.assert_allclose(out, bn(torch.tensor(x)).detach().numpy(), rtol=1e-10, atol=1e-12)


def test_momentum_conventions_are_complementary():
    torch = _torch()
    x = np.random.default_rng(0).standard_normal((10, 3))
    bn = torch.nn.BatchNorm1d(3, momentum=0.1, dtype=torch.float64)
    bn(torch.tensor(x))
    ours = batchnorm_state(3, like=x, momentum=0.9)
    batchnorm_forward(x, np.ones(3), np.zeros(3), ours, True)
    same_number = batchnorm_state(3, like=x, momentum=0.1)
    batchnorm_forward(x, np.ones(3), np.zeros(3), same_number, True)
    np.testing.assert_allclose(ours["running_mean"], bn.running_mean.numpy(), rtol=1e-12)
    # passing PyTorch's number unchanged gives a different (wrong) running mean
    assert not np.allclose(same_number["running_mean"], bn.running_mean.numpy())


def test_eval_mode_uses_running_statistics_and_changes_nothing():
    x, gamma, beta = _params((5, 4))
    state = batchnorm_state(4, like=x)
    state["running_mean"] = np.array([1.0, -2.0, 0.5, 3.0])
    state["running_var"] = np.array([4.0, 0.25, 1.0, 9.0])
    before = {k: v for k, v in state.items()}
    mean_copy, var_copy = state["running_mean"].copy(), state["running_var"].copy()
    out, _ = batchnorm_forward(x, gamma, beta, state, False)
    expected = gamma * (x - mean_copy) / np.sqrt(var_copy + 1e-5) + beta
    np.testing.assert_allclose(out, expected, rtol=1e-12)
    for key in before:
        assert state[key] is before[key]
    np.testing.assert_array_equal(state["running_mean"], mean_copy)
    np.testing.assert_array_equal(state["running_var"], var_copy)


def test_training_rebinds_running_statistics_without_writing_into_old_arrays():
    x, gamma, beta = _params((6, 3))
    state = batchnorm_state(3, like=x)
    old_mean, old_var = state["running_mean"], state["running_var"]
    x_copy = x.copy()
    batchnorm_forward(x, gamma, beta, state, True)
    assert state["running_mean"] is not old_mean and state["running_var"] is not old_var
    np.testing.assert_array_equal(old_mean, np.zeros(3))
    np.testing.assert_array_equal(old_var, np.ones(3))
    np.testing.assert_array_equal(x, x_copy)
    # one step from mean 0 / var 1 with momentum 0.9
    np.testing.assert_allclose(state["running_mean"], 0.1 * x.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(state["running_var"], 0.9 + 0.1 * x.var(axis=0, ddof=1), rtol=1e-12)


# --- batch norm: gradients ----------------------------------------------------------------


@pytest.mark.parametrize("shape", [(7, 4), (3, 2, 3, 4)])
@pytest.mark.parametrize("training", [True, False])
def test_batchnorm_gradients_match_finite_differences(shape, training):
    x, gamma, beta = _params(shape, seed=3)
    features = shape[1]
    rng = np.random.default_rng(4)
    # eval mode normalizes with these; training mode ignores them (and rebinds them)
    state = batchnorm_state(features, like=x)
    state["running_mean"] = rng.standard_normal(features)
    state["running_var"] = rng.uniform(0.5, 2.0, features)
    report = gradcheck.check_gradients(
        batchnorm_forward,
        batchnorm_backward,
        {"x": x, "gamma": gamma, "beta": beta},
        kwargs={"state": state, "training": training},
    )
    assert report.passed, report


def test_eval_gradients_match_torch_batch_norm():
    torch = _torch()
    x, gamma, beta = _params((6, 3), seed=8)
    running_mean, running_var = np.array([0.5, -1.0, 2.0]), np.array([2.0, 0.5, 3.0])
    state = batchnorm_state(3, like=x)
    state["running_mean"], state["running_var"] = running_mean, running_var
    dout = np.random.default_rng(9).standard_normal((6, 3))
    out, cache = batchnorm_forward(x, gamma, beta, state, False)
    dx, dgamma, dbeta = batchnorm_backward(dout, cache)

    xt, gt, bt = (torch.tensor(a, requires_grad=True) for a in (x, gamma, beta))
    ref = torch.nn.functional.batch_norm(
        xt, torch.tensor(running_mean), torch.tensor(running_var), gt, bt, training=False
    )
    ref.backward(torch.tensor(dout))
    np.testing.assert_allclose(out, ref.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(dgamma, gt.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(dbeta, bt.grad.numpy(), rtol=1e-12)


def test_batchnorm_on_torch_tensors_matches_autograd_of_the_same_code():
    _torch()
    x, gamma, beta = _params((5, 3), seed=6)
    report = gradcheck.check_against_torch(
        batchnorm_forward,
        batchnorm_backward,
        {"x": x, "gamma": gamma, "beta": beta},
        kwargs={"state": None, "training": True},
    )
    assert report.passed, report


@pytest.mark.parametrize("dtype_name", ["float32", "float64"])
def test_batchnorm_keeps_torch_dtype_and_state_namespace(dtype_name):
    torch = _torch()
    dtype = getattr(torch, dtype_name)
    x = torch.randn(6, 4, dtype=dtype)
    gamma, beta = torch.ones(4, dtype=dtype), torch.zeros(4, dtype=dtype)
    state = batchnorm_state(4, like=x)
    assert isinstance(state["running_mean"], torch.Tensor)
    assert state["running_var"].dtype == dtype
    out, cache = batchnorm_forward(x, gamma, beta, state, True)
    assert out.dtype == dtype and state["running_mean"].dtype == dtype
    dx, dgamma, dbeta = batchnorm_backward(torch.ones_like(out), cache)
    assert dx.dtype == dgamma.dtype == dbeta.dtype == dtype
    out_eval, _ = batchnorm_forward(x, gamma, beta, state, False)
    assert out_eval.dtype == dtype


def test_batchnorm_validation_names_the_argument_and_shapes():
    x, gamma, beta = _params((4, 3))
    state = batchnorm_state(3, like=x)
    with pytest.raises(ValueError, match=r"^gamma: expected shape \(D=3,\), got \(4,\)"):
        batchnorm_forward(x, np.ones(4), beta, state, True)
    with pytest.raises(ValueError, match=r"^beta: expected shape \(D=3,\), got \(3, 1\)"):
        batchnorm_forward(x, gamma, np.zeros((3, 1)), state, True)
    with pytest.raises(ValueError, match=r"^x: expected shape \(N, D\) or \(N, C, H, W\)"):
        batchnorm_forward(np.ones((2, 3, 4)), gamma, beta, state, True)
    with pytest.raises(ValueError, match=r"^x: batch norm in training mode needs more than one"):
        batchnorm_forward(np.ones((1, 3)), gamma, beta, state, True)
    with pytest.raises(ValueError, match=r"^state: eval mode needs the running statistics"):
        batchnorm_forward(x, gamma, beta, None, False)
    with pytest.raises(ValueError, match=r"^state: missing keys \['eps'\]"):
        batchnorm_forward(x, gamma, beta, {k: v for k, v in state.items() if k != "eps"}, True)
    small = batchnorm_state(2, like=x)
    with pytest.raises(ValueError, match=r'^state\["running_mean"\]: expected shape \(D=3,\)'):
        batchnorm_forward(x, gamma, beta, small, False)
    _, cache = batchnorm_forward(x, gamma, beta, state, True)
    with pytest.raises(ValueError, match=r"^dout: expected shape \(4, 3\).*got \(3, 4\)"):
        batchnorm_backward(np.ones((3, 4)), cache)
    with pytest.raises(ValueError, match="^num_features"):
        batchnorm_state(0)


def test_batchnorm_refuses_mixed_dtypes_and_integer_input():
    x, gamma, beta = _params((4, 3))
    x32 = x.astype(np.float32)
    g32, b32 = gamma.astype(np.float32), beta.astype(np.float32)
    with pytest.raises(ValueError, match="^gamma: dtype float64 differs from x's float32"):
        batchnorm_forward(x32, gamma, b32, None, True)
    with pytest.raises(ValueError, match="^beta: dtype float64 differs from x's float32"):
        batchnorm_forward(x32, g32, beta, None, True)
    state64 = batchnorm_state(3)  # NumPy float64 by default
    with pytest.raises(ValueError, match=r'^state\["running_mean"\]: dtype float64 differs'):
        batchnorm_forward(x32, g32, b32, state64, False)
    with pytest.raises(ValueError, match="^x: expected floating-point values"):
        batchnorm_forward(np.ones((4, 3), dtype=np.int64), gamma, beta, None, True)


# --- layer norm -----------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(6, 5), (2, 3, 4), (7,)])
def test_layernorm_gradients_match_finite_differences(shape):
    rng = np.random.default_rng(10)
    x = rng.normal(1.0, 2.0, size=shape)
    gamma, beta = rng.uniform(0.5, 1.5, shape[-1]), rng.standard_normal(shape[-1])
    report = gradcheck.check_gradients(
        layernorm_forward, layernorm_backward, {"x": x, "gamma": gamma, "beta": beta}
    )
    assert report.passed, report


@pytest.mark.parametrize("shape", [(6, 5), (2, 3, 4)])
def test_layernorm_matches_torch_layer_norm(shape):
    torch = _torch()
    rng = np.random.default_rng(11)
    x = rng.normal(1.0, 2.0, size=shape)
    gamma, beta = rng.uniform(0.5, 1.5, shape[-1]), rng.standard_normal(shape[-1])
    dout = rng.standard_normal(shape)
    out, cache = layernorm_forward(x, gamma, beta, eps=1e-5)
    dx, dgamma, dbeta = layernorm_backward(dout, cache)

    xt, gt, bt = (torch.tensor(a, requires_grad=True) for a in (x, gamma, beta))
    ref = torch.nn.functional.layer_norm(xt, (shape[-1],), gt, bt, eps=1e-5)
    ref.backward(torch.tensor(dout))
    np.testing.assert_allclose(out, ref.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(dgamma, gt.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(dbeta, bt.grad.numpy(), rtol=1e-10)


def test_layernorm_on_torch_tensors_matches_autograd_of_the_same_code():
    _torch()
    rng = np.random.default_rng(12)
    inputs = {
        "x": rng.standard_normal((4, 6)),
        "gamma": rng.uniform(0.5, 1.5, 6),
        "beta": rng.standard_normal(6),
    }
    report = gradcheck.check_against_torch(layernorm_forward, layernorm_backward, inputs)
    assert report.passed, report


def test_layernorm_normalizes_each_example_and_keeps_float32():
    x = np.random.default_rng(13).normal(3.0, 2.0, size=(4, 16)).astype(np.float32)
    out, cache = layernorm_forward(x, np.ones(16, np.float32), np.zeros(16, np.float32))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.mean(axis=-1), 0.0, atol=1e-5)
    np.testing.assert_allclose(out.var(axis=-1), 1.0, rtol=1e-3)
    assert all(g.dtype == np.float32 for g in layernorm_backward(np.ones_like(x), cache))


def test_layernorm_validation_names_the_argument_and_shapes():
    x = np.ones((4, 3))
    with pytest.raises(ValueError, match=r"^gamma: expected shape \(D=3,\), got \(4,\)"):
        layernorm_forward(x, np.ones(4), np.zeros(3))
    with pytest.raises(ValueError, match=r"^beta: expected shape \(D=3,\), got \(3, 3\)"):
        layernorm_forward(x, np.ones(3), np.zeros((3, 3)))
    with pytest.raises(ValueError, match=r"^eps: expected a positive number"):
        layernorm_forward(x, np.ones(3), np.zeros(3), eps=0.0)
    with pytest.raises(ValueError, match="^gamma: dtype float32 differs from x's float64"):
        layernorm_forward(x, np.ones(3, np.float32), np.zeros(3))
    with pytest.raises(ValueError, match="^x: expected floating-point values"):
        layernorm_forward(np.ones((4, 3), dtype=np.int32), np.ones(3), np.zeros(3))
    _, cache = layernorm_forward(x, np.ones(3), np.zeros(3))
    with pytest.raises(ValueError, match=r"^dout: expected shape \(4, 3\).*got \(4,\)"):
        layernorm_backward(np.ones(4), cache)


@pytest.mark.cuda
def test_normalization_runs_on_cuda():
    torch = _cuda()
    x = torch.randn(8, 4, device="cuda", dtype=torch.float64)
    gamma = torch.ones(4, device="cuda", dtype=torch.float64)
    beta = torch.zeros(4, device="cuda", dtype=torch.float64)
    state = batchnorm_state(4, like=x)
    out, cache = batchnorm_forward(x, gamma, beta, state, True)
    grads = batchnorm_backward(torch.ones_like(out), cache)
    assert out.device.type == "cuda" and state["running_var"].device.type == "cuda"
    assert all(g.device.type == "cuda" for g in grads)
    ref = torch.nn.functional.batch_norm(x, None, None, gamma, beta, training=True)
    torch.testing.assert_close(out, ref)
    out, cache = layernorm_forward(x, gamma, beta)
    torch.testing.assert_close(out, torch.nn.functional.layer_norm(x, (4,), gamma, beta))
    assert all(g.device.type == "cuda" for g in layernorm_backward(torch.ones_like(out), cache))


# ------------------------------------------------------- any shape, any values
@st.composite
def normalization_inputs(draw, axis):
    """x with per-feature spread (a constant feature has no well-defined 1/std slope)."""
    n, d = draw(st.integers(2, 6)), draw(st.integers(1, 5))
    x = draw(float_arrays((n, d)))
    assume(np.all(np.std(x, axis=axis) > 1e-2))
    return x, draw(float_arrays((d,))), draw(float_arrays((d,)))


@given(normalization_inputs(axis=0))
def test_batchnorm_gradients_for_any_batch(inputs):
    x, gamma, beta = inputs
    arrays = {"x": x, "gamma": gamma, "beta": beta}
    kwargs = {"state": None, "training": True}
    for check in (gradcheck.check_gradients, gradcheck.check_against_torch):
        report = check(batchnorm_forward, batchnorm_backward, arrays, kwargs=kwargs)
        assert report.passed, report


@given(normalization_inputs(axis=1))
def test_layernorm_gradients_for_any_batch(inputs):
    x, gamma, beta = inputs
    arrays = {"x": x, "gamma": gamma, "beta": beta}
    for check in (gradcheck.check_gradients, gradcheck.check_against_torch):
        report = check(layernorm_forward, layernorm_backward, arrays)
        assert report.passed, report
