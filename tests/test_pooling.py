"""Max-pooling (vectorized and naive): known answers, PyTorch as oracle, gradients."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dlcourse.functional.pooling import maxpool2d_backward, maxpool2d_forward
from dlcourse.functional.pooling_naive import maxpool2d_backward_naive, maxpool2d_forward_naive
from dlcourse.gradcheck import check_against_torch, check_gradients

TORCH_REASON = "PyTorch (the dlcourse[torch] extra) is the oracle for these checks"
IMPLEMENTATIONS = [
    pytest.param(maxpool2d_forward, maxpool2d_backward, id="vectorized"),
    pytest.param(maxpool2d_forward_naive, maxpool2d_backward_naive, id="naive"),
]
# (N, C, H, W, size, stride): default stride, overlapping windows (stride < size),
# gaps between windows (stride > size), H != W, sizes that leave pixels uncovered.
SHAPES = [
    (2, 3, 4, 4, 2, None),
    (1, 2, 5, 7, 3, 1),
    (2, 1, 6, 5, 2, 3),
    (3, 2, 7, 6, 3, 2),
    (1, 1, 3, 3, 1, 1),
]


def random_problem(shape, seed=0, dtype=np.float64):
    N, C, H, W, size, stride = shape
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    step = size if stride is None else stride
    OH, OW = (H - size) // step + 1, (W - size) // step + 1
    dout = rng.standard_normal((N, C, OH, OW)).astype(dtype)
    return x, dout, {"size": size, "stride": stride}


def torch_pool(x, dout, size, stride):
    torch = pytest.importorskip("torch", reason=TORCH_REASON)
    xt = torch.tensor(x, requires_grad=True)
    out = torch.nn.functional.max_pool2d(xt, size, stride)
    out.backward(torch.tensor(dout))
    return out.detach().numpy(), xt.grad.numpy()


# ---------------------------------------------------------------- known answers


@pytest.mark.parametrize("forward, backward", IMPLEMENTATIONS)
def test_two_by_two_known_answer(forward, backward):
    x = np.arange(16.0).reshape(1, 1, 4, 4)  # increasing: each window's max is its bottom-right
    out, cache = forward(x)
    np.testing.assert_array_equal(out[0, 0], [[5.0, 7.0], [13.0, 15.0]])
    dx = backward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]), cache)
    expected = np.zeros((4, 4))
    expected[1, 1], expected[1, 3], expected[3, 1], expected[3, 3] = 1.0, 2.0, 3.0, 4.0
    np.testing.assert_array_equal(dx[0, 0], expected)


@pytest.mark.parametrize("forward, backward", IMPLEMENTATIONS)
def test_overlapping_windows_add_gradients(forward, backward):
    x = np.zeros((1, 1, 3, 3))
    x[0, 0, 1, 1] = 5.0  # the centre is the max of all four 2x2 windows
    out, cache = forward(x, size=2, stride=1)
    np.testing.assert_array_equal(out, np.full((1, 1, 2, 2), 5.0))
    dx = backward(np.array([[[[1.0, 10.0], [100.0, 1000.0]]]]), cache)
    expected = np.zeros((1, 1, 3, 3))
    expected[0, 0, 1, 1] = 1111.0
    np.testing.assert_array_equal(dx, expected)


@pytest.mark.parametrize("forward, backward", IMPLEMENTATIONS)
def test_ties_send_gradient_to_first_max(forward, backward):
    x = np.array([[[[1.0, 3.0, 2.0, 2.0], [3.0, 0.0, 2.0, 2.0]]]])  # ties in both windows
    out, cache = forward(x, size=2)
    np.testing.assert_array_equal(out, [[[[3.0, 2.0]]]])
    dx = backward(np.array([[[[7.0, 9.0]]]]), cache)
    # first in row-major order: (0, 1) in the left window, (0, 2) in the right one
    np.testing.assert_array_equal(dx, [[[[0.0, 7.0, 9.0, 0.0], [0.0, 0.0, 0.0, 0.0]]]])


@pytest.mark.parametrize("forward, backward", IMPLEMENTATIONS)
def test_stride_larger_than_size_skips_pixels(forward, backward):
    x = np.linspace(-1.0, 1.0, 25).reshape(1, 1, 5, 5)
    out, cache = forward(x, size=2, stride=3)  # windows at rows/cols 0..1 and 3..4
    expected = [[np.max(x[0, 0, r : r + 2, c : c + 2]) for c in (0, 3)] for r in (0, 3)]
    np.testing.assert_array_equal(out[0, 0], expected)
    dx = backward(np.ones((1, 1, 2, 2)), cache)
    assert dx.sum() == 4.0 and np.all(dx[0, 0, 2, :] == 0) and np.all(dx[0, 0, :, 2] == 0)


def test_channels_and_images_are_pooled_separately():
    x = np.stack([np.full((2, 2), v) for v in (1.0, -2.0, 3.0, 4.0)]).reshape(2, 2, 2, 2)
    out, _ = maxpool2d_forward(x)
    np.testing.assert_array_equal(out.reshape(-1), [1.0, -2.0, 3.0, 4.0])


# ---------------------------------------------------------------- oracles and gradients


@pytest.mark.parametrize("forward, backward", IMPLEMENTATIONS)
@pytest.mark.parametrize("shape", SHAPES)
def test_matches_torch(forward, backward, shape):
    x, dout, kw = random_problem(shape)
    expected, dx_expected = torch_pool(x, dout, kw["size"], kw["stride"])
    out, cache = forward(x, **kw)
    np.testing.assert_array_equal(out, expected)  # a max copies a value: exact
    np.testing.assert_allclose(backward(dout, cache), dx_expected, rtol=1e-12, atol=1e-12)


@settings(deadline=None)
@given(
    st.integers(1, 2),
    st.integers(1, 3),
    st.integers(1, 7),
    st.integers(1, 7),
    st.integers(1, 4),
    st.one_of(st.none(), st.integers(1, 3)),
    st.integers(0, 2**16),
)
def test_any_shape_matches_torch_and_naive(N, C, H, W, size, stride, seed):
    size = min(size, H, W)
    x, dout, kw = random_problem((N, C, H, W, size, stride), seed)
    expected, dx_expected = torch_pool(x, dout, size, stride)
    out, cache = maxpool2d_forward(x, **kw)
    dx = maxpool2d_backward(dout, cache)
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_allclose(dx, dx_expected, rtol=1e-12, atol=1e-12)
    out_naive, cache_naive = maxpool2d_forward_naive(x, **kw)
    np.testing.assert_array_equal(out_naive, out)
    np.testing.assert_allclose(maxpool2d_backward_naive(dout, cache_naive), dx, atol=1e-12)


@pytest.mark.parametrize("forward, backward", IMPLEMENTATIONS)
@pytest.mark.parametrize("kw", [{"size": 2}, {"size": 3, "stride": 1}, {"size": 2, "stride": 3}])
def test_gradients_match_finite_differences(forward, backward, kw):
    x = np.random.default_rng(1).standard_normal((2, 2, 5, 6))
    report = check_gradients(forward, backward, {"x": x}, kwargs=kw)
    assert report.passed, report


def test_finite_differences_with_ties():
    # many ties: the checker nudges them apart, and the first-max rule must agree
    x = np.round(np.random.default_rng(2).standard_normal((1, 2, 4, 4)))
    report = check_gradients(maxpool2d_forward, maxpool2d_backward, {"x": x}, kwargs={"size": 2})
    assert report.passed, report


def test_backward_matches_autograd_of_forward():
    pytest.importorskip("torch", reason=TORCH_REASON)
    x = np.random.default_rng(3).standard_normal((2, 3, 6, 5))
    report = check_against_torch(
        maxpool2d_forward, maxpool2d_backward, {"x": x}, kwargs={"size": 3, "stride": 2}
    )
    assert report.passed, report


def test_backward_matches_jax_vjp_of_forward():
    pytest.importorskip("jax", reason="JAX (the dlcourse[jax] extra) is the oracle for this check")
    from dlcourse.gradcheck import check_against_jax

    x = np.random.default_rng(4).standard_normal((2, 2, 5, 5))
    report = check_against_jax(
        maxpool2d_forward, maxpool2d_backward, {"x": x}, kwargs={"size": 2, "stride": 1}
    )
    assert report.passed, report


# ---------------------------------------------------------------- arrays and dtypes


@pytest.mark.parametrize("forward, backward", IMPLEMENTATIONS)
@pytest.mark.parametrize("dtype_name", ["float32", "float64"])
def test_torch_tensors_in_and_out(forward, backward, dtype_name):
    torch = pytest.importorskip("torch", reason=TORCH_REASON)
    dtype = getattr(torch, dtype_name)
    x, dout, kw = random_problem((2, 2, 5, 4, 2, 1), seed=5)
    out, cache = forward(x, **kw)
    dx = backward(dout, cache)
    out_t, cache_t = forward(torch.tensor(x, dtype=dtype), **kw)
    dx_t = backward(torch.tensor(dout, dtype=dtype), cache_t)
    rtol = 1e-6 if dtype_name == "float32" else 1e-12
    for got, want in ((out_t, out), (dx_t, dx)):
        assert isinstance(got, torch.Tensor) and got.dtype == dtype
        np.testing.assert_allclose(got.numpy(), want, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("forward, backward", IMPLEMENTATIONS)
def test_float32_stays_float32(forward, backward):
    x, dout, kw = random_problem(SHAPES[1], seed=6, dtype=np.float32)
    out, cache = forward(x, **kw)
    dx = backward(dout, cache)
    assert out.dtype == np.float32 and dx.dtype == np.float32
    _, dx_expected = torch_pool(x.astype(np.float64), dout.astype(np.float64), 3, 1)
    np.testing.assert_allclose(dx, dx_expected, rtol=1e-6)


@pytest.mark.parametrize("forward, backward", IMPLEMENTATIONS)
def test_inputs_are_not_modified(forward, backward):
    x, dout, kw = random_problem(SHAPES[3], seed=7)
    x_copy, dout_copy = x.copy(), dout.copy()
    _, cache = forward(x, **kw)
    backward(dout, cache)
    np.testing.assert_array_equal(x, x_copy)
    np.testing.assert_array_equal(dout, dout_copy)


@pytest.mark.cuda
def test_cuda_matches_cpu():
    torch = pytest.importorskip("torch", reason=TORCH_REASON)
    if not torch.cuda.is_available():
        pytest.skip("needs an NVIDIA GPU with a CUDA build of PyTorch")
    x, dout, kw = random_problem(SHAPES[3], seed=8)
    out, cache = maxpool2d_forward(x, **kw)
    dx = maxpool2d_backward(dout, cache)
    out_c, cache_c = maxpool2d_forward(torch.tensor(x, device="cuda"), **kw)
    dx_c = maxpool2d_backward(torch.tensor(dout, device="cuda"), cache_c)
    assert out_c.device.type == "cuda" and dx_c.device.type == "cuda"
    np.testing.assert_array_equal(out_c.cpu().numpy(), out)
    np.testing.assert_allclose(dx_c.cpu().numpy(), dx, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("forward, backward", IMPLEMENTATIONS)
@pytest.mark.parametrize(
    "x, kw, message",
    [
        (np.zeros((4, 4)), {}, r"x: expected shape \(N, C, H, W\), got \(4, 4\)"),
        (
            np.zeros((1, 1, 4, 4), dtype=np.int32),
            {},
            r"x: expected floating-point values .*, got int",
        ),
        (np.zeros((1, 1, 4, 4)), {"size": 0}, r"size: expected an integer >= 1, got 0"),
        (np.zeros((1, 1, 4, 4)), {"stride": 0}, r"stride: expected an integer >= 1, got 0"),
        (np.zeros((1, 1, 4, 2)), {"size": 3}, r"size: .* \(H, W\) = \(4, 2\), got \(3, 3\)"),
    ],
)
def test_bad_input_names_the_argument(forward, backward, x, kw, message):
    with pytest.raises(ValueError, match=message):
        forward(x, **kw)


@pytest.mark.parametrize("forward, backward", IMPLEMENTATIONS)
def test_bad_dout_names_its_shape(forward, backward):
    _, cache = forward(np.zeros((2, 3, 4, 4)))
    with pytest.raises(
        ValueError, match=r"dout: expected shape \(2, 3, 2, 2\), got \(2, 3, 4, 4\)"
    ):
        backward(np.zeros((2, 3, 4, 4)), cache)
