"""Scaled dot-product attention by hand, against F.scaled_dot_product_attention and by hand."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from dlcourse import functional as F
from dlcourse.diagnose import check_not_modified
from dlcourse.gradcheck import check_against_torch, check_gradients
from functional_helpers import (
    as_library,
    assert_close,
    assert_kind,
    dims,
    dtypes,
    float_inputs,
    libraries,
)


@st.composite
def masks(draw, lead, tq, tk):
    """None, a causal mask, or random booleans of a broadcastable shape, no row all False."""
    kind = draw(st.sampled_from(["none", "causal", "random"]))
    if kind == "none":
        return None
    if kind == "causal":
        # query i sees keys 0..i (and every key when there are more keys than queries)
        return np.tril(np.ones((tq, tk), bool), k=max(tk - tq, 0))
    # some trailing leading axes, each kept or broadcast (1), then Tq or 1, then Tk
    kept = lead[len(lead) - draw(st.integers(0, len(lead))) :]
    shape = (*(draw(st.sampled_from([1, n])) for n in kept), draw(st.sampled_from([1, tq])), tk)
    mask = draw(hnp.arrays(bool, shape))
    mask[..., draw(st.integers(0, tk - 1))] = True  # every row keeps one key
    return mask


@st.composite
def attention_inputs(draw):
    lead = draw(st.lists(dims, min_size=0, max_size=2))
    tq, tk, d, dv = draw(dims), draw(dims), draw(dims), draw(dims)
    shapes = {"q": (*lead, tq, d), "k": (*lead, tk, d), "v": (*lead, tk, dv)}
    arrays = draw(float_inputs(shapes, bound=2.0))
    dout = draw(float_inputs({"dout": (*lead, tq, dv)}))["dout"]
    return arrays, draw(masks(lead, tq, tk)), dout


def torch_attention(q, k, v, mask, dout):
    leaves = [torch.tensor(a, requires_grad=True) for a in (q, k, v)]
    attn_mask = None if mask is None else torch.from_numpy(mask)
    out = TF.scaled_dot_product_attention(*leaves, attn_mask=attn_mask)
    out.backward(torch.from_numpy(dout))
    return out.detach(), [leaf.grad for leaf in leaves]


@settings(max_examples=25)
@given(attention_inputs(), libraries, dtypes)
def test_matches_torch_scaled_dot_product_attention(case, library, dtype):
    arrays, mask, dout = case
    ours = {k: as_library(v, library, dtype) for k, v in arrays.items()}
    mask_arg = None if mask is None else as_library(mask, library)
    out, cache = F.attention_forward(**ours, mask=mask_arg)
    grads = F.attention_backward(as_library(dout, library, dtype), cache)
    expected_out, expected = torch_attention(**arrays, mask=mask, dout=dout)
    assert_kind(out, library, dtype, "out")
    assert_close(out, expected_out, dtype, "out")
    for name, got, want in zip(("dq", "dk", "dv"), grads, expected):
        assert_kind(got, library, dtype, name)
        assert_close(got, want, dtype, name)


@settings(max_examples=20)
@given(attention_inputs())
def test_gradients_match_finite_differences(case):
    arrays, mask, _ = case
    report = check_gradients(
        F.attention_forward, F.attention_backward, arrays, kwargs={"mask": mask}
    )
    assert report.passed, report


def test_gradients_match_torch_autograd_of_our_forward(rng):
    arrays = {k: rng.standard_normal(s) for k, s in (("q", (2, 3, 4)), ("k", (2, 5, 4)))}
    arrays["v"] = rng.standard_normal((2, 5, 2))
    causal = np.tril(np.ones((3, 5), bool), k=2)  # a NumPy mask for torch tensors is converted
    report = check_against_torch(
        F.attention_forward, F.attention_backward, arrays, kwargs={"mask": causal}
    )
    assert report.passed, report


def test_float32_gradients_pass_float32_tolerance(rng):
    arrays = {
        "q": rng.standard_normal((2, 4, 8)).astype(np.float32),
        "k": rng.standard_normal((2, 6, 8)).astype(np.float32),
        "v": rng.standard_normal((2, 6, 3)).astype(np.float32),
    }
    report = check_gradients(F.attention_forward, F.attention_backward, arrays)
    assert report.passed and report.dtype == "float32", report


def known_inputs():
    # the scores are q.k / sqrt(2) = [ln 3, 0], so the weights are softmax = [3/4, 1/4]
    q = np.array([[math.sqrt(2) * math.log(3), 0.0]])
    k = np.eye(2)
    v = np.array([[1.0], [5.0]])
    return q, k, v


def test_known_answer():
    out, cache = F.attention_forward(*known_inputs())
    np.testing.assert_allclose(out, [[0.75 * 1 + 0.25 * 5]], atol=1e-12)
    dq, dk, dv = F.attention_backward(np.ones((1, 1)), cache)
    np.testing.assert_allclose(dv, [[0.75], [0.25]], atol=1e-12)  # the weights themselves
    # dp = v^T = [1, 5]; ds = p * (dp - p.dp) = [3/4 * (1 - 2), 1/4 * (5 - 2)]
    ds = np.array([-0.75, 0.75])
    np.testing.assert_allclose(dq, [ds / math.sqrt(2)], atol=1e-12)  # ds @ k / sqrt(2), k = I
    np.testing.assert_allclose(dk, [[ds[0] * math.log(3), 0], [ds[1] * math.log(3), 0]], atol=1e-12)


def test_known_answer_with_a_mask():
    q, k, v = known_inputs()
    out, cache = F.attention_forward(q, k, v, mask=np.array([[False, True]]))
    np.testing.assert_allclose(out, [[5.0]], atol=1e-12)  # all the weight on the only key left
    dq, dk, dv = F.attention_backward(np.ones((1, 1)), cache)
    np.testing.assert_allclose(dv, [[0.0], [1.0]], atol=1e-15)
    # a softmax over one key is 1 whatever its score: nothing reaches q or k
    np.testing.assert_allclose(dq, [[0.0, 0.0]], atol=1e-15)
    np.testing.assert_allclose(dk, np.zeros((2, 2)), atol=1e-15)


def test_huge_scores_do_not_overflow():
    q = np.array([[1e4, 0.0]])
    with np.errstate(over="raise", invalid="raise"):
        out, _ = F.attention_forward(
            q, np.array([[1.0, 0.0], [-1.0, 0.0]]), np.array([[1.0], [2.0]])
        )
    np.testing.assert_allclose(out, [[1.0]])


def test_fully_masked_row_is_an_error():
    q, k, v = known_inputs()
    q2 = np.vstack([q, q])
    with pytest.raises(ValueError, match=r"mask: query row \(1,\) may attend to no key"):
        F.attention_forward(q2, k, v, mask=np.array([[True, False], [False, False]]))


@pytest.mark.parametrize(
    "shapes, message",
    [
        (((3, 4), (5, 3), (5, 2)), "k: expected shape (Tk, d=4), got (5, 3)"),
        (((3, 4), (5, 4), (4, 2)), "v: expected shape (Tk=5, dv), got (4, 2)"),
        (((2, 3, 4), (3, 5, 4), (3, 5, 2)), "k: expected shape (2, Tk, d=4), got (3, 5, 4)"),
        (((4,), (5, 4), (5, 2)), "q: expected shape (..., Tq, d) with d >= 1, got (4,)"),
        (((3, 4), (0, 4), (0, 2)), "k: expected at least one key"),
    ],
)
def test_bad_shapes_name_the_argument(shapes, message):
    with pytest.raises(ValueError) as err:
        F.attention_forward(*(np.ones(s) for s in shapes))
    assert message in str(err.value)


def test_bad_masks_are_refused():
    q, k, v = np.ones((3, 4)), np.ones((5, 4)), np.ones((5, 2))
    with pytest.raises(ValueError, match=r"mask: expected a shape that broadcasts .*\(3, 5\)"):
        F.attention_forward(q, k, v, mask=np.ones((3, 4), bool))
    with pytest.raises(ValueError, match="mask: expected booleans"):
        F.attention_forward(q, k, v, mask=np.ones((3, 5)))


def test_wrong_dout_shape_and_dtype_mix():
    _, cache = F.attention_forward(np.ones((3, 4)), np.ones((5, 4)), np.ones((5, 2)))
    with pytest.raises(ValueError, match=r"dout: expected shape \(3, 2\), got \(3, 4\)"):
        F.attention_backward(np.ones((3, 4)), cache)
    with pytest.raises(ValueError, match="v: dtype float32 differs from q's float64"):
        F.attention_forward(np.ones((3, 4)), np.ones((5, 4)), np.ones((5, 2), np.float32))


def test_inputs_are_not_modified(rng):
    q, k, v = (
        rng.standard_normal((2, 3, 4)),
        rng.standard_normal((2, 5, 4)),
        rng.standard_normal((2, 5, 6)),
    )
    mask = np.tril(np.ones((3, 5), bool), k=2)
    copies = [a.copy() for a in (q, k, v, mask)]
    out, cache = F.attention_forward(q, k, v, mask=mask)
    for original, copy in zip((q, k, v, mask), copies):
        np.testing.assert_array_equal(original, copy)
    report = check_not_modified(F.attention_backward, rng.standard_normal(out.shape), cache)
    assert report.ok, report.message


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cuda_matches_numpy(dtype, rng):
    q, k, v = (rng.standard_normal(s).astype(dtype) for s in ((2, 3, 4), (2, 5, 4), (2, 5, 6)))
    mask = np.tril(np.ones((3, 5), bool), k=2)
    dout = rng.standard_normal((2, 3, 6)).astype(dtype)
    out, cache = F.attention_forward(q, k, v, mask=mask)
    grads = F.attention_backward(dout, cache)
    gpu = [torch.as_tensor(a, device="cuda") for a in (q, k, v, mask)]
    out_c, cache_c = F.attention_forward(*gpu[:3], mask=gpu[3])
    grads_c = F.attention_backward(torch.as_tensor(dout, device="cuda"), cache_c)
    assert_close(out_c, out, dtype, "out")
    for name, got, want in zip(("dq", "dk", "dv"), grads_c, grads):
        assert got.device.type == "cuda", name
        assert_close(got, want, dtype, name)
