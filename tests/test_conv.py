"""Convolution (vectorized and naive) and flatten: known answers, oracles, gradients.

Expected values come from three independent places: small inputs whose
answers are worked out by hand below, PyTorch's own conv2d and autograd, and
finite differences.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dlcourse.functional.conv import conv2d_backward, conv2d_forward
from dlcourse.functional.conv_naive import conv2d_backward_naive, conv2d_forward_naive
from dlcourse.functional.flatten import flatten_backward, flatten_forward
from dlcourse.gradcheck import check_against_torch, check_gradients

TORCH_REASON = "PyTorch (the dlcourse[torch] extra) is the oracle for these checks"

# (N, C, H, W, F, KH, KW, stride, pad): square and non-square kernels, H != W,
# strides that do and do not divide the input evenly, kernels larger than the stride.
SHAPES = [
    (2, 3, 5, 5, 4, 3, 3, 1, 1),
    (1, 2, 7, 5, 3, 3, 2, 2, 0),
    (3, 1, 6, 9, 2, 2, 4, 3, 2),
    (2, 2, 4, 6, 3, 1, 1, 1, 0),
    (1, 3, 8, 3, 2, 5, 3, 2, 1),
    (2, 1, 3, 3, 1, 3, 3, 1, 0),
]


def random_problem(shape, seed=0, dtype=np.float64):
    N, C, H, W, F, KH, KW, stride, pad = shape
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((F, C, KH, KW)).astype(dtype)
    b = rng.standard_normal(F).astype(dtype)
    OH = (H + 2 * pad - KH) // stride + 1
    OW = (W + 2 * pad - KW) // stride + 1
    dout = rng.standard_normal((N, F, OH, OW)).astype(dtype)
    return x, w, b, dout, {"stride": stride, "pad": pad}


def torch_conv(x, w, b, dout, stride, pad):
    """PyTorch's conv2d forward and autograd gradients, as NumPy arrays."""
    torch = pytest.importorskip("torch", reason=TORCH_REASON)
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    out = torch.nn.functional.conv2d(xt, wt, bt, stride=stride, padding=pad)
    out.backward(torch.tensor(dout))
    return out.detach().numpy(), (xt.grad.numpy(), wt.grad.numpy(), bt.grad.numpy())


# ---------------------------------------------------------------- known answers


def test_ones_kernel_sums_each_window():
    x = np.arange(16.0).reshape(1, 1, 4, 4)  # rows 0..3, 4..7, 8..11, 12..15
    w = np.ones((1, 1, 2, 2))
    out, _ = conv2d_forward(x, w, np.zeros(1))
    # each output is the sum of a 2x2 block: top-left 0+1+4+5 = 10, one step
    # right adds 4 (every entry +1), one step down adds 16 (every entry +4)
    expected = np.array([[10.0, 14, 18], [26, 30, 34], [42, 46, 50]])
    np.testing.assert_array_equal(out[0, 0], expected)


def test_padding_and_stride_known_answer():
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    w = np.ones((1, 1, 3, 3))
    out, _ = conv2d_forward(x, w, np.array([0.5]), stride=2, pad=1)
    # OH = (4 + 2 - 3) // 2 + 1 = 2; with one ring of zeros the 3x3 windows
    # start at rows/cols -1 and 1 of the original image
    expected = np.array(
        [
            [np.sum(x[0, 0, 0:2, 0:2]), np.sum(x[0, 0, 0:2, 1:4])],  # 0+1+4+5, 1+2+3+5+6+7
            [np.sum(x[0, 0, 1:4, 0:2]), np.sum(x[0, 0, 1:4, 1:4])],
        ]
    )
    np.testing.assert_array_equal(expected, [[10, 24], [51, 90]])  # by hand
    np.testing.assert_allclose(out[0, 0], expected + 0.5)


