import numpy as np
import pytest
import torch
from hypothesis import given

from array_strategies import dense_inputs
from dlcourse.functional import dense_backward, dense_forward
from dlcourse.gradcheck import check_against_torch, check_gradients


def known_inputs():
    x = np.linspace(0.0, 0.5, 6).reshape(2, 3)  # [[0, .1, .2], [.3, .4, .5]]
    w = np.linspace(-0.5, 0.5, 6).reshape(3, 2)  # [[-.5, -.3], [-.1, .1], [.3, .5]]
    b = np.array([0.1, -0.1])
    return x, w, b


def test_known_answer():
    out, _ = dense_forward(*known_inputs())
    # worked by hand, e.g. out[0, 0] = 0*-.5 + .1*-.1 + .2*.3 + .1 = 0.15
    expected = np.array([[0.15, 0.01], [0.06, 0.10]])
    np.testing.assert_allclose(out, expected, atol=1e-12)


def test_known_backward():
    x, w, b = known_inputs()
    _, cache = dense_forward(x, w, b)
    dout = np.array([[1.0, 0.0], [0.0, 2.0]])
    dx, dw, db = dense_backward(dout, cache)
    # dx row i = dout row i @ w.T: row 0 takes w's first column, row 1 twice the second
    np.testing.assert_allclose(dx, [[-0.5, -0.1, 0.3], [-0.6, 0.2, 1.0]], atol=1e-12)
    # dw = x.T @ dout: column 0 is x's row 0, column 1 is twice x's row 1
    np.testing.assert_allclose(dw, [[0.0, 0.6], [0.1, 0.8], [0.2, 1.0]], atol=1e-12)
    np.testing.assert_allclose(db, [1.0, 2.0])


@given(dense_inputs())
def test_gradients_match_finite_differences(inputs):
    x, w, b = inputs
    report = check_gradients(dense_forward, dense_backward, {"x": x, "w": w, "b": b})
    assert report.passed, report


@given(dense_inputs())
def test_gradients_match_torch_autograd(inputs):
    x, w, b = inputs
    report = check_against_torch(dense_forward, dense_backward, {"x": x, "w": w, "b": b})
    assert report.passed, report


def test_input_grad_false_skips_dx(rng):
    x, w, b = rng.standard_normal((4, 3)), rng.standard_normal((3, 2)), rng.standard_normal(2)
    _, cache = dense_forward(x, w, b)
    dout = rng.standard_normal((4, 2))
    dx, dw, db = dense_backward(dout, cache, input_grad=False)
    full = dense_backward(dout, cache)
    assert dx is None
    np.testing.assert_allclose(dw, full[1])
    np.testing.assert_allclose(db, full[2])


@pytest.mark.parametrize("to_array", [np.asarray, torch.from_numpy], ids=["numpy", "torch"])
def test_dw_out_receives_dw(rng, to_array):
    x, w, b = (
        to_array(a)
        for a in (rng.standard_normal((4, 3)), rng.standard_normal((3, 2)), rng.standard_normal(2))
    )
    _, cache = dense_forward(x, w, b)
    dout = to_array(rng.standard_normal((4, 2)))
    buffer = to_array(np.full((3, 2), np.nan))
    dx, dw, db = dense_backward(dout, cache, dw_out=buffer)
    fresh = dense_backward(dout, cache)
    assert dw is buffer
    np.testing.assert_allclose(np.asarray(buffer), np.asarray(fresh[1]))
    np.testing.assert_allclose(np.asarray(dx), np.asarray(fresh[0]))
    np.testing.assert_allclose(np.asarray(db), np.asarray(fresh[2]))


def test_dw_out_of_the_wrong_shape_is_refused(rng):
    x, w, b = rng.standard_normal((4, 3)), rng.standard_normal((3, 2)), rng.standard_normal(2)
    _, cache = dense_forward(x, w, b)
    with pytest.raises(ValueError, match=r"dw_out: expected shape \(3, 2\), got \(2, 3\)"):
        dense_backward(rng.standard_normal((4, 2)), cache, dw_out=np.empty((2, 3)))


def test_inputs_not_modified(rng):
    x, w, b = rng.standard_normal((4, 3)), rng.standard_normal((3, 2)), rng.standard_normal(2)
    copies = [a.copy() for a in (x, w, b)]
    out, cache = dense_forward(x, w, b)
    dout = rng.standard_normal(out.shape)
    dout_copy = dout.copy()
    dense_backward(dout, cache)
    for original, copy in zip((x, w, b), copies):
        np.testing.assert_array_equal(original, copy)
    np.testing.assert_array_equal(dout, dout_copy)


@pytest.mark.parametrize(
    "shapes, message",
    [
        (((4,), (3, 2), (2,)), "x: expected shape (N, D), got (4,)"),
        (((4, 3), (5, 2), (2,)), "w: expected shape (D=3, M), got (5, 2)"),
        (((4, 3), (3, 2), (3,)), "b: expected shape (M=2,), got (3,)"),
    ],
)
def test_bad_shapes_name_the_argument(shapes, message):
    arrays = [np.ones(s) for s in shapes]
    with pytest.raises(ValueError) as err:
        dense_forward(*arrays)
    assert message in str(err.value)


def test_mixed_dtypes_are_refused():
    with pytest.raises(ValueError, match="w: dtype float32 differs from x's float64"):
        dense_forward(np.ones((2, 3)), np.ones((3, 2), np.float32), np.ones(2))


def test_integer_input_is_refused():
    with pytest.raises(ValueError, match="x: expected floating-point values"):
        dense_forward(np.ones((2, 3), int), np.ones((3, 2)), np.ones(2))


def test_list_input_is_refused():
    with pytest.raises(ValueError, match="x: expected an array"):
        dense_forward([[1.0, 2.0]], np.ones((2, 2)), np.ones(2))


def test_wrong_dout_shape():
    _, cache = dense_forward(np.ones((4, 3)), np.ones((3, 2)), np.ones(2))
    with pytest.raises(ValueError, match=r"dout: expected shape \(4, 2\), got \(2, 4\)"):
        dense_backward(np.ones((2, 4)), cache)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_kept(dtype, rng):
    x, w, b = (rng.standard_normal(s).astype(dtype) for s in ((4, 3), (3, 2), (2,)))
    out, cache = dense_forward(x, w, b)
    grads = dense_backward(np.ones_like(out), cache)
    assert out.dtype == dtype and all(g.dtype == dtype for g in grads)


def test_float32_passes_with_float32_tolerance(rng):
    inputs = {
        k: rng.standard_normal(s).astype(np.float32)
        for k, s in (("x", (8, 5)), ("w", (5, 4)), ("b", (4,)))
    }
    report = check_gradients(dense_forward, dense_backward, inputs)
    assert report.passed and report.dtype == "float32", report


def test_torch_tensors_in_torch_tensors_out(rng):
    x, w, b = rng.standard_normal((4, 3)), rng.standard_normal((3, 2)), rng.standard_normal(2)
    out_np, cache_np = dense_forward(x, w, b)
    out_t, cache_t = dense_forward(*(torch.from_numpy(a) for a in (x, w, b)))
    assert isinstance(out_t, torch.Tensor)
    np.testing.assert_allclose(out_t.numpy(), out_np, rtol=1e-12)
    dout = rng.standard_normal(out_np.shape)
    for g_np, g_t in zip(
        dense_backward(dout, cache_np), dense_backward(torch.from_numpy(dout), cache_t)
    ):
        assert isinstance(g_t, torch.Tensor)
        np.testing.assert_allclose(g_t.numpy(), g_np, rtol=1e-12)
