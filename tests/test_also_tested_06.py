"""Chapter 06's "also tested" lines are true: each property has a wrong attempt that passes
the visible check and loses the exercise's points with the grader, on those cases only."""

import numpy as np
import pytest

pytest.importorskip("jupytext", reason="reading the solutions needs jupytext (extra 'course')")

from also_tested import Claim, assert_true_claim  # noqa: E402
from chapter_helpers import cell_sources  # noqa: E402

CHAPTER = "06-autodiff"
SOURCES = cell_sources(CHAPTER)
BEFORE = {
    "check_local_rules": ["setup", "local_rules"],
    "check_backward": ["setup", "scalar_class", "backward"],
    "check_broadcast_add": ["setup", "local_rules", "check_local_rules", "broadcast_add"],
    "check_matmul_backward": ["setup", "local_rules", "check_local_rules", "matmul_backward"],
}


def replaced(grade_id, old, new):
    """The solution cell ``grade_id`` with ``old`` replaced by ``new``."""
    source = SOURCES[grade_id]
    assert old in source, f"the solution's {grade_id} has no {old!r}"
    return {grade_id: source.replace(old, new)}


def unbroadcast(body):
    """broadcast_add's cell with ``body`` as unbroadcast's and the solution's add_backward."""
    return {
        "broadcast_add": (
            f"def unbroadcast(grad, shape):\n{body}\n\n"
            "def add_backward(dout, a, b):\n"
            "    return unbroadcast(dout, np.shape(a)), unbroadcast(dout, np.shape(b))\n"
        )
    }


SHAPE_LINE = "    shape = tuple(shape)\n"  # the first line of the solution's unbroadcast

# Orders the nodes by their distance from the root, farthest first, each distance taken
# the first time a depth-first search meets the node: right whenever it meets the long path
# first, as in every visible graph.
FIRST_DEPTH_ORDER = (
    "def topological_order(root):\n"
    "    depth, nodes = {}, {}\n"
    "    def visit(node, d):\n"
    "        if id(node) in depth:\n"
    "            return\n"
    "        depth[id(node)], nodes[id(node)] = d, node\n"
    "        for child in node._prev:\n"
    "            visit(child, d + 1)\n"
    "    visit(root, 0)\n"
    "    return sorted(nodes.values(), key=lambda node: -depth[id(node)])\n"
)


def matmul(da="dout @ b.T", db="a.T @ dout"):
    return {"matmul_backward": f"def matmul_backward(dout, a, b):\n    return {da}, {db}\n"}


def _float32(case):
    return case["dout"].dtype == np.float32


def _shapes(case):
    return np.shape(case["a"]), np.shape(case["b"])


def _stretched(shape, out):
    """Whether an input of ``shape`` is stretched along an axis of ``out``, the sum's shape."""
    padded = (1,) * (len(out) - len(shape)) + tuple(shape)
    return any(n == 1 and m != 1 for n, m in zip(padded, out))


