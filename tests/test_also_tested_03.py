"""Chapter 03's "also tested" lines are true: each property has a wrong attempt that passes
the visible check and loses the exercise's points with the grader, on those cases only."""

import numpy as np
import pytest

pytest.importorskip("jupytext", reason="reading the solutions needs jupytext (extra 'course')")

from also_tested import Claim, assert_true_claim  # noqa: E402

CHAPTER = "03-losses"
SAME_SHAPES = (
    "    if pred.shape != target.shape:\n"
    "        raise ValueError(f'{pred.shape} and {target.shape} differ')\n"
)


def mse(refuse=SAME_SHAPES, dpred="(2 / diff.size) * diff", diff="pred - target"):
    return {
        "mse_loss": (
            "def mse_loss(pred, target):\n"
            f"{refuse}"
            f"    diff = {diff}\n"
            f"    return np.mean(diff * diff), {dpred}\n"
        )
    }


def refusing(condition):
    return f"    if {condition}:\n        raise ValueError('the shapes differ')\n"


def cross_entropy(
    shifted="logits - logits.max(axis=1, keepdims=True)", picked=None, grad=None, first_lines=""
):
    picked = picked or "    picked = log_probs[rows, labels]\n"
    grad = grad or "    dlogits = np.exp(log_probs)\n    dlogits[rows, labels] -= 1\n"
    return {
        "softmax_cross_entropy": (
            "def softmax_cross_entropy(logits, labels):\n"
            f"{first_lines}"
            "    n = logits.shape[0]\n"
            "    rows = np.arange(n)\n"
            f"    shifted = {shifted}\n"
            "    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))\n"
            f"{picked}"
            f"{grad}"
            "    return -np.mean(picked), dlogits / n\n"
        )
    }


def _float32(name):
    return lambda case: case[name].dtype == np.float32


def _largest_logit(case):
    return np.abs(case["logits"]).max()


CLAIMS = [
    Claim(
        "check_mse_loss",
        "float32 inputs give a float32 `dpred`",
        mse(dpred="(2 / diff.size) * diff.astype(np.float64)"),
        _float32("pred"),
    ),
    Claim(
        "check_mse_loss",
        "3-D arrays",
        # flattens every leading axis into one batch axis, as if inputs were at most 2-D
        mse(
            dpred="((2 / diff.size) * diff).reshape(-1, diff.shape[-1]) if diff.ndim > 1 else "
            "(2 / diff.size) * diff"
        ),
        lambda case: case["pred"].ndim == 3,
    ),
    Claim(
        "check_mse_loss",
        "a single element",
        mse(dpred="np.squeeze((2 / diff.size) * diff)"),  # 'drop the extra axes'
        lambda case: case["pred"].size == 1,
    ),
    Claim(
        "check_mse_loss",
        "`(3,)` with `(3, 1)`",
        # refuses a pred with an extra axis or another batch size: not a target with one
        mse(refuse=refusing("pred.ndim > target.ndim or len(pred) != len(target)")),
        lambda case: case["bad_pred"].ndim < case["bad_target"].ndim,
    ),
    Claim(
        "check_mse_loss",
        "`(2, 3)` with `(3, 2)`",
        # the number of axes checked, and target reshaped like pred "in case it comes flat":
        # pred - target alone would raise for these two shapes
        mse(refuse=refusing("pred.ndim != target.ndim"), diff="pred - target.reshape(pred.shape)"),
        lambda case: case["bad_pred"].ndim == case["bad_target"].ndim,
    ),
    Claim(
        "check_softmax_cross_entropy",
        "as many examples as classes (where `logits[:, labels]` has the right shape and the "
        "wrong numbers)",
        # logits[:, labels], with one value per row where that pick does not fit
        cross_entropy(
            picked=(
                "    picked = log_probs[:, labels]\n"
                "    if picked.shape != logits.shape:\n"
                "        picked = log_probs[rows, labels]\n"
            )
        ),
        lambda case: case["logits"].shape[0] == case["logits"].shape[1],
    ),
    Claim(
        "check_softmax_cross_entropy",
        "int32 labels",
        # dtype == int is NumPy's int64 only: not "any integer"
        cross_entropy(
            first_lines="    if labels.dtype != int:\n"
            "        raise TypeError('labels must be integers')\n"
        ),
        lambda case: case["labels"].dtype == np.int32,
    ),
    Claim(
        "check_softmax_cross_entropy",
        "float32 logits giving a float32 `dlogits`",
        cross_entropy(grad="    dlogits = np.exp(log_probs) - np.eye(logits.shape[1])[labels]\n"),
        _float32("logits"),
    ),
    Claim(
        "check_softmax_cross_entropy_stable",
        "random logits in the thousands",
        # clipped "for safety" at the visible logits' size
        cross_entropy(
            shifted="np.clip(logits, -1000, 1000) - np.clip(logits, -1000, 1000)"
            ".max(axis=1, keepdims=True)"
        ),
        lambda case: _largest_logit(case) > 1000,
    ),
    Claim(
        "check_softmax_cross_entropy_stable",
        "tens of thousands",
        cross_entropy(
            shifted="np.clip(logits, -1e4, 1e4) - np.clip(logits, -1e4, 1e4)"
            ".max(axis=1, keepdims=True)"
        ),
        lambda case: _largest_logit(case) > 1e4,
    ),
    Claim(
        "check_softmax_cross_entropy_stable",
        "in float64 and in float32",
        # computed in float64 "for the large logits": the gradient comes back float64
        cross_entropy(shifted="logits.astype(np.float64) - logits.max(axis=1, keepdims=True)"),
        _float32("logits"),
    ),
]


@pytest.mark.parametrize("claim", CLAIMS, ids=lambda c: f"{c.check}: {c.phrase}")
def test_the_claim_is_true(claim):
    assert_true_claim(CHAPTER, claim, ["setup", next(iter(claim.wrong))])
