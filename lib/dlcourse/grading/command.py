"""``dlcourse autograde``: grade submitted notebooks so that the code cannot fool the grade.

For each student, nbgrader's own autograder first runs the notebook's
nbgrader cells (setup, solutions, checks) in a kernel; its score is kept for
comparison. Then every graded cell is decided
again out of the kernel: the student's solution cells run in a fresh,
resource-limited sandbox with the instructor's setup cells, on inputs drawn
from a secret per-student seed, with the graded references unreachable;
only arrays come back and trusted code compares them with the references
(checks: <course-dir>/checks/ASSIGNMENT.py). The verified score is what
lands in nbgrader's gradebook (as the cell's manual score) and in the
results; where the two disagree, the student's record says so. The demos,
plots, benchmarks and training runs between the exercises carry no points and
are not run (chapter 11 would otherwise benchmark every student's machine
time away); --in-kernel full runs the whole notebook, as plain `nbgrader
autograde` does, at about 1.5 times the cost.

Submissions (--submitted DIR), either layout:
  DIR/<student_id>/ASSIGNMENT/ASSIGNMENT.ipynb     nbgrader's submitted/ layout
  DIR/<student_id>_<anything>.ipynb                 a flat folder, as zip_collect leaves it

Results (--out DIR):
  grades.csv               student_id, assignment, score, max_score, one column per graded cell
  records/<student>.json   each exercise's points, verification, diagnosis and reason
  feedback/<student>.html  a page per student saying what to fix
A previous run's results are moved to DIR/backup-<timestamp>/ first.

The per-student seeds come from a secret in <course-dir>/.grading-secret
(created on first use, mode 0600); keep it out of version control.

Examples:
  dlcourse autograde 02-activations --submitted autograder/submitted --out grades/02
  dlcourse autograde 04-backprop --submitted ~/lms-download --out grades/04 --workers 2
  dlcourse autograde 02-activations --submitted sub/ --out grades/02 --in-kernel full
"""

import sys
from pathlib import Path

HELP = "grade submitted notebooks with nbgrader, verified out of the kernel"


def add_arguments(parser):
    parser.add_argument("assignment", metavar="ASSIGNMENT", help="e.g. 02-activations")
    parser.add_argument("--submitted", required=True, metavar="DIR", help="the submitted notebooks")
    parser.add_argument("--out", required=True, metavar="DIR", help="where the results go")
    parser.add_argument(
        "--workers", type=int, default=1, metavar="N", help="grading processes (default: 1)"
    )
    parser.add_argument(
        "--course-dir",
        metavar="DIR",
        help="nbgrader's course folder with the gradebook and checks/ (default: autograder/)",
    )
    parser.add_argument(
        "--solutions",
        metavar="DIR",
        help="the instructor's NN-name.py files (default: solutions/ of the repository)",
    )
    parser.add_argument(
        "--secret-file",
        metavar="PATH",
        help="the secret for the per-student seeds (default: <course-dir>/.grading-secret)",
    )
    parser.add_argument(
        "--in-kernel",
        choices=("full", "graded", "none"),
        default="graded",
        help="nbgrader's in-kernel pass: only the notebook's nbgrader cells (setup, "
        "solutions, checks; the default), the whole notebook with its demos and plots "
        "(full), or none (records then have in_kernel null)",
    )
    parser.add_argument(
        "--no-in-kernel",
        dest="in_kernel",
        action="store_const",
        const="none",
        help="the same as --in-kernel none",
    )
    parser.add_argument(
        "--no-os-sandbox",
        dest="os_sandbox",
        action="store_false",
        help="grade without bubblewrap, with the in-process guard only: NOT safe against "
        "students who try (a warning goes into every record)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args):
    from dlcourse.course.paths import CourseLayoutError
    from dlcourse.grading.checks import ChecksError
    from dlcourse.grading.coursedir import GradingSetupError
    from dlcourse.grading.submissions import SubmissionsError

    if args.workers < 1:
        print("dlcourse autograde: --workers must be at least 1", file=sys.stderr)
        return 2
    try:
        return _autograde(args)
    except (CourseLayoutError, ChecksError, GradingSetupError, SubmissionsError, ValueError) as err:
        print(f"dlcourse autograde: {err}", file=sys.stderr)
        return 1


def _autograde(args):
    from dlcourse.grading import coursedir, gradebook, outputs
    from dlcourse.grading.batch import grade_all
    from dlcourse.grading.plan import plan_assignment
    from dlcourse.grading.submissions import find_submissions

    course_dir = coursedir.course_path(args.course_dir)
    out = Path(args.out).resolve()
    submitted = Path(args.submitted).resolve()
    submissions = find_submissions(submitted, args.assignment)
    assignment = plan_assignment(
        args.assignment,
        course_dir,
        secret_file=args.secret_file,
        solutions=args.solutions,
        extra_forbidden=[submitted, out],
        in_kernel=args.in_kernel,
        os_sandbox=args.os_sandbox,
    )
    if not args.os_sandbox:
        print(
            "warning: --no-os-sandbox: student code runs with the in-process guard only and "
            "could reach the course's files; every record says so",
            file=sys.stderr,
        )
    print(
        f"grading {len(submissions)} submission(s) of {args.assignment} "
        f"with {args.workers} worker(s)",
        file=sys.stderr,
    )
    records = grade_all(assignment, submissions, workers=args.workers, progress=not args.quiet)

    backup = outputs.back_up_previous(out)
    if backup is not None:
        print(f"the previous results in {out} were moved to {backup}", file=sys.stderr)
    grade_ids = [gid for gid, _ in assignment.graded]
    outputs.write_results(out, records, grade_ids)
    gradebook.write_scores(course_dir, args.assignment, records)

    total = sum(r["score"] for r in records)
    flagged = sum(bool(r["flags"]) for r in records)
    not_graded = [r["student_id"] for r in records if r["status"] != "graded"]
    print(
        f"wrote {out / 'grades.csv'}: mean score {total / len(records):.2f} / "
        f"{assignment.max_score:g}"
    )
    if flagged:
        print(f"{flagged} record(s) have flags for the instructor (see records/)")
    if not_graded:
        print(f"not graded (unreadable or missing): {', '.join(not_graded)}")
    return 0
