"""``dlcourse check``: run a notebook headless and report every exercise's checks.

The notebook runs top to bottom on a temporary copy (the file itself is never
modified), every cell even after a failure. The report lists each graded check
as PASS or FAIL with the reason for each failure, that is the diagnosis the
check prints in the notebook ("transposed: ...", "the bias is missing ...").

Then the grader's own checks (autograder/checks/NN-name.py, as with --grader)
run on the solution cells: they test more than the visible checks (what the
notebook's "How this notebook is graded" lists), so the report names each
exercise whose checks pass in the notebook but from which the grader would
take points, and why, and ends with the points the grader would give.
--no-grader skips that (a notebook outside a course checkout has no such
checks: the report says so in one line).

With --grader the notebook is not run: the grader's own checks
(autograder/checks/NN-name.py) run on its solution cells, out of the kernel as
dlcourse autograde runs them, on inputs from a local seed, and the report
gives each exercise the points the grader would give and why; --exercise
GRADE_ID checks one (a second or two, whatever the chapter's demos cost).

Exit status: 0 when every check passes and the grader would give full marks,
1 when not, 2 when the notebook cannot be read.

Examples:
  dlcourse check course/01-dense-layer.ipynb
  dlcourse check solutions/01-dense-layer.py      # the instructor's version
  dlcourse check course/02-activations.ipynb --no-grader   # the visible checks alone
  dlcourse check course/02-activations.ipynb --grader
  dlcourse check course/08-keras-style.ipynb --grader --exercise check_prelu_backward
"""

import sys
from pathlib import Path

from dlcourse.course.commands._extra import missing

HELP = "run a course notebook headless, then the grader's checks; report each exercise"


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
        "--no-grader",
        action="store_true",
        help="after running the notebook, skip the grader's checks (report the visible ones)",
    )
    parser.add_argument(
        "--exercise",
        metavar="GRADE_ID",
        help="with --grader: only this exercise (e.g. check_relu_backward)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="the local seed of the grader's inputs (default: 0)"
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
    if args.grader and args.no_grader:
        print("dlcourse check: --grader and --no-grader contradict each other", file=sys.stderr)
        return 2
    if args.grader:
        return _as_the_grader(path, args)
    from dlcourse.course.check import check_notebook, format_report
    from dlcourse.course.grader_opinion import ask_the_grader, exit_code, format_opinion

    try:
        report = check_notebook(path, timeout=args.timeout)
    except Exception as err:  # unreadable JSON, a .py that is no percent notebook, ...
        print(f"dlcourse check: cannot read {path}: {type(err).__name__}: {err}", file=sys.stderr)
        return 2
    print(format_report(report))
    if args.no_grader:
        return exit_code(report, None)
    opinion = ask_the_grader(path, seed=args.seed)
    print(format_opinion(report, opinion))
    return exit_code(report, opinion)


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
