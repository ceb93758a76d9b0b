"""The behavioural leak test of ``dlcourse build``: no visible function returns an answer.

A small chapter, ``97-cube``, asks for ``cube_backward(dout, x) = 3 x^2 dout``;
its check cell is varied to hold a leak (a helper computing that answer, by
name, by position, through the grader's ``call``, or as a lambda in a list) or
harmless helpers (one that crashes, one that returns a wrong answer, one too
slow, one that calls a reference the grader hides). The last tests hold the
real course: every chapter of ``course/`` passes, and every accepted exception
is still needed.
"""

import shutil
import textwrap

import pytest

pytest.importorskip("jupytext", reason="reading chapters needs jupytext (extra 'course')")

import jupytext  # noqa: E402 -- after the skip
import nbformat  # noqa: E402

from dlcourse.course import answer_leaks  # noqa: E402
from dlcourse.course.source import read_solution  # noqa: E402
from test_course_samples import ROOT, header  # noqa: E402

NAME = "97-cube"
CHAPTERS = [p.stem for p in sorted((ROOT / "solutions").glob("[0-9]*.py"))]

CHECKS = '''
import numpy as np

from dlcourse.grading import Exercise

DRIVER = """
def _through_driver(dout, x):
    return cube_backward(dout, x)  # the student's function, looked up by name


def _coded(dout, x):
    try:
        return cube_backward(dout, x)
    except ValueError:
        return np.array([-1.0])  # the grader's code for "refused these inputs"
"""


def _inputs(rng):
    return [
        {"dout": rng.standard_normal(shape), "x": rng.standard_normal(shape)}
        for shape in [(4,), (2, 3), (5, 1)]
    ]


EXERCISES = [
    Exercise(
        grade_id="check_cube_backward",
        solution=("cube_backward",),
        call=CALL,
        driver=DRIVER,
        hidden=HIDDEN,
        expected=EXPECTED,
        inputs=_inputs,
    )
]
'''


def chapter(check_cell):
    """The source of 97-cube with ``check_cell`` as its visible check."""
    return "\n".join(
        [
            "# %% [markdown]\n# # 97. Cubes\n#\n# This notebook is worth 1 points.\n",
            header("setup"),
            "import numpy as np\n\nimport dlcourse.functional as F\n",
            header("cube_backward", solution=True),
            "def cube_backward(dout, x):\n    ### BEGIN SOLUTION\n"
            "    return 3 * x**2 * dout\n    ### END SOLUTION\n",
            header("check_cube_backward", points=1),
            textwrap.dedent(check_cell),
        ]
    )


def student_version(source):
    """The released notebook, as nbgrader makes it: each solution replaced by a stub."""
    student = nbformat.from_dict(source)
    for cell in student.cells:
        if "### BEGIN SOLUTION" in cell.source:
            head = cell.source.split("### BEGIN SOLUTION")[0]
            cell.source = head + "# YOUR CODE HERE\n    raise NotImplementedError()\n"
    return student


def write_checks(
    folder, call="cube_backward(dout, x)", hidden=(), expected="lambda dout, x: 3 * x**2 * dout"
):
    path = folder / "checks" / f"{NAME}.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    settings = f"CALL = {call!r}\nHIDDEN = {tuple(hidden)!r}\n"
    path.write_text(settings + CHECKS.replace("EXPECTED", expected), encoding="utf-8")
    return path


def leaks_of(tmp_path, check_cell, **checks):
    """The build's problem sentences and the child's raw result for 97-cube."""
    source = jupytext.reads(chapter(check_cell), fmt="py:percent")
    result = answer_leaks.probe(student_version(source), source, write_checks(tmp_path, **checks))
    return answer_leaks.problems_in(result), result


# --- (a) a leak is flagged and named -------------------------------------------------------

LEAKS = {
    "by name": "def cube_reference(dout, x):\n    return dout * 3 * x * x\n",
    "in order": "def cube_reference(upstream, values):\n    return 3 * values**2 * upstream\n",
    "through the call": "def cube_reference(d, v):\n    return 3 * v**2 * d\n",
}


@pytest.mark.parametrize("how", sorted(LEAKS))
def test_a_visible_helper_that_returns_the_answer_fails_naming_it(tmp_path, how):
    problems, _ = leaks_of(tmp_path, LEAKS[how] + "assert cube_backward(1.0, 2.0) == 12.0\n")
    assert len(problems) == 1, problems
    (problem,) = problems
    assert "cube_reference" in problem
    assert "cell 3 (check_cube_backward)" in problem  # the cell, with its grade_id
    assert "exercise check_cube_backward (cube_backward)" in problem
    assert "3 of 3 inputs" in problem


def test_a_leak_used_by_the_graders_driver_is_found_through_call(tmp_path):
    # the call hides the student's function inside a driver: only substitution reaches it
    problems, _ = leaks_of(tmp_path, LEAKS["through the call"], call="_through_driver(dout, x)")
    assert len(problems) == 1, problems
    assert "cube_reference" in problems[0]
    assert "used as cube_backward in `_through_driver(dout, x)`" in problems[0]


def test_a_lambda_in_a_list_of_mistakes_that_is_the_answer_is_a_leak(tmp_path):
    cell = "MISTAKES = [(lambda dout, x: 2 * x * dout, 'a'), (lambda d, x: 3 * x * x * d, 'b')]\n"
    problems, result = leaks_of(tmp_path, cell)
    assert "MISTAKES[0][0]" in result["candidates"]  # the wrong one was probed too
    assert len(problems) == 1, problems
    assert "MISTAKES[1][0]" in problems[0]


