"""``dlcourse source``: make nbgrader's source notebooks in autograder/source/ from solutions/.

Every ``solutions/NN-name.py`` becomes ``autograder/source/NN-name/NN-name.ipynb``
(a notebook edited there in the formgrader is first kept in
autograder/.backups/), so that the formgrader lists every chapter. The
chapters named on the command line, those already released to nbgrader's
exchange and those the gradebook knows are registered in the gradebook too
(nbgrader's generate_assignment, which writes autograder/release/ as well).
Other chapters are not registered: each registered assignment gets a row for
every student in `nbgrader export`, zeros for a chapter nobody was given.

It then says where course/ or the exchange holds an older student version
than solutions/ gives, with the command that brings it up to date.

Examples:
  dlcourse source                          # every source notebook; register what is in use
  dlcourse source 02-activations           # ... and register 02-activations, to release it
  nbgrader release_assignment 02-activations     # then, in autograder/
"""

import sys

from dlcourse.course.commands._extra import missing

HELP = "make autograder/source/ from solutions/ and register chapters in the gradebook"


def add_arguments(parser):
    parser.add_argument(
        "chapters",
        nargs="*",
        metavar="CHAPTER",
        help="chapters to register in the gradebook (besides those in use), e.g. 02-activations",
    )
    parser.add_argument(
        "--course-dir",
        metavar="DIR",
        help="nbgrader's course folder (default: autograder/ of the repository)",
    )
    parser.add_argument(
        "--solutions", metavar="DIR", help="the NN-name.py files (default: solutions/)"
    )


def run(args):
    problem = missing("source", "nbgrader", "jupytext", "nbformat")
    if problem:
        print(problem, file=sys.stderr)
        return 1
    from dlcourse.course.paths import CourseLayoutError
    from dlcourse.grading.coursedir import GradingSetupError, course_path, solutions_dir
    from dlcourse.grading.prepare_sources import prepare_sources

    try:
        course_dir = course_path(args.course_dir)
        solutions = args.solutions or solutions_dir()
        done = prepare_sources(course_dir, solutions, named=args.chapters)
    except (CourseLayoutError, GradingSetupError) as err:
        print(f"dlcourse source: {err}", file=sys.stderr)
        return 1
    return report(done, course_dir, "dlcourse source")


def report(done, course_dir, command):
    """Print what :func:`prepare_sources` did; the exit status (1 when a chapter failed)."""
    for path in done.backups:
        print(f"edited in the formgrader, rebuilt from solutions/; previous version kept in {path}")
    count = len(done.registered) + len(done.written)
    print(
        f"{count} source notebook(s) in {course_dir / 'source'}; "
        f"registered in the gradebook: {', '.join(done.registered) or 'none'}"
    )
    if done.written:
        print(
            f"not registered (not named, not released): {', '.join(done.written)}; "
            f"`dlcourse source CHAPTER` registers one"
        )
    for note in done.notes:
        print(f"{command}: {note}", file=sys.stderr)
    if done.failed:
        print("Not ready (fix the solution file, then run again):", file=sys.stderr)
        print("\n".join(f"  {line}" for line in done.failed), file=sys.stderr)
        return 1
    return 0
