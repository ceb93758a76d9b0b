"""Chapter 00's "also tested" lines are true: each property has a wrong attempt that passes
the visible check and loses the exercise's points with the grader, on those cases only."""

import numpy as np
import pytest

pytest.importorskip("jupytext", reason="reading the solutions needs jupytext (extra 'course')")

from also_tested import Claim, assert_true_claim  # noqa: E402
from chapter_helpers import load_checks  # noqa: E402

CHAPTER = "00-fancy-calculators"
BEFORE = {
    "check_broadcast_shape": ["setup", "broadcast_shape"],
    "check_standardize": ["setup", "standardize_by_loop", "standardize"],
}


def _pair(case):
    return tuple(int(n) for n in case["a"]), tuple(int(n) for n in case["b"])


def _random_pairs():
    """The grader's random pairs: the first dozen of its cases, drawn with the seed the
    in-process run uses (0)."""
    (exercise, _) = load_checks(CHAPTER)
    return {_pair(case) for case in exercise.inputs(np.random.default_rng(0))[:12]}


def _broadcast(a, b):
    """NumPy's answer, None where the shapes are incompatible."""
    try:
        return np.broadcast_shapes(a, b)
    except ValueError:
        return None


def _clash_with_larger_first(case):
    """Incompatible, and the first clashing size from the right is larger in ``a``."""
    a, b = _pair(case)
    if _broadcast(a, b) is not None:
        return False
    clashes = [(x, y) for x, y in zip(a[::-1], b[::-1]) if x != y and 1 not in (x, y)]
    return clashes[0][0] > clashes[0][1]


def broadcast(loop_body, finish="return tuple(result)"):
    """A broadcast_shape that pads like the solution and runs ``loop_body`` per axis."""
    return {
        "broadcast_shape": (
            "def broadcast_shape(a_shape, b_shape):\n"
            "    ndim = max(len(a_shape), len(b_shape))\n"
            "    a = (1,) * (ndim - len(a_shape)) + tuple(a_shape)\n"
            "    b = (1,) * (ndim - len(b_shape)) + tuple(b_shape)\n"
            "    result = []\n"
            "    for sa, sb in zip(a, b):\n"
            f"{loop_body}"
            f"    {finish}\n"
        )
    }


def standardize(centred="x - xp.mean(x, axis=0, keepdims=True)", var=None, scale=None):
    var = var or "xp.mean(centred * centred, axis=0, keepdims=True)"
    scale = scale or "xp.sqrt(var + eps)"
    return {
        "standardize": (
            "def standardize(x, eps=1e-8):\n"
            "    xp = array_namespace(x)\n"
            f"    centred = {centred}\n"
            f"    var = {var}\n"
            f"    return centred / {scale}\n"
        )
    }


