"""Tests for dlcourse.diagnose: every kind of mistake, made by a real (wrong) computation."""

import collections
import dataclasses
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from dlcourse.diagnose import KINDS, Diagnosis, check_not_modified, diagnose

N, D, M = 8, 5, 3  # batch, inputs, outputs of the dense layer used throughout


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def dense(rng):
    """x (N, D), w (D, M), y (N, M) for a dense layer with a mean-squared-error loss."""
    x = rng.normal(size=(N, D))
    w = rng.normal(size=(D, M))
    y = rng.normal(size=(N, M))
    return x, w, y


def mse_dpred(pred, y):
    """d/dpred of mean over the batch of sum((pred - y)**2)."""
    return 2.0 * (pred - y) / pred.shape[0]


def dw_by_loops(x, dout):
    """dw[i, j] = sum_n x[n, i] * dout[n, j], one element at a time: the definition."""
    dw = np.zeros((x.shape[1], dout.shape[1]))
    for i in range(x.shape[1]):
        for j in range(dout.shape[1]):
            dw[i, j] = sum(x[n, i] * dout[n, j] for n in range(x.shape[0]))
    return dw


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def softmax_ce_dlogits_stable(logits, labels):
    shifted = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    p[np.arange(len(labels)), labels] -= 1.0
    return p / len(labels)


def softmax_ce_dlogits_naive(logits, labels):
    with np.errstate(all="ignore"):  # exp(1000) overflows: that is the mistake under test
        p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    p[np.arange(len(labels)), labels] -= 1.0
    return p / len(labels)


# --- ok -------------------------------------------------------------------------------


def test_matrix_product_matches_the_loop_definition(dense):
    x, w, y = dense
    dout = mse_dpred(x @ w, y)
    d = diagnose(x.T @ dout, dw_by_loops(x, dout), "dw")
    assert d.kind == "ok" and d.ok and d.severity == "ok"
    assert d.mismatches == 0 and d.max_rel_error < 1e-12
    assert str(d).startswith("ok: dw matches")


def test_float32_rounding_is_within_tolerance(dense):
    x, w, y = dense
    dout = mse_dpred(x @ w, y)
    got = x.astype(np.float32).T @ dout.astype(np.float32)
    d = diagnose(got, dw_by_loops(x, dout).astype(np.float32), "dw")
    assert d.kind == "ok", str(d)


def test_float64_tolerance_catches_a_float32_sized_error(dense):
    x, w, y = dense
    dw = x.T @ mse_dpred(x @ w, y)
    nudged = dw * (1 + 1e-4)  # fine for float32, far too much for float64
    assert diagnose(nudged.astype(np.float32), dw.astype(np.float32)).kind == "ok"
    assert diagnose(nudged, dw).kind != "ok"
    assert diagnose(nudged, dw, rtol=1e-3).kind == "ok"


# --- none, device ---------------------------------------------------------------------


def test_forgotten_return_is_none(dense):
    x, w, y = dense

    def dense_backward(dout, cache):
        x, w = cache
        dw = x.T @ dout  # noqa: F841 - computed and then, by mistake, not returned

    got = dense_backward(mse_dpred(x @ w, y), (x, w))
    d = diagnose(got, x.T @ mse_dpred(x @ w, y), "dw")
    assert d.kind == "none" and not d.ok
    assert "dw is None" in d.message and "(5, 3)" in d.message and "return" in d.message


def test_python_list_is_reported_as_the_wrong_kind_of_array(dense):
    x, w, y = dense
    dout = mse_dpred(x @ w, y)
    d = diagnose((x.T @ dout).tolist(), x.T @ dout, "dw")
    assert d.kind == "device"
    assert "dw is a Python list" in d.message and "NumPy array" in d.message


def test_numpy_result_for_torch_inputs_is_device(dense):
    torch = pytest.importorskip("torch", reason="the device check compares with PyTorch tensors")
    x, w, y = (torch.from_numpy(a) for a in dense)
    dout = torch.from_numpy(mse_dpred((x @ w).numpy(), y.numpy()))
    got = x.numpy().T @ dout.numpy()  # the student fell back to NumPy
    d = diagnose(got, x.T @ dout, "dw")
    assert d.kind == "device" and not d.ok
    assert "dw is a NumPy array" in d.message and "PyTorch tensor" in d.message
    back = diagnose(x.T @ dout, got, "dw")
    assert back.kind == "device" and "dw is a PyTorch tensor" in back.message


