"""Chapter 02's "also tested" lines are true: each property has a wrong attempt that passes
the visible check and loses the exercise's points with the grader, on those cases only."""

import numpy as np
import pytest

pytest.importorskip("jupytext", reason="reading the solutions needs jupytext (extra 'course')")

from also_tested import Claim, assert_true_claim  # noqa: E402

CHAPTER = "02-activations"


def _float32(case):
    return case["dout"].dtype == np.float32


def _three_d(case):
    return case["dout"].ndim == 3


def _backward(name, cache_name, body):
    return f"def {name}(dout, cache):\n    {cache_name} = cache\n    {body}\n"


# Flattens every leading axis into one batch axis, as if inputs were at most 2-D.
AS_MATRIX = "return ({}).reshape(-1, dout.shape[-1]) if dout.ndim > 1 else ({})"

CLAIMS = [
    Claim(
        "check_sigmoid_backward",
        "float32 inputs keep float32",
        {
            "sigmoid_backward": _backward(
                "sigmoid_backward", "s", "return (dout * s * (1 - s)).astype(np.float64)"
            )
        },
        _float32,
    ),
    Claim(
        "check_sigmoid_backward",
        "3-D arrays",
        {
            "sigmoid_backward": _backward(
                "sigmoid_backward",
                "s",
                AS_MATRIX.format("dout * s * (1 - s)", "dout * s * (1 - s)"),
            )
        },
        _three_d,
    ),
    Claim(
        "check_sigmoid_backward",
        "saturated outputs",
        # clipped "for safety": the tiniest slopes come out 1e-7, far too large
        {
            "sigmoid_backward": _backward(
                "sigmoid_backward",
                "s",
                "s = np.clip(s, 1e-7, 1 - 1e-7)\n    return dout * s * (1 - s)",
            )
        },
        lambda case: np.minimum(case["cache"], 1 - case["cache"]).min() < 1e-6,
    ),
    Claim(
        "check_tanh_backward",
        "float32 inputs keep float32",
        {
            "tanh_backward": _backward(
                "tanh_backward", "t", "return dout * (1.0 - t**2).astype(np.float64)"
            )
        },
        _float32,
    ),
    Claim(
        "check_tanh_backward",
        "3-D arrays",
        {
            "tanh_backward": _backward(
                "tanh_backward", "t", AS_MATRIX.format("dout * (1 - t * t)", "dout * (1 - t * t)")
            )
        },
        _three_d,
    ),
    Claim(
        "check_tanh_backward",
        "saturated outputs",
        {
            "tanh_backward": _backward(
                "tanh_backward",
                "t",
                "t = np.clip(t, -1 + 1e-7, 1 - 1e-7)\n    return dout * (1 - t * t)",
            )
        },
        lambda case: np.abs(case["cache"]).max() > 1 - 1e-6,
    ),
    Claim(
        "check_relu_backward",
        "float32 inputs keep float32",
        {
            "relu_backward": _backward(
                "relu_backward", "x", "return dout * (x > 0).astype(np.float64)"
            )
        },
        _float32,
    ),
    Claim(
        "check_relu_backward",
        "3-D arrays",
        {
            "relu_backward": _backward(
                "relu_backward", "x", AS_MATRIX.format("dout * (x > 0)", "dout * (x > 0)")
            )
        },
        _three_d,
    ),
    Claim(
        "check_softmax_backward",
        "the axis stored in the cache",
        {
            "softmax_backward": _backward(
                "softmax_backward",
                "s, axis",
                "return s * (dout - (dout * s).sum(axis=-1, keepdims=True))",
            )
        },
        lambda case: case["axis"] % case["s"].ndim != case["s"].ndim - 1,
    ),
    Claim(
        "check_softmax_backward",
        "the middle axis of a 3-D array",
        # .T moves axis 0 of a matrix last, but reverses all three axes of a 3-D array
        {
            "softmax_backward": _backward(
                "softmax_backward",
                "s, axis",
                "if axis % s.ndim == s.ndim - 1:\n"
                "        return s * (dout - (dout * s).sum(axis=-1, keepdims=True))\n"
                "    s, dout = s.T, dout.T\n"
                "    return (s * (dout - (dout * s).sum(axis=-1, keepdims=True))).T",
            )
        },
        lambda case: case["s"].ndim == 3 and case["axis"] == 1,
    ),
    Claim(
        "check_softmax_backward",
        "square batches",
        # the sum without keepdims, put back along its axis only when broadcasting fails
        {
            "softmax_backward": _backward(
                "softmax_backward",
                "s, axis",
                "total = (dout * s).sum(axis=axis)\n"
                "    try:\n"
                "        return s * (dout - total)\n"
                "    except ValueError:\n"
                "        return s * (dout - np.expand_dims(total, axis))",
            )
        },
        lambda case: case["s"].ndim == 2 and case["s"].shape[0] == case["s"].shape[1],
    ),
    Claim(
        "check_softmax_backward",
        "float32 scores from large logits kept float32",
        {
            "softmax_backward": _backward(
                "softmax_backward",
                "s, axis",
                "dx = s * (dout - (dout * s).sum(axis=axis, keepdims=True))\n"
                "    return dx.astype(np.float64)",
            )
        },
        _float32,
    ),
]


@pytest.mark.parametrize("claim", CLAIMS, ids=lambda c: f"{c.check}: {c.phrase}")
def test_the_claim_is_true(claim):
    solution = next(iter(claim.wrong))
    assert_true_claim(CHAPTER, claim, ["setup", "check_helpers", solution])
