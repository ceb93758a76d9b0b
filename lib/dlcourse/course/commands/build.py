"""``dlcourse build``: make the student notebooks in course/ from the solutions.

Each ``solutions/NN-name.py`` becomes an nbgrader source notebook in
``build/nbgrader/source/``; nbgrader's ``generate_assignment`` releases it, and
the result is written to ``course/NN-name.ipynb``: solutions replaced by stubs
that raise NotImplementedError, hidden tests removed, outputs cleared.

A course notebook edited since the last build is never overwritten silently:
pass --backup to keep a timestamped copy in course/.backups/ first, or --force.
The build fails if any solution or hidden test would reach course/, or if a
visible function of a student notebook returns an exercise's answer (each
chapter's visible cells are run against its autograder/checks file).

Examples:
  dlcourse build                      # every chapter
  dlcourse build 01-dense-layer       # one chapter
  dlcourse build --backup             # replace hand-edited notebooks, keeping copies
"""

import sys

from dlcourse.course.commands._extra import missing

HELP = "build the student notebooks in course/ from solutions/ (nbgrader generate_assignment)"


def add_arguments(parser):
    parser.add_argument(
        "chapters",
        nargs="*",
        metavar="CHAPTER",
        help="chapters to build (default: all), e.g. 01-dense-layer",
    )
    parser.add_argument("--solutions", metavar="DIR", help="the source files (default: solutions/)")
    parser.add_argument(
        "--course", metavar="DIR", help="where the student notebooks go (default: course/)"
    )
    parser.add_argument(
        "--build-dir", metavar="DIR", help="nbgrader's work folder (default: build/nbgrader/)"
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="overwrite course notebooks edited since the last build",
    )
    parser.add_argument(
        "--backup",
        action="store_true",
        help="keep a timestamped copy of each course notebook before overwriting it",
    )


def run(args):
    problem = missing("build", "nbgrader", "jupytext", "nbformat")
    if problem:
        print(problem, file=sys.stderr)
        return 1
    from dlcourse.course.build import BuildError, build_course
    from dlcourse.course.paths import CourseLayoutError, resolve_layout

    try:
        layout = resolve_layout(args.solutions, args.course, args.build_dir)
        report = build_course(
            layout, force=args.force, backup=args.backup, chapters=args.chapters, log=print
        )
    except (BuildError, CourseLayoutError) as err:
        print(f"dlcourse build: {err}", file=sys.stderr)
        return 1

    for path in report.stale:
        print(f"    stale  {path} has no source in {layout.solutions}: delete it if it is gone")
    if report.leaks:
        print(
            "\nSOLUTIONS LEAKED INTO THE COURSE FOLDER -- do not commit or publish it:",
            file=sys.stderr,
        )
        for problem in report.leaks:
            print(f"  - {problem}", file=sys.stderr)
        print(
            "Remove those files or fix their sources, then run `dlcourse build` again.",
            file=sys.stderr,
        )
    failed = [c for c in report.chapters if c.status in ("failed", "refused")]
    if failed:
        names = ", ".join(c.name for c in failed)
        print(
            f"\ndlcourse build: {len(failed)} chapter(s) not built: {names} (see above)",
            file=sys.stderr,
        )
    if report.ok:
        built = sum(c.status == "written" for c in report.chapters)
        count = len(report.chapters)
        print(f"\n{count} chapter(s) up to date in {layout.course} ({built} rewritten).")
    return 0 if report.ok else 1