@pytest.mark.cuda
def test_cpu_result_for_cuda_inputs_is_device(dense):
    torch = pytest.importorskip("torch", reason="CUDA tests need PyTorch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device: torch.cuda.is_available() is False")
    x, w, y = (torch.from_numpy(a).cuda() for a in dense)
    dout = 2.0 * (x @ w - y) / N
    d = diagnose((x.T @ dout).cpu(), x.T @ dout, "dw")
    assert d.kind == "device"
    assert "dw is on cpu" in d.message and "cuda:0" in d.message
    assert diagnose(-(x.T @ dout), x.T @ dout, "dw").kind == "sign"
    assert diagnose(x.T @ dout, x.T @ dout, "dw").ok


# --- shape, transposed ----------------------------------------------------------------


def test_dout_T_times_x_is_transposed(dense):
    x, w, y = dense
    dout = mse_dpred(x @ w, y)
    d = diagnose(dout.T @ x, x.T @ dout, "dw")
    assert d.kind == "transposed" and not d.ok
    assert "dw has shape (3, 5) but should be (5, 3)" in d.message
    assert "x.T @ dout" in d.message


def test_transposed_and_divided_twice_says_both(dense):
    x, w, y = dense
    dout = mse_dpred(x @ w, y)
    d = diagnose(dout.T @ x / N, x.T @ dout, "dw")
    assert d.kind == "transposed"
    assert "Even after transposing" in d.message and "1/8" in d.message


def test_square_weight_with_transposed_values(rng):
    x, dout = rng.normal(size=(N, 4)), rng.normal(size=(N, 4))
    d = diagnose(dout.T @ x, x.T @ dout, "dw")
    assert d.kind == "transposed"
    assert "right shape (4, 4)" in d.message and "dw.T" in d.message


def test_permuted_axes_of_a_3d_gradient(rng):
    images = rng.normal(size=(2, 3, 4))
    d = diagnose(np.moveaxis(images, 0, -1), images, "dx")
    assert d.kind == "transposed"
    assert "(3, 4, 2)" in d.message and "(2, 3, 4)" in d.message


def test_bias_gradient_not_summed_over_batch(dense):
    x, w, y = dense
    dout = mse_dpred(x @ w, y)
    d = diagnose(dout.copy(), dout.sum(axis=0), "db", batch_size=N)
    assert d.kind == "shape"
    assert "(8, 3)" in d.message and "(3,)" in d.message and "axis=0" in d.message


def test_bias_gradient_with_keepdims(dense):
    x, w, y = dense
    dout = mse_dpred(x @ w, y)
    d = diagnose(dout.sum(axis=0, keepdims=True), dout.sum(axis=0), "db")
    assert d.kind == "shape" and "keepdims" in d.message and "(1, 3)" in d.message


def test_broadcast_column_against_row(rng):
    pred, target = rng.normal(size=(N, 1)), rng.normal(size=N)
    d = diagnose(pred - target, pred[:, 0] - target, "dpred")
    assert d.kind == "shape" and "broadcasting" in d.message and "(8, 8)" in d.message


# --- nan ------------------------------------------------------------------------------


def test_softmax_without_max_shift_gives_nan(rng):
    logits = rng.normal(size=(4, 3))
    logits[2] += 1000.0  # exp overflows in this row only
    labels = np.array([0, 2, 1, 0])
    d = diagnose(
        softmax_ce_dlogits_naive(logits, labels),
        softmax_ce_dlogits_stable(logits, labels),
        "dlogits",
    )
    assert d.kind == "nan" and not d.ok
    assert d.worst_index[0] == 2 and np.isnan(d.got_value)
    assert "dlogits contains NaN" in d.message and "max before exp" in d.message


# --- dtype ----------------------------------------------------------------------------


def relu_backward_upcasting(dout, x):
    mask = (x > 0).astype(np.float64)  # a float64 mask upcasts a float32 dout
    return dout * mask


