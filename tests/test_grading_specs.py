"""Every graded cell of every chapter has its out-of-kernel check, and the checks are right.

For each ``solutions/NN-name.py`` (so chapters added later are covered too):

- ``autograder/checks/NN-name.py`` has exactly one Exercise per graded cell,
  none for a cell the notebook does not grade, and names only solution cells
  as ``solution`` and locked cells as ``setup``;
- graded by the real ``dlcourse autograde`` (verification only, no in-kernel
  pass), the instructor's own solution notebook gets every point and the
  student version from ``course/`` (nothing filled in) gets none.
"""

import csv
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = sorted((ROOT / "solutions").glob("[0-9][0-9]-*.py"))
CHECKS = ROOT / "autograder" / "checks"
STUDENT_STUB = "# YOUR CODE HERE\nraise NotImplementedError()"

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("jupytext") is None,
    reason="needs jupytext to read solutions/ (pip install 'dlcourse[course]')",
)


def _cells(solution):
    """The instructor's notebook cells that carry nbgrader metadata: [(grade_id, meta, source)]."""
    import jupytext

    nb = jupytext.read(solution)
    return [
        (cell.metadata["nbgrader"]["grade_id"], cell.metadata["nbgrader"], cell.source)
        for cell in nb.cells
        if "grade_id" in cell.metadata.get("nbgrader", {})
    ]


def _exercises(stem):
    path = CHECKS / f"{stem}.py"
    assert path.is_file(), (
        f"{stem} has graded cells but no out-of-kernel checks: write {path} with EXERCISES, "
        f"one dlcourse.grading.Exercise per graded cell"
    )
    spec = importlib.util.spec_from_file_location(f"checks_under_test_{stem[:2]}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.EXERCISES


@pytest.mark.parametrize("solution", SOLUTIONS, ids=[p.stem for p in SOLUTIONS])
def test_every_graded_cell_has_exactly_one_exercise(solution):
    cells = _cells(solution)
    graded = [gid for gid, meta, _ in cells if meta.get("grade")]
    solution_cells = {gid for gid, meta, _ in cells if meta.get("solution")}
    locked = {gid for gid, meta, _ in cells if meta.get("locked") and not meta.get("grade")}
    exercises = _exercises(solution.stem)

    counts = {gid: 0 for gid in graded}
    for exercise in exercises:
        assert exercise.grade_id in counts, (
            f"checks/{solution.stem}.py has an Exercise for {exercise.grade_id!r}, which is "
            f"not a graded cell of the notebook (graded: {graded})"
        )
        counts[exercise.grade_id] += 1
        unknown = [gid for gid in exercise.solution if gid not in solution_cells]
        assert not unknown, f"{exercise.grade_id}: solution names non-solution cells {unknown}"
        assert exercise.solution, f"{exercise.grade_id}: names no solution cell to grade"
        not_locked = [gid for gid in exercise.setup if gid not in locked]
        assert not not_locked, f"{exercise.grade_id}: setup names unlocked cells {not_locked}"
    wrong = {gid: n for gid, n in counts.items() if n != 1}
    assert not wrong, f"graded cells of {solution.stem} without exactly one Exercise: {wrong}"


def _instructor_notebook(solution):
    """The instructor's notebook, solutions in place, as nbgrader's source would hold it."""
    import jupytext

    return jupytext.writes(jupytext.read(solution), fmt="ipynb")


def _student_notebook(solution):
    """``course/NN-name.ipynb``, or (before it is built) the same made by ClearSolutions."""
    released = ROOT / "course" / f"{solution.stem}.ipynb"
    if released.is_file():
        return released.read_text(encoding="utf-8")
    import jupytext
    from nbgrader.preprocessors import ClearSolutions

    nb = jupytext.read(solution)
    ClearSolutions(code_stub={"python": STUDENT_STUB}).preprocess(nb, {})
    return jupytext.writes(nb, fmt="ipynb")


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("nbgrader") is None,
    reason="needs nbgrader (pip install 'dlcourse[course]')",
)
@pytest.mark.parametrize("solution", SOLUTIONS, ids=[p.stem for p in SOLUTIONS])
def test_instructor_gets_every_point_and_the_blank_notebook_none(solution, tmp_path):
    stem = solution.stem
    points = {gid: float(meta["points"]) for gid, meta, _ in _cells(solution) if meta.get("grade")}
    submitted = tmp_path / "submitted"
    for student, text in [
        ("instructor", _instructor_notebook(solution)),
        ("blank", _student_notebook(solution)),
    ]:
        folder = submitted / student / stem
        folder.mkdir(parents=True)
        (folder / f"{stem}.ipynb").write_text(text, encoding="utf-8")
    course = tmp_path / "course"
    course.mkdir()
    (course / "checks").symlink_to(CHECKS)
    (course / "nbgrader_config.py").write_bytes(
        (ROOT / "autograder" / "nbgrader_config.py").read_bytes()
    )

    env = dict(os.environ)  # nbgrader calls alembic through PATH
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    out = tmp_path / "out"
    command = [sys.executable, "-m", "dlcourse", "autograde", stem, "--submitted", str(submitted)]
    command += ["--out", str(out), "--course-dir", str(course), "--workers", "1"]
    command += ["--no-in-kernel", "--quiet"]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"{done.stdout[-2000:]}\n{done.stderr[-4000:]}"

    with open(out / "grades.csv", newline="", encoding="utf-8") as f:
        rows = {row["student_id"]: row for row in csv.DictReader(f)}
    records = {
        name: json.loads((out / "records" / f"{name}.json").read_text(encoding="utf-8"))
        for name in ("instructor", "blank")
    }
    why = {
        e["grade_id"]: e["diagnosis"] or e["reason"]
        for e in records["instructor"]["exercises"]
        if e["points"] != e["max_points"]
    }
    assert {gid: float(rows["instructor"][gid]) for gid in points} == points, why
    assert float(rows["instructor"]["score"]) == sum(points.values())
    assert {gid: float(rows["blank"][gid]) for gid in points} == dict.fromkeys(points, 0.0)
    blank = records["blank"]["exercises"]
    assert all(e["reason"] or e["diagnosis"] for e in blank), blank  # each zero is explained
