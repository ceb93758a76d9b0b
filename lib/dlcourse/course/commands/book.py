"""``dlcourse book``: render the worked solutions as a static HTML site.

Each chapter of solutions/ is run (its figures and results become part of the
page) and converted to HTML by nbconvert; index.html is the table of contents.
Open OUT/index.html in a browser; no server and no network are needed (formulas
are rendered to MathML here).

Examples:
  dlcourse book                  # into build/book/
  dlcourse book --out ~/dl-book
"""

import sys

from dlcourse.course.commands._extra import missing

HELP = "render the executed solutions as a static HTML site (nbconvert)"


def add_arguments(parser):
    parser.add_argument("--out", metavar="DIR", help="where the site goes (default: build/book/)")
    parser.add_argument("--solutions", metavar="DIR", help="the source files (default: solutions/)")
    parser.add_argument(
        "--timeout",
        type=float,
        default=120,
        metavar="SECONDS",
        help="stop a cell that runs longer than this (default: 120)",
    )


def run(args):
    problem = missing("book", "nbclient", "nbconvert", "jupytext", "latex2mathml")
    if problem:
        print(problem, file=sys.stderr)
        return 1
    from dlcourse.course.book import build_book
    from dlcourse.course.paths import CourseLayoutError, folder, solution_files

    try:
        out = folder(args.out, "build/book", "--out")
        files = solution_files(folder(args.solutions, "solutions", "--solutions"))
    except CourseLayoutError as err:
        print(f"dlcourse book: {err}", file=sys.stderr)
        return 1
    if not files:
        print("dlcourse book: no chapters (NN-name.py files) found", file=sys.stderr)
        return 1
    print(f"Running and rendering {len(files)} chapter(s) into {out}:")
    chapters = build_book(files, out, timeout=args.timeout, log=print)
    broken = [c for c in chapters if c.error]
    print(f"\nOpen {(out / 'index.html').resolve()} in a browser.")
    if broken:
        names = ", ".join(c.name for c in broken)
        print(f"dlcourse book: {len(broken)} chapter(s) raised an error: {names}", file=sys.stderr)
        return 1
    return 0
