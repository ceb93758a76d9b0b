"""``dlcourse start``: open the course in JupyterLab.

Starts JupyterLab on the course/ notebooks, listening on 127.0.0.1 only, and
prints the URL with its access token (the browser opens it unless
--no-browser). Work through the notebooks in order; `dlcourse check
course/NN-name.ipynb` reports on every exercise of one. Ctrl-C stops the server.

--instructor opens nbgrader's formgrader instead, on autograder/ (nbgrader's
course folder): it first brings autograder/source/ up to date with solutions/
(as `dlcourse source` does: every chapter's source notebook; in the gradebook
only the chapters named, released to the exchange or registered already),
then lands on the formgrader's list of assignments. JupyterLab runs on the
same server, for the source notebooks. The student view says when nbgrader's
exchange, which its Assignment List needs, does not exist (and makes the
standard one, /usr/local/share/nbgrader/exchange, when run as root).

Examples:
  dlcourse start
  dlcourse start --port 9000 --no-browser
  dlcourse start --instructor
  dlcourse start --instructor 02-activations     # register it too, to release it
"""

import sys

from dlcourse.course.commands._extra import missing

HELP = "open the course notebooks in JupyterLab (127.0.0.1; Ctrl-C stops it)"


def add_arguments(parser):
    parser.add_argument(
        "--instructor",
        action="store_true",
        help="open nbgrader's formgrader on autograder/ (the instructor view) instead",
    )
    parser.add_argument(
        "chapters",
        nargs="*",
        metavar="CHAPTER",
        help="with --instructor: chapters to register in the gradebook besides those released "
        "or registered already (see dlcourse source)",
    )
    parser.add_argument(
        "--port", type=int, metavar="N", help="the port (default: 8888, or the next free one)"
    )
    parser.add_argument(
        "--no-browser", action="store_true", help="only print the URL, do not open a browser"
    )
    parser.add_argument(
        "--course",
        metavar="DIR",
        help="the notebooks to open (default: course/; with --instructor: autograder/)",
    )


# The formgrader is the instructor's. In the student view the server runs in
# autograder/ (for the course's nbgrader settings) but serves course/, and the
# formgrader refuses a course folder outside the served one with an error.
STUDENT_DISABLED = ("nbgrader.server_extensions.formgrader",)


def run(args):
    problem = missing("start", "jupyterlab", "nbgrader")
    if problem:
        print(problem, file=sys.stderr)
        return 1
    from dlcourse.course.lab import LabError, run_lab
    from dlcourse.course.paths import CourseLayoutError, find_root, folder

    try:
        if args.instructor:
            notebook_dir = folder(args.course, "autograder", "--course")
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
    if args.chapters and not args.instructor:
        print("dlcourse start: CHAPTER names go with --instructor", file=sys.stderr)
        return 2
    if args.instructor:
        view = dict(landing="/formgrader", title="The formgrader")
        _say_about_the_exchange(notebook_dir)
        problem = _prepare_instructor(notebook_dir, args.chapters)
        if problem:
            print(f"dlcourse start --instructor: {problem}", file=sys.stderr)
            return 1
    else:
        # nbgrader's student extensions (Validate, the assignment list) read the
        # course's nbgrader_config.py from the server's working folder.
        autograder = folder(None, "autograder", "--course") if find_root() else None
        workdir = autograder if autograder is not None and autograder.is_dir() else notebook_dir
        if autograder is not None and autograder.is_dir():
            _say_about_the_exchange(autograder)
        view = dict(title="The course", workdir=workdir, disabled=STUDENT_DISABLED)
    try:
        return run_lab(notebook_dir, port=args.port, open_browser=not args.no_browser, **view)
    except LabError as err:
        print(f"dlcourse start: {err}", file=sys.stderr)
        return 1


def _prepare_instructor(autograder, chapters=()):
    """Bring autograder/source/ and the gradebook up to date; an error message, or None.

    Every chapter's source notebook is written, so that the formgrader lists
    them all; only the named ones, those released to the exchange and those
    in the gradebook already are registered (see ``dlcourse source``). One
    broken solution file is reported and skipped instead of keeping the
    formgrader closed.
    """
    from tqdm import tqdm

    from dlcourse.course.commands.source import report
    from dlcourse.course.paths import CourseLayoutError, solution_files
    from dlcourse.grading.coursedir import GradingSetupError, solutions_dir
    from dlcourse.grading.prepare_sources import prepare_sources

    try:
        solutions = solutions_dir()
    except CourseLayoutError as err:
        return str(err)
    if not solution_files(solutions):
        return f"no chapters (NN-name.py) in {solutions}: nothing to grade."
    bar = dict(desc="source assignments", unit="chapter")
    try:
        done = prepare_sources(
            autograder, solutions, named=chapters, progress=lambda xs: tqdm(xs, **bar)
        )
    except GradingSetupError as err:
        return str(err)
    report(done, autograder, "dlcourse start --instructor")
    print(f"{len(done.registered)} assignment(s) registered in {autograder}.", flush=True)
    return None


def _say_about_the_exchange(autograder):
    from dlcourse.grading.exchange import ensure_exchange

    message = ensure_exchange(autograder)
    if message:
        print(f"dlcourse start: {message}", file=sys.stderr)
