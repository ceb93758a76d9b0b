"""What nbgrader's own ``autograde`` leaves behind, made by ``dlcourse autograde`` itself.

The formgrader lists a student as autograded when
``<course>/autograded/<student>/<assignment>/`` exists, ``nbgrader
generate_feedback`` renders the notebooks found there, and the late penalty
comes from the submission's ``timestamp.txt``. So, before the verified scores
are written, nbgrader's real Autograde converter runs once in this process,
on the real course folder and the real student ids, with every preprocessor
that would execute code left out: it sanitises each notebook (locked cells
restored), records the submission and its timestamp, and writes the
``autograded/`` notebooks. Student code is never run here; the scores it
records from the unexecuted cells are replaced by the verified ones next.

Afterwards (:func:`assign_late_penalties`) the course's late-submission plugin
is applied to each notebook's score as it now stands (human > verified >
in-kernel), and (:func:`annotate`) every graded cell of the autograded
notebooks gets the verified result as its output and loses its hidden tests,
so that what ``nbgrader generate_feedback`` gives the students says why a
cell earned its points and shows no hidden test.
"""

import io
import logging
import os
import shutil
import stat
import warnings
from pathlib import Path

from dlcourse.grading import coursedir
from dlcourse.grading.submissions import nbgrader_refuses

# what nbgrader's submit writes beside the notebook: when, and the key release_feedback needs
NBGRADER_FILES = ("timestamp.txt", "submission_secret.txt")
MAX_FILE_BYTES = 4096
HIDDEN_BEGIN, HIDDEN_END = "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"  # nbgrader's defaults


def read_nbgrader_files(submissions, assignment):
    """``{student_id: {name: text}}`` of nbgrader's files beside each notebook (its layout).

    Read before the notebooks are copied away; a link or an oversized file is ignored.
    """
    found = {}
    for submission in submissions:
        path = submission.path
        if path is None or path.parent.name != assignment:
            continue
        for name in NBGRADER_FILES:
            try:
                info = os.lstat(path.parent / name)
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode) and info.st_size <= MAX_FILE_BYTES:
                text = (path.parent / name).read_text(encoding="utf-8", errors="replace")
                found.setdefault(submission.student_id, {})[name] = text
    return found


def _gradable(record, submission):
    return (
        record["status"] == "graded"
        and submission.path is not None
        and nbgrader_refuses(record["student_id"]) is None
    )


def _without_execution():
    """nbgrader's autograde steps minus those that run or read executed code."""
    from nbgrader.preprocessors import CheckCellMetadata, SaveAutoGrades

    return [SaveAutoGrades, CheckCellMetadata]


def write_autograded(course_dir, assignment, pairs, nbgrader_files, staging):
    """Run nbgrader's Autograde (no execution) on ``pairs`` of (record, snapshot submission).

    One student at a time, each alone in a staging folder of its own (nbgrader
    stops a whole run on one notebook it rejects, and reads the id as a glob).
    Returns ``(done, failed)``: the student ids it wrote ``autograded/``
    notebooks for, and ``{student_id: the end of nbgrader's log}`` for the others.
    """
    done, failed = [], {}
    for number, (record, submission) in enumerate(pairs):
        if not _gradable(record, submission):
            continue
        sid = record["student_id"]
        folder = Path(staging) / str(number) / sid / assignment
        folder.mkdir(parents=True)
        shutil.copyfile(submission.path, folder / f"{assignment}.ipynb")
        for name, text in nbgrader_files.get(sid, {}).items():
            (folder / name).write_text(text, encoding="utf-8")
        problem = _autograde_one(course_dir, assignment, folder.parent.parent)
        if problem is None:
            done.append(sid)
        else:
            failed[sid] = problem
    return done, failed


