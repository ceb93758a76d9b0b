"""Chapter 10's "also tested" lines are true: each property has a wrong attempt that passes
the visible check and loses the exercise's points with the grader, on those cases only."""

import numpy as np
import pytest

pytest.importorskip("jupytext", reason="reading the solutions needs jupytext (extra 'course')")

from also_tested import Claim, assert_true_claim  # noqa: E402
from chapter_helpers import cell_sources  # noqa: E402
from test_chapter_10_convolutions import mutated  # noqa: E402

CHAPTER = "10-convolutions"
SOURCES = cell_sources(CHAPTER)
HAND_EXAMPLE = "x_hand = np.arange"  # the worked example both checks reuse has no grade_id
BEFORE = {
    "check_conv2d_forward": ["setup", HAND_EXAMPLE, "conv2d_forward", "check_helpers"],
    "check_conv2d_backward": [
        "setup",
        HAND_EXAMPLE,
        "check_helpers",
        "conv2d_backward",
        "check_backward_helpers",
    ],
}
PAD = "xpad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))"
# one ring of zeros, as the visible example with padding needs: right for a pad of 0 or 1
ONE_RING = "xpad = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1))) if pad else x"


def forward(old, new):
    return {"conv2d_forward": mutated(SOURCES, "conv2d_forward", old, new)}


def backward(old, new):
    return {"conv2d_backward": mutated(SOURCES, "conv2d_backward", old, new)}


def _float32(case):
    return case["x"].dtype == np.float32


def _pad_2(case):
    return case["stride"] == 3 and case["pad"] == 2 and case["x"].shape[2] != case["x"].shape[3]


CLAIMS = [
    Claim(
        "check_conv2d_forward",
        "float32 inputs keep float32",
        forward("dtype=x.dtype", "dtype=np.float64"),
        _float32,
    ),
    Claim(
        "check_conv2d_forward",
        "stride 3 with padding 2 on an oblong image",
        forward(PAD, ONE_RING),
        _pad_2,
    ),
    Claim(
        "check_conv2d_backward",
        "float32 inputs keep float32 gradients",
        backward("db = dout.sum(axis=(0, 2, 3))", "db = dout.sum(axis=(0, 2, 3), dtype=float)"),
        _float32,
    ),
    Claim(
        "check_conv2d_backward",
        "stride 3 with padding 2 on an oblong image",
        backward(PAD, ONE_RING),
        _pad_2,
    ),
]


@pytest.mark.parametrize("claim", CLAIMS, ids=lambda c: f"{c.check}: {c.phrase}")
def test_the_claim_is_true(claim):
    assert_true_claim(CHAPTER, claim, BEFORE[claim.check])
