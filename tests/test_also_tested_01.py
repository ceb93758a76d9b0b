"""Chapter 01's "also tested" lines are true: each property has a wrong attempt that passes
the visible check and loses the exercise's points with the grader, on those cases only."""

import numpy as np
import pytest

pytest.importorskip("jupytext", reason="reading the solutions needs jupytext (extra 'course')")

from also_tested import Claim, assert_true_claim  # noqa: E402

CHAPTER = "01-dense-layer"
DENSE_BEFORE = ["setup", "dense_forward", "check_helpers"]
BEFORE = {
    "check_dense_forward_by_hand": DENSE_BEFORE,
    "check_dense_forward_batches": DENSE_BEFORE,
    "check_compose_dense": [*DENSE_BEFORE, "compose_dense"],
}


def dense(out="x @ w + b", cache="(x, w)", first_lines=""):
    return {
        "dense_forward": f"def dense_forward(x, w, b):\n{first_lines}    return {out}, {cache}\n"
    }


def compose(w="w1 @ w2", b="b1 @ w2 + b2"):
    return {"compose_dense": f"def compose_dense(w1, b1, w2, b2):\n    return {w}, {b}\n"}


def _sizes(case):
    """(N, D, M) of a dense case."""
    return (*case["x"].shape, case["w"].shape[1])


CLAIMS = [
    Claim(
        "check_dense_forward_by_hand",
        "a batch of one example",
        dense(out="(x @ w + b).squeeze()"),  # 'drop the extra axes'
        lambda case: _sizes(case)[0] == 1,
    ),
    Claim(
        "check_dense_forward_by_hand",
        "a layer of one neuron",
        dense(out="(x @ w + b).squeeze()"),
        lambda case: _sizes(case)[2] == 1,
        only=False,  # the grader's one neuron is also its batch of one: the squeeze loses both
    ),
    Claim(
        "check_dense_forward_by_hand",
        "one input per example",
        dense(first_lines="    x = np.squeeze(x)  # 'drop the extra axes'\n"),
        lambda case: _sizes(case)[1] == 1,
        only=False,  # squeezing x loses the batch axis of a batch of one too
    ),
    Claim(
        "check_dense_forward_by_hand",
        "`cache` the pair `(x, w)`",
        dense(cache="(x, w, b)"),  # 'keep everything': this cell's visible check never reads it
        lambda case: True,  # every case reads the cache
    ),
    Claim(
        "check_dense_forward_batches",
        "float32 inputs give a float32 output",
        dense(out="x.astype(np.float64) @ w + b"),
        lambda case: case["x"].dtype == np.float32,
    ),
    Claim(
        "check_dense_forward_batches",
        "a square `w` (where a transposed `w` keeps the right shape)",
        # x @ w.T, with w itself where w.T does not fit; the by-hand check's square w sees it,
        # this cell's does not
        dense(out="(x @ w.T if w.shape[1] == x.shape[1] else x @ w) + b"),
        lambda case: _sizes(case)[1] == _sizes(case)[2],
    ),
    Claim(
        "check_compose_dense",
        "float32 weights give float32 results",
        compose(w="w1.astype(np.float64) @ w2"),
        lambda case: case["w1"].dtype == np.float32,
    ),
    Claim(
        "check_compose_dense",
        "square weights (where `w2 @ b1` has the right shape and the wrong numbers)",
        # w2 @ b1, and b1 @ w2 where that does not fit: a square w2 always fits
        compose(b="(w2 @ b1 if w2.shape[1] == b1.shape[0] else b1 @ w2) + b2"),
        lambda case: case["w2"].shape[0] == case["w2"].shape[1],
    ),
    Claim(
        "check_compose_dense",
        "`compose_dense` cannot call your `dense_forward`",
        # the bias as the output of the second layer for the first layer's bias
        compose(b="dense_forward(b1[None], w2, b2)[0][0]"),
        lambda case: True,  # the grader runs no other cell: every case
    ),
]


@pytest.mark.parametrize("claim", CLAIMS, ids=lambda c: f"{c.check}: {c.phrase}")
def test_the_claim_is_true(claim):
    assert_true_claim(CHAPTER, claim, BEFORE[claim.check])
