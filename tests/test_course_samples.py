"""A tiny chapter in the course's source format, shared by the course pipeline's tests.

Building and running the real chapters takes seconds each; this one is enough
to exercise the build, the refusal to overwrite, the leak scan and the CLI.
Its solution, hidden test and visible checks carry unique strings, so a test
can tell exactly which of them reached a student notebook.
"""

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

SOLUTION_LINE = "return 2 * x  # the-sample-solution"
HIDDEN_LINE = 'assert double(-1.5) == -3.0, "the-sample-hidden-test"'
VISIBLE_LINE = 'assert double(3) == 6, "double(3) should be 6"'


def header(grade_id, *, solution=False, points=None, locked=None):
    """A ``# %% nbgrader={...}`` cell header, as the course's chapters write them."""
    meta = {
        "grade": points is not None,
        "grade_id": grade_id,
        "locked": (not solution) if locked is None else locked,
        "schema_version": 3,
        "solution": solution,
    }
    if points is not None:
        meta["points"] = points
    return "# %% nbgrader=" + json.dumps(meta, sort_keys=True)


SAMPLE = f"""# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 98. A sample chapter
#
# This notebook is worth 3 points.

{header("setup")}
import numpy as np

{header("double", solution=True)}
def double(x):
    \"\"\"Twice x.\"\"\"
    ### BEGIN SOLUTION
    {SOLUTION_LINE}
    ### END SOLUTION


{header("check_double", points=2)}
{VISIBLE_LINE}
### BEGIN HIDDEN TESTS
{HIDDEN_LINE}
### END HIDDEN TESTS

{header("check_double_array", points=1)}
assert np.array_equal(double(np.arange(3)), [0, 2, 4]), "double should work on arrays"
"""

SAMPLE_NAME = "98-sample"


def write_sample(folder, name=SAMPLE_NAME, text=SAMPLE):
    """Write a chapter source ``name.py`` into ``folder``; return its path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.py"
    path.write_text(text, encoding="utf-8")
    return path


def sample_layout(tmp_path):
    """A CourseLayout in ``tmp_path`` that uses the course's real nbgrader config."""
    from dlcourse.course.paths import CourseLayout

    return CourseLayout(
        solutions=tmp_path / "solutions",
        course=tmp_path / "course",
        build=tmp_path / "build",
        autograder=ROOT / "autograder",
    )


def test_the_sample_is_a_valid_chapter(tmp_path):
    pytest.importorskip("jupytext", reason="the course pipeline needs jupytext (extra 'course')")
    from dlcourse.course import cells, lint
    from dlcourse.course.source import read_solution

    nb = read_solution(write_sample(tmp_path))
    assert lint.lint_source(nb) == []
    assert cells.stated_total(nb) == cells.total_points(nb) == 3
    assert [cells.grade_id(c) for i, c in cells.grade_cells(nb)] == [
        "check_double",
        "check_double_array",
    ]
