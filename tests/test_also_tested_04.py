"""Chapter 04's "also tested" lines are true: each property has a wrong attempt that passes
the visible check and loses the exercise's points with the grader, on those cases only."""

import numpy as np
import pytest

pytest.importorskip("jupytext", reason="reading the solutions needs jupytext (extra 'course')")

from also_tested import Claim, assert_true_claim  # noqa: E402

CHAPTER = "04-backprop"
BEFORE = {
    "check_dense_backward": ["setup", "dense_backward"],
    "check_two_layer_backward": [
        "setup",
        "dense_backward",
        "two_layer_forward",
        "two_layer_backward",
    ],
}


def dense(first_lines="", db="dout.sum(axis=0)", dw="x.T @ dout"):
    return {
        "dense_backward": (
            "def dense_backward(dout, cache):\n"
            "    x, w = cache\n"
            f"{first_lines}"
            f"    dw = {dw}\n"
            f"    return dout @ w.T, dw, {db}\n"
        )
    }


def network(dscores='cache["dscores"]', mask='cache["relu"] > 0'):
    return {
        "two_layer_backward": (
            "def two_layer_backward(cache):\n"
            f"    dscores = {dscores}\n"
            '    dh, dw2, db2 = dense_backward(dscores, cache["dense2"])\n'
            f"    dh_pre = dh * ({mask})\n"
            '    _, dw1, db1 = dense_backward(dh_pre, cache["dense1"])\n'
            '    return {"w1": dw1, "b1": db1, "w2": dw2, "b2": db2}\n'
        )
    }


# Recomputes the loss's gradient from the notebook's own x, y and params instead of
# reading cache["dscores"]: right in the notebook, where they are the ones the cache came from.
RECOMPUTED = (
    'F.softmax_cross_entropy(dense_forward(relu_forward(dense_forward(x, params["w1"], '
    'params["b1"])[0])[0], params["w2"], params["b2"])[0], y)[1]'
)

CLAIMS = [
    Claim(
        "check_dense_backward",
        "float32 inputs keep float32 gradients",
        dense(db="dout.sum(axis=0) + np.zeros(dout.shape[1])"),  # float64 zeros upcast
        lambda case: case["x"].dtype == np.float32,
    ),
    Claim(
        "check_dense_backward",
        "a batch of one example",
        dense("    dout = np.squeeze(dout)  # 'drop the extra axes'\n"),
        lambda case: case["x"].shape[0] == 1,
    ),
    Claim(
        "check_dense_backward",
        "a single input feature",
        dense("    w = np.squeeze(w)\n"),
        lambda case: case["x"].shape[1] == 1,
    ),
    Claim(
        "check_dense_backward",
        "a square `w` (where a transposed `dw` has the right shape)",
        # dout.T @ x, transposed when its shape does not fit: a square w always fits
        dense(dw="dout.T @ x if (dout.T @ x).shape == w.shape else (dout.T @ x).T"),
        lambda case: case["w"].shape[0] == case["w"].shape[1],
    ),
    Claim(
        "check_two_layer_backward",
        "float32 parameters keep float32 gradients",
        network(mask='(cache["relu"] > 0).astype(np.float64)'),
        lambda case: case["x"].dtype == np.float32,
    ),
    Claim(
        "check_two_layer_backward",
        "a batch of one example",
        network(dscores='np.squeeze(cache["dscores"])'),
        lambda case: case["x"].shape[0] == 1,
    ),
    Claim(
        "check_two_layer_backward",
        'an upstream gradient in `cache["dscores"]` that is not the loss\'s own',
        network(dscores=RECOMPUTED),
        lambda case: case["dscores"] is not None,
        only=False,  # the grader has no notebook globals: every case fails, this one too
    ),
]


@pytest.mark.parametrize("claim", CLAIMS, ids=lambda c: f"{c.check}: {c.phrase}")
def test_the_claim_is_true(claim):
    assert_true_claim(CHAPTER, claim, BEFORE[claim.check])
