"""``dlcourse check --grader``: a student sees the points the grader would give, before handing in.

The grader's own checks run on the notebook's solution cells, out of the
kernel, on inputs from a local seed. Checked on the student version (nothing
done yet), one exercise at a time, bad arguments, and on the whole public
corpus: every submission gets, per graded cell, exactly the points that
``dlcourse autograde`` is expected to give it (tampering included: the
grader's verdict never depended on the kernel).
"""

import importlib.util
import subprocess
import sys

import pytest

from dlcourse.course.paths import find_root

ROOT = find_root()
pytest.importorskip("jupytext", reason="the grader's source notebook is built from solutions/")


def _check(*args):
    return subprocess.run(
        [sys.executable, "-m", "dlcourse", "check", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )


def test_the_student_version_gets_nothing_yet_and_says_why():
    done = _check(ROOT / "course" / "02-activations.ipynb", "--grader")
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("02-activations, checked as the grader checks it")
    assert sum("0 / " in line and "not done yet" in line for line in lines) == 4
    assert lines[-1] == "the grader would give 0 / 10"


def test_one_exercise_is_checked_alone():
    done = _check(
        ROOT / "solutions" / "08-keras-style.py", "--grader", "--exercise", "check_prelu_backward"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    rows = [line.split() for line in done.stdout.splitlines()[1:-1]]
    assert rows == [["check_prelu_backward", "5", "/", "5", "verified"]]
    assert done.stdout.splitlines()[-1] == "the grader would give 5 / 5"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--grader", "--exercise", "check_nothing"], "no graded exercise 'check_nothing'"),
        (["--exercise", "check_relu_backward"], "--exercise needs --grader"),
    ],
)
def test_bad_arguments_say_what_to_do(args, message):
    done = _check(ROOT / "solutions" / "02-activations.py", *args)
    assert done.returncode == 2
    assert message in done.stderr


def test_a_notebook_of_no_chapter_is_refused_with_the_reason(tmp_path):
    notebook = tmp_path / "my-notes.ipynb"
    notebook.write_bytes((ROOT / "course" / "02-activations.ipynb").read_bytes())
    done = _check(notebook, "--grader")
    assert done.returncode == 2
    assert "no checks for 'my-notes'" in done.stderr


def _corpus():
    spec = importlib.util.spec_from_file_location("corpus_make", ROOT / "autograder/corpus/make.py")
    make = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make)
    return make


@pytest.mark.slow
def test_on_the_public_corpus_it_gives_what_the_grader_gives(tmp_path):
    from chapter_helpers import bubblewrap_problem
    from dlcourse.grading.selfcheck import check_like_the_grader

    problem = bubblewrap_problem()
    if problem:  # in a child process the OS attacks would reach this machine
        pytest.skip(f"the corpus's expected points assume bubblewrap: {problem}")
    written = _corpus().write_corpus(tmp_path)
    checked = 0
    for submission in written:
        path = tmp_path / submission.student_id / submission.assignment
        notebook = path / f"{submission.assignment}.ipynb"
        if submission.status != "graded" or not notebook.is_file():
            continue
        record = check_like_the_grader(notebook).record
        got = {e["grade_id"]: e["points"] for e in record["exercises"]}
        assert got == submission.points, (submission.student_id, record["exercises"])
        checked += 1
    assert checked >= 30  # every graded submission of the corpus, attacks included


def test_in_a_notebook_one_call_checks_the_notebook_the_kernel_belongs_to(
    tmp_path, monkeypatch, capsys
):
    from dlcourse.grading.selfcheck import SelfCheckError, grader_check

    notebook = tmp_path / "02-activations.ipynb"
    notebook.write_bytes((ROOT / "course" / "02-activations.ipynb").read_bytes())
    monkeypatch.setenv("JPY_SESSION_NAME", str(notebook))  # what JupyterLab sets
    grader_check("check_tanh_backward")
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("(checking the notebook as last saved")
    assert "check_tanh_backward" in printed[2] and "not done yet" in printed[2]
    assert printed[-1] == "the grader would give 0 / 2"
    monkeypatch.delenv("JPY_SESSION_NAME")
    with pytest.raises(SelfCheckError, match="grader_check\\(notebook="):
        grader_check()
