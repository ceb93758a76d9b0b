"""``solutions/NN-name.py`` -> ``course/NN-name.ipynb``, for every chapter.

For each chapter the build

1. reads the percent file with jupytext and lints its nbgrader metadata;
2. writes the nbgrader *source* notebook into the build folder and runs
   nbgrader's ``generate_assignment`` on it (:mod:`dlcourse.course.release`);
3. normalises the released notebook so that the same input always gives the
   same bytes, and checks it: no marker left, stubs in place, outputs cleared,
   and no visible function that returns an exercise's answer (the behavioural
   leak test of :mod:`dlcourse.course.answer_leaks`, run against the chapter's
   ``autograder/checks`` file when it has one);
4. writes it into ``course/``, unless the notebook there was edited since the
   last build (see :mod:`dlcourse.course.manifest`): then it refuses, or keeps
   a timestamped backup first (``backup=True``), or overwrites (``force=True``).

Finally it scans ``course/`` for anything that would leak a solution.
"""

import os
import shutil
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from dlcourse.course import leaks, lint, manifest
from dlcourse.course.answer_leaks import answer_leaks
from dlcourse.course.normalise import dumps, normalise
from dlcourse.course.paths import chapter_name


class BuildError(Exception):
    """A chapter could not be built; the message says what to fix."""


@dataclass
class ChapterResult:
    """What the build did with one chapter.

    ``status`` is "written", "unchanged", "refused" (the course notebook was
    edited by hand) or "failed"; ``message`` explains the last two.
    """

    name: str
    status: str
    notebook: Path
    message: str = ""
    backup: Path | None = None


@dataclass
class BuildReport:
    chapters: list = field(default_factory=list)
    leaks: list = field(default_factory=list)
    stale: list = field(default_factory=list)

    @property
    def ok(self):
        return not self.leaks and all(c.status in ("written", "unchanged") for c in self.chapters)


def release_text(solution, layout):
    """The student notebook of one chapter, as the exact text to write to ``course/``."""
    from nbformat import read

    from dlcourse.course.release import ReleaseError, generate_assignment
    from dlcourse.course.source import read_solution

    name = chapter_name(solution)
    source = read_solution(solution)
    problems = lint.lint_source(source)
    if problems:
        raise BuildError(_listing(f"{solution} has metadata problems", problems))
    source_text = dumps(normalise(read_solution(solution)))
    try:
        release = generate_assignment(source_text, name, layout.build, layout.nbgrader_config)
    except ReleaseError as err:
        raise BuildError(str(err)) from err

    student = normalise(read(release / f"{name}.ipynb", as_version=4))
    text = dumps(student)
    problems = leaks.scan_folder(release, layout.solution_files()) + lint.lint_release(student)
    checks = _checks_file(layout, name)
    if checks is not None:  # a chapter without graded exercises has no answers to leak
        problems += answer_leaks(student, source, checks)
    if problems:
        raise BuildError(
            _listing(f"the student version of {name} is not safe to publish", problems)
        )
    return text


def _checks_file(layout, name):
    """The chapter's ``autograder/checks/<name>.py``, or None when it has none."""
    if layout.autograder is None:
        return None
    path = layout.autograder / "checks" / f"{name}.py"
    return path if path.is_file() else None


def _listing(headline, problems):
    return headline + ":\n" + "\n".join(f"  - {p}" for p in problems)


def _backup_path(layout, name, now):
    stamp = now.strftime("%Y%m%d-%H%M%S")
    path = layout.backups / f"{name}.{stamp}.ipynb"
    counter = 1
    while path.exists():  # two builds within a second
        path = layout.backups / f"{name}.{stamp}-{counter}.ipynb"
        counter += 1
    return path


