"""Bring ``autograder/source/`` up to date with solutions/, registering only what is in use.

Every chapter's source notebook is (re)written, so that the formgrader lists
them all. Only some are registered in the gradebook (nbgrader's
``generate_assignment``, which also writes ``release/``): the chapters named,
those released to the exchange and those the gradebook knows already. An
assignment in the gradebook gets a row per student in ``nbgrader export``,
so registering a chapter nobody was given would list zeros for everyone.
"""

import shutil
import time
from dataclasses import dataclass, field

from dlcourse.grading import coursedir, exchange, stale


@dataclass
class Prepared:
    registered: list = field(default_factory=list)  # in the gradebook, release/ current
    written: list = field(default_factory=list)  # source/ only
    failed: list = field(default_factory=list)  # "name: why"
    backups: list = field(default_factory=list)  # source notebooks edited in the formgrader
    notes: list = field(default_factory=list)  # course/ or the exchange is stale


def back_up_edited_source(name, course_dir, solutions):
    """Copy a source notebook that differs from its solution file aside; [backup path] or [].

    The source of truth is solutions/; an instructor's edits made in
    ``source/`` with the formgrader must not vanish when it is rewritten.
    """
    current = coursedir.source_path(name, course_dir)
    if not current.is_file():
        return []
    if current.read_text(encoding="utf-8") == coursedir.source_text(name, solutions):
        return []
    backup = course_dir / ".backups" / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.ipynb"
    backup.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(current, backup)
    return [backup]


def _write_source(name, course_dir, solutions):
    path = coursedir.source_path(name, course_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = coursedir.source_text(name, solutions)
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def _make_gradebook(course_dir):
    """Create the gradebook's tables if it has none yet (the formgrader opens it)."""
    from nbgrader.api import Gradebook

    with Gradebook(coursedir.db_url(course_dir)):
        pass


def to_register(names, course_dir, named=()):
    """The chapters of ``names`` to register: named, released, or in the gradebook already."""
    released = set(exchange.released_assignments(course_dir))
    return [n for n in names if n in named or n in released or coursedir._registered(n, course_dir)]


def prepare_sources(course_dir, solutions, named=(), progress=None):
    """Write every chapter's source, register the ones in use; a :class:`Prepared`.

    ``named`` chapters must exist in solutions/ (GradingSetupError otherwise).
    One broken chapter is reported in ``failed`` and the others go on.
    """
    from dlcourse.course.paths import solution_files

    course_dir = coursedir.course_path(course_dir)
    names = [p.stem for p in solution_files(solutions)]
    unknown = sorted(set(named) - set(names))
    if unknown:
        raise coursedir.GradingSetupError(
            f"no chapter {', '.join(unknown)} in {solutions}; the chapters are: "
            f"{', '.join(names) or '(none)'}"
        )
    register = set(to_register(names, course_dir, named))
    _make_gradebook(course_dir)
    done = Prepared()
    for name in progress(names) if progress else names:
        try:
            done.backups += back_up_edited_source(name, course_dir, solutions)
            if name in register:
                coursedir.ensure_source(name, course_dir, solutions)
                done.registered.append(name)
                done.notes += stale.stale_notes(course_dir, name)
            else:
                _write_source(name, course_dir, solutions)
                done.written.append(name)
        except (coursedir.GradingSetupError, OSError, ValueError) as err:
            done.failed.append(f"{name}: {err}")
    return done
