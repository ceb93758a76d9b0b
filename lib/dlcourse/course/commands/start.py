"""``dlcourse start``: open the course in JupyterLab.

Starts JupyterLab on the course/ notebooks, listening on 127.0.0.1 only, and
prints the URL with its access token (the browser opens it unless
--no-browser). Work through the notebooks in order; `dlcourse check
course/NN-name.ipynb` reports on every exercise of one. Ctrl-C stops the server.

--instructor opens nbgrader's formgrader instead, on autograder/ (nbgrader's
course folder): it first brings autograder/source/ up to date with solutions/
and registers the chapters in the gradebook, then lands on the formgrader's
list of assignments. JupyterLab runs on the same server, for the source
notebooks.

Examples:
  dlcourse start
  dlcourse start --port 9000 --no-browser
  dlcourse start --instructor
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
    if args.instructor:
        view = dict(landing="/formgrader", title="The formgrader")
        problem = _prepare_instructor(notebook_dir)
        if problem:
            print(f"dlcourse start --instructor: {problem}", file=sys.stderr)
            return 1
    else:
        # nbgrader's student extensions (Validate, the assignment list) read the
        # course's nbgrader_config.py from the server's working folder.
        autograder = folder(None, "autograder", "--course") if find_root() else None
        workdir = autograder if autograder is not None and autograder.is_dir() else notebook_dir
        view = dict(title="The course", workdir=workdir, disabled=STUDENT_DISABLED)
    try:
        return run_lab(notebook_dir, port=args.port, open_browser=not args.no_browser, **view)
    except LabError as err:
        print(f"dlcourse start: {err}", file=sys.stderr)
        return 1


def _prepare_instructor(autograder):
    """Bring autograder/source/ and the gradebook up to date; an error message, or None.

    Chapter by chapter, so that one broken solution file is reported and
    skipped instead of keeping the formgrader closed.
    """
    from tqdm import tqdm

    from dlcourse.course.paths import CourseLayoutError, solution_files
    from dlcourse.grading.coursedir import GradingSetupError, ensure_source, solutions_dir

    try:
        solutions = solutions_dir()
    except CourseLayoutError as err:
        return str(err)
    chapters = solution_files(solutions)
    if not chapters:
        return f"no chapters (NN-name.py) in {solutions}: nothing to grade."
    failed, kept = [], []
    for chapter in tqdm(chapters, desc="source assignments", unit="chapter"):
        try:
            kept += _back_up_edited_source(chapter.stem, autograder, solutions)
            ensure_source(chapter.stem, autograder, solutions)
        except (GradingSetupError, OSError, ValueError) as err:
            failed.append(f"  {chapter.stem}: {err}")
    for path in kept:
        print(f"edited in the formgrader, rebuilt from solutions/; previous version kept in {path}")
    if failed:
        print("Not in the formgrader (fix the solution file, then start again):", file=sys.stderr)
        print("\n".join(failed), file=sys.stderr)
    print(f"{len(chapters) - len(failed)} assignments ready in {autograder}.", flush=True)
    return None


def _back_up_edited_source(name, autograder, solutions):
    """Copy a source notebook that differs from its solution file aside; [backup path] or [].

    ``ensure_source`` rewrites autograder/source/ from solutions/ (the source of
    truth); an instructor's edits made there in the formgrader must not vanish.
    """
    import shutil
    import time

    from dlcourse.grading.coursedir import source_path, source_text

    current = source_path(name, autograder)
    if not current.is_file() or current.read_text(encoding="utf-8") == source_text(name, solutions):
        return []
    backup = autograder / ".backups" / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.ipynb"
    backup.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(current, backup)
    return [backup]