CLAIMS = [
    Claim(
        "check_local_rules",
        "float32 inputs keep float32",
        replaced("local_rules", "return dout * out", "return dout * out.astype(np.float64)"),
        _float32,
    ),
    Claim(
        "check_local_rules",
        "1-D",
        # gradients kept as matrices, like the visible (3, 4) ones: a vector becomes a row
        replaced("local_rules", "return dout * out", "return np.atleast_2d(dout * out)"),
        lambda case: case["dout"].ndim == 1,
    ),
    Claim(
        "check_local_rules",
        "3-D arrays",
        # flattens every leading axis into one, as if arrays were at most 2-D
        replaced(
            "local_rules",
            "return dout * out",
            "return (dout * out).reshape(-1, dout.shape[-1]) if dout.ndim > 1 else dout * out",
        ),
        lambda case: case["dout"].ndim == 3,
    ),
    Claim(
        "check_local_rules",
        "negative `b`",
        # b kept away from 0 "to avoid dividing by zero": every negative b becomes 1e-12
        replaced(
            "local_rules",
            "return dout / b, -dout * a / (b * b)",
            "b = np.maximum(b, 1e-12)\n    return dout / b, -dout * a / (b * b)",
        ),
        lambda case: bool((case["b"] < 0).any()),
    ),
    Claim(
        "check_local_rules",
        "`pow_backward` with `n` = 0.5 and -2 as well as 3",
        # a ** (n - 1) as a times itself n - 1 times: right for whole n from 1 up
        replaced(
            "local_rules",
            "return dout * n * a ** (n - 1)",
            "power = np.ones_like(a)\n"
            "    for _ in range(int(n) - 1):\n"
            "        power = power * a\n"
            "    return dout * n * power",
        ),
        lambda case: case["n"] != 3,
    ),
    Claim(
        "check_backward",
        "a fifth graph in which one node feeds two paths that join again",
        replaced("backward", SOURCES["backward"].split("def backward")[0], FIRST_DEPTH_ORDER),
        lambda case: case["graph"] == 4,
    ),
    Claim(
        "check_broadcast_add",
        "float32 inputs keep float32",
        replaced(
            "broadcast_add",
            "return np.reshape(grad, shape)",
            "return np.reshape(grad, shape).astype(np.float64)  # 'exact sums'",
        ),
        _float32,
    ),
    Claim(
        "check_broadcast_add",
        "a square batch plus a row",
        # sums the axes whose size the target shape lacks: none when the sizes are equal
        unbroadcast(
            "    axes = tuple(i for i, n in enumerate(grad.shape) if n not in tuple(shape))\n"
            "    return np.reshape(grad.sum(axis=axes), shape)"
        ),
        lambda case: _shapes(case) == ((3, 3), (3,)),
    ),
    Claim(
        "check_broadcast_add",
        "a scalar `b` of shape `()`",
        # "a scalar is a vector of one element"
        replaced("broadcast_add", SHAPE_LINE, "    shape = tuple(shape) or (1,)\n"),
        lambda case: _shapes(case)[1] == (),
    ),
    Claim(
        "check_broadcast_add",
        "both inputs of a 3-D sum stretched at once",
        # sums the first axis where the target starts with 1, else the last: never a middle one
        unbroadcast(
            "    extra = grad.ndim - len(shape)\n"
            "    grad = grad.sum(axis=tuple(range(extra)))\n"
            "    if grad.shape != tuple(shape):\n"
            "        grad = grad.sum(axis=0 if shape[0] == 1 else -1, keepdims=True)\n"
            "    return np.reshape(grad, shape)"
        ),
        lambda case: (
            all(_stretched(s, case["dout"].shape) for s in _shapes(case)) and case["dout"].ndim == 3
        ),
    ),
    Claim(
        "check_broadcast_add",
        "a `(1,)` input against a 3-D one",
        # "one element: sum it all", which gives shape () rather than (1,)
        replaced(
            "broadcast_add",
            SHAPE_LINE,
            SHAPE_LINE + "    if int(np.prod(shape)) == 1:\n        return grad.sum()\n",
        ),
        lambda case: _shapes(case)[0] == (1,),
    ),
    Claim(
        "check_matmul_backward",
        "float32 inputs keep float32",
        matmul(da="dout @ b.T.astype(np.float64)"),
        _float32,
    ),
    Claim(
        "check_matmul_backward",
        "square matrices",
        # dout.T @ a, transposed when its shape does not fit: a square b always fits
        matmul(db="dout.T @ a if (dout.T @ a).shape == b.shape else (dout.T @ a).T"),
        lambda case: case["b"].shape[0] == case["b"].shape[1],
    ),
    Claim(
        "check_matmul_backward",
        "a single row in `a`",
        matmul(da="np.squeeze(dout @ b.T)"),  # 'drop the extra axes'
        lambda case: case["a"].shape[0] == 1,
    ),
    Claim(
        "check_matmul_backward",
        "a single column in `b`",
        matmul(db="np.squeeze(a.T @ dout)"),
        lambda case: case["b"].shape[1] == 1,
    ),
]


@pytest.mark.parametrize("claim", CLAIMS, ids=lambda c: f"{c.check}: {c.phrase}")
def test_the_claim_is_true(claim):
    assert_true_claim(CHAPTER, claim, BEFORE[claim.check])
