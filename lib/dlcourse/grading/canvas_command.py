"""``dlcourse canvas``: turn a grades.csv into a file Canvas's gradebook imports.

Export the gradebook from Canvas first (Grades > Export > Export Entire
Gradebook): the upload takes its students and column names from it. Each
student in grades.csv is found by SIS Login ID (--match to use another
column); the assignment's column is the one named like grades.csv's
assignment ("02-activations" or "02-activations (1234)"), or --column; when
Canvas has no such column, the upload adds it and Canvas creates the
assignment. Import the upload in Canvas with Grades > Import. The score is
the one that counts in grades.csv (a TA's regrade over the verified score).
Students Canvas lists without a grade here get an empty cell, which Canvas
leaves as it was; graded students Canvas does not list are printed.

Examples:
  dlcourse canvas grades/02/grades.csv --export ~/Downloads/gradebook.csv --out upload-02.csv
  dlcourse canvas grades/02/grades.csv --export gradebook.csv --out up.csv --match "SIS User ID"
"""

import sys
from pathlib import Path

HELP = "turn a grades.csv into a Canvas gradebook upload"


def add_arguments(parser):
    parser.add_argument("grades", metavar="GRADES_CSV", help="grades.csv of dlcourse autograde")
    parser.add_argument(
        "--export", required=True, metavar="CSV", help="the gradebook exported from Canvas"
    )
    parser.add_argument("--out", required=True, metavar="CSV", help="the upload to write")
    parser.add_argument(
        "--column", metavar="NAME", help="Canvas's column to fill (default: the assignment's)"
    )
    parser.add_argument(
        "--match",
        default="SIS Login ID",
        metavar="COLUMN",
        help="the Canvas column that holds the student ids (default: SIS Login ID)",
    )
    parser.add_argument("--force", action="store_true", help="replace --out if it exists")


def run(args):
    from dlcourse.grading.canvas import CanvasError, make_upload
    from dlcourse.grading.outputs import write_atomically

    out = Path(args.out)
    if out.exists() and not args.force:
        print(f"dlcourse canvas: {out} exists; pass --force to replace it", file=sys.stderr)
        return 1
    try:
        upload = make_upload(args.export, args.grades, column=args.column, match=args.match)
    except CanvasError as err:
        print(f"dlcourse canvas: {err}", file=sys.stderr)
        return 1
    write_atomically(out, upload.text)
    print(f"wrote {out}: column {upload.column!r}, {upload.filled} student(s) with a score")
    if upload.not_in_canvas:
        print(
            f"{len(upload.not_in_canvas)} graded student(s) are not in the Canvas export "
            f"(by {args.match}): {', '.join(upload.not_in_canvas)}"
        )
    if upload.without_grade:
        print(
            f"{len(upload.without_grade)} Canvas student(s) have no grade in {args.grades} "
            f"(left empty: Canvas keeps what it has): {', '.join(upload.without_grade)}"
        )
    return 0
