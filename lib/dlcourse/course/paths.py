"""Where the course lives: the repository root and its solutions/, course/, build/ folders.

Commands are usually run from the repository (``bash scripts/course.sh`` does
so), but any folder inside it works: the root is the nearest folder at or above
the current one that holds ``pyproject.toml`` next to ``solutions/`` or
``course/``. Every folder can also be given explicitly, which is what the tests
do to build into a temporary directory.
"""

import sys
from dataclasses import dataclass
from pathlib import Path

# The first two digits order the chapters; the rest names them: 01-dense-layer.py
SOLUTION_GLOB = "[0-9]*.py"
MANIFEST_NAME = ".build-manifest.json"
BACKUP_DIR_NAME = ".backups"
NBGRADER_CONFIG_NAME = "nbgrader_config.py"


class CourseLayoutError(Exception):
    """A folder the command needs could not be found; the message says which and what to do."""


def _looks_like_root(folder):
    has_course = (folder / "solutions").is_dir() or (folder / "course").is_dir()
    return has_course and (folder / "pyproject.toml").is_file()


def find_root(start=None):
    """The course repository containing ``start`` (default: the current folder), or None.

    Falls back to the repository this package was installed from (an editable
    install), so ``dlcourse start`` also works from another folder.
    """
    here = Path.cwd() if start is None else Path(start)
    for folder in [here.resolve(), *here.resolve().parents]:
        if _looks_like_root(folder):
            return folder
    installed_from = Path(__file__).resolve().parents[3]  # lib/dlcourse/course/paths.py
    if not _looks_like_root(installed_from):
        return None
    _say_once(
        f"dlcourse: {here.resolve()} is not inside a course checkout; using {installed_from}, "
        f"the one dlcourse is installed from"
    )
    return installed_from


_SAID = set()


def _say_once(message):
    """Tell the user (on stderr, once per process) which course folder is used, and why."""
    if message not in _SAID:
        _SAID.add(message)
        print(message, file=sys.stderr)


@dataclass(frozen=True)
class CourseLayout:
    """The folders of one course.

    Attributes:
        solutions: the instructor's ``NN-name.py`` files.
        course: the student notebooks ``NN-name.ipynb`` and the build manifest.
        build: nbgrader's work folder (``source/`` and ``release/``); not committed.
        autograder: holds ``nbgrader_config.py``; None when there is none.
    """

    solutions: Path
    course: Path
    build: Path
    autograder: Path | None

    @property
    def manifest(self):
        return self.course / MANIFEST_NAME

    @property
    def backups(self):
        return self.course / BACKUP_DIR_NAME

    @property
    def nbgrader_config(self):
        """The course's nbgrader config file, or None when there is none."""
        if self.autograder is None:
            return None
        path = self.autograder / NBGRADER_CONFIG_NAME
        return path if path.is_file() else None

    def solution_files(self):
        """The chapters' source files, in chapter order."""
        return solution_files(self.solutions)


def solution_files(folder):
    """The chapters' source files (``NN-name.py``) in ``folder``, in chapter order."""
    return sorted(Path(folder).glob(SOLUTION_GLOB))


def _required(given, root, name, option):
    if given is not None:
        return Path(given).resolve()
    if root is None:
        raise CourseLayoutError(
            f"cannot find the course's {name}/ folder: run the command inside the course "
            f"repository, or pass {option} DIR."
        )
    return root / name


def folder(given, name, option, start=None):
    """``given`` if not None, else ``<root>/<name>``; CourseLayoutError without a root.

    ``option`` is the command-line option that sets the folder, named in the error.
    """
    return _required(given, None if given is not None else find_root(start), name, option)


def resolve_layout(solutions=None, course=None, build=None, start=None):
    """A :class:`CourseLayout` from the folders given, the others found from the root."""
    root = find_root(start)
    autograder = root / "autograder" if root is not None else None
    if build is None and root is None:
        raise CourseLayoutError(
            "cannot find the course repository for the build folder: pass --build-dir DIR."
        )
    return CourseLayout(
        solutions=_required(solutions, root, "solutions", "--solutions"),
        course=_required(course, root, "course", "--course"),
        build=Path(build).resolve() if build is not None else root / "build" / "nbgrader",
        autograder=autograder,
    )


def chapter_name(path):
    """The chapter's name, shared by its source, notebook and nbgrader assignment."""
    return Path(path).stem
