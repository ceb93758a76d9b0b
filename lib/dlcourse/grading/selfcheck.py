"""What the grader would give a notebook now: its checks, run by a student before handing in.

The grader's checks (``autograder/checks/NN-name.py``) are public; only the
numbers it draws for each student are secret. This runs those same checks
on the student's solution cells, out of the kernel, the way
``dlcourse autograde`` does (in the bubblewrap sandbox when this machine has
it, else in a plain child process), with inputs drawn from a local seed. A
notebook is never run as a whole, so one exercise takes a second or two
even in chapters whose demos train for minutes.

From a terminal: ``dlcourse check NOTEBOOK --grader``; in the notebook itself,
after saving it: ``from dlcourse.grading.selfcheck import grader_check`` and
``grader_check()`` (or ``grader_check("check_relu_backward")``).
"""

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from dlcourse.course import cells
from dlcourse.course.paths import chapter_name, find_root


class SelfCheckError(ValueError):
    """The notebook cannot be checked like the grader does; the message says why."""


@dataclass
class GraderView:
    """The record the grader's checks give, and how they were run."""

    record: dict
    os_sandbox: bool
    seed: int


def _as_notebook_file(path, folder):
    """``path`` itself when it is an .ipynb; a solutions .py converted into ``folder``."""
    path = Path(path)
    if path.suffix == ".ipynb":
        return path
    import nbformat

    from dlcourse.course.source import read_solution

    converted = Path(folder) / f"{path.stem}.ipynb"
    nbformat.write(read_solution(path), converted)
    return converted


def _graded(source_nb, exercise):
    graded = [(cells.grade_id(c), float(cells.points(c))) for _, c in cells.grade_cells(source_nb)]
    if exercise is None:
        return graded
    chosen = [g for g in graded if g[0] == exercise]
    if not chosen:
        names = ", ".join(gid for gid, _ in graded)
        raise SelfCheckError(f"no graded exercise {exercise!r} here; the exercises are: {names}")
    return chosen


def check_like_the_grader(path, exercise=None, seed=0):
    """The :class:`GraderView` of the notebook at ``path`` (one exercise, or all)."""
    import nbformat

    from dlcourse.grading import osbox
    from dlcourse.grading.checks import ChecksError, checks_path, load_exercises
    from dlcourse.grading.coursedir import GradingSetupError, source_text
    from dlcourse.grading.forkserver import ForkServer
    from dlcourse.grading.plan import forbidden_paths, locked_sources, refuse_provided_and_hidden
    from dlcourse.grading.student import Assignment, Worker, grade_submission
    from dlcourse.grading.submissions import Submission

    name = chapter_name(path)
    root = find_root()
    if root is None:
        raise SelfCheckError("cannot find the course repository: run this inside it")
    course_dir = root / "autograder"
    if not checks_path(course_dir, name).is_file():
        raise SelfCheckError(
            f"the grader has no checks for {name!r} ({checks_path(course_dir, name)} is missing): "
            f"is the notebook named like its chapter, e.g. 02-activations.ipynb?"
        )
    try:
        exercises = load_exercises(course_dir, name)
        refuse_provided_and_hidden(exercises.values())
        text = source_text(name, root / "solutions")
    except (ChecksError, GradingSetupError) as err:
        raise SelfCheckError(str(err)) from err
    source_nb = nbformat.reads(text, as_version=4)
    # A student's own check may go without bubblewrap (it is feedback, not the grade).
    use_os = osbox.probe() is None and osbox.library_problem() is None
    assignment = Assignment(
        name=name,
        course_dir=course_dir,
        source_text=text,
        graded=_graded(source_nb, exercise),
        setup_sources=locked_sources(source_nb),
        secret=hashlib.sha256(f"dlcourse check, local seed {seed}".encode()).digest(),
        forbidden=forbidden_paths(course_dir, course_dir / ".grading-secret"),
        in_kernel="none",
        os_sandbox=use_os,
    )
    with tempfile.TemporaryDirectory(prefix="dlcourse-selfcheck-") as folder:
        jobs = Path(folder) / "jobs"
        jobs.mkdir()
        worker = Worker(assignment, exercises, ForkServer(), None, jobs)
        try:
            notebook = _as_notebook_file(path, folder)
            record = grade_submission(worker, Submission("you", notebook))
        finally:
            worker.stop()
    return GraderView(record, use_os, seed)


def entry_reason(entry):
    """Why an exercise of the grader's record got its points, in the grader's words."""
    return "verified" if entry["verified"] else entry["diagnosis"] or entry["reason"] or "failed"


def format_view(view):
    """The report ``dlcourse check --grader`` prints."""
    record = view.record
    where = (
        "in the bubblewrap sandbox" if view.os_sandbox else "without bubblewrap (a child process)"
    )
    lines = [
        f"{record['assignment']}, checked as the grader checks it ({where}, on inputs from local "
        f"seed {view.seed}; the grader draws other numbers for each student):"
    ]
    if record["status"] != "graded":
        lines.append(f"  cannot be graded: {record['reason']}")
    width = max((len(e["grade_id"]) for e in record["exercises"]), default=0)
    for entry in record["exercises"]:
        points = f"{entry['points']:g} / {entry['max_points']:g}"
        lines.append(f"  {entry['grade_id']:<{width}}  {points:>9}  {entry_reason(entry)}")
    lines.append(f"the grader would give {record['score']:g} / {record['max_score']:g}")
    return "\n".join(lines)


def grader_check(exercise=None, notebook=None, seed=0):
    """In a notebook: print what the grader would give the notebook as last saved.

    ``notebook`` defaults to the notebook this kernel was started for
    (JupyterLab tells its kernels in ``JPY_SESSION_NAME``).
    """
    path = notebook or os.environ.get("JPY_SESSION_NAME")
    if not path:
        raise SelfCheckError(
            "this kernel does not know its notebook (it was not started by JupyterLab): pass "
            "it, e.g. grader_check(notebook='02-activations.ipynb')"
        )
    print("(checking the notebook as last saved: save it first to check your latest code)")
    print(format_view(check_like_the_grader(path, exercise=exercise, seed=seed)))