def test_float64_returned_for_float32_inputs(rng):
    x = rng.normal(size=(N, D)).astype(np.float32)
    dout = rng.normal(size=(N, D)).astype(np.float32)
    d = diagnose(relu_backward_upcasting(dout, x), dout * (x > 0), "dx")
    assert d.kind == "dtype" and not d.ok
    assert "dx has dtype float64 but should be float32" in d.message


def test_gradients_packed_into_an_object_array(dense):
    x, w, y = dense
    dout = mse_dpred(x @ w, y)
    packed = np.empty(2, dtype=object)
    packed[0], packed[1] = x.T @ dout, dout.sum(axis=0)  # (dw, db) in one array
    d = diagnose(packed, x.T @ dout, "dw")
    assert d.kind == "dtype" and "dw has dtype object" in d.message


def test_wrong_values_and_dtype_reports_values_first(rng):
    x = rng.normal(size=(N, D)).astype(np.float32)
    dout = rng.normal(size=(N, D)).astype(np.float32)
    d = diagnose(-relu_backward_upcasting(dout, x), dout * (x > 0), "dx")
    assert d.kind == "sign" and "float64" in d.message and "float32" in d.message


# --- sign, batch_scale, scale ---------------------------------------------------------


def test_sigmoid_derivative_with_flipped_sign(rng):
    z = rng.normal(size=(N, M))
    s = sigmoid(z)
    d = diagnose(s * (s - 1), s * (1 - s), "dz")
    assert d.kind == "sign" and d.factor == -1.0
    assert "dz" in d.message and "opposite sign" in d.message


def test_mean_divided_twice_is_batch_scale(dense):
    x, w, y = dense
    dpred = mse_dpred(x @ w, y)  # already carries the 1/N of the mean
    d = diagnose(x.T @ dpred / N, x.T @ dpred, "dw", batch_size=N)
    assert d.kind == "batch_scale" and d.factor == pytest.approx(1 / N)
    assert "1/8" in d.message and "batch size" in d.message and "twice" in d.message


def test_sum_instead_of_mean_is_batch_scale_when_the_batch_size_is_known(dense):
    x, w, y = dense
    dpred_sum = 2.0 * (x @ w - y)  # forgot the 1/N of the mean
    d = diagnose(x.T @ dpred_sum, x.T @ mse_dpred(x @ w, y), "dw", batch_size=N)
    assert d.kind == "batch_scale" and d.factor == pytest.approx(N)
    assert "factor of 8, the batch size" in d.message and "divide by N once" in d.message


def test_without_the_batch_size_a_whole_factor_is_named_not_explained(dense):
    x, w, y = dense
    dpred_sum = 2.0 * (x @ w - y)  # the same mistake, but nobody said N = 8
    d = diagnose(x.T @ dpred_sum, x.T @ mse_dpred(x @ w, y), "dw")
    assert d.kind == "scale" and d.factor == pytest.approx(N)
    assert "off by a factor of 8;" in d.message and "8 times" in d.message
    assert "batch" not in d.message and "divide by N" not in d.message


def test_missing_two_from_the_square_is_scale(dense):
    x, w, y = dense
    dpred_no_two = (x @ w - y) / N
    d = diagnose(x.T @ dpred_no_two, x.T @ mse_dpred(x @ w, y), "dw", batch_size=N)
    assert d.kind == "scale" and d.factor == pytest.approx(0.5)
    assert "factor of 2" in d.message


def test_other_constant_factor_is_scale(dense):
    x, w, y = dense
    dw = x.T @ mse_dpred(x @ w, y)
    d = diagnose(0.3 * dw, dw, "dw")  # a learning rate multiplied in
    assert d.kind == "scale" and d.factor == pytest.approx(0.3)
    assert "0.3 times" in d.message


def test_known_batch_size_rules_out_other_whole_factors(dense):
    x, w, y = dense
    dw = x.T @ mse_dpred(x @ w, y)
    d = diagnose(dw / 10, dw, "dw", batch_size=N)  # N is 8: 10 is some other constant
    assert d.kind == "scale" and "1/10 of" in d.message and "factor of 10" in d.message
    assert "batch" not in d.message


# --- kink, elementwise ----------------------------------------------------------------


def relu_inputs(rng):
    x = rng.normal(size=(N, D))
    x[[0, 3, 5], [1, 2, 4]] = 0.0  # exact zeros, as after a previous ReLU
    return x


