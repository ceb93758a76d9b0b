"""Run a chapter's out-of-kernel checks in this process, for the chapter tests.

The grading engine runs ``autograder/checks/NN-name.py`` in a sandbox; the
chapter tests run each Exercise here instead (setup cells, provided
references, solution cells, driver, then ``call`` per case), judged by the
engine's own comparison, once with the instructor's solution, which must pass,
and once with a classic mistake swapped in, which must fail.
"""

import contextlib
import importlib
import importlib.util
import io

import numpy as np

from dlcourse.course import cells
from dlcourse.grading.verify import compare_answer
from test_course_samples import ROOT


def load_checks(chapter):
    """The EXERCISES of autograder/checks/CHAPTER.py (a file name with a dash: loaded by path)."""
    path = ROOT / "autograder" / "checks" / f"{chapter}.py"
    spec = importlib.util.spec_from_file_location(f"checks_{chapter.replace('-', '_')}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.EXERCISES


def cell_sources(chapter):
    """grade_id -> source of every cell of solutions/CHAPTER.py that has one."""
    from dlcourse.course.source import read_solution  # needs jupytext

    nb = read_solution(ROOT / "solutions" / f"{chapter}.py")
    return {cells.grade_id(c): c.source for c in nb.cells if cells.grade_id(c)}


def run_exercise(exercise, sources, replace=None, seed=0):
    """Failure messages of ``exercise`` run in-process ([] when every case passes).

    replace: {grade_id: source} swapped in for the solution cells (a student's answer).
    """
    return [problem for _, problem in failing_cases(exercise, sources, replace, seed)]


def failing_cases(exercise, sources, replace=None, seed=0):
    """(case, failure message) of every case of ``exercise`` that fails, run in-process."""
    replace = replace or {}
    namespace = {}
    with contextlib.redirect_stdout(io.StringIO()):
        for gid in exercise.setup:
            exec(sources[gid], namespace)
        for name, target in exercise.provided.items():
            module, attribute = target.split(":")
            namespace[name] = getattr(importlib.import_module(module), attribute)
        for gid in exercise.solution:
            exec(replace.get(gid, sources[gid]), namespace)
        exec(exercise.driver, namespace)
    failures = []
    for case in exercise.inputs(np.random.default_rng(seed)):
        copies = {k: np.copy(v) if isinstance(v, np.ndarray) else v for k, v in case.items()}
        try:
            got = eval(exercise.call, {**namespace, **copies})
        except Exception as err:  # a wrong answer may also crash
            failures.append((case, f"{type(err).__name__}: {err}"))
            continue
        problem = compare_answer(exercise, got, exercise.expected(**case), case)
        if problem is not None:
            failures.append((case, problem))
    return failures


def bubblewrap_problem():
    """Why the OS sandbox cannot grade this checkout here (None: it can)."""
    from dlcourse.grading import osbox

    return osbox.probe() or osbox.library_problem()


def real_grader(chapter, engine, folder):
    """points(replace) -> {grade_id: points} from the real grading engine ("bubblewrap" or
    "child process"), on the student version with the instructor's solution cells,
    ``replace`` swapped in. Skips when bubblewrap is asked for and cannot grade here."""
    import copy

    import nbformat
    import pytest

    from dlcourse.grading import osbox, selfcheck

    if engine == "bubblewrap":
        problem = bubblewrap_problem()
        if problem:
            pytest.skip(f"grading in bubblewrap: {problem}")
    student = nbformat.read(ROOT / "course" / f"{chapter}.ipynb", as_version=4)
    solution = cell_sources(chapter)

    def points(replace):
        nb = copy.deepcopy(student)
        for cell in nb.cells:
            gid = cells.grade_id(cell)
            if cells.is_solution(cell):
                cell.source = replace.get(gid, solution[gid])
        path = folder / f"{chapter}.ipynb"
        nbformat.write(nb, path)
        with pytest.MonkeyPatch.context() as patch:
            if engine == "child process":  # what autograde --no-os-sandbox does
                patch.setattr(osbox, "probe", lambda: "bubblewrap turned off by the test")
            view = selfcheck.check_like_the_grader(path)
        assert view.os_sandbox == (engine == "bubblewrap")
        return {e["grade_id"]: e["points"] for e in view.record["exercises"]}

    return points


def run_all_cells_to_check(nb, check_id, replace):
    """Run the notebook's code cells up to the check cell ``check_id``; return its error."""
    import pytest

    namespace = {}
    with contextlib.redirect_stdout(io.StringIO()):
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            source = replace.get(cells.grade_id(cell), cell.source)
            if cells.grade_id(cell) == check_id:
                with pytest.raises(AssertionError) as failure:
                    exec(source, namespace)
                return str(failure.value)
            exec(source, namespace)
    raise AssertionError(f"no cell {check_id}")
