"""``dlcourse check``: run a notebook headless and report every exercise's checks.

The notebook runs top to bottom on a temporary copy (the file itself is never
modified), every cell even after a failure. The report lists each graded check
as PASS or FAIL with the reason for each failure, that is the diagnosis the
check prints in the notebook ("transposed: ...", "the bias is missing ...").

With --grader the notebook is not run: the grader's own checks
(autograder/checks/NN-name.py) run on its solution cells, out of the kernel as
dlcourse autograde runs them, on inputs from a local seed, and the report
gives each exercise the points the grader would give and why; --exercise
GRADE_ID checks one (a second or two, whatever the chapter's demos cost).

Exit status: 0 when every check passes, 1 when one fails, 2 when the notebook
cannot be read.

Examples:
  dlcourse check course/01-dense-layer.ipynb
  dlcourse check solutions/01-dense-layer.py      # the instructor's version
  dlcourse check course/02-activations.ipynb --grader
  dlcourse check course/08-keras-style.ipynb --grader --exercise check_prelu_backward
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
    parser.add_argument(
        "--grader",
        action="store_true",
        help="run the grader's checks on the solution cells instead of the notebook",
    )
    parser.add_argument(
        "--exercise",
        metavar="GRADE_ID",
        help="with --grader: only this exercise (e.g. check_relu_backward)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="with --grader: the local seed of the inputs"
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
    if args.exercise and not args.grader:
        print("dlcourse check: --exercise needs --grader", file=sys.stderr)
        return 2
    if args.grader:
        return _as_the_grader(path, args)
    from dlcourse.course.check import check_notebook, format_report

    try:
        report = check_notebook(path, timeout=args.timeout)
    except Exception as err:  # unreadable JSON, a .py that is no percent notebook, ...
        print(f"dlcourse check: cannot read {path}: {type(err).__name__}: {err}", file=sys.stderr)
        return 2
    print(format_report(report))
    return 0 if report.passed else 1


def _as_the_grader(path, args):
    from dlcourse.grading.selfcheck import SelfCheckError, check_like_the_grader, format_view

    try:
        view = check_like_the_grader(path, exercise=args.exercise, seed=args.seed)
    except SelfCheckError as err:
        print(f"dlcourse check: {err}", file=sys.stderr)
        return 2
    print(format_view(view))
    record = view.record
    return 0 if record["status"] == "graded" and record["score"] == record["max_score"] else 1
