"""nbgrader's course directory for grading: ``autograder/`` by default.

nbgrader grades from a course folder that holds ``nbgrader_config.py``, the
SQLite gradebook ``gradebook.db`` and the instructor's *source* notebooks in
``source/<assignment>/<assignment>.ipynb``. Those source notebooks are not
written by hand: they are made from ``solutions/<assignment>.py`` (the same
way ``dlcourse build`` makes them), and nbgrader's ``generate_assignment``
records the assignment, its notebook and its graded cells in the gradebook.

>>> from dlcourse.grading.coursedir import ensure_source
>>> ensure_source("02-activations")          # doctest: +SKIP
PosixPath('.../autograder/source/02-activations/02-activations.ipynb')
"""

from pathlib import Path

from dlcourse.course.paths import CourseLayoutError, find_root, solution_files

GRADEBOOK_NAME = "gradebook.db"
CONFIG_NAME = "nbgrader_config.py"


class GradingSetupError(Exception):
    """The course directory or an assignment's source is not usable; the message says why."""


def default_course_dir(start=None):
    """``<repository>/autograder``, the course directory nbgrader grades from."""
    root = find_root(start)
    if root is None:
        raise CourseLayoutError(
            "cannot find the course repository (and its autograder/ folder): run the command "
            "inside the repository, or pass --course-dir DIR."
        )
    return root / "autograder"


def solutions_dir(start=None):
    """The instructor's ``solutions/`` folder of the course repository."""
    root = find_root(start)
    if root is None:
        raise CourseLayoutError("cannot find the course repository and its solutions/ folder.")
    return root / "solutions"


def course_path(course_dir=None):
    return Path(course_dir).resolve() if course_dir is not None else default_course_dir()


def db_url(course_dir):
    """The SQLAlchemy address of the course's gradebook."""
    return f"sqlite:///{Path(course_dir) / GRADEBOOK_NAME}"


def nbgrader_config(course_dir, assignment=None, db=None, **overrides):
    """nbgrader's configuration: the course's ``nbgrader_config.py`` plus what grading sets.

    ``db`` is the gradebook's URL (default: the course's own); ``overrides`` are
    ``"Section.name": value`` pairs, e.g. ``{"Execute.timeout": 60}``.
    """
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    course_dir = Path(course_dir)
    config = Config()
    config_file = course_dir / CONFIG_NAME
    if not config_file.is_file():  # a temporary course dir (tests, workers) uses the repo's
        config_file = _repository_config()
    if config_file is not None:
        config.merge(
            PyFileConfigLoader(config_file.name, path=str(config_file.parent)).load_config()
        )
    extra = Config()
    extra.CourseDirectory.root = str(course_dir)
    extra.CourseDirectory.db_url = db or db_url(course_dir)
    if assignment is not None:
        extra.CourseDirectory.assignment_id = assignment
    for key, value in overrides.items():
        section, name = key.split(".")
        setattr(getattr(extra, section), name, value)
    config.merge(extra)
    return config


def _repository_config():
    try:
        path = default_course_dir() / CONFIG_NAME
    except CourseLayoutError:
        return None
    return path if path.is_file() else None


def source_text(assignment, solutions=None):
    """The nbgrader source notebook of ``assignment`` as ``.ipynb`` text, from solutions/."""
    from dlcourse.course.normalise import dumps, normalise
    from dlcourse.course.source import read_solution

    folder = Path(solutions) if solutions is not None else solutions_dir()
    path = folder / f"{assignment}.py"
    if not path.is_file():
        known = ", ".join(p.stem for p in solution_files(folder)) or "(none)"
        raise GradingSetupError(
            f"no solution file {path} for assignment {assignment!r}; the assignments are: {known}"
        )
    return dumps(normalise(read_solution(path)))


def source_path(assignment, course_dir):
    return Path(course_dir) / "source" / assignment / f"{assignment}.ipynb"


def _registered(assignment, course_dir):
    from nbgrader.api import Gradebook, MissingEntry

    if not (Path(course_dir) / GRADEBOOK_NAME).is_file():
        return False
    with Gradebook(db_url(course_dir)) as gb:
        try:
            gb.find_notebook(assignment, assignment)
        except MissingEntry:
            return False
    return True


def ensure_source(assignment, course_dir=None, solutions=None):
    """Make ``<course-dir>/source/<assignment>/<assignment>.ipynb`` and register it; return it.

    The notebook is (re)written from ``solutions/<assignment>.py`` when it is
    missing or differs from what the solution file gives, and nbgrader's
    ``generate_assignment`` then records the assignment in the gradebook (and
    writes the student version to ``<course-dir>/release/``). Nothing is done
    when both are up to date, so calling it before every grading run is cheap.
    """
    course_dir = course_path(course_dir)
    text = source_text(assignment, solutions)
    path = source_path(assignment, course_dir)
    current = path.read_text(encoding="utf-8") if path.is_file() else None
    if current == text and _registered(assignment, course_dir):
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    _generate_assignment(assignment, course_dir)
    return path


def ensure_all_sources(course_dir=None, solutions=None):
    """:func:`ensure_source` for every chapter in solutions/; returns the source paths."""
    folder = Path(solutions) if solutions is not None else solutions_dir()
    return [ensure_source(p.stem, course_dir, folder) for p in solution_files(folder)]


def _generate_assignment(assignment, course_dir):
    from dlcourse.course.release import ReleaseError, run_generate_assignment

    config = nbgrader_config(course_dir, assignment, **{"CourseDirectory.notebook_id": "*"})
    config.GenerateAssignment.force = True
    config.GenerateAssignment.create_assignment = True
    try:
        run_generate_assignment(config, assignment)
    except ReleaseError as err:
        raise GradingSetupError(str(err)) from err
