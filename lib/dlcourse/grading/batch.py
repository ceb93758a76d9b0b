"""Grade many students in parallel: worker processes, one progress bar, records back.

Each worker process (multiprocessing, "spawn": no state shared by accident)
builds its own :class:`~dlcourse.grading.student.Worker`: the checks, a fork
server for the sandboxes and a private nbgrader course with its own copy of
the gradebook. Workers only return records; the parent alone writes the real
gradebook and the output files, so no two processes ever write one file.
"""

import multiprocessing
import os
import shutil
import sys
import tempfile
from pathlib import Path

from dlcourse.grading.checks import load_exercises
from dlcourse.grading.forkserver import ForkServer
from dlcourse.grading.student import Worker, _record, grade_submission

_WORKER = None  # the worker of this process, set by _init


def make_worker(assignment, folder):
    """A :class:`Worker` whose private files live in ``folder``."""
    from dlcourse.grading.inkernel import PrivateCourse

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    private = None
    if assignment.in_kernel != "none":
        private = PrivateCourse(
            folder / "course",
            assignment.course_dir,
            assignment.name,
            assignment.memory_mb,
            forbidden=[*assignment.forbidden, folder.parent],  # every worker's files
            os_sandbox=assignment.os_sandbox,
        )
    jobs = folder / "jobs"
    jobs.mkdir(exist_ok=True)
    exercises = load_exercises(assignment.course_dir, assignment.name)
    return Worker(assignment, exercises, ForkServer(), private, jobs)


def _init(assignment, root):
    global _WORKER
    # BLAS threads would fight the other workers for the same cores.
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = "1"
    _WORKER = make_worker(assignment, Path(root) / f"worker-{os.getpid()}")


def _grade(submission):
    return _grade_safely(_WORKER, submission)


def _grade_safely(worker, submission):
    try:
        return grade_submission(worker, submission)
    except Exception as err:  # a bug of ours must not stop the batch either
        record = _record(
            worker.assignment,
            submission.student_id,
            "error",
            f"grading failed ({type(err).__name__}: {err}); please report this",
        )
        return record


def grade_all(assignment, submissions, workers=1, progress=True):
    """Records of all ``submissions`` (in their order), graded by ``workers`` processes."""
    from tqdm import tqdm

    root = Path(tempfile.mkdtemp(prefix="dlcourse-autograde-"))
    records = {}
    bar = tqdm(
        total=len(submissions),
        desc="grading",
        unit="student",
        disable=not progress,
        file=sys.stderr,
    )
    try:
        if workers <= 1:
            worker = make_worker(assignment, root / "worker")
            try:
                for submission in submissions:
                    records[submission.student_id] = _grade_safely(worker, submission)
                    bar.update()
            finally:
                worker.stop()
        else:
            context = multiprocessing.get_context("spawn")
            with context.Pool(workers, initializer=_init, initargs=(assignment, root)) as pool:
                for record in pool.imap_unordered(_grade, submissions):
                    records[record["student_id"]] = record
                    bar.update()
                pool.close()
                pool.join()
    finally:
        bar.close()
        shutil.rmtree(root, ignore_errors=True)
    return [records[s.student_id] for s in submissions]
