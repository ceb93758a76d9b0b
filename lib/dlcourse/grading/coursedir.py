"""nbgrader's course directory for grading: ``autograder/`` by default.

nbgrader grades from a course folder that holds ``nbgrader_config.py``, the
gradebook (``gradebook.db`` there, unless the config's ``CourseDirectory.db_url``
names another: a shared SQLite file or any database SQLAlchemy reaches) and
the instructor's *source* notebooks in
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
    """The SQLAlchemy address of the course's gradebook.

    ``CourseDirectory.db_url`` from the course folder's own ``nbgrader_config.py``
    when it sets one (a relative SQLite path is read from the course folder, as
    nbgrader run there reads it), else ``sqlite:///<course-dir>/gradebook.db``.
    """
    course_dir = Path(course_dir).resolve()
    url = _configured_db_url(course_dir)
    if url is None:
        return f"sqlite:///{course_dir / GRADEBOOK_NAME}"
    database = _sqlite_database(url)
    if database is not None and not Path(database).is_absolute():
        return f"sqlite:///{course_dir / database}"
    return url


def _configured_db_url(course_dir):
    """The config file's ``CourseDirectory.db_url``, or None when it sets none.

    Only the course folder's own file counts: a temporary course folder (tests,
    workers) borrows the repository's settings, never its gradebook.
    """
    from traitlets.config.loader import PyFileConfigLoader

    config_file = Path(course_dir) / CONFIG_NAME
    if not config_file.is_file():
        return None
    loaded = PyFileConfigLoader(config_file.name, path=str(config_file.parent)).load_config()
    url = loaded.CourseDirectory.get("db_url")
    if url is None:
        return None
    if not isinstance(url, str) or not url.strip():
        raise GradingSetupError(
            f"CourseDirectory.db_url in {config_file} is {url!r}: give an SQLAlchemy URL, e.g. "
            f"'sqlite:////srv/grading/gradebook.db', or remove the line for {GRADEBOOK_NAME} "
            f"in the course folder."
        )
    return url


def _sqlite_database(url):
    """The file name in an SQLite URL (as written), or None for other databases."""
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception as err:  # SQLAlchemy's ArgumentError, or a ValueError from a bad port
        raise GradingSetupError(
            f"the gradebook's URL {url!r} is not an SQLAlchemy URL ({err}); fix "
            f"CourseDirectory.db_url in the course's {CONFIG_NAME}."
        ) from None
    if parsed.get_backend_name() != "sqlite":
        return None
    if parsed.database in (None, "", ":memory:"):
        raise GradingSetupError(
            f"the gradebook's URL {url!r} is an in-memory SQLite database, which forgets every "
            f"grade: give a file, e.g. 'sqlite:////srv/grading/gradebook.db'."
        )
    return parsed.database


def gradebook_file(course_dir):
    """The gradebook's SQLite file (absolute), or None when it is another database."""
    database = _sqlite_database(db_url(course_dir))
    return None if database is None else Path(database)


def gradebook_exists(course_dir):
    """Whether the gradebook was made already (a database server's is taken to exist)."""
    path = gradebook_file(course_dir)
    return path is None or path.is_file()


def copy_gradebook(course_dir, assignment, target):
    """A private SQLite gradebook at ``target`` that knows ``assignment`` (for a worker).

    An SQLite gradebook is copied through SQLite's backup API, which reads a
    consistent state even while a TA's formgrader writes to it. Another
    database is not copied: the assignment is registered afresh in ``target``
    from the source notebook, which must already be in ``target``'s folder.
    """
    import sqlite3

    source = gradebook_file(course_dir)
    target = Path(target)
    if source is None:
        _generate_assignment(assignment, target.parent)
        return
    with sqlite3.connect(f"{source.as_uri()}?mode=ro", uri=True) as read:
        with sqlite3.connect(target) as write:
            read.backup(write)
        write.close()
    read.close()


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

    if not gradebook_exists(course_dir):
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
