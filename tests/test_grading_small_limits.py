"""Chapter 02's tight limits (3 CPU seconds, 1 GB) leave room for the slowest honest answer.

The solutions here loop over every element in Python, the slowest way to be
right: the grader, run as ``dlcourse check --grader`` runs it, must still give full
marks, inside the sandbox's CPU limit.
"""

import re

import pytest

from dlcourse.course.paths import find_root
from dlcourse.grading.checks import load_exercises
from dlcourse.grading.spec import SMALL_NUMPY_LIMITS

pytest.importorskip("jupytext", reason="the grader's source notebook is built from solutions/")

CHAPTER = "02-activations"
SLOW = {
    "sigmoid_backward": """
    s = cache
    dx = np.empty_like(dout)
    for i in np.ndindex(dout.shape):
        dx[i] = dout[i] * s[i] * (1 - s[i])
    return dx
""",
    "tanh_backward": """
    t = cache
    dx = np.empty_like(dout)
    for i in np.ndindex(dout.shape):
        dx[i] = dout[i] * (1 - t[i] ** 2)
    return dx
""",
    "relu_backward": """
    x = cache
    dx = np.zeros_like(dout)
    for i in np.ndindex(dout.shape):
        if x[i] > 0:
            dx[i] = dout[i]
    return dx
""",
    "softmax_backward": """
    s, axis = cache
    s_rows = np.moveaxis(s, axis, -1)
    d_rows = np.moveaxis(dout, axis, -1)
    dx = np.empty_like(d_rows)
    for i in np.ndindex(s_rows.shape[:-1]):
        total = 0.0
        for j in range(s_rows.shape[-1]):
            total += d_rows[i][j] * s_rows[i][j]
        for j in range(s_rows.shape[-1]):
            dx[i][j] = s_rows[i][j] * (d_rows[i][j] - total)
    return np.moveaxis(dx, -1, axis)
""",
}


def _with_slow_solutions(text):
    for name, body in SLOW.items():
        pattern = rf"(def {name}\(.*?### BEGIN SOLUTION\n).*?(    ### END SOLUTION)"
        text, count = re.subn(
            pattern,
            lambda m, body=body: m.group(1) + body.lstrip("\n") + m.group(2),
            text,
            count=1,
            flags=re.S,
        )
        assert count == 1, f"the solution of {name} is no longer where this test looks"
    return text


def test_the_chapter_uses_the_small_limits():
    exercises = load_exercises(find_root() / "autograder", CHAPTER).values()
    assert {e.timeout_s for e in exercises} == {SMALL_NUMPY_LIMITS["timeout_s"]}


def test_loops_over_every_element_still_get_full_marks(tmp_path):
    from dlcourse.grading.selfcheck import check_like_the_grader

    source = (find_root() / "solutions" / f"{CHAPTER}.py").read_text(encoding="utf-8")
    notebook = tmp_path / f"{CHAPTER}.py"
    notebook.write_text(_with_slow_solutions(source), encoding="utf-8")
    record = check_like_the_grader(notebook).record
    got = {e["grade_id"]: (e["points"], e["max_points"]) for e in record["exercises"]}
    assert all(points == most for points, most in got.values()), record["exercises"]
