"""The embedding lookup by hand, against torch.nn.functional.embedding and by hand."""

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
def embedding_inputs(draw):
    vocab, width = draw(dims), draw(dims)
    shape = draw(st.sampled_from([(draw(dims),), (draw(dims), draw(dims))]))
    id_dtype = draw(st.sampled_from([np.int64, np.int32, np.int16]))
    # few ids from a small table: repeats, which must accumulate, are the common case
    ids = draw(hnp.arrays(id_dtype, shape, elements=st.integers(0, vocab - 1)))
    table = draw(float_inputs({"table": (vocab, width)}))["table"]
    dout = draw(float_inputs({"dout": (*shape, width)}))["dout"]
    return ids, table, dout


@settings(max_examples=25)
@given(embedding_inputs(), libraries, dtypes)
def test_matches_torch_embedding(case, library, dtype):
    ids, table, dout = case
    out, cache = F.embedding_forward(as_library(ids, library), as_library(table, library, dtype))
    dtable = F.embedding_backward(as_library(dout, library, dtype), cache)
    leaf = torch.tensor(table, requires_grad=True)
    expected = TF.embedding(torch.from_numpy(ids.astype(np.int64)), leaf)
    expected.backward(torch.from_numpy(dout))
    assert_kind(out, library, dtype, "out")
    assert_close(out, expected.detach(), dtype, "out")
    assert_kind(dtable, library, dtype, "dtable")
    assert_close(dtable, leaf.grad, dtype, "dtable")


@settings(max_examples=20)
@given(embedding_inputs())
def test_gradients_match_finite_differences(case):
    ids, table, _ = case
    report = check_gradients(
        F.embedding_forward, F.embedding_backward, {"ids": ids, "table": table}
    )
    assert report.passed, report


def test_gradients_match_torch_autograd_of_our_forward(rng):
    inputs = {"ids": rng.integers(0, 5, (4, 6)), "table": rng.standard_normal((5, 3))}
    report = check_against_torch(F.embedding_forward, F.embedding_backward, inputs)
    assert report.passed, report


def test_known_answer_repeated_ids_accumulate():
    table = np.arange(6.0).reshape(3, 2)  # rows [0, 1], [2, 3], [4, 5]
    ids = np.array([[2, 0], [2, 2]])
    out, cache = F.embedding_forward(ids, table)
    np.testing.assert_array_equal(out, [[[4, 5], [0, 1]], [[4, 5], [4, 5]]])
    dout = np.array([[[1.0, 10.0], [2.0, 20.0]], [[3.0, 30.0], [4.0, 40.0]]])
    dtable = F.embedding_backward(dout, cache)
    # row 2 was read three times: 1 + 3 + 4 and 10 + 30 + 40; row 1 never
    np.testing.assert_array_equal(dtable, [[2, 20], [0, 0], [8, 80]])


@pytest.mark.parametrize("library", ["numpy", "torch"])
def test_one_dimensional_ids(library):
    table = as_library(np.arange(6.0).reshape(3, 2), library)
    out, cache = F.embedding_forward(as_library(np.array([1, 1]), library), table)
    assert tuple(out.shape) == (2, 2)
    np.testing.assert_array_equal(np.asarray(out), [[2, 3], [2, 3]])
    dtable = F.embedding_backward(as_library(np.ones((2, 2)), library), cache)
    np.testing.assert_array_equal(np.asarray(dtable), [[0, 0], [2, 2], [0, 0]])


@pytest.mark.parametrize(
    "ids, message",
    [
        (
            np.array([[0, 1], [3, 0]]),
            r"ids: id 3 at position \(1, 0\) is outside \[0, V\) with V=3",
        ),
        (np.array([0, -1]), r"ids: id -1 at position 1 is outside \[0, V\) with V=3"),
        (np.array([0.0, 1.0]), "ids: expected integer ids"),
        (np.array([True, False]), "ids: expected integer ids"),
        (np.zeros((2, 2, 2), int), r"ids: expected shape \(N,\) or \(N, T\), got \(2, 2, 2\)"),
    ],
)
def test_bad_ids_are_refused(ids, message):
    with pytest.raises(ValueError, match=message):
        F.embedding_forward(ids, np.ones((3, 2)))


def test_bad_ids_are_refused_for_torch_too():
    with pytest.raises(ValueError, match=r"id 7 at position \(0, 1\) is outside \[0, V\) with V=3"):
        F.embedding_forward(torch.tensor([[0, 7]]), torch.ones((3, 2)))


def test_bad_table_and_dout():
    with pytest.raises(ValueError, match=r"table: expected shape \(V, D\), got \(3,\)"):
        F.embedding_forward(np.array([0]), np.ones(3))
    with pytest.raises(ValueError, match="table: expected floating-point values"):
        F.embedding_forward(np.array([0]), np.ones((3, 2), int))
    _, cache = F.embedding_forward(np.array([[0, 1]]), np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"dout: expected shape \(1, 2, 2\), got \(2, 2\)"):
        F.embedding_backward(np.ones((2, 2)), cache)


def test_inputs_are_not_modified(rng):
    ids, table = rng.integers(0, 4, (3, 5)), rng.standard_normal((4, 2))
    ids_copy, table_copy = ids.copy(), table.copy()
    out, cache = F.embedding_forward(ids, table)
    np.testing.assert_array_equal(ids, ids_copy)
    np.testing.assert_array_equal(table, table_copy)
    out[...] = 0  # the output is a new array, not a view of the table
    np.testing.assert_array_equal(table, table_copy)
    report = check_not_modified(F.embedding_backward, rng.standard_normal((3, 5, 2)), cache)
    assert report.ok, report.message


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cuda_matches_numpy(dtype, rng):
    ids, table = rng.integers(0, 7, (4, 9)), rng.standard_normal((7, 3)).astype(dtype)
    dout = rng.standard_normal((4, 9, 3)).astype(dtype)
    out, cache = F.embedding_forward(ids, table)
    dtable = F.embedding_backward(dout, cache)
    out_c, cache_c = F.embedding_forward(
        torch.as_tensor(ids, device="cuda"), torch.as_tensor(table, device="cuda")
    )
    dtable_c = F.embedding_backward(torch.as_tensor(dout, device="cuda"), cache_c)
    assert out_c.device.type == dtable_c.device.type == "cuda"
    assert_close(out_c, out, dtype, "out")
    assert_close(dtable_c, dtable, dtype, "dtable")
