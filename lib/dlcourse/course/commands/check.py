"""``dlcourse check``: run a notebook headless and report every exercise's checks.

The notebook runs top to bottom on a temporary copy (the file itself is never
modified), every cell even after a failure. The report lists each graded check
as PASS or FAIL with the reason for each failure, that is the diagnosis the
check prints in the notebook ("transposed: ...", "the bias is missing ...").

Exit status: 0 when every check passes, 1 when one fails, 2 when the notebook
cannot be read.

Examples:
  dlcourse check course/01-dense-layer.ipynb
  dlcourse check solutions/01-dense-layer.py      # the instructor's version
"""

import sys
from pathlib import Path

from dlcourse.course.commands._extra import missing

HELP = "run a course notebook headless and report each exercise (exit 0 when all pass)"


def add_arguments(parser):
    parser.add_argument("notebook", help="the notebook to check (.ipynb, or a solutions .py)")
    parser.add_argument(
        "--timeout",
        type=float,
        default=120,
        metavar="SECONDS",
        help="stop a cell that runs longer than this (default: 120)",
    )


def run(args):
    path = Path(args.notebook)
    if not path.is_file() or path.suffix not in (".ipynb", ".py"):
        print(f"dlcourse check: {path} is not a notebook file (.ipynb or .py)", file=sys.stderr)
        return 2
    problem = missing("check", "nbclient", "nbformat", "jupytext")
    if problem:
        print(problem, file=sys.stderr)
        return 2
    from dlcourse.course.check import check_notebook, format_report

    try:
        report = check_notebook(path, timeout=args.timeout)
    except Exception as err:  # unreadable JSON, a .py that is no percent notebook, ...
        print(f"dlcourse check: cannot read {path}: {type(err).__name__}: {err}", file=sys.stderr)
        return 2
    print(format_report(report))
    return 0 if report.passed else 1