def test_relu_subgradient_at_zero_is_a_kink_warning(rng):
    x, dout = relu_inputs(rng), rng.normal(size=(N, D))
    got = dout * (x >= 0)  # ReLU'(0) = 1
    d = diagnose(got, dout * (x > 0), "dx", at=x)  # ReLU'(0) = 0
    assert d.kind == "kink" and d.ok and d.severity == "warning"
    assert d.mismatches == 3 and x[d.worst_index] == 0.0
    assert str(d).startswith("kink (warning): dx differs")
    assert "subgradient" in d.message


def test_relu_subgradient_without_inputs_is_elementwise(rng):
    x, dout = relu_inputs(rng), rng.normal(size=(N, D))
    d = diagnose(dout * (x >= 0), dout * (x > 0), "dx")
    assert d.kind == "elementwise" and not d.ok
    assert x[d.worst_index] == 0.0


def test_wrong_relu_threshold_is_not_a_kink(rng):
    x, dout = relu_inputs(rng), rng.normal(size=(N, D))
    x[1, 1] = 0.05
    d = diagnose(dout * (x > 0.1), dout * (x > 0), "dx", at=x)
    assert d.kind == "elementwise"


def test_loop_that_skips_the_last_sample_names_the_row(dense):
    x, w, y = dense
    dout = mse_dpred(x @ w, y)
    dx = np.zeros_like(x)
    for n in range(N - 1):  # off by one: the last sample never gets its gradient
        dx[n] = dout[n] @ w.T
    expected = dout @ w.T
    d = diagnose(dx, expected, "dx")
    assert d.kind == "elementwise"
    assert d.worst_index[0] == N - 1 and d.got_value == 0.0
    assert d.expected_value == expected[d.worst_index]
    assert f"of {N * D} elements" in d.message and "Only row 7" in d.message
    assert f"dx[{d.worst_index[0]}, {d.worst_index[1]}]" in d.message


def test_all_zero_gradient_is_pointed_out(dense):
    x, w, y = dense
    dw = x.T @ mse_dpred(x @ w, y)
    d = diagnose(np.zeros_like(dw), dw, "dw")
    assert d.kind == "elementwise" and "all zeros" in d.message


# --- PyTorch tensors ------------------------------------------------------------------


def test_torch_tensors_with_autograd(dense):
    torch = pytest.importorskip("torch", reason="compares against torch.autograd")
    x, w, y = (torch.from_numpy(a) for a in dense)
    w.requires_grad_(True)
    loss = ((x @ w - y) ** 2).sum(dim=1).mean()
    loss.backward()
    by_hand = x.T @ (2.0 * (x @ w - y) / N)  # still attached to the graph: fine
    assert diagnose(by_hand, w.grad, "dw").kind == "ok"
    assert diagnose(-by_hand, w.grad, "dw").kind == "sign"
    assert diagnose(by_hand.T, w.grad, "dw").kind == "transposed"
    assert diagnose(by_hand * N, w.grad, "dw", batch_size=N).kind == "batch_scale"


def test_torch_float64_for_float32(dense):
    torch = pytest.importorskip("torch", reason="the dtype check on PyTorch tensors")
    x = torch.from_numpy(dense[0]).float()
    dout = torch.ones(N, D)
    got = dout * (x > 0).double()
    d = diagnose(got, dout * (x > 0), "dx")
    assert d.kind == "dtype" and "float64" in d.message and "float32" in d.message


# --- in-place modification ------------------------------------------------------------


def relu_backward_in_place(dout, cache):
    dout *= cache > 0
    return dout


def relu_backward(dout, cache):
    return dout * (cache > 0)


def test_dout_modified_in_place_is_caught_and_named(rng):
    x, dout = relu_inputs(rng), rng.normal(size=(N, D))
    before = dout.copy()
    d = check_not_modified(relu_backward_in_place, dout, x)
    assert d.kind == "inplace" and not d.ok and d.name == "dout"
    assert "relu_backward_in_place modified its input dout" in d.message
    assert x[d.worst_index] <= 0 and d.expected_value == before[d.worst_index]
    np.testing.assert_array_equal(dout, before)  # the caller's array is left alone


def test_clean_backward_passes(rng):
    x, dout = relu_inputs(rng), rng.normal(size=(N, D))
    d = check_not_modified(relu_backward, dout, x)
    assert d.kind == "ok" and "dout, cache" in d.message


