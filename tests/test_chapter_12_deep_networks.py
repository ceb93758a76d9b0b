"""Chapter 12 (making deep networks train): its checks, in the notebook, out of it and graded.

The generic notebook tests run every chapter; here we check what is particular
to this one: the out-of-kernel checks in ``autograder/checks/12-deep-networks.py``
pass the instructor's solution and fail each classic mistake (made in the
solution's own source) with a message that names it, the notebook's check
cells name the same mistakes, the executed notebook printed sound numbers, and
the real ``dlcourse autograde`` takes exactly each mistake's points.
"""

import contextlib
import csv
import io
import json
import re
import shutil
import subprocess
import sys

import pytest

from chapter_helpers import cell_sources, load_checks, run_exercise
from dlcourse.course import cells
from test_course_samples import ROOT

pytest.importorskip("jupytext", reason="reading the solutions needs jupytext (extra 'course')")

from dlcourse.course.source import read_solution  # noqa: E402 -- needs jupytext

CHAPTER = "12-deep-networks"
POINTS = {
    "check_kaiming_std": 2,
    "check_batchnorm_backward": 4,
    "check_layernorm_backward": 3,
    "check_cosine_with_warmup": 3,
}


@pytest.fixture(scope="module")
def notebook():
    return read_solution(ROOT / "solutions" / f"{CHAPTER}.py")


@pytest.fixture(scope="module")
def checks():
    return {e.grade_id: e for e in load_checks(CHAPTER)}


@pytest.fixture(scope="module")
def sources():
    return cell_sources(CHAPTER)


def mutated(sources, gid, *edits):
    source = sources[gid]
    for old, new in edits:
        assert old in source, f"the solution of {gid} no longer contains {old!r}: update the test"
        source = source.replace(old, new)
    return source


# The classic mistakes, made in the instructor's own solutions:
# (solution cell, its check, edits, what the out-of-kernel message says, what the cell says)
MISTAKES = {
    "kaiming with fan_out": (
        "kaiming_std",
        "check_kaiming_std",
        [("math.sqrt(2.0 / fan_in)", "math.sqrt(2.0 / _fan_out)")],
        r"it uses fan_out",
        r"you used fan_out",
    ),
    "kaiming without the 2": (
        "kaiming_std",
        "check_kaiming_std",
        [("math.sqrt(2.0 / fan_in)", "math.sqrt(1.0 / fan_in)")],
        r"the factor 2 is missing",
        r"the factor 2 is missing",
    ),
    "batchnorm without the mean and variance": (
        "batchnorm_backward",
        "check_batchnorm_backward",
        [
            (
                "    return dx, dgamma, dbeta",
                "    dx = dxhat * inv_std\n    return dx, dgamma, dbeta",
            )
        ],
        r"as if the mean and the variance were constants",
        r"as if the mean and the variance were constants",
    ),
    "batchnorm without the variance": (
        "batchnorm_backward",
        "check_batchnorm_backward",
        [
            (
                "n * dxhat - dxhat.sum(axis=0) - xhat * (dxhat * xhat).sum(axis=0)",
                "n * dxhat - dxhat.sum(axis=0)",
            )
        ],
        r"the term through the mean but not the one through the variance",
        r"the term through the mean but not the one through the variance",
    ),
    "layernorm over the batch axis": (
        "layernorm_backward",
        "check_layernorm_backward",
        [("axis=1, keepdims=True", "axis=0, keepdims=True"), ("dout.shape[1]", "dout.shape[0]")],
        r"sums over the batch \(axis 0\)",
        r"sums over the batch \(axis 0\)",
    ),
    "layernorm without the row statistics": (
        "layernorm_backward",
        "check_layernorm_backward",
        [
            (
                "dx = (inv_std / d) * (d * dxhat - sum_dxhat - xhat * sum_dxhat_xhat)",
                "dx = dxhat * inv_std",
            )
        ],
        r"as if each row's mean and variance were constants",
        r"as if each row's mean and variance were constants",
    ),
    "warm-up off by one": (
        "cosine_with_warmup",
        "check_cosine_with_warmup",
        [("peak_lr * (step + 1) / warmup_steps", "peak_lr * step / warmup_steps")],
        r"the warm-up is off by one",
        r"the warm-up is off by one",
    ),
    "cosine short of the floor": (
        "cosine_with_warmup",
        "check_cosine_with_warmup",
        [
            ("(total_steps - 1 - warmup_steps)", "(total_steps - warmup_steps)"),
            ("if step >= total_steps - 1:", "if step >= total_steps:"),
        ],
        r"does not reach the floor",
        r"does not reach the floor",
    ),
}


