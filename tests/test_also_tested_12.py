"""Chapter 12's "also tested" lines are true: each property has a wrong attempt that passes
the visible check and loses the exercise's points with the grader, on those cases only."""

import math

import numpy as np
import pytest

pytest.importorskip("jupytext", reason="reading the solutions needs jupytext (extra 'course')")

from also_tested import Claim, assert_true_claim  # noqa: E402
from chapter_helpers import cell_sources  # noqa: E402

CHAPTER = "12-deep-networks"
SOURCES = cell_sources(CHAPTER)
BEFORE = {
    "check_kaiming_std": ["setup", "kaiming_std", "check_kaiming_helpers"],
    "check_batchnorm_backward": [
        "setup",
        "batchnorm_forward",
        "batchnorm_backward",
        "check_norm_helpers",
    ],
    "check_layernorm_backward": [
        "setup",
        "check_norm_helpers",
        "layernorm_forward",
        "layernorm_backward",
        "check_layernorm_helpers",
    ],
    "check_cosine_with_warmup": ["setup", "cosine_with_warmup", "check_schedule_helpers"],
}

VISIBLE_SHAPES = [(256, 256), (64, 10), (8, 300)]
VISIBLE_SCHEDULES = [(100, 10, 0.1, 0.001), (20, 0, 3e-4, 0.0), (7, 2, 1.0, 0.0)]


def _float32(case):
    return case["x"].dtype == np.float32


def _kaiming_table():
    """The visible checks' answers, copied: right there and nowhere else."""
    table = {shape: math.sqrt(2.0 / shape[0]) for shape in VISIBLE_SHAPES}
    return f"def kaiming_std(shape):\n    return {table!r}[tuple(shape)]\n"


def _schedule_table():
    namespace = {"math": math}
    exec(SOURCES["cosine_with_warmup"], namespace)
    table = {
        args: [namespace["cosine_with_warmup"](step, *args) for step in range(args[0] + 3)]
        for args in VISIBLE_SCHEDULES
    }
    return (
        "def cosine_with_warmup(step, total_steps, warmup_steps, peak_lr, min_lr=0.0):\n"
        f"    return {table!r}[(total_steps, warmup_steps, peak_lr, min_lr)][step]\n"
    )


def _norm(name, axis, keep, first_lines="", dx_cast=""):
    """The norm backward of the solution, with ``first_lines`` first and dx cast by ``dx_cast``."""
    return {
        name: (
            f"def {name}(dout, cache):\n"
            "    xhat, gamma, inv_std = cache\n"
            f"{first_lines}"
            f"    m = dout.shape[{axis}]\n"
            "    dxhat = dout * gamma\n"
            f"    total = dxhat.sum(axis={axis}, keepdims={keep})\n"
            f"    along = (dxhat * xhat).sum(axis={axis}, keepdims={keep})\n"
            f"    dx = (inv_std / m) * (m * dxhat - total - xhat * along){dx_cast}\n"
            "    return dx, (dout * xhat).sum(axis=0), dout.sum(axis=0)\n"
        )
    }


UPCAST = ".astype(np.float64)"

CLAIMS = [
    Claim(
        "check_kaiming_std",
        "a `fan_in` of 1",
        # capped at 1 "so that no weight is drawn too large": sqrt(2) is the one it changes
        {
            "kaiming_std": (
                "def kaiming_std(shape):\n    return min(1.0, math.sqrt(2.0 / shape[0]))\n"
            )
        },
        lambda case: case["fan_in"] == 1,
    ),
    Claim(
        "check_kaiming_std",
        "random shapes with sizes up to 2,048",
        {"kaiming_std": _kaiming_table()},
        lambda case: (case["fan_in"], case["fan_out"]) not in VISIBLE_SHAPES,
    ),
    Claim(
        "check_batchnorm_backward",
        "float32 inputs keep float32",
        _norm("batchnorm_backward", 0, False, dx_cast=UPCAST),
        _float32,
    ),
    Claim(
        "check_batchnorm_backward",
        "a batch of two examples with a single feature",
        _norm(
            "batchnorm_backward", 0, False, "    xhat, dout = np.squeeze(xhat), np.squeeze(dout)\n"
        ),
        lambda case: case["x"].shape == (2, 1),
    ),
    Claim(
        "check_layernorm_backward",
        "float32 inputs keep float32",
        _norm("layernorm_backward", 1, True, dx_cast=UPCAST),
        _float32,
    ),
    Claim(
        "check_cosine_with_warmup",
        "schedules other than the visible ones",
        {"cosine_with_warmup": _schedule_table()},
        lambda case: (
            (case["total"], case["warmup"], case["peak"], case["floor"]) not in VISIBLE_SCHEDULES
        ),
    ),
]


@pytest.mark.parametrize("claim", CLAIMS, ids=lambda c: f"{c.check}: {c.phrase}")
def test_the_claim_is_true(claim):
    assert_true_claim(CHAPTER, claim, BEFORE[claim.check])
