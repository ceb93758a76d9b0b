"""Chapter 14 (attention and a tiny GPT): its checks, in the notebook and out of the kernel.

The generic notebook tests run every chapter; here we check what is particular
to this one: the out-of-kernel checks in ``autograder/checks/14-attention.py``
pass the instructor's solution, each classic mistake (made in the instructor's
own code) fails its exercise and no other, the notebook's check cells name
those mistakes, and an executed notebook trained the tiny GPT below its stated
validation loss, alike on several backends, counted its FLOPs and matched Keras.
"""

import importlib.util
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

CHAPTER = "14-attention"


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
    "mask after the softmax": (
        "attention_forward",
        "s = np.where(mask, s, -np.inf)\n    e = np.exp(s - s.max(axis=-1, keepdims=True))\n"
        "    p = e / e.sum(axis=-1, keepdims=True)",
        "pass\n    e = np.exp(s - s.max(axis=-1, keepdims=True))\n"
        "    p = e / e.sum(axis=-1, keepdims=True)\n"
        "    p = p if mask is None else np.where(mask, p, 0)",
    ),
    "mask not applied": ("attention_forward", "s = np.where(mask, s, -np.inf)", "s = s"),
    "softmax over the queries": (
        "attention_forward",
        "p = e / e.sum(axis=-1, keepdims=True)",
        "e = np.exp(s - s.max(axis=-2, keepdims=True))\n    p = e / e.sum(axis=-2, keepdims=True)",
    ),
    "no 1/sqrt(d)": ("attention_forward", "* scale\n", "\n"),
    "no scale in the backward": (
        "attention_backward",
        "return (ds @ k) * scale, (np.swapaxes(ds, -1, -2) @ q) * scale, dv",
        "return ds @ k, np.swapaxes(ds, -1, -2) @ q, dv",
    ),
    "heads split without transpose": (
        "heads",
        "x.reshape(N, T, num_heads, D // num_heads).transpose(0, 2, 1, 3)",
        "x.reshape(N, num_heads, T, D // num_heads)",
    ),
    "overlapping pairs merged twice": ("bpe_merge", "i += 2", "i += 1"),
    "mask on the upper triangle": ("causal_mask", "np.tril(", "np.triu("),
    "mask without the diagonal": (
        "causal_mask",
        "np.tril(np.ones((T, T), dtype=bool))",
        "np.tril(np.ones((T, T), dtype=bool), k=-1)",
    ),
    "heads merged without transpose": (
        "heads",
        "x.transpose(0, 2, 1, 3).reshape(N, T, h * dh)",
        "x.reshape(N, T, h * dh)",
    ),
    "merges in reverse order": (
        "bpe_encode",
        "for k, pair in enumerate(merges):",
        "for k, pair in reversed(list(enumerate(merges))):",
    ),
}

# What the grader's feedback and the notebook's check cell say about each mistake.
NAMED = {
    "mask after the softmax": ("check_attention_forward", r"masking after the softmax"),
    "mask not applied": ("check_attention_forward", r"the mask is not applied"),
    "softmax over the queries": ("check_attention_forward", r"softmax over the queries"),
    "no 1/sqrt(d)": ("check_attention_forward", r"1/sqrt\(d\) is missing"),
    "no scale in the backward": ("check_attention_backward", r"scale is missing"),
    "heads split without transpose": ("check_heads", r"without a transpose"),
    "overlapping pairs merged twice": ("check_bpe_merge", r"merged twice"),
    "mask on the upper triangle": ("check_causal_mask", r"upper triangle"),
    "mask without the diagonal": ("check_causal_mask", r"hides the diagonal"),
    "heads merged without transpose": ("check_heads", r"merge_heads put the heads back"),
    "merges in reverse order": ("check_bpe_encode", r"reverse order"),
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
        # NumPy 2 writes a scalar as np.int64(97): a learner should read the number only
        assert not any(re.search(r"np\.(int|float)\d+\(", str(m)) for m in failures), failures


def test_a_wrong_merge_does_not_cost_bpe_encode_too(sources, checks):
    wrong = mutated(sources, "overlapping pairs merged twice")
    assert run_exercise(checks["check_bpe_merge"], sources, wrong)
    assert run_exercise(checks["check_bpe_encode"], sources, wrong) == []


@pytest.fixture(scope="module", params=["bubblewrap", "child process"])
def grade(request, tmp_path_factory):
    return real_grader(CHAPTER, request.param, tmp_path_factory.mktemp("graded"))


FULL_MARKS = {
    "check_attention_forward": 3,
    "check_attention_backward": 4,
    "check_causal_mask": 1,
    "check_heads": 2,
    "check_bpe_merge": 2,
    "check_bpe_encode": 2,
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


def test_executed_notebook_trained_the_gpt_alike_on_several_backends(runs):
    pytest.importorskip("nbclient", reason="running notebooks needs nbclient (extra 'course')")

    text = runs.solution_output(CHAPTER)
    gaps = re.findall(r"largest difference from manual, \w+: (\S+)$", text, re.M)
    assert gaps and all(float(g) < 1e-8 for g in gaps), gaps
    val_loss = float(re.search(r"validation loss ([0-9.]+) nats", text).group(1))
    vocabulary = int(re.search(r"a vocabulary of (\d+)", text).group(1))
    assert val_loss < 2.3 < math.log(vocabulary), val_loss
    samples = re.findall(r"^temperature [0-9.]+: '(.+)'$", text, re.M)
    assert len(samples) == 2 and all(len(s) > 100 for s in samples), samples


def test_executed_notebook_counted_the_flops_and_matched_keras(runs):
    pytest.importorskip("nbclient", reason="running notebooks needs nbclient (extra 'course')")
    pytest.importorskip("torch", reason="FlopCounterMode and the main run need PyTorch")

    text = runs.solution_output(CHAPTER)
    ours = re.search(r"one training step of 32 windows: ([0-9.]+) MFLOPs", text).group(1)
    assert f"torch's FlopCounterMode: {ours} MFLOPs" in text
    if importlib.util.find_spec("keras") is not None:
        gap = float(
            re.search(r"largest difference in the predictions: (\S+)$", text, re.M).group(1)
        )
        assert gap < 1e-4