def wrong_cells(sources, mistake):
    gid, _, edits, _, _ = MISTAKES[mistake]
    return {gid: mutated(sources, gid, *edits)}


def test_every_graded_cell_has_an_out_of_kernel_check(notebook, checks):
    graded = [cells.grade_id(c) for _, c in cells.grade_cells(notebook)]
    assert list(checks) == graded == list(POINTS)
    solution_ids = {cells.grade_id(c) for c in notebook.cells if cells.is_solution(c)}
    for exercise in checks.values():
        assert set(exercise.solution) <= solution_ids
        assert exercise.hidden, f"{exercise.grade_id}: the references must be hidden"
    for _, cell in cells.grade_cells(notebook):
        assert cells.points(cell) == POINTS[cells.grade_id(cell)]
    assert cells.total_points(notebook) == cells.stated_total(notebook) == 12


def test_checks_pass_the_solution(sources, checks):
    for exercise in checks.values():
        assert run_exercise(exercise, sources, {}) == [], exercise.grade_id


@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_out_of_kernel_checks_fail_exactly_the_mistaken_exercise(sources, checks, mistake):
    _, check_id, _, message, _ = MISTAKES[mistake]
    wrong = wrong_cells(sources, mistake)
    for grade_id, exercise in checks.items():
        failures = run_exercise(exercise, sources, wrong, seed=7)
        if grade_id != check_id:
            assert failures == [], (grade_id, failures)
            continue
        assert failures, f"{mistake}: {check_id} passed"
        assert any(re.search(message, m) for m in failures), failures


def test_a_backward_that_writes_into_dout_is_named(sources, checks):
    wrong = {
        "batchnorm_backward": mutated(
            sources,
            "batchnorm_backward",
            ("    return dx, dgamma, dbeta", "    dout[...] = 0\n    return dx, dgamma, dbeta"),
        )
    }
    failures = run_exercise(checks["check_batchnorm_backward"], sources, wrong, seed=3)
    assert failures and all("changed its input dout in place" in m for m in failures)


def run_check_cell(nb, check_id, replace):
    """Run the nbgrader cells up to the check cell ``check_id``; return its error message.

    Cells without a grade_id (the experiments and the training) are skipped: the exercises
    and their checks do not depend on them.
    """
    namespace = {}
    with contextlib.redirect_stdout(io.StringIO()):
        for cell in nb.cells:
            gid = cells.grade_id(cell)
            if cell.cell_type != "code" or not gid:
                continue
            source = replace.get(gid, cell.source)
            if gid == check_id:
                with pytest.raises(AssertionError) as failure:
                    exec(source, namespace)
                return str(failure.value)
            exec(source, namespace)
    raise AssertionError(f"no cell {check_id}")


@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_the_notebook_check_cell_names_the_mistake(notebook, sources, mistake):
    _, check_id, _, _, message = MISTAKES[mistake]
    got = run_check_cell(notebook, check_id, wrong_cells(sources, mistake))
    assert re.search(message, got), got


