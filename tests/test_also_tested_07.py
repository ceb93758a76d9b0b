"""Chapter 07's "also tested" lines are true: each property has a wrong attempt that passes
the visible check and loses the exercise's points with the grader, on those cases only."""

import numpy as np
import pytest

pytest.importorskip("jupytext", reason="reading the solutions needs jupytext (extra 'course')")

from also_tested import Claim, assert_true_claim  # noqa: E402

CHAPTER = "07-framework-gradients"
SOFTPLUS_BEFORE = ["setup", "softplus_forward", "softplus_backward"]
BEFORE = {
    "check_softplus_backward": SOFTPLUS_BEFORE,
    "check_gelu_backward": [
        *SOFTPLUS_BEFORE,
        "check_softplus_backward",
        "gelu_forward",
        "gelu_backward",
    ],
}


def softplus(slope="np.where(x >= 0, 1 / (1 + e), e / (1 + e))", dx="dout * sigmoid"):
    return {
        "softplus_backward": (
            "def softplus_backward(dout, cache):\n"
            "    x = cache\n"
            "    e = np.exp(-np.abs(x))\n"
            f"    sigmoid = {slope}\n"
            f"    return {dx}\n"
        )
    }


def gelu(dx="dout * slope"):
    return {
        "gelu_backward": (
            "def gelu_backward(dout, cache):\n"
            "    x, t = cache\n"
            "    du_dx = SQRT_2_OVER_PI * (1 + 3 * GELU_C * x * x)\n"
            "    slope = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du_dx\n"
            f"    return {dx}\n"
        )
    }


# flattens every leading axis into one, as if arrays were at most 2-D
AS_MATRIX = "({0}).reshape(-1, x.shape[-1]) if x.ndim > 1 else {0}"


def _float32(case):
    return case["x"].dtype == np.float32


def _three_d(case):
    return case["x"].ndim == 3


def _one_element(case):
    return case["x"].size == 1


CLAIMS = [
    Claim(
        "check_softplus_backward",
        "float32 inputs keep float32",
        softplus(dx="dout * sigmoid.astype(np.float64)"),
        _float32,
    ),
    Claim(
        "check_softplus_backward",
        "3-D",
        softplus(dx=AS_MATRIX.format("dout * sigmoid")),
        _three_d,
    ),
    Claim(
        "check_softplus_backward",
        "one-element arrays",
        softplus(dx="np.squeeze(dout * sigmoid)"),  # 'drop the extra axes'
        _one_element,
    ),
    Claim(
        "check_softplus_backward",
        "`x` = ±800",
        softplus(slope="np.exp(x) / (1 + np.exp(x))"),  # inf / inf at x = 800
        lambda case: np.abs(case["x"]).max() >= 800,
    ),
    Claim(
        "check_gelu_backward",
        "float32 inputs keep float32",
        gelu(dx="dout * slope.astype(np.float64)"),
        _float32,
    ),
    Claim("check_gelu_backward", "3-D", gelu(dx=AS_MATRIX.format("dout * slope")), _three_d),
    Claim(
        "check_gelu_backward",
        "one-element arrays",
        gelu(dx="np.squeeze(dout * slope)"),
        _one_element,
    ),
]


@pytest.mark.parametrize("claim", CLAIMS, ids=lambda c: f"{c.check}: {c.phrase}")
def test_the_claim_is_true(claim):
    assert_true_claim(CHAPTER, claim, BEFORE[claim.check])
