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

Results (--out DIR), each student's written as soon as it is graded:
  records/<student>.json   each exercise's points, verification, diagnosis and reason
  feedback/<student>.html  a page per student saying what to fix (no flags: those are in
                           instructor-notes.html, for the instructor only)
  grades.csv               student_id, assignment, score, max_score, one column per graded
                           cell (written at the end)
An interrupted run (DIR/.grading-in-progress.json) is resumed by the same command: the
records of notebooks that did not change are kept. Any other previous results are moved
to DIR/backup-<timestamp>/ first.

The gradebook is the course's: CourseDirectory.db_url of <course-dir>/nbgrader_config.py
(a shared SQLite file, a database server), else <course-dir>/gradebook.db. The per-student
seeds come from a secret in <course-dir>/.grading-secret (created on first use, mode 0600);
keep it out of version control, and give graders who share a gradebook the same one
(autograder/README.md, "Shared set-ups"). The summary lists identical submissions and says
when course/ or the exchange holds an older student version than solutions/ gives.

nbgrader is left as its own autograde leaves it, so run no `nbgrader autograde`: nbgrader's
Autograde converter writes <course-dir>/autograded/ (without executing anything), the
submission's timestamp.txt reaches the gradebook, the course's LateSubmissionPlugin penalty
is computed on the score that counts (a TA's regrade > verified > in-kernel), and each graded
cell of the autograded notebooks shows the verified result, with the hidden tests removed.
The order, in the course folder: nbgrader release_assignment, collect; dlcourse autograde;
nbgrader generate_feedback, release_feedback, export.

Examples:
  dlcourse autograde 02-activations --submitted autograder/submitted --out grades/02
  dlcourse autograde 04-backprop --submitted ~/lms-download --out grades/04 --workers 2
  dlcourse autograde 02-activations --submitted sub/ --out grades/02 --in-kernel full
"""

import dataclasses
import hashlib
import hmac
import sys
import tempfile
from datetime import datetime
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
        "--time-limit",
        type=float,
        metavar="SECONDS",
        help="wall-clock limit of one submission, after which its worker is killed and the "
        "submission tried once more (default: 600 s plus the exercises' own limits)",
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
    if args.time_limit is not None and not args.time_limit > 0:
        print("dlcourse autograde: --time-limit must be a positive number", file=sys.stderr)
        return 2
    try:
        return _autograde(args)
    except (CourseLayoutError, ChecksError, GradingSetupError, SubmissionsError, ValueError) as err:
        print(f"dlcourse autograde: {err}", file=sys.stderr)
        return 1


def _sha256(data):
    return hashlib.sha256(data).hexdigest()


def _run_marker(assignment, checks_sha256):
    """What identifies a run: the same marker means the same grades for the same notebooks."""
    return {
        "assignment": assignment.name,
        "checks_sha256": checks_sha256,
        "source_sha256": _sha256(assignment.source_text.encode("utf-8")),
        # the seeds' key, hashed under itself: says "the same secret", reveals nothing
        "secret": hmac.new(assignment.secret, b"dlcourse resume marker", "sha256").hexdigest(),
        "in_kernel": assignment.in_kernel,
        "os_sandbox": assignment.os_sandbox,
        "started": datetime.now().isoformat(timespec="seconds"),
    }


def _in_kernel_mode(args, course_dir):
    """The in-kernel mode to grade with, after a first look at the gradebook.

    A gradebook with triggers or foreign tables is not written (see
    gradebook.check_gradebook). Grading can still go on if the assignment is
    registered already, without nbgrader's pass, which would run on copies of
    that gradebook; registering it would write to it, so then nothing is graded.
    """
    from dlcourse.grading import coursedir, gradebook

    if not gradebook.foreign_objects(course_dir):
        return args.in_kernel
    try:
        gradebook.check_gradebook(course_dir)
    except gradebook.GradebookError as err:
        problem = str(err)
    source = coursedir.source_path(args.assignment, course_dir)
    current = source.read_text(encoding="utf-8") if source.is_file() else None
    wanted = coursedir.source_text(args.assignment, args.solutions)
    if current != wanted or not coursedir._registered(args.assignment, course_dir):
        raise gradebook.GradebookError(
            f"{problem} Nothing was graded: {args.assignment} must be registered in the gradebook "
            f"first, which writes to it."
        )
    print(
        f"dlcourse autograde: {problem}\nGrading goes on without nbgrader's in-kernel pass "
        f"(it would run on copies of that gradebook), and the gradebook is not written.",
        file=sys.stderr,
    )
    return "none"


def _resume_or_back_up(out, marker, submissions, assignment):
    """``{student_id: record}`` kept from an unfinished run of the same kind, or {}.

    A record is kept when its notebook's bytes and the checks are the ones it
    was graded with; records of grader failures are graded again. Any other
    previous results are moved to a backup folder first.
    """
    from dlcourse.grading import outputs
    from dlcourse.grading.batch import check_record
    from dlcourse.grading.submissions import BATCH_FLAG_PREFIXES

    if not outputs.same_run(outputs.unfinished_run(out), marker):
        backup = outputs.back_up_previous(out)
        if backup is not None:
            print(f"the previous results in {out} were moved to {backup}", file=sys.stderr)
        return {}
    current = {s.student_id: s for s in submissions}
    kept = {}
    for sid, record in outputs.previous_records(out).items():
        submission = current.get(sid)
        if (
            submission is not None
            and submission.sha256 is not None
            and record.get("submission_sha256") == submission.sha256
            and record.get("checks_sha256") == marker["checks_sha256"]
            and record.get("status") in ("graded", "unreadable")
            and check_record(record, assignment, sid) is None
        ):
            # the flags about other students are this run's, not the interrupted one's
            flags = [f for f in record["flags"] if not f.startswith(BATCH_FLAG_PREFIXES)]
            kept[sid] = {**record, "flags": [*flags, *submission.flags]}
    print(
        f"resuming the unfinished run in {out}: {len(kept)} record(s) resumed, "
        f"{len(submissions) - len(kept)} to grade",
        file=sys.stderr,
    )
    return kept


def _with_identical_flags(submissions, assignment):
    """The submissions, flagged where their solution code equals another student's."""
    from dlcourse.grading.outputs import shown_id
    from dlcourse.grading.submissions import identical_flags, solution_ids

    flags = identical_flags(submissions, solution_ids(assignment.source_text), shown_id)
    return [
        dataclasses.replace(s, flags=(*s.flags, flags[s.student_id]))
        if s.student_id in flags
        else s
        for s in submissions
    ]


def _autograde(args):
    from dlcourse.grading import coursedir, gradebook, outputs
    from dlcourse.grading.batch import grade_all
    from dlcourse.grading.checks import checks_path
    from dlcourse.grading.nbgrader_autograded import read_nbgrader_files
    from dlcourse.grading.plan import plan_assignment
    from dlcourse.grading.stale import stale_notes
    from dlcourse.grading.submissions import find_submissions, snapshot

    course_dir = coursedir.course_path(args.course_dir)
    out = Path(args.out).resolve()
    submitted = Path(args.submitted).resolve()
    submissions = find_submissions(submitted, args.assignment)
    nbgrader_files = read_nbgrader_files(submissions, args.assignment)  # before the copies are made
    in_kernel = _in_kernel_mode(args, course_dir)
    with tempfile.TemporaryDirectory(prefix="dlcourse-submissions-") as copies:
        assignment = plan_assignment(
            args.assignment,
            course_dir,
            secret_file=args.secret_file,
            solutions=args.solutions,
            extra_forbidden=[submitted, out, copies],
            in_kernel=in_kernel,
            os_sandbox=args.os_sandbox,
        )
        if not args.os_sandbox:
            print(
                "warning: --no-os-sandbox: student code runs with the in-process guard only and "
                "could reach the course's files; every record says so",
                file=sys.stderr,
            )
        for note in stale_notes(course_dir, args.assignment):
            print(f"dlcourse autograde: {note}", file=sys.stderr)
        checks_sha256 = _sha256(checks_path(course_dir, args.assignment).read_bytes())
        marker = _run_marker(assignment, checks_sha256)
        submissions = _with_identical_flags(snapshot(submissions, submitted, copies), assignment)
        stems = outputs.file_stems([s.student_id for s in submissions])
        kept = _resume_or_back_up(out, marker, submissions, assignment)
        outputs.start_run(out, marker)
        for record in kept.values():
            outputs.write_record(out, record, stems[record["student_id"]])
        todo = [s for s in submissions if s.student_id not in kept]
        print(
            f"grading {len(todo)} submission(s) of {args.assignment} with {args.workers} worker(s)",
            file=sys.stderr,
        )
        fresh = grade_all(
            assignment,
            todo,
            workers=args.workers,
            progress=not args.quiet,
            on_record=lambda s, record: outputs.write_record(out, record, stems[s.student_id]),
            limit_s=args.time_limit,
            stamp={"checks_sha256": checks_sha256},
        )
        by_id = {**kept, **{r["student_id"]: r for r in fresh}}
        records = [by_id[s.student_id] for s in submissions]
        # the gradebook first: the TAs' regrades it keeps then show in grades.csv and the records
        written, problem, late = None, None, {}
        try:
            gradebook.check_gradebook(course_dir)
            autograded, unfinished = _nbgrader_autograde(
                course_dir, args.assignment, records, submissions, nbgrader_files
            )
            written = gradebook.write_scores(course_dir, args.assignment, records)
        except gradebook.GradebookError as err:
            problem = err
    if written is not None:
        records, regraded = outputs.with_overrides(records, written.kept)
        for record in regraded:
            outputs.write_record(out, record, stems[record["student_id"]])
        late = _finish_nbgrader(course_dir, args.assignment, records, autograded)
    outputs.write_grades(out, records, [gid for gid, _ in assignment.graded], stems)
    _print_summary(out, records, assignment)
    if problem is not None:
        again = (
            "grades again with nbgrader's in-kernel pass"
            if in_kernel != args.in_kernel
            else "writes it without grading again"
        )
        print(
            f"dlcourse autograde: {problem}\ngrades.csv, records/ and feedback/ are complete "
            f"(without the TAs' regrades); once the gradebook is fixed, the same command "
            f"{again}.",
            file=sys.stderr,
        )
        return 1
    print(written.summary())
    _print_nbgrader_step(course_dir, args.assignment, late, unfinished)
    outputs.finish_run(out)
    return 0


def _nbgrader_autograde(course_dir, assignment, records, submissions, nbgrader_files):
    """nbgrader's Autograde without execution: (student ids done, {student id: why not})."""
    from dlcourse.grading.nbgrader_autograded import write_autograded

    with tempfile.TemporaryDirectory(prefix="dlcourse-nbgrader-") as staging:
        pairs = zip(records, submissions)
        return write_autograded(course_dir, assignment, pairs, nbgrader_files, staging)


def _finish_nbgrader(course_dir, assignment, records, students):
    """The late penalties on the scores that count, and the verified results in autograded/."""
    from dlcourse.grading.nbgrader_autograded import annotate, assign_late_penalties

    late = assign_late_penalties(course_dir, assignment, students)
    annotate(course_dir, assignment, [r for r in records if r["student_id"] in set(students)])
    return late


def _print_nbgrader_step(course_dir, assignment, late, unfinished):
    from dlcourse.grading.outputs import shown_id

    if unfinished:
        names = ", ".join(shown_id(sid) for sid in sorted(unfinished))
        first = unfinished[min(unfinished)]
        print(
            f"dlcourse autograde: nbgrader's Autograde refused the notebook of {names}: no "
            f"autograded/ notebook, so the formgrader lists them as not autograded and "
            f"generate_feedback skips them (their verified scores are in the gradebook). "
            f"nbgrader said (for {shown_id(min(unfinished))}):\n{first}",
            file=sys.stderr,
        )
    print(
        f"wrote nbgrader's autograded notebooks to {course_dir / 'autograded'}; next: "
        f"nbgrader generate_feedback {assignment} && nbgrader release_feedback {assignment}"
    )
    for sid, penalty in sorted(late.items()):
        print(f"  late: {shown_id(sid)}: penalty {penalty:g} (the course's LateSubmissionPlugin)")


def _print_summary(out, records, assignment):
    from dlcourse.grading.precedence import final_score

    total = sum(map(final_score, records))
    flagged = sum(bool(r["flags"]) for r in records)
    not_graded = [r for r in records if r["status"] != "graded"]
    print(
        f"wrote {out / 'grades.csv'}: mean score {total / len(records):.2f} / "
        f"{assignment.max_score:g}"
    )
    if flagged:
        print(f"{flagged} record(s) have flags for the instructor (see records/)")
    _print_identical(records)
    limited = [(r, e) for r in records for e in r["exercises"] if e.get("limit")]
    if limited:
        print(f"scored 0 by a limit ({len(limited)}):")
        for record, entry in limited:
            print(f"  {_shown(record)}: {entry['grade_id']}: {entry['limit']}: {entry['reason']}")
    if not_graded:
        print(f"not graded ({len(not_graded)}):")
        for record in not_graded:
            print(f"  {_shown(record)}: {record['status']}: {record['reason']}")


def _print_identical(records):
    """Name the students whose submissions are identical: byte for byte first, then by code."""
    from collections import defaultdict

    from dlcourse.grading.submissions import IDENTICAL_PREFIX

    flagged = [r for r in records if any(f.startswith(IDENTICAL_PREFIX) for f in r["flags"])]
    by_bytes = defaultdict(list)
    for record in flagged:
        by_bytes[record.get("submission_sha256")].append(record)
    same_file = [g for digest, g in by_bytes.items() if digest is not None and len(g) > 1]
    in_a_file_group = {id(r) for group in same_file for r in group}
    same_code = [r for r in flagged if id(r) not in in_a_file_group]
    if not flagged:
        return
    print(f"identical submissions ({len(flagged)} student(s); the scores are not changed):")
    for group in same_file:
        print(f"  the same notebook, byte for byte: {', '.join(map(_shown, group))}")
    for record in same_code:
        flag = next(f for f in record["flags"] if f.startswith(IDENTICAL_PREFIX))
        print(f"  {_shown(record)}: {flag}")


def _shown(record):
    """The student's id as the summary prints it: readable, unambiguous."""
    from dlcourse.grading.outputs import shown_id

    sid = shown_id(record["student_id"])
    return sid if sid.isprintable() and sid == sid.strip() else repr(sid)
