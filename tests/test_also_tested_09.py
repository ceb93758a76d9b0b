"""Chapter 09's "also tested" lines are true: each property has a wrong attempt that passes
the visible check and loses the exercise's points with the grader, on those cases only."""

import numpy as np
import pytest

pytest.importorskip("jupytext", reason="reading the solutions needs jupytext (extra 'course')")

from also_tested import Claim, assert_true_claim  # noqa: E402

CHAPTER = "09-real-tools"
CHECK = "check_nchw_dense_to_nhwc"
SIGNATURE = "def nchw_dense_to_nhwc(kernel, channels, height, width):\n"
GRID = "    grid = kernel.reshape(channels, height, width, units)\n"


def port(*lines):
    body = "".join(f"    {line}\n" for line in lines)
    return {"nchw_dense_to_nhwc": SIGNATURE + "    units = kernel.shape[1]\n" + GRID + body}


RIGHT = "grid.transpose(1, 2, 0, 3).reshape(-1, units)"

CLAIMS = [
    Claim(
        CHECK,
        "a float32 kernel stays float32",
        port(f"return {RIGHT}.astype(np.float64)"),
        lambda case: case["kernel"].dtype == np.float32,
    ),
    Claim(
        CHECK,
        "square maps",
        # the axes found by their sizes: in a square map height and width are the same size
        port(
            "sizes = grid.shape[1:3]",
            "h_axis, w_axis = 1 + sizes.index(height), 1 + sizes.index(width)",
            "return grid.transpose(h_axis, w_axis, 0, 3).reshape(-1, units)",
        ),
        lambda case: case["height"] == case["width"],
    ),
    Claim(
        CHECK,
        "more channels than pixels",
        # rows sorted by pixel * pixels + channel: the order of (pixel, channel) while
        # channel < pixels, as channels * pixel + channel is
        port(
            "rows, pixels = np.arange(len(kernel)), height * width",
            "return kernel[np.argsort((rows % pixels) * pixels + rows // pixels)]",
        ),
        lambda case: case["channels"] > case["height"] * case["width"],
    ),
    Claim(
        CHECK,
        "a single unit",
        # the visible example of one unit compares the result's values only, not its shape
        port(f"return np.squeeze({RIGHT})  # 'drop the extra axes'"),
        lambda case: case["kernel"].shape[1] == 1,
    ),
]


@pytest.mark.parametrize("claim", CLAIMS, ids=lambda c: f"{c.check}: {c.phrase}")
def test_the_claim_is_true(claim):
    assert_true_claim(CHAPTER, claim, ["setup", "nchw_dense_to_nhwc"])
