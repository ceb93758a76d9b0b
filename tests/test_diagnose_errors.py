"""Errors in a learner's code come with their line and, for the common kinds, what they mean.

The tracebacks are real: a tiny notebook is run in a real kernel, as
``dlcourse check`` runs one, and the report must show the learner's own line
(not NumPy's insides, not the check helper that called it).
"""

import numpy as np
import pytest

from dlcourse.diagnose.errors import error_hint, failing_line


def _message(action):
    try:
        action()
    except Exception as err:  # the real message of the real error
        return f"{type(err).__name__}: {err}"
    raise AssertionError("no error")


@pytest.mark.parametrize(
    ("action", "words"),
    [
        (lambda: np.ones((3, 4)) @ np.ones((3, 4)), "a missing or extra .T"),
        (lambda: np.ones((3, 4)) + np.ones((4, 3)), "shapes of both operands"),
        (lambda: (np.ones(3), np.ones(3)).shape, "unpack it first"),
        (lambda: None + np.ones(3), "without returning"),
        (lambda: np.ones(3)[:, 0], "fewer axes"),
    ],
)
def test_each_common_error_gets_its_sentence(action, words):
    assert words in error_hint(_message(action))


@pytest.mark.parametrize(
    "message",
    ["ValueError: the learning rate must be positive", "KeyError: 'w'", "ZeroDivisionError"],
)
def test_other_errors_get_no_guess(message):
    assert error_hint(message) is None


def test_the_torch_matmul_message_gets_the_same_sentence():
    torch = pytest.importorskip("torch", reason="the torch message is torch's own")
    message = _message(lambda: torch.ones(3, 4) @ torch.ones(3, 4))
    assert "a missing or extra .T" in error_hint(message)


CELLS = [
    "import numpy as np\ndef f(dout, x):\n    y = dout * 2\n    return y @ x\n",
    "def helper(g):\n    return g(np.ones((3, 4)), np.ones((3, 4)))\n",
    "helper(f)",
    "np.ones(3)",
]


@pytest.fixture(scope="module")
def ran():
    nbformat = pytest.importorskip("nbformat", reason="the notebook is run with nbclient")
    from dlcourse.course.execute import execute_in_place

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    execute_in_place(nb, ".", timeout=120, allow_errors=True)
    return nb


def test_the_learners_own_line_is_found_below_the_helper_that_called_it(ran):
    from dlcourse.course.execute import error_output, plain

    error = error_output(ran.cells[2])
    assert failing_line([plain(t) for t in error["traceback"]]) == "in f, line 4: return y @ x"


def test_a_traceback_without_notebook_cells_has_no_line():
    assert failing_line(["Traceback (most recent call last)", "ValueError: x"]) is None


def _graded_notebook(path, check_source):
    nbformat = pytest.importorskip("nbformat", reason="the notebook is written with nbformat")
    solution = nbformat.v4.new_code_cell(CELLS[0])
    solution.metadata["nbgrader"] = {"grade_id": "f", "solution": True, "schema_version": 3}
    check = nbformat.v4.new_code_cell(CELLS[1] + check_source)
    check.metadata["nbgrader"] = {
        "grade_id": "check_f",
        "grade": True,
        "points": 1,
        "schema_version": 3,
    }
    nbformat.write(nbformat.v4.new_notebook(cells=[solution, check]), path)
    return path


def test_dlcourse_check_shows_the_failing_line_and_the_hint(tmp_path):
    from dlcourse.course.check import check_notebook, format_report

    report = check_notebook(_graded_notebook(tmp_path / "nb.ipynb", "helper(f)\n"))
    message = report.results[0].message
    assert message.splitlines()[:2] == [
        "ValueError: matmul: Input operand 1 has a mismatch in its core dimension 0, with gufunc "
        "signature (n?,k),(k,m?)->(n?,m?) (size 3 is different from 4)",
        "  in f, line 4: return y @ x",
    ]
    assert "a missing or extra .T" in message
    assert "in f, line 4: return y @ x" in format_report(report)


def test_a_checks_own_verdict_is_left_as_it_is(tmp_path):
    from dlcourse.course.check import check_notebook

    source = "raise AssertionError('dx is transposed')\n"
    report = check_notebook(_graded_notebook(tmp_path / "nb.ipynb", source))
    assert report.results[0].message == "AssertionError: dx is transposed"
