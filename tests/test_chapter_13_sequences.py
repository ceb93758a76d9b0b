"""Chapter 13 (sequences by hand): its checks, in the notebook and out of the kernel.

The generic notebook tests run every chapter; here we check what is particular
to this one: the out-of-kernel checks in ``autograder/checks/13-sequences.py``
pass the instructor's solution, each classic mistake (made in the instructor's
own code) fails its exercise and no other, the notebook's check cells name
those mistakes, and an executed notebook trained the language model on several
backends with the same, falling losses.
"""

import math
import re

import pytest

from chapter_helpers import (
    cell_sources,
    load_checks,
    real_grader,
    run_all_cells_to_check,
    run_exercise,
)
from dlcourse.course import cells
from test_course_samples import ROOT

pytest.importorskip("jupytext", reason="reading the solutions needs jupytext (extra 'course')")

from dlcourse.course.source import read_solution  # noqa: E402 -- needs jupytext

CHAPTER = "13-sequences"


@pytest.fixture(scope="module")
def notebook():
    return read_solution(ROOT / "solutions" / f"{CHAPTER}.py")


@pytest.fixture(scope="module")
def checks():
    return {exercise.grade_id: exercise for exercise in load_checks(CHAPTER)}


@pytest.fixture(scope="module")
def sources():
    return cell_sources(CHAPTER)


# The classic mistakes, made in the instructor's own solutions: (solution cell, old, new).
MISTAKES = {
    "repeated ids lost": (
        "embedding_backward",
        "np.add.at(dtable, ids.reshape(-1), dout.reshape(-1, D))",
        "dtable[ids.reshape(-1)] += dout.reshape(-1, D)",
    ),
    "no gradient from the future": ("bptt", "dh = dhs[:, t] + dnext", "dh = dhs[:, t]"),
    "each gradient clipped alone": (
        "clip_grad_norm",
        "return [g * scale for g in grads], total_norm",
        "return [g * min(1.0, max_norm / np.sqrt(np.sum(g * g))) for g in grads], total_norm",
    ),
    "gates in the wrong order": (
        "lstm_step_backward",
        "[da_i, da_f, da_g, da_o]",
        "[da_i, da_f, da_o, da_g]",
    ),
    "cell path forgotten": (
        "lstm_step_backward",
        "dc_total = dc + dh * o * (1 - tc**2)",
        "dc_total = dh * o * (1 - tc**2)",
    ),
}

# What the grader's feedback and the notebook's check cell say about each mistake.
NAMED = {
    "repeated ids lost": ("check_embedding_backward", r"more than once.*np\.add\.at"),
    "no gradient from the future": ("check_bptt", r"gradient from the future is missing"),
    "each gradient clipped alone": ("check_clip_grad_norm", r"clipped by its own norm"),
    "gates in the wrong order": (
        "check_lstm_step_backward",
        r"gate order i, f, g, o, got i, f, o, g",
    ),
    "cell path forgotten": ("check_lstm_step_backward", r"dc reaching c_t is missing"),
}


def mutated(sources, mistake):
    gid, old, new = MISTAKES[mistake]
    source = sources[gid]
    assert old in source, f"the solution of {gid} no longer contains {old!r}: update the test"
    return {gid: source.replace(old, new)}


def test_every_graded_cell_has_an_out_of_kernel_check(notebook, checks):
    graded = [cells.grade_id(c) for _, c in cells.grade_cells(notebook)]
    assert list(checks) == graded
    solution_ids = {cells.grade_id(c) for c in notebook.cells if cells.is_solution(c)}
    for exercise in checks.values():
        assert set(exercise.solution) <= solution_ids
        assert exercise.hidden, f"{exercise.grade_id}: the references must be hidden"
    assert cells.total_points(notebook) == cells.stated_total(notebook) == 14


@pytest.mark.parametrize("seed", [0, 1])
def test_checks_pass_the_solution(sources, checks, seed):
    for grade_id, exercise in checks.items():
        assert run_exercise(exercise, sources, {}, seed=seed) == [], grade_id


def test_checks_fail_every_exercise_of_the_student_version(checks, sources):
    import nbformat

    student = nbformat.read(ROOT / "course" / f"{CHAPTER}.ipynb", as_version=4)
    stubs = {cells.grade_id(c): c.source for c in student.cells if cells.is_solution(c)}
    assert all("raise NotImplementedError()" in source for source in stubs.values()), stubs
    for grade_id, exercise in checks.items():
        failures = run_exercise(exercise, sources, stubs)
        assert failures and all("NotImplementedError" in m for m in failures), grade_id


