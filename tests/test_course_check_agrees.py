"""Plain ``dlcourse check`` never promises what the grader takes away.

It runs the notebook, then the grader's own checks. On the public corpus
(``autograder/corpus``), whose expected points are those ``dlcourse autograde``
gives: a check that passes in the notebook and is not overruled in the report
is worth full points to the grader, and a clean report (exit status 0) means
full marks. The corpus's resource and OS attacks are left out: run in a plain
kernel they would only wait out a timeout or reach the host, and their visible
checks fail anyway.
"""

import importlib.util
import subprocess
import sys

import pytest

from dlcourse.course.paths import find_root

ROOT = find_root()
pytest.importorskip("jupytext", reason="the grader's source notebook is built from solutions/")
pytest.importorskip("nbclient", reason="dlcourse check runs the notebook with nbclient")

# The submissions whose visible checks can pass: right ones, and wrong ones that only the
# grader's extra inputs or its sandbox catch (dtypes, tampering, the course's references);
# one per kind of attack (s02-delegate stands for s04-delegate). About 8 s each.
CASES = [
    "s02-correct",
    "s02-kink",
    "s02-mistakes-b",
    "s02-allclose",
    "s02-redefine-helpers",
    "s02-transformer",
    "s02-delegate",
    "s02-read-solution",
    "s02-edited-locked",
    "s04-correct",
    "s04-transposed",
    "s04-dtype",
    "s04-redefine-checkers",
]

# The two mistakes the issue found passing every visible check of chapter 02.
SOFTMAX_IGNORES_AXIS = """
def softmax_backward(dout, cache):
    s, axis = cache
    return s * (dout - (dout * s).sum(axis=-1, keepdims=True))  # always the last axis
"""
RELU_FLOAT64 = """
def relu_backward(dout, cache):
    x = cache
    return dout * (x > 0).astype(np.float64)  # a float64 mask upcasts float32 dout
"""


def _make():
    spec = importlib.util.spec_from_file_location("corpus_make", ROOT / "autograder/corpus/make.py")
    make = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make)
    return make


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    written = {s.student_id: s for s in _make().write_corpus(folder)}
    return folder, written


@pytest.mark.slow
@pytest.mark.parametrize("student", CASES)
def test_what_the_report_lets_pass_the_grader_gives_in_full(corpus, student):
    from dlcourse.course.check import check_notebook
    from dlcourse.course.grader_opinion import ask_the_grader, exit_code, format_opinion
    from dlcourse.grading.student import SANDBOX_OS

    folder, written = corpus
    submission = written[student]
    notebook = folder / student / submission.assignment / f"{submission.assignment}.ipynb"
    report = check_notebook(notebook)
    opinion = ask_the_grader(notebook)
    assert opinion.record is not None, opinion.not_run
    if student == "s02-read-solution" and opinion.record["sandbox"] != SANDBOX_OS:
        pytest.skip("only bubblewrap keeps solutions/ from the grader's child process")
    text = format_opinion(report, opinion)
    for result in report.results:
        earned = submission.points[result.check]  # what dlcourse autograde gives
        overruled = f"{result.check}: the notebook's checks pass, but the grader would give"
        if result.passed and earned < result.points:
            assert overruled in text, (student, text)
        else:
            assert overruled not in text, (student, text)
    full = submission.score == sum(r.points for r in report.results)
    assert (exit_code(report, opinion) == 0) == full, (student, text)
    assert f"The grader would give {submission.score:g} / " in text


def _known_mistakes(folder):
    make = _make()
    module = make.load_submissions()
    mistakes = module.Submission(
        "learner",
        module.ACTIVATIONS,
        "softmax ignores its axis, ReLU upcasts",
        {},
        cells={
            **module.ALL_CORRECT_02,
            "softmax_backward": SOFTMAX_IGNORES_AXIS,
            "relu_backward": RELU_FLOAT64,
        },
    )
    data = make.build(
        mistakes,
        make.student_notebook(module.ACTIVATIONS),
        make.solution_sources(module.ACTIVATIONS),
        module.CORRECT,
    )
    path = folder / f"{module.ACTIVATIONS}.ipynb"
    path.write_bytes(data)
    return path


@pytest.mark.slow
def test_the_issues_two_mistakes_are_named_with_the_graders_finding(tmp_path):
    notebook = _known_mistakes(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "dlcourse", "check", str(notebook)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    out = done.stdout
    assert done.returncode == 1, out + done.stderr
    # the visible checks pass: that is the trap
    assert "PASS  check_relu_backward" in out and "PASS  check_softmax_backward" in out
    relu = "check_relu_backward: the notebook's checks pass, but the grader would give 0 / 2:"
    softmax = "check_softmax_backward: the notebook's checks pass, but the grader would give 0 / 4:"
    assert relu in out and softmax in out
    below = out.split(relu)[1].splitlines()[1]
    assert "dtype float64 but should be float32" in below
    assert "axis=0" in out.split(softmax)[1].splitlines()[1]  # the case it failed on
    assert out.splitlines()[-1].startswith("The grader would give 4 / 10 ")