def test_non_square_kernels_take_differences():
    x = np.arange(15.0).reshape(1, 1, 3, 5)  # x[r, c] = 5r + c
    across, _ = conv2d_forward(x, np.array([[[[1.0, 0.0, -1.0]]]]), np.zeros(1))
    down, _ = conv2d_forward(x, np.array([[[[1.0], [-1.0]]]]), np.zeros(1))
    assert across.shape == (1, 1, 3, 3) and down.shape == (1, 1, 2, 5)
    np.testing.assert_array_equal(across, np.full((1, 1, 3, 3), -2.0))  # x[r,c] - x[r,c+2]
    np.testing.assert_array_equal(down, np.full((1, 1, 2, 5), -5.0))  # x[r,c] - x[r+1,c]


def test_identity_kernels_copy_channels_and_add_bias():
    x = np.linspace(-0.5, 0.7, 2 * 3 * 5 * 4).reshape(2, 3, 5, 4)
    w = np.zeros((3, 3, 3, 3))
    for f in range(3):
        w[f, f, 1, 1] = 1.0  # filter f copies channel f through the kernel's centre
    b = np.array([0.1, -0.2, 0.3])
    out, _ = conv2d_forward(x, w, b, pad=1)
    np.testing.assert_allclose(out, x + b.reshape(1, 3, 1, 1))


def test_channels_are_summed():
    x = np.linspace(-1, 1, 1 * 3 * 2 * 2).reshape(1, 3, 2, 2)
    w = np.stack([np.ones((3, 1, 1)), np.full((3, 1, 1), 2.0)])  # 1x1 kernels
    out, _ = conv2d_forward(x, w, np.zeros(2))
    channel_sum = x[:, 0] + x[:, 1] + x[:, 2]
    np.testing.assert_allclose(out[:, 0], channel_sum)
    np.testing.assert_allclose(out[:, 1], 2 * channel_sum)


def test_backward_known_answer():
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    w = np.ones((1, 1, 2, 2))
    _, cache = conv2d_forward(x, w, np.zeros(1))
    dx, dw, db = conv2d_backward(np.ones((1, 1, 3, 3)), cache)
    # dx counts how many of the nine 2x2 windows cover each pixel
    covers = np.array([[1.0, 2, 2, 1], [2, 4, 4, 2], [2, 4, 4, 2], [1, 2, 2, 1]])
    np.testing.assert_array_equal(dx[0, 0], covers)
    # dw[i, j] sums the pixels that kernel entry (i, j) touched: a 3x3 block
    blocks = [[np.sum(x[0, 0, i : i + 3, j : j + 3]) for j in range(2)] for i in range(2)]
    np.testing.assert_array_equal(dw[0, 0], blocks)
    np.testing.assert_array_equal(blocks, [[45, 54], [81, 90]])  # 0+1+2+4+5+6+8+9+10 = 45
    np.testing.assert_array_equal(db, [9.0])


