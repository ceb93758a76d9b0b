"""Chapter 06: its out-of-kernel checks agree with its solutions and catch wrong ones.

Each Exercise of ``autograder/checks/06-autodiff.py`` is run in-process
(chapter_helpers.run_exercise), once with the instructor's solution, which must
pass every case, and once with a classic mistake swapped in, which must fail at
least one.
"""

import pytest

pytest.importorskip("jupytext", reason="reading the solutions needs jupytext (extra 'course')")

from chapter_helpers import cell_sources, load_checks, run_exercise  # noqa: E402
from dlcourse.course import cells  # noqa: E402
from dlcourse.course.source import read_solution  # noqa: E402
from test_course_samples import ROOT  # noqa: E402

CHAPTER = "06-autodiff"


@pytest.fixture(scope="module")
def checks():
    return {e.grade_id: e for e in load_checks(CHAPTER)}


@pytest.fixture(scope="module")
def sources():
    return cell_sources(CHAPTER)


def test_every_graded_cell_has_an_exercise_and_the_points_add_up(checks):
    nb = read_solution(ROOT / "solutions" / f"{CHAPTER}.py")
    graded = [cells.grade_id(c) for _, c in cells.grade_cells(nb)]
    assert sorted(graded) == sorted(checks)
    assert cells.total_points(nb) == cells.stated_total(nb) == 10


def test_the_solution_passes_every_check(checks, sources):
    for grade_id, exercise in checks.items():
        assert run_exercise(exercise, sources) == [], grade_id


WRONG = {
    "check_local_rules": (
        "local_rules",
        "def mul_backward(dout, a, b):\n    return dout * a, dout * b\n"  # swapped
        "def div_backward(dout, a, b):\n    return dout / b, -dout * a / (b * b)\n"
        "def pow_backward(dout, a, n):\n    return dout * n * a ** (n - 1)\n"
        "def exp_backward(dout, a, out):\n    return dout * out\n",
    ),
    "check_backward": (  # breadth-first order: not topological
        "backward",
        "def topological_order(root):\n"
        "    order, queue, seen = [], [root], {id(root)}\n"
        "    while queue:\n"
        "        node = queue.pop(0)\n"
        "        order.append(node)\n"
        "        for c in node._prev:\n"
        "            if id(c) not in seen:\n"
        "                seen.add(id(c))\n"
        "                queue.append(c)\n"
        "    return order[::-1]\n"
        "def backward(root):\n"
        "    root.grad = 1.0\n"
        "    for node in reversed(topological_order(root)):\n"
        "        if node._backward is not None:\n"
        "            node._backward(node.grad)\n",
    ),
    "check_broadcast_add": (  # a mean where a sum belongs
        "broadcast_add",
        "def unbroadcast(grad, shape):\n"
        "    while grad.ndim > len(shape):\n"
        "        grad = grad.mean(axis=0)\n"
        "    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)\n"
        "    return grad.mean(axis=axes, keepdims=True) if axes else grad\n"
        "def add_backward(dout, a, b):\n"
        "    return unbroadcast(dout, a.shape), unbroadcast(dout, b.shape)\n",
    ),
    "check_matmul_backward": (
        "matmul_backward",
        "def matmul_backward(dout, a, b):\n    return dout @ b.T, (dout.T @ a).T.T\n",
    ),
}


@pytest.mark.parametrize("grade_id", sorted(WRONG))
def test_a_classic_mistake_fails_its_check(checks, sources, grade_id):
    cell, wrong = WRONG[grade_id]
    assert run_exercise(checks[grade_id], sources, replace={cell: wrong}) != []


def test_the_recursion_free_order_handles_deep_graphs(sources):
    # The solution's topological_order uses a stack: a 5,000-node chain must not hit
    # Python's recursion limit (the notebook says so).
    namespace = {}
    for gid in ("setup", "scalar_class", "backward"):
        exec(sources[gid], namespace)
    v = x = namespace["Scalar"](0.5)
    for _ in range(5000):
        v = v * 1.0 + 0.0
    namespace["backward"](v)
    assert x.grad == pytest.approx(1.0)