def test_nested_cache_modification_is_named_by_path(rng):
    x, w = rng.normal(size=(N, D)), rng.normal(size=(D, M))

    def dense_backward(dout, cache):
        x, params = cache
        params["w"][0, 0] = 0.0  # overwrites the caller's weights
        return dout @ params["w"].T, x.T @ dout

    d = check_not_modified(dense_backward, np.ones((N, M)), (x, {"w": w, "lr": 0.1}))
    assert d.kind == "inplace" and d.name == "cache[1]['w']"
    assert d.worst_index == (0, 0) and "cache[1]['w'][0, 0]" in d.message


def test_named_tuple_cache_and_keyword_argument(rng):
    Cache = collections.namedtuple("Cache", ["x", "mask"])
    x = rng.normal(size=(N, D))

    def relu_backward_nt(dout, cache):
        cache.mask[:] = True  # corrupts the saved mask
        return dout * cache.mask

    d = check_not_modified(relu_backward_nt, np.ones((N, D)), cache=Cache(x, x > 0))
    assert d.kind == "inplace" and d.name == "cache.mask"


def test_torch_in_place_multiply_is_caught():
    torch = pytest.importorskip("torch", reason="checks torch's in-place mul_")

    def relu_backward_torch(dout, cache):
        return dout.mul_(cache > 0)

    x = torch.tensor([[-1.0, 2.0], [3.0, -4.0]])
    d = check_not_modified(relu_backward_torch, torch.ones(2, 2), x)
    assert d.kind == "inplace" and d.name == "dout" and d.worst_index == (0, 0)


def test_errors_in_backward_propagate():
    def broken(dout, cache):
        raise RuntimeError("student bug")

    with pytest.raises(RuntimeError, match="student bug"):
        check_not_modified(broken, np.ones(2), np.ones(2))


# --- the Diagnosis object and argument checks -----------------------------------------


def test_diagnosis_is_frozen_and_checks_its_kind():
    d = Diagnosis(kind="sign", message="dw is flipped", name="dw")
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.kind = "ok"
    with pytest.raises(ValueError, match="kind"):
        Diagnosis(kind="wrong-ish", message="")
    assert str(d) == "sign: dw is flipped"


def test_every_kind_from_the_spec_exists():
    spec = {"ok", "none", "shape", "transposed", "batch_scale", "sign", "scale"}
    spec |= {"nan", "kink", "dtype", "device", "elementwise"}
    assert spec <= set(KINDS)


def test_bad_arguments_raise_value_errors_naming_them():
    dw = np.ones((3, 2))
    with pytest.raises(ValueError, match=r"at: expected shape \(3, 2\), got \(2, 3\)"):
        diagnose(dw, dw, "dw", at=np.ones((2, 3)))
    with pytest.raises(ValueError, match="expected"):
        diagnose(dw, [[1.0, 1.0]], "dw")
    with pytest.raises(ValueError, match="batch_size"):
        diagnose(dw, dw, "dw", batch_size=0)
    with pytest.raises(ValueError, match="rtol"):
        diagnose(dw, dw, "dw", rtol=-1.0)


def test_import_stays_light():
    code = "import sys, dlcourse.diagnose; assert 'torch' not in sys.modules, 'torch'"
    subprocess.run([sys.executable, "-c", code], check=True)


# --- properties -----------------------------------------------------------------------

shapes = hnp.array_shapes(min_dims=1, max_dims=3, max_side=6)
any_floats = hnp.arrays(np.float64, shapes, elements=st.floats(allow_subnormal=True))
moderate = st.floats(-1e6, 1e6, allow_subnormal=False)


@given(any_floats)
def test_property_same_array_is_ok(x):
    assert diagnose(x.copy(), x).kind == "ok"


@given(hnp.arrays(np.float64, shapes, elements=moderate))
def test_property_negated_array_is_sign(x):
    assume(np.abs(x).max() >= 1e-6)  # "nonzero": something above the zero floor
    assert diagnose(-x, x).kind == "sign"


@given(
    hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=2, max_side=6), elements=moderate)
)
def test_property_transposed_array_is_transposed(x):
    assume(x.shape[0] != x.shape[1])
    assert diagnose(x.T, x).kind == "transposed"