def test_output_shape_formula():
    x = np.zeros((2, 3, 11, 7))
    out, _ = conv2d_forward(x, np.zeros((5, 3, 4, 2)), np.zeros(5), stride=3, pad=2)
    assert out.shape == (2, 5, (11 + 4 - 4) // 3 + 1, (7 + 4 - 2) // 3 + 1) == (2, 5, 4, 4)


# ---------------------------------------------------------------- oracles


def test_linspace_inputs_match_torch():
    x = np.linspace(-0.1, 0.5, 2 * 3 * 4 * 4).reshape(2, 3, 4, 4)
    w = np.linspace(-0.2, 0.3, 3 * 3 * 4 * 4).reshape(3, 3, 4, 4)
    b = np.linspace(-0.1, 0.2, 3)
    dout = np.linspace(-1.0, 1.0, 2 * 3 * 2 * 2).reshape(2, 3, 2, 2)
    expected, grads = torch_conv(x, w, b, dout, stride=2, pad=1)
    out, cache = conv2d_forward(x, w, b, stride=2, pad=1)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    for got, want in zip(conv2d_backward(dout, cache), grads, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape", SHAPES)
def test_forward_and_backward_match_torch(shape):
    x, w, b, dout, kw = random_problem(shape)
    expected, grads = torch_conv(x, w, b, dout, kw["stride"], kw["pad"])
    out, cache = conv2d_forward(x, w, b, **kw)
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-12)
    for name, got, want in zip(
        "dx dw db".split(), conv2d_backward(dout, cache), grads, strict=True
    ):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("shape", SHAPES[:3])
def test_backward_matches_autograd_of_forward(shape):
    pytest.importorskip("torch", reason=TORCH_REASON)
    x, w, b, _, kw = random_problem(shape, seed=1)
    report = check_against_torch(
        conv2d_forward, conv2d_backward, {"x": x, "w": w, "b": b}, kwargs=kw
    )
    assert report.passed, report


def test_backward_matches_jax_vjp_of_forward():
    # the forward writes into no array, so JAX (immutable arrays) can trace it
    pytest.importorskip("jax", reason="JAX (the dlcourse[jax] extra) is the oracle for this check")
    from dlcourse.gradcheck import check_against_jax

    x, w, b, _, kw = random_problem(SHAPES[1], seed=13)
    report = check_against_jax(conv2d_forward, conv2d_backward, {"x": x, "w": w, "b": b}, kwargs=kw)
    assert report.passed, report


@pytest.mark.parametrize(
    "shape", [(2, 2, 4, 5, 3, 3, 2, 1, 1), (1, 2, 5, 4, 2, 2, 3, 2, 0), (2, 1, 5, 5, 2, 3, 3, 2, 2)]
)
def test_gradients_match_finite_differences(shape):
    x, w, b, _, kw = random_problem(shape, seed=2)
    report = check_gradients(conv2d_forward, conv2d_backward, {"x": x, "w": w, "b": b}, kwargs=kw)
    assert report.passed, report


@st.composite
def conv_problems(draw):
    N, C, F = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    H, W = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    pad, stride = draw(st.integers(0, 2)), draw(st.integers(1, 3))
    KH = draw(st.integers(1, min(4, H + 2 * pad)))
    KW = draw(st.integers(1, min(4, W + 2 * pad)))
    seed = draw(st.integers(0, 2**16))
    return (N, C, H, W, F, KH, KW, stride, pad), seed


@settings(deadline=None)
@given(conv_problems())
def test_any_shape_matches_torch(problem):
    shape, seed = problem
    x, w, b, dout, kw = random_problem(shape, seed)
    expected, grads = torch_conv(x, w, b, dout, kw["stride"], kw["pad"])
    out, cache = conv2d_forward(x, w, b, **kw)
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-12)
    for got, want in zip(conv2d_backward(dout, cache), grads, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------- naive == vectorized


@pytest.mark.parametrize("shape", SHAPES)
def test_naive_matches_vectorized(shape):
    x, w, b, dout, kw = random_problem(shape, seed=3)
    out, cache = conv2d_forward(x, w, b, **kw)
    out_naive, cache_naive = conv2d_forward_naive(x, w, b, **kw)
    np.testing.assert_allclose(out_naive, out, rtol=1e-12, atol=1e-12)
    for got, want in zip(
        conv2d_backward_naive(dout, cache_naive), conv2d_backward(dout, cache), strict=True
    ):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@settings(max_examples=15, deadline=None)
@given(conv_problems())
def test_naive_matches_vectorized_any_shape(problem):
    shape, seed = problem
    x, w, b, dout, kw = random_problem(shape, seed)
    np.testing.assert_allclose(
        conv2d_forward_naive(x, w, b, **kw)[0], conv2d_forward(x, w, b, **kw)[0], atol=1e-12
    )


def test_naive_gradients_match_finite_differences():
    x, w, b, _, kw = random_problem((1, 2, 4, 3, 2, 2, 2, 2, 1), seed=4)
    report = check_gradients(
        conv2d_forward_naive, conv2d_backward_naive, {"x": x, "w": w, "b": b}, kwargs=kw
    )
    assert report.passed, report


# ---------------------------------------------------------------- arrays and dtypes


@pytest.mark.parametrize(
    "forward, backward",
    [(conv2d_forward, conv2d_backward), (conv2d_forward_naive, conv2d_backward_naive)],
)
@pytest.mark.parametrize("dtype_name", ["float32", "float64"])
def test_torch_tensors_in_and_out(forward, backward, dtype_name):
    torch = pytest.importorskip("torch", reason=TORCH_REASON)
    dtype = getattr(torch, dtype_name)
    x, w, b, dout, kw = random_problem((2, 2, 5, 4, 3, 3, 2, 2, 1), seed=5)
    out, cache = forward(x, w, b, **kw)
    grads = backward(dout, cache)
    tensors = [torch.tensor(a, dtype=dtype) for a in (x, w, b, dout)]
    out_t, cache_t = forward(*tensors[:3], **kw)
    grads_t = backward(tensors[3], cache_t)
    rtol = 1e-5 if dtype_name == "float32" else 1e-12
    for got, want in zip((out_t, *grads_t), (out, *grads), strict=True):
        assert isinstance(got, torch.Tensor) and got.dtype == dtype
        np.testing.assert_allclose(got.numpy(), want, rtol=rtol, atol=rtol)


def test_float32_stays_float32_and_is_accurate():
    x, w, b, dout, kw = random_problem(SHAPES[0], seed=6)
    out64, cache64 = conv2d_forward(x, w, b, **kw)
    grads64 = conv2d_backward(dout, cache64)
    x32, w32, b32, d32 = (a.astype(np.float32) for a in (x, w, b, dout))
    out32, cache32 = conv2d_forward(x32, w32, b32, **kw)
    grads32 = conv2d_backward(d32, cache32)
    for got, want in zip((out32, *grads32), (out64, *grads64), strict=True):
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_float32_gradients_pass_finite_differences():
    x, w, b, _, kw = random_problem((1, 2, 4, 4, 2, 3, 3, 1, 1), seed=7, dtype=np.float32)
    report = check_gradients(conv2d_forward, conv2d_backward, {"x": x, "w": w, "b": b}, kwargs=kw)
    assert report.passed, report


def test_float64_dout_gives_gradients_in_the_forward_dtype():
    x, w, b, dout, kw = random_problem(SHAPES[1], seed=8, dtype=np.float32)
    _, cache = conv2d_forward(x, w, b, **kw)
    dx, dw, db = conv2d_backward(dout.astype(np.float64), cache)
    assert (dx.dtype, dw.dtype, db.dtype) == (np.float32,) * 3


@pytest.mark.parametrize(
    "forward, backward",
    [(conv2d_forward, conv2d_backward), (conv2d_forward_naive, conv2d_backward_naive)],
)
def test_inputs_are_not_modified(forward, backward):
    x, w, b, dout, kw = random_problem(SHAPES[0], seed=9)
    copies = [a.copy() for a in (x, w, b, dout)]
    _, cache = forward(x, w, b, **kw)
    backward(dout, cache)
    for original, copy in zip((x, w, b, dout), copies, strict=True):
        np.testing.assert_array_equal(original, copy)


def test_torch_inputs_are_not_modified():
    torch = pytest.importorskip("torch", reason=TORCH_REASON)
    x, w, b, dout, kw = random_problem(SHAPES[0], seed=10)
    tensors = [torch.tensor(a) for a in (x, w, b, dout)]
    copies = [t.clone() for t in tensors]
    _, cache = conv2d_forward(*tensors[:3], **kw)
    conv2d_backward(tensors[3], cache)
    for original, copy in zip(tensors, copies, strict=True):
        assert torch.equal(original, copy)


@pytest.mark.cuda
def test_cuda_matches_cpu():
    torch = pytest.importorskip("torch", reason=TORCH_REASON)
    if not torch.cuda.is_available():
        pytest.skip("needs an NVIDIA GPU with a CUDA build of PyTorch")
    x, w, b, dout, kw = random_problem(SHAPES[2], seed=11)
    out, cache = conv2d_forward(x, w, b, **kw)
    grads = conv2d_backward(dout, cache)
    tensors = [torch.tensor(a, device="cuda") for a in (x, w, b, dout)]
    out_c, cache_c = conv2d_forward(*tensors[:3], **kw)
    grads_c = conv2d_backward(tensors[3], cache_c)
    for got, want in zip((out_c, *grads_c), (out, *grads), strict=True):
        assert got.device.type == "cuda" and got.dtype == torch.float64
        np.testing.assert_allclose(got.cpu().numpy(), want, rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------- bad input


def _args(**changes):
    args = {
        "x": np.zeros((2, 3, 5, 5)),
        "w": np.zeros((4, 3, 3, 3)),
        "b": np.zeros(4),
        "stride": 1,
        "pad": 0,
    }
    args.update(changes)
    return args


@pytest.mark.parametrize("forward", [conv2d_forward, conv2d_forward_naive])
@pytest.mark.parametrize(
    "changes, message",
    [
        ({"x": np.zeros((3, 5, 5))}, r"x: expected shape \(N, C, H, W\), got \(3, 5, 5\)"),
        (
            {"w": np.zeros((4, 2, 3, 3))},
            r"w: expected shape \(F, C=3, KH, KW\), got \(4, 2, 3, 3\)",
        ),
        ({"b": np.zeros(3)}, r"b: expected shape \(F=4,\), got \(3,\)"),
        (
            {"w": np.zeros((4, 3, 6, 3))},
            r"w: expected a kernel no larger .* \(5, 5\), got .* \(6, 3\)",
        ),
        ({"w": np.zeros((4, 3, 3, 8)), "pad": 1}, r"w: .* = \(7, 7\), got \(KH, KW\) = \(3, 8\)"),
        ({"stride": 0}, r"stride: expected an integer >= 1, got 0"),
        ({"stride": 1.5}, r"stride: expected an integer >= 1, got 1.5"),
        ({"pad": -1}, r"pad: expected an integer >= 0, got -1"),
        (
            {"x": np.zeros((2, 3, 5, 5), dtype=np.int64)},
            r"x: expected floating-point values .*, got int",
        ),
        ({"x": [[[[0.0]]]]}, r"x: expected an array"),
        ({"w": np.zeros((4, 3, 3, 3), np.float32)}, r"w: dtype float32 differs from x's float64"),
        ({"b": np.zeros(4, np.float32)}, r"b: dtype float32 differs from x's float64"),
    ],
)
def test_bad_input_names_the_argument(forward, changes, message):
    with pytest.raises(ValueError, match=message):
        forward(**_args(**changes))


def test_bad_dout_names_its_shape():
    _, cache = conv2d_forward(**_args())
    with pytest.raises(ValueError, match=r"dout: expected shape \(2, 4, 3, 3\), got \(2, 4, 3\)"):
        conv2d_backward(np.zeros((2, 4, 3)), cache)
    _, cache = conv2d_forward_naive(**_args())
    with pytest.raises(ValueError, match=r"dout: expected shape \(2, 4, 3, 3\)"):
        conv2d_backward_naive(np.zeros((2, 4, 3, 4)), cache)


# ---------------------------------------------------------------- flatten


def test_flatten_keeps_batch_and_row_major_order():
    x = np.arange(24.0).reshape(2, 3, 2, 2)
    out, cache = flatten_forward(x)
    assert out.shape == (2, 12)
    np.testing.assert_array_equal(out[0], np.arange(12.0))  # channel 0 first, then 1, 2
    np.testing.assert_array_equal(out[1], np.arange(12.0, 24.0))
    dx = flatten_backward(out * 2, cache)
    np.testing.assert_array_equal(dx, 2 * x)


def test_flatten_gradients_match_finite_differences():
    x = np.random.default_rng(12).standard_normal((2, 3, 2, 1))
    report = check_gradients(flatten_forward, flatten_backward, {"x": x})
    assert report.passed, report


def test_flatten_matches_torch_flatten():
    torch = pytest.importorskip("torch", reason=TORCH_REASON)
    x = torch.linspace(-1, 1, 2 * 3 * 4 * 5, dtype=torch.float32).reshape(2, 3, 4, 5)
    out, cache = flatten_forward(x)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32
    assert torch.equal(out, torch.nn.Flatten()(x))
    assert torch.equal(flatten_backward(out, cache), x)


def test_flatten_bad_input():
    with pytest.raises(ValueError, match=r"x: expected shape \(N, ...\)"):
        flatten_forward(np.ones(()))
    _, cache = flatten_forward(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match=r"dout: expected shape \(2, 12\), got \(2, 3, 4\)"):
        flatten_backward(np.zeros((2, 3, 4)), cache)