@pytest.mark.parametrize("mistake", sorted(MISTAKES))
def test_each_mistake_costs_its_exercise_only_and_is_named(sources, checks, mistake):
    wrong = mutated(sources, mistake)
    own, pattern = NAMED[mistake]
    for grade_id, exercise in checks.items():
        failures = run_exercise(exercise, sources, wrong, seed=3)
        if grade_id != own:
            assert failures == [], f"{mistake} also cost {grade_id}: {failures}"
            continue
        assert failures, f"{grade_id} passed with {mistake}"
        assert all(re.search(pattern, str(m), re.S) for m in failures), failures


def test_a_wrong_step_backward_does_not_cost_bptt_too(sources, checks):
    # tanh' forgotten: exercise 2 fails, exercise 3 runs on the course's step backward
    wrong = {"rnn_step_backward": sources["rnn_step_backward"].replace("(1 - h * h)", "1")}
    assert wrong["rnn_step_backward"] != sources["rnn_step_backward"]
    assert run_exercise(checks["check_rnn_step_backward"], sources, wrong)
    assert run_exercise(checks["check_bptt"], sources, wrong) == []


def test_clipping_in_place_is_named(sources, checks):
    old = "return [g * scale for g in grads], total_norm"
    assert old in sources["clip_grad_norm"]
    in_place = "for g in grads:\n        g *= scale\n    return grads, total_norm"
    wrong = {"clip_grad_norm": sources["clip_grad_norm"].replace(old, in_place)}
    failures = run_exercise(checks["check_clip_grad_norm"], sources, wrong)
    assert failures and all("changed its input g0 in place" in m for m in failures), failures


@pytest.fixture(scope="module", params=["bubblewrap", "child process"])
def grade(request, tmp_path_factory):
    return real_grader(CHAPTER, request.param, tmp_path_factory.mktemp("graded"))


FULL_MARKS = {
    "check_embedding_backward": 2,
    "check_rnn_step_backward": 3,
    "check_bptt": 3,
    "check_clip_grad_norm": 2,
    "check_lstm_step_backward": 4,
}


def test_the_grader_gives_the_solution_full_marks_and_the_stubs_nothing(grade):
    assert grade({}) == FULL_MARKS
    import nbformat

    student = nbformat.read(ROOT / "course" / f"{CHAPTER}.ipynb", as_version=4)
    stubs = {cells.grade_id(c): c.source for c in student.cells if cells.is_solution(c)}
    assert grade(stubs) == dict.fromkeys(FULL_MARKS, 0)


@pytest.mark.parametrize("mistake", sorted(MISTAKES))
def test_the_grader_takes_exactly_the_exercise_of_each_mistake(grade, sources, mistake):
    own = NAMED[mistake][0]
    assert grade(mutated(sources, mistake)) == FULL_MARKS | {own: 0}


@pytest.mark.parametrize("mistake", sorted(MISTAKES))
def test_the_notebook_names_each_mistake(notebook, sources, mistake):
    check_id, pattern = NAMED[mistake]
    message = run_all_cells_to_check(notebook, check_id, mutated(sources, mistake))
    assert re.search(pattern, message, re.S), message


def test_executed_notebook_trained_the_language_model_alike_on_several_backends(runs):
    pytest.importorskip("nbclient", reason="running notebooks needs nbclient (extra 'course')")

    text = runs.solution_output(CHAPTER)
    trained = re.findall(r"^(\w+) +trained in .*; loss per epoch (.+)$", text, re.M)
    assert len(trained) >= 2, f"fewer than two backends trained:\n{text}"
    vocabulary = int(re.search(r"a vocabulary of (\d+)", text).group(1))
    for name, losses in trained:
        losses = [float(v) for v in losses.split(", ")]
        assert losses[-1] < losses[0] - 0.2, (name, losses)  # the loss visibly falls
        assert losses[-1] < math.log(vocabulary), (name, losses)  # below a uniform guess
    gaps = re.findall(r"largest difference in the loss per epoch, .*: (\S+)$", text, re.M)
    assert len(gaps) == len(trained) - 1 and all(float(g) < 1e-5 for g in gaps), gaps
    samples = re.findall(r"^temperature [0-9.]+: '(.+)'$", text, re.M)
    assert len(samples) == 2 and all(len(s) > 100 for s in samples), samples


def test_executed_notebook_matches_torch_lstm_gradients(runs):
    pytest.importorskip("nbclient", reason="running notebooks needs nbclient (extra 'course')")
    pytest.importorskip("torch", reason="the comparison with torch.nn.LSTM needs PyTorch")

    text = runs.solution_output(CHAPTER)
    assert "same h as torch: True" in text
    gaps = re.findall(r"largest difference from torch\.autograd: (\S+)$", text, re.M)
    assert len(gaps) == 6 and all(float(g) < 1e-10 for g in gaps), gaps
