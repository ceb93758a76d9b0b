"""``dlcourse start``: open the course in JupyterLab.

Starts JupyterLab on the course/ notebooks, listening on 127.0.0.1 only, and
prints the URL with its access token (the browser opens it unless
--no-browser). Work through the notebooks in order; `dlcourse check
course/NN-name.ipynb` reports on every exercise of one. Ctrl-C stops the server.

--instructor opens autograder/ instead, where nbgrader's settings live.

Examples:
  dlcourse start
  dlcourse start --port 9000 --no-browser
"""

import sys

from dlcourse.course.commands._extra import missing

HELP = "open the course notebooks in JupyterLab (127.0.0.1; Ctrl-C stops it)"


def add_arguments(parser):
    parser.add_argument(
        "--instructor",
        action="store_true",
        help="open autograder/ (nbgrader's course folder) instead",
    )
    parser.add_argument(
        "--port", type=int, metavar="N", help="the port (default: 8888, or the next free one)"
    )
    parser.add_argument(
        "--no-browser", action="store_true", help="only print the URL, do not open a browser"
    )
    parser.add_argument("--course", metavar="DIR", help="the notebooks to open (default: course/)")


def run(args):
    problem = missing("start", "jupyterlab")
    if problem:
        print(problem, file=sys.stderr)
        return 1
    from dlcourse.course.lab import LabError, run_lab
    from dlcourse.course.paths import CourseLayoutError, find_root, folder

    try:
        if args.instructor:
            notebook_dir = folder(None, "autograder", "--course")
        else:
            notebook_dir = folder(args.course, "course", "--course")
    except CourseLayoutError as err:
        print(f"dlcourse start: {err}", file=sys.stderr)
        return 1
    if not notebook_dir.is_dir():
        print(
            f"dlcourse start: {notebook_dir} does not exist; run `dlcourse build` first",
            file=sys.stderr,
        )
        return 1
    # nbgrader's JupyterLab extensions read their settings from the server's working folder.
    autograder = folder(None, "autograder", "--course") if find_root() else None
    workdir = autograder if autograder is not None and autograder.is_dir() else notebook_dir
    try:
        return run_lab(
            notebook_dir, port=args.port, open_browser=not args.no_browser, workdir=workdir
        )
    except LabError as err:
        print(f"dlcourse start: {err}", file=sys.stderr)
        return 1