def _autograde_one(course_dir, assignment, submitted):
    """nbgrader's Autograde on the one student in ``submitted``; None, or what went wrong."""
    from nbgrader.converters import Autograde
    from nbgrader.coursedir import CourseDirectory

    config = coursedir.nbgrader_config(
        course_dir,
        assignment,
        **{
            "CourseDirectory.submitted_directory": str(submitted),
            "CourseDirectory.student_id": "*",  # the only one in that folder
            "CourseDirectory.notebook_id": "*",
        },
    )
    config.Autograde.force = True
    config.Autograde.create_student = True
    config.Autograde.autograde_preprocessors = _without_execution()
    app = Autograde(coursedir=CourseDirectory(config=config), config=config)
    log = io.StringIO()
    handler = logging.StreamHandler(log)
    app.log.addHandler(handler)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SQLAlchemy's autoflush chatter in nbgrader
            app.start()
    except BaseException as err:  # nbgrader raises its own exceptions and SystemExit
        lines = [line for line in log.getvalue().splitlines() if line.strip()]
        return "\n".join(lines[-6:]) or f"{type(err).__name__}: {err}"
    finally:
        app.log.removeHandler(handler)
    return None


def assign_late_penalties(course_dir, assignment, students):
    """The course's late-submission plugin, on each notebook's score that counts now.

    ``{student_id: penalty}`` of the late ones. nbgrader's own
    AssignLatePenalties step is used for its plugin and its bounds, after the
    verified scores (and the TAs' regrades) are in the gradebook.
    """
    from nbgrader.api import Gradebook
    from nbgrader.preprocessors import AssignLatePenalties

    step = AssignLatePenalties(config=coursedir.nbgrader_config(course_dir, assignment))
    step.init_plugin()
    penalties = {}
    with Gradebook(coursedir.db_url(course_dir)) as gb:
        for sid in students:
            submission = gb.find_submission(assignment, sid)
            late = submission.total_seconds_late
            for notebook in submission.notebooks:
                notebook.late_submission_penalty = None
                if late > 0:
                    penalty = step.plugin_inst.late_submission_penalty(sid, notebook.score, late)
                    if penalty is not None:
                        notebook.late_submission_penalty = step._check_late_penalty(
                            notebook, penalty
                        )
                        penalties[sid] = penalties.get(sid, 0.0) + notebook.late_submission_penalty
        gb.db.commit()
    return penalties


def hidden_test_delimiters(config):
    """The delimiters of hidden tests the course configured for nbgrader (or its defaults)."""
    from nbgrader.preprocessors import ClearHiddenTests

    clear = ClearHiddenTests(config=config)
    return clear.begin_test_delimeter, clear.end_test_delimeter  # nbgrader's spelling


def strip_hidden_tests(source, delimiters=(HIDDEN_BEGIN, HIDDEN_END)):
    """``source`` without its hidden-test regions (the delimiter lines included)."""
    begin, end = delimiters
    kept, hidden = [], False
    for line in source.splitlines(keepends=True):
        if begin in line:
            hidden = True
        elif end in line:
            hidden = False
        elif not hidden:
            kept.append(line)
    return "".join(kept)


def annotate(course_dir, assignment, records):
    """Give each autograded notebook's graded cells the verified result; drop hidden tests."""
    import nbformat
    from nbgrader.coursedir import CourseDirectory

    from dlcourse.grading.feedback import verdict_text
    from dlcourse.grading.outputs import write_atomically

    config = coursedir.nbgrader_config(course_dir, assignment)
    directory = CourseDirectory(config=config)
    delimiters = hidden_test_delimiters(config)
    for record in records:
        sid = record["student_id"]
        folder = directory.format_path(directory.autograded_directory, sid, assignment)
        path = Path(folder) / f"{assignment}.ipynb"
        if not path.is_file():
            continue
        nb = nbformat.read(path, as_version=4)
        results = {e["grade_id"]: e for e in record["exercises"]}
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            cell.source = strip_hidden_tests(cell.source, delimiters)
            gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            if gid in results:
                text = verdict_text(results[gid]) + "\n"
                cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)]
        write_atomically(path, nbformat.writes(nb))
