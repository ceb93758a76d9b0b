"""Chapter 11's "also tested" lines are true: each property has a wrong attempt that passes
the visible check and loses the exercise's points with the grader, on those cases only."""

import pytest

pytest.importorskip("jupytext", reason="reading the solutions needs jupytext (extra 'course')")

from also_tested import Claim, assert_true_claim  # noqa: E402

CHAPTER = "11-speed-and-scale"
FLOPS = "def dense_training_flops(sizes, batch):\n"
PAIRS = "zip(sizes[:-1], sizes[1:])"
RIGHT_FLOPS = f"    forward = [2 * batch * a * b for a, b in {PAIRS}]\n"
FIXED_STACKS = ([784, 256, 128, 10], [10, 3], [5, 8, 8, 8, 2])  # the grader's named cases
FIXED_RINGS = ((1_000_000, 4, 4), (1_000_000, 1, 4), (1_000, 8, 2))
RING = "def ring_allreduce_bytes(n_params, workers, bytes_per_value=4):\n"


def flops(body, before=""):
    return {"dense_training_flops": before + FLOPS + body}


def ring(body):
    return {"ring_allreduce_bytes": RING + f"    return {body}\n"}


CLAIMS = [
    Claim(
        "check_dense_training_flops",
        "`sizes` given as a list",
        # remembered per stack: a list cannot be a key of the cache
        flops(
            RIGHT_FLOPS + "    return 3 * sum(forward) - forward[0]\n",
            "import functools\n\n\n@functools.cache\n",
        ),
        lambda case: True,  # the grader hands every stack over as a list
    ),
    Claim(
        "check_dense_training_flops",
        "a single layer",
        # the skipped input gradient taken as that of the input -> first hidden layer
        flops(
            "    inputs, *hidden, outputs = sizes\n"
            + RIGHT_FLOPS
            + "    return 3 * sum(forward) - 2 * batch * inputs * hidden[0]\n"
        ),
        lambda case: len(case["sizes"]) == 2,
    ),
    Claim(
        "check_dense_training_flops",
        "a deep narrow stack with a batch of one",
        # layers counted by their shape: the equal 8 -> 8 layers of the stack count once
        flops(
            f"    by_shape = {{(a, b): 2 * batch * a * b for a, b in {PAIRS}}}\n"
            "    forward = list(by_shape.values())\n"
            "    return 3 * sum(forward) - forward[0]\n"
        ),
        lambda case: case["batch"] == 1 and len(case["sizes"]) > 4,
    ),
    Claim(
        "check_dense_training_flops",
        "random stacks of two to five layers of up to 2,000 units with batches up to 1,024",
        # 32-bit integers "to save memory": enough for the visible MLP, not for large stacks
        flops(
            "    sizes = np.asarray(sizes, dtype=np.int32)\n"
            "    forward = 2 * np.int32(batch) * sizes[:-1] * sizes[1:]\n"
            "    return int(3 * forward.sum() - forward[0])\n"
        ),
        lambda case: list(case["sizes"]) not in FIXED_STACKS,
    ),
    Claim(
        "check_ring_allreduce_bytes",
        "8 workers with 2-byte values",
        # float32's 4 bytes taken for granted, as in every visible case
        ring("2 * (workers - 1) / workers * n_params * 4"),
        lambda case: case["workers"] == 8 and case["bytes_per_value"] == 2,
        only=False,  # the random cases of 1 or 8 bytes per value catch it as well
    ),
    Claim(
        "check_ring_allreduce_bytes",
        "random gradients of up to 50 million values over 2 to 128 workers",
        # a 32-bit count of bytes: enough for the visible gradients, not for large rings
        ring("2 * (workers - 1) * np.int32(n_params) * bytes_per_value / workers"),
        lambda case: (
            (case["n_params"], case["workers"], case["bytes_per_value"]) not in FIXED_RINGS
        ),
    ),
]


@pytest.mark.filterwarnings("ignore:overflow encountered")  # the 32-bit mistakes overflow
@pytest.mark.parametrize("claim", CLAIMS, ids=lambda c: f"{c.check}: {c.phrase}")
def test_the_claim_is_true(claim):
    solution = next(iter(claim.wrong))
    assert_true_claim(CHAPTER, claim, ["setup", solution])
