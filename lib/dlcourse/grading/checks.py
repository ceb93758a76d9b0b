"""Load an assignment's out-of-kernel checks from ``<course-dir>/checks/<assignment>.py``.

The file is the instructor's, so it is trusted: it is imported as a module
and must define ``EXERCISES``, a list of :class:`~dlcourse.grading.spec.Exercise`.
"""

import importlib.util
import sys
from pathlib import Path

from dlcourse.grading.spec import Exercise


class ChecksError(Exception):
    """The checks file is missing or does not match the assignment; the message says how."""


def checks_path(course_dir, assignment):
    return Path(course_dir) / "checks" / f"{assignment}.py"


def load_exercises(course_dir, assignment):
    """The assignment's ``EXERCISES``, by grade_id, in the file's order."""
    path = checks_path(course_dir, assignment)
    if not path.is_file():
        raise ChecksError(
            f"no checks for {assignment}: write {path} with EXERCISES, a list of "
            f"dlcourse.grading.spec.Exercise, one per graded cell"
        )
    name = "dlcourse_checks_" + "".join(c if c.isalnum() else "_" for c in assignment)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look modules up by name
    try:
        spec.loader.exec_module(module)
    except Exception as err:
        raise ChecksError(f"{path} failed to load: {type(err).__name__}: {err}") from err
    exercises = getattr(module, "EXERCISES", None)
    if not isinstance(exercises, list) or not all(isinstance(e, Exercise) for e in exercises):
        raise ChecksError(f"{path} must define EXERCISES, a list of Exercise")
    by_id = {}
    for exercise in exercises:
        if exercise.grade_id in by_id:
            raise ChecksError(f"{path} has two exercises for {exercise.grade_id}")
        by_id[exercise.grade_id] = exercise
    return by_id


def match_grade_cells(exercises, graded, path):
    """Fail unless there is exactly one exercise per graded cell of the source notebook."""
    missing = [gid for gid in graded if gid not in exercises]
    extra = [gid for gid in exercises if gid not in graded]
    problems = []
    if missing:
        problems.append(f"graded cells without an exercise: {', '.join(missing)}")
    if extra:
        problems.append(f"exercises for cells the notebook does not grade: {', '.join(extra)}")
    if problems:
        raise ChecksError(f"{path} does not match the notebook: " + "; ".join(problems))
