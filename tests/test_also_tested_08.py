"""Chapter 08's "also tested" lines are true: each property has a wrong attempt that passes
the visible check (on every installed backend) and loses the exercise's points with the
grader, on those cases only."""

import numpy as np
import pytest

pytest.importorskip("jupytext", reason="reading the solutions needs jupytext (extra 'course')")

from also_tested import Claim, assert_true_claim  # noqa: E402
from chapter_helpers import cell_sources  # noqa: E402
from test_chapter_08_keras_style import with_method  # noqa: E402

CHAPTER = "08-keras-style"
PRELU = cell_sources(CHAPTER)["prelu"]
RIGHT_DX = "        return ops.where(x > 0, dout, self.alpha * dout)"
RIGHT_DALPHA = "        self.grads['alpha'] = ops.sum(dout * ops.minimum(x, 0.0), axis=0)\n"


def call(body):
    return {"prelu": with_method(PRELU, "call", "        self.x = x\n" + body)}


def backward(body):
    return {"prelu": with_method(PRELU, "backward", "        x = self.x\n" + body)}


def _float32(case):
    return case["x"].dtype == np.float32


def _alpha_above_1(case):
    return case["alpha"].max() > 1


def _all_negative(case):
    return bool((case["x"] < 0).all())


# max(x, alpha * x) is PReLU only while alpha <= 1
MAX_FORM = "        return ops.maximum(x, self.alpha * x)"

CLAIMS = [
    Claim(
        "check_prelu_call",
        "a float32 layer on float32 inputs gives a float32 output",
        call(
            "        x = ops.cast(x, 'float64')  # 'to be precise'\n"
            "        return ops.maximum(x, 0.0) + self.alpha * ops.minimum(x, 0.0)"
        ),
        _float32,
    ),
    Claim("check_prelu_call", "slopes `alpha` from 0 up to 2", call(MAX_FORM), _alpha_above_1),
    Claim(
        "check_prelu_call",
        "a batch whose inputs are all negative",
        call(MAX_FORM),
        _all_negative,
        only=False,  # its alpha = 2 is what the mistake misses; random cases above 1 too
    ),
    Claim(
        "check_prelu_backward",
        "a float32 layer gives float32 `dx` and `dalpha`",
        backward(
            "        wide = ops.cast(dout * ops.minimum(x, 0.0), 'float64')\n"
            "        self.grads['alpha'] = ops.sum(wide, axis=0)\n" + RIGHT_DX
        ),
        _float32,
    ),
    Claim(
        "check_prelu_backward",
        "slopes `alpha` from 0 up to 2",
        # the slope of max(x, alpha * x): 1 where x > alpha * x, which flips for alpha > 1
        backward(
            "        active = x > self.alpha * x\n"
            "        self.grads['alpha'] = ops.sum(ops.where(active, 0.0, dout * x), axis=0)\n"
            "        return ops.where(active, dout, self.alpha * dout)"
        ),
        _alpha_above_1,
    ),
    Claim(
        "check_prelu_backward",
        "a batch whose inputs are all negative",
        # min(x, 0) recovered from the output by dividing by alpha: 0 / 0 where alpha = 0
        backward(
            "        out = ops.where(x > 0, x, self.alpha * x)\n"
            "        negative = (out - ops.maximum(x, 0.0)) / self.alpha\n"
            "        self.grads['alpha'] = ops.sum(dout * negative, axis=0)\n" + RIGHT_DX
        ),
        _all_negative,
    ),
]


@pytest.mark.slow  # the visible checks compare with every installed backend
@pytest.mark.parametrize("claim", CLAIMS, ids=lambda c: f"{c.check}: {c.phrase}")
def test_the_claim_is_true(claim):
    assert_true_claim(CHAPTER, claim, ["setup", "prelu", "check_helpers"])