CLAIMS = [
    Claim(
        "check_broadcast_shape",
        "a dozen random pairs that broadcast",
        # the sizes other than 1, as a set: empty where both sizes are 1, which only the
        # random pairs have
        broadcast(
            "        sizes = {sa, sb} - {1}\n"
            "        if len(sizes) > 1:\n"
            "            raise ValueError(f'{a_shape} and {b_shape} do not broadcast')\n"
            "        result.append(sizes.pop())\n"
        ),
        lambda case: _pair(case) in _random_pairs(),
    ),
    Claim(
        "check_broadcast_shape",
        "sizes 0",
        broadcast(
            "        if sa != sb and 1 not in (sa, sb):\n"
            "            raise ValueError(f'{a_shape} and {b_shape} do not broadcast')\n"
            "        result.append(max(sa, sb))  # 'the larger size wins': not against 0\n"
        ),
        lambda case: 0 in _pair(case)[0] + _pair(case)[1],
    ),
    Claim(
        "check_broadcast_shape",
        "10**9",
        # NumPy does the broadcasting on arrays: the result cannot be allocated
        {
            "broadcast_shape": (
                "def broadcast_shape(a_shape, b_shape):\n"
                "    a = np.zeros(a_shape, dtype=np.int8)\n"
                "    b = np.zeros(b_shape, dtype=np.int8)\n"
                "    return (a + b).shape\n"
            )
        },
        lambda case: max(_pair(case)[0] + _pair(case)[1], default=0) >= 10**5,
    ),
    Claim(
        "check_broadcast_shape",
        "incompatible pairs in both orders",
        # only a size of a smaller than b's is taken for a clash
        broadcast(
            "        if sa == 1:\n"
            "            result.append(sb)\n"
            "        elif sb == 1:\n"
            "            result.append(sa)\n"
            "        elif sa < sb:\n"
            "            raise ValueError(f'{sa} cannot stretch to {sb}')\n"
            "        else:\n"
            "            result.append(sa)\n"
        ),
        _clash_with_larger_first,
    ),
    Claim(
        "check_broadcast_shape",
        "a tuple of plain Python ints (not NumPy integers)",
        # the rule on whole arrays: the sizes come back as NumPy integers
        {
            "broadcast_shape": (
                "def broadcast_shape(a_shape, b_shape):\n"
                "    ndim = max(len(a_shape), len(b_shape))\n"
                "    a = np.array((1,) * (ndim - len(a_shape)) + tuple(a_shape), dtype=int)\n"
                "    b = np.array((1,) * (ndim - len(b_shape)) + tuple(b_shape), dtype=int)\n"
                "    if np.any((a != b) & (a != 1) & (b != 1)):\n"
                "        raise ValueError(f'{a_shape} and {b_shape} do not broadcast')\n"
                "    return tuple(np.where(a == 1, b, a))\n"
            )
        },
        lambda case: bool(_broadcast(*_pair(case))),  # a non-empty answer
    ),
    Claim(
        "check_standardize",
        "float32 input gives float32 output",
        standardize(centred="xp.astype(x, xp.float64) - xp.mean(x, axis=0, keepdims=True)"),
        lambda case: case["x"].dtype == np.float32,
    ),
    Claim(
        "check_standardize",
        "a single column",
        # the variance as the diagonal of the covariance matrix: a 0-d matrix for one column
        standardize(var="np.diag(np.cov(x, rowvar=False, bias=True)).astype(x.dtype)"),
        lambda case: case["x"].shape[1] == 1,
    ),
    Claim(
        "check_standardize",
        "a constant column (zeros)",
        standardize(scale="xp.sqrt(var)"),
        lambda case: bool((np.ptp(case["x"], axis=0) == 0).any()),
        only=False,  # without eps, the cases where eps matters differ too
    ),
    Claim(
        "check_standardize",
        "a column so narrow that `eps` matters",
        standardize(scale="(xp.sqrt(var) + eps)"),
        lambda case: bool((case["x"].var(axis=0) < 1e-6).any()),
        only=False,  # eps outside the square root: wrong too where eps is 0.5
    ),
    Claim(
        "check_standardize",
        "an `eps` other than the default",
        standardize(scale="xp.sqrt(var + 1e-8)"),
        lambda case: case["eps"] != 1e-8,
    ),
    Claim(
        "check_standardize",
        "a million standard deviations from 0",
        # the variance as E[x^2] - E[x]^2: the digits cancel when the mean dwarfs the spread
        standardize(
            var="xp.mean(x * x, axis=0, keepdims=True) - xp.mean(x, axis=0, keepdims=True) ** 2"
        ),
        lambda case: (np.abs(case["x"].mean(axis=0)) / case["x"].std(axis=0)).max() > 1e5,
    ),
]


@pytest.mark.parametrize("claim", CLAIMS, ids=lambda c: f"{c.check}: {c.phrase}")
def test_the_claim_is_true(claim):
    assert_true_claim(CHAPTER, claim, BEFORE[claim.check])