def _write(path, text):
    # Write next to the target, then rename: an interrupted build never leaves half a notebook.
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def place(text, name, layout, recorded, *, force=False, backup=False, now=None):
    """Write ``text`` as ``course/<name>.ipynb`` if that loses nothing; return a ChapterResult.

    ``recorded`` is the hash the last build wrote for this notebook (None when
    unknown). An existing notebook with another hash was edited since: it is
    overwritten only with ``force``, or with ``backup`` after copying it to
    ``course/.backups/<name>.<timestamp>.ipynb``.
    """
    target = layout.course / f"{name}.ipynb"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        _write(target, text)
        return ChapterResult(name, "written", target)
    current = target.read_bytes()
    if current == text.encode("utf-8"):
        return ChapterResult(name, "unchanged", target)
    saved = None
    if backup:
        saved = _backup_path(layout, name, now or datetime.now())
        saved.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(target, saved)
    elif manifest.sha256(current) != recorded and not force:
        message = (
            f"{target} was changed after the last build (edited by hand?), so it was not "
            f"overwritten. Move the changes into solutions/{name}.py, then run "
            f"`dlcourse build --backup` to keep a timestamped copy of the current notebook "
            f"and replace it, or `dlcourse build --force` to replace it without a copy."
        )
        return ChapterResult(name, "refused", target, message)
    _write(target, text)
    return ChapterResult(name, "written", target, backup=saved)


def select_chapters(solution_files, chapters):
    """The solution files named in ``chapters`` (stems, file names or paths); all when empty."""
    if not chapters:
        return list(solution_files)
    by_name = {chapter_name(p): p for p in solution_files}
    wanted = [chapter_name(c) for c in chapters]
    unknown = [c for c in wanted if c not in by_name]
    if unknown:
        raise BuildError(
            f"no solution file for {', '.join(unknown)}; the chapters are: "
            f"{', '.join(by_name) or '(none)'}"
        )
    return [by_name[c] for c in wanted]


def build_course(layout, *, force=False, backup=False, chapters=None, log=None):
    """Build the student notebooks of ``layout`` (all chapters, or those named in ``chapters``).

    ``log`` receives one line per chapter as it is done (default: nothing).
    Returns a :class:`BuildReport`; nothing is raised for a chapter that fails,
    so one broken chapter does not hold back the others.
    """
    log = log or (lambda line: None)
    solution_files = layout.solution_files()
    if not solution_files:
        raise BuildError(f"no chapters found: {layout.solutions} has no NN-name.py files")
    selected = select_chapters(solution_files, chapters)
    recorded = manifest.load(layout.manifest)
    hashes = dict(recorded)
    report = BuildReport()
    for solution in selected:
        name = chapter_name(solution)
        try:
            text = release_text(solution, layout)
        except BuildError as err:
            result = ChapterResult(name, "failed", layout.course / f"{name}.ipynb", str(err))
        else:
            result = place(
                text, name, layout, recorded.get(f"{name}.ipynb"), force=force, backup=backup
            )
            if result.status in ("written", "unchanged"):
                hashes[f"{name}.ipynb"] = manifest.sha256(text)
        report.chapters.append(result)
        log(describe(result))

    if not chapters:  # a full build knows every chapter: forget notebooks that are gone
        hashes = {k: v for k, v in hashes.items() if (layout.course / k).exists()}
        names = {chapter_name(p) for p in solution_files}
        report.stale = [p for p in sorted(layout.course.glob("*.ipynb")) if p.stem not in names]
    if hashes != recorded or not layout.manifest.exists():
        layout.course.mkdir(parents=True, exist_ok=True)
        manifest.save(layout.manifest, hashes)
    report.leaks = leaks.scan_folder(layout.course, solution_files)
    return report


def describe(result):
    """One line (or a paragraph, for problems) about a chapter's result."""
    line = f"{result.status:>9}  {result.notebook}"
    if result.backup is not None:
        line += f"  (previous version kept in {result.backup})"
    if result.message:
        line += "\n" + "\n".join("           " + part for part in result.message.splitlines())
    return line