def test_executed_notebook_printed_sound_numbers(runs):
    pytest.importorskip("nbclient", reason="running notebooks needs nbclient (extra 'course')")

    text = runs.solution_output(CHAPTER)
    ratios = dict(re.findall(r"^(.+?) +activation std, layer 10 / layer 1: (\S+)$", text, re.M))
    assert 0.7 < float(ratios["Kaiming (yours)"]) < 1.4, ratios
    assert float(ratios["0.01"]) < 1e-6 and float(ratios["1.0"]) > 1e6, ratios
    factors = re.findall(r"E\[h\^2\] factor per layer: measured (\S+), rule (\S+)$", text, re.M)
    assert len(factors) == 4, factors
    for measured, rule in factors:  # the variance rule the notebook derives, within 10%
        assert abs(float(measured) / float(rule) - 1) < 0.1, factors
    assert 0.5 < float(re.search(r"with batch norm: (\S+)", text).group(1)) < 0.7
    assert re.search(r"early stopping +epochs +(\d+)", text).group(1) != "40"
    best = dict(re.findall(r"^(plain|dropout 0\.5) +epochs .*best val loss (\S+),", text, re.M))
    assert float(best["dropout 0.5"]) < float(best["plain"]), best
    norms = dict(
        re.findall(r"^(plain|residual) +gradient norm, first hidden layer (\S+), last", text, re.M)
    )
    assert float(norms["residual"]) > 100 * float(norms["plain"]), norms
    losses = dict(
        re.findall(r"^(plain|residual) +gradient norm.*loss after 5 epochs (\S+)$", text, re.M)
    )
    assert float(losses["residual"]) < 1.5 < float(losses["plain"]), losses
    final = re.findall(r"final training loss (\S+), test accuracy (\S+)$", text, re.M)
    assert len(final) == 2 and all(float(acc) > 0.85 for _, acc in final), final


# --- graded by the real `dlcourse autograde` ------------------------------------------------


def _notebook_with(release, replace):
    nb = json.loads(release)
    for cell in nb["cells"]:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if gid in replace:
            cell["source"] = replace[gid]
    return json.dumps(nb)


@pytest.mark.slow
def test_autograde_gives_full_marks_nothing_and_takes_each_mistakes_points(tmp_path, sources):
    pytest.importorskip("nbgrader", reason="dlcourse autograde drives nbgrader")
    from dlcourse.grading.coursedir import ensure_source
    from grading_course import env

    solutions, course = tmp_path / "solutions", tmp_path / "course"
    submitted, out = tmp_path / "submitted", tmp_path / "out"
    solutions.mkdir()
    shutil.copy(ROOT / "solutions" / f"{CHAPTER}.py", solutions)
    (course / "checks").mkdir(parents=True)
    shutil.copy(ROOT / "autograder" / "checks" / f"{CHAPTER}.py", course / "checks")
    ensure_source(CHAPTER, course, solutions)
    release = (course / "release" / CHAPTER / f"{CHAPTER}.ipynb").read_text(encoding="utf-8")

    solved = {
        gid: sources[gid]
        for gid in ("kaiming_std", "batchnorm_backward", "layernorm_backward", "cosine_with_warmup")
    }
    students = {"instructor": solved, "student": {}}
    for number, mistake in enumerate(MISTAKES):
        students[f"mistake{number}"] = {**solved, **wrong_cells(sources, mistake)}
    for student, replace in students.items():
        folder = submitted / student / CHAPTER
        folder.mkdir(parents=True)
        (folder / f"{CHAPTER}.ipynb").write_text(_notebook_with(release, replace), encoding="utf-8")

    command = [sys.executable, "-m", "dlcourse", "autograde", CHAPTER, "--submitted"]
    command += [str(submitted), "--out", str(out), "--course-dir", str(course)]
    command += ["--solutions", str(solutions), "--workers", "2", "--quiet"]
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=900,
        cwd=ROOT,
        env=env(),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = {r["student_id"]: r for r in csv.DictReader((out / "grades.csv").open())}
    full = sum(POINTS.values())
    assert float(rows["instructor"]["score"]) == full
    assert float(rows["student"]["score"]) == 0
    for number, mistake in enumerate(MISTAKES):
        row = rows[f"mistake{number}"]
        lost = MISTAKES[mistake][1]
        for grade_id, points in POINTS.items():
            assert float(row[grade_id]) == (0 if grade_id == lost else points), (mistake, row)
        assert float(row["score"]) == full - POINTS[lost], (mistake, row)