def test_a_leak_is_flagged_by_the_build_itself(tmp_path):
    pytest.importorskip("nbgrader", reason="building needs nbgrader (extra 'course')")
    from dlcourse.course.build import build_course
    from dlcourse.course.paths import CourseLayout

    autograder = tmp_path / "autograder"
    autograder.mkdir()
    shutil.copy(ROOT / "autograder" / "nbgrader_config.py", autograder)
    write_checks(autograder)
    solutions = tmp_path / "solutions"
    solutions.mkdir()
    (solutions / f"{NAME}.py").write_text(chapter(LEAKS["by name"]), encoding="utf-8")
    layout = CourseLayout(solutions, tmp_path / "course", tmp_path / "build", autograder)
    report = build_course(layout)
    (result,) = report.chapters
    assert result.status == "failed"
    assert "not safe to publish" in result.message
    assert "the visible function cube_reference computes the answer" in result.message
    assert not (layout.course / f"{NAME}.ipynb").exists()


# --- (c) what is not a leak -----------------------------------------------------------------

HARMLESS = """
import time


def crashes(dout, x):
    raise RuntimeError("a check helper that fails on these inputs")


def wrong_answer(dout, x):
    return 2 * x * dout


def other_arguments(forward, dout, x):
    return 3 * x**2 * dout


def too_slow(dout, x):
    time.sleep(30)
    return 3 * x**2 * dout


def calls_the_student(dout, x):
    return cube_backward(dout, x)  # a stub in the student version
"""


def test_helpers_that_crash_differ_or_take_other_arguments_are_not_leaks(tmp_path):
    problems, result = leaks_of(tmp_path, HARMLESS)
    assert problems == []
    probed = set(result["candidates"])
    assert {"crashes", "wrong_answer", "other_arguments", "too_slow"} <= probed
    assert "calls_the_student" in probed


def test_an_oracle_through_a_reference_the_grader_hides_is_not_a_leak(tmp_path):
    # F.relu_backward stands for the course's reference of the exercise: the grader hides it,
    # so a visible oracle built on it is no leak, and the leak test must hide it the same way
    cell = "def oracle(dout, x):\n    return 3 * x**2 * F.relu_backward(dout, np.ones_like(x))\n"
    problems, _ = leaks_of(tmp_path, cell)
    assert len(problems) == 1 and "oracle" in problems[0]  # without hiding: a leak
    problems, _ = leaks_of(tmp_path, cell, hidden=["dlcourse.functional:relu_backward"])
    assert problems == []


def test_answers_that_a_know_nothing_stand_in_gives_do_not_count(tmp_path):
    # Two of the three cases expect the error code: any helper that raises ValueError "gives"
    # it, so only the third case can tell a leak from a coincidence.
    checks = {
        "call": "_coded(dout, x)",
        "expected": "lambda dout, x: np.array([-1.0]) if x.ndim == 2 else 3 * x**2 * dout",
    }
    refuses = "def refuses(dout, x):\n    raise ValueError('no')\n"
    problems, result = leaks_of(tmp_path, refuses, **checks)
    assert "refuses" in result["candidates"] and problems == []
    leak = "def leak(dout, x):\n    if x.ndim == 2:\n        raise ValueError\n"
    leak += "    return 3 * x**2 * dout\n"
    problems, _ = leaks_of(tmp_path, leak, **checks)
    assert len(problems) == 1 and "leak" in problems[0] and "1 of 1 inputs" in problems[0]


def test_an_accepted_function_is_let_through(tmp_path):
    source = jupytext.reads(chapter(LEAKS["by name"]), fmt="py:percent")
    path = write_checks(tmp_path)
    student = student_version(source)
    assert answer_leaks.answer_leaks(student, source, path, accepted={"cube_reference"}) == []


# --- (b) the real course ----------------------------------------------------------------------


def chapter_leaks(chapter_name, solution_text=None):
    """The leak test's problems for a chapter of course/ (or a given source of it, rebuilt)."""
    checks = ROOT / "autograder" / "checks" / f"{chapter_name}.py"
    if solution_text is None:
        source = read_solution(ROOT / "solutions" / f"{chapter_name}.py")
        student = nbformat.read(ROOT / "course" / f"{chapter_name}.ipynb", as_version=4)
    else:
        source = jupytext.reads(solution_text, fmt="py:percent")
        student = student_version(source)
    return answer_leaks.answer_leaks(student, source, checks)


@pytest.mark.parametrize("chapter_name", CHAPTERS)
def test_no_chapter_of_the_course_leaks_an_answer(chapter_name):
    if not (ROOT / "autograder" / "checks" / f"{chapter_name}.py").exists():
        pytest.skip(f"{chapter_name} has no graded exercises")
    assert chapter_leaks(chapter_name) == []


@pytest.mark.parametrize(
    ("chapter_name", "function"),
    [(c, f) for c, functions in answer_leaks.ACCEPTED.items() for f in functions],
)
def test_every_accepted_function_still_computes_an_answer(chapter_name, function):
    source = read_solution(ROOT / "solutions" / f"{chapter_name}.py")
    student = nbformat.read(ROOT / "course" / f"{chapter_name}.ipynb", as_version=4)
    checks = ROOT / "autograder" / "checks" / f"{chapter_name}.py"
    found = [f["function"] for f in answer_leaks.probe(student, source, checks)["findings"]]
    assert function in found, (
        f"{function} of {chapter_name} no longer gives an answer away: remove it from "
        f"dlcourse.course.answer_leaks.ACCEPTED"
    )
