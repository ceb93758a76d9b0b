"""Chapter 06: its out-of-kernel checks agree with its solutions and catch wrong ones.

The grading engine runs ``autograder/checks/06-autodiff.py`` in a sandbox; here
each Exercise is run in-process instead (setup cells, solution cells, driver,
``call`` per case, compared with ``expected`` by dlcourse.diagnose), once with
the instructor's solution, which must pass every case, and once with a
classic mistake swapped in, which must fail at least one. The helpers are
shared with the chapter 07 tests.
"""

import importlib.util

import numpy as np
import pytest

pytest.importorskip("jupytext", reason="reading the solutions needs jupytext (extra 'course')")

from dlcourse.course import cells  # noqa: E402
from dlcourse.course.source import read_solution  # noqa: E402
from dlcourse.diagnose import diagnose  # noqa: E402
from test_course_samples import ROOT  # noqa: E402


def load_checks(chapter):
    """The EXERCISES of autograder/checks/CHAPTER.py (a file name with a dash: loaded by path)."""
    path = ROOT / "autograder" / "checks" / f"{chapter}.py"
    spec = importlib.util.spec_from_file_location(f"checks_{chapter.replace('-', '_')}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.EXERCISES


def cell_sources(chapter):
    """grade_id -> source of every cell of solutions/CHAPTER.py that has one."""
    nb = read_solution(ROOT / "solutions" / f"{chapter}.py")
    return {cells.grade_id(c): c.source for c in nb.cells if cells.grade_id(c)}


def _flatten(value):
    if isinstance(value, dict):
        return [a for k in sorted(value) for a in _flatten(value[k])]
    if isinstance(value, tuple | list):
        return [a for v in value for a in _flatten(v)]
    return [np.asarray(value)]


def run_exercise(exercise, sources, replace=None, seed=0):
    """Failure messages of ``exercise`` run in-process ([] when every case passes).

    replace: {grade_id: source} swapped in for the solution cells (a student's answer).
    """
    replace = replace or {}
    namespace = {}
    for gid in exercise.setup:
        exec(sources[gid], namespace)
    for name, target in exercise.provided.items():
        module, attribute = target.split(":")
        namespace[name] = getattr(importlib.import_module(module), attribute)
    for gid in exercise.solution:
        exec(replace.get(gid, sources[gid]), namespace)
    exec(exercise.driver, namespace)
    failures = []
    for case in exercise.inputs(np.random.default_rng(seed)):
        copies = {k: np.copy(v) if isinstance(v, np.ndarray) else v for k, v in case.items()}
        try:
            got = eval(exercise.call, {**namespace, **copies})
        except Exception as err:  # a wrong answer may also crash
            failures.append(f"{type(err).__name__}: {err}")
            continue
        expected = exercise.expected(**case)
        got_arrays, expected_arrays = _flatten(got), _flatten(expected)
        if len(got_arrays) != len(expected_arrays):
            failures.append(f"{len(got_arrays)} arrays, expected {len(expected_arrays)}")
            continue
        for g, e in zip(got_arrays, expected_arrays):
            at = case.get(exercise.kinks) if exercise.kinks else None
            d = diagnose(g, e, name=exercise.grade_id, at=at)
            if not d.ok:
                failures.append(d.message)
    return failures


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
