"""Run nbgrader's own ``generate_assignment`` on one chapter.

nbgrader works on a course folder laid out as ``source/<assignment>/<notebook>.ipynb``
and writes ``release/<assignment>/<notebook>.ipynb``: solutions replaced by a stub
that raises ``NotImplementedError``, hidden tests removed, outputs cleared, locked
cells made read-only, and a checksum on every graded cell so that autograding
can tell when a student changed a check. The assignment is named after the
chapter (``01-dense-layer``).

The build runs it in-process, without the gradebook database: releasing needs
none, and the database belongs to grading (``autograder/``).
"""

import io
import logging
import shutil
from pathlib import Path


class ReleaseError(Exception):
    """nbgrader could not release a chapter; the message carries nbgrader's log."""


def _config(config_file, root, name):
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    config = Config()
    if config_file is not None:  # the course's own settings (stubs, delimiters, ...)
        config_file = Path(config_file)
        config.merge(
            PyFileConfigLoader(config_file.name, path=str(config_file.parent)).load_config()
        )
    overrides = Config()
    overrides.CourseDirectory.root = str(root)
    overrides.CourseDirectory.assignment_id = name
    overrides.CourseDirectory.notebook_id = "*"
    overrides.GenerateAssignment.force = True  # replace the previous release of this chapter
    overrides.GenerateAssignment.no_database = True
    overrides.SaveCells.enabled = False  # SaveCells writes to the database
    config.merge(overrides)
    return config


def run_generate_assignment(config, name):
    """Run nbgrader's GenerateAssignment with ``config``; its log (ReleaseError on failure)."""
    from nbgrader.converters import GenerateAssignment
    from nbgrader.coursedir import CourseDirectory

    app = GenerateAssignment(coursedir=CourseDirectory(config=config), config=config)
    log = io.StringIO()
    handler = logging.StreamHandler(log)
    app.log.addHandler(handler)
    try:
        app.start()
    except Exception as err:
        raise ReleaseError(
            f"nbgrader generate_assignment failed for {name}: {err}\n{log.getvalue()}"
        ) from err
    finally:
        app.log.removeHandler(handler)
    return log.getvalue()


def generate_assignment(source_text, name, workdir, config_file=None):
    """Release one chapter; return the folder nbgrader wrote it to.

    Args:
        source_text: the nbgrader source notebook (with solutions), as ``.ipynb`` text.
        name: the chapter's name, used as assignment and notebook name.
        workdir: nbgrader's course folder (``source/`` and ``release/`` go there).
        config_file: an ``nbgrader_config.py`` whose settings apply, or None.
    """
    workdir = Path(workdir)
    source = workdir / "source" / name
    shutil.rmtree(source, ignore_errors=True)  # nothing but this notebook may be released
    source.mkdir(parents=True)
    (source / f"{name}.ipynb").write_text(source_text, encoding="utf-8")

    log = run_generate_assignment(_config(config_file, workdir, name), name)
    release = workdir / "release" / name
    if not (release / f"{name}.ipynb").is_file():
        raise ReleaseError(f"nbgrader wrote no {name}.ipynb in {release}:\n{log}")
    return release
