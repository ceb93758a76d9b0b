"""A grading worker process: ``python -I -m dlcourse.grading.batch_worker FOLDER``.

Started by :mod:`dlcourse.grading.batch` only, from a private folder, in
isolated mode (no PYTHONPATH, no user site, not the current folder), so
nothing planted near the submissions is imported. It runs trusted code only:
the student's code runs in the sandboxes the :class:`Worker` starts.

The protocol (frames of :mod:`dlcourse.grading.frames`), on the process's
original stdin and stdout, which are moved away at once so that nothing
else printed can be taken for a message:

- parent -> worker: first the pickled :class:`~dlcourse.grading.student.Assignment`,
  then JSON ``{"job": TOKEN, "student_id": ID, "path": NOTEBOOK}`` per submission;
- worker -> parent: JSON ``{"ready": true}`` or ``{"setup_error": TEXT}``, then
  ``{"job": TOKEN, "record": RECORD}`` per submission.

The worker exits when its stdin closes (the parent is done, or died).
"""

import json
import os
import pickle
import sys
from pathlib import Path

from dlcourse.grading import frames


def _take_protocol_fds():
    """Private copies of stdin and stdout; fd 0 becomes /dev/null and fd 1 stderr."""
    requests, replies = os.dup(0), os.dup(1)  # dup()s are close-on-exec
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(2, 1)
    os.close(devnull)
    return requests, replies


def _send(fd, message):
    frames.write_all(fd, frames.encode_json(message))


def _json_ready(record, assignment, student_id):
    """The record, or an error record when it cannot travel as JSON (a bug of ours)."""
    from dlcourse.grading.student import _record

    try:
        json.dumps(record)
        return record
    except (TypeError, ValueError) as err:
        return _record(
            assignment, student_id, "error", f"the record is not JSON ({err}); please report this"
        )


def serve(requests, replies, folder):
    from dlcourse.grading.batch import close_worker, grade_safely, make_worker
    from dlcourse.grading.submissions import Submission

    payload = frames.read_frame(requests)
    if payload is None:
        return 0
    try:
        assignment = pickle.loads(payload)  # from the parent, which is trusted
        worker = make_worker(assignment, folder)
    except Exception as err:
        _send(replies, {"setup_error": f"{type(err).__name__}: {err}"})
        return 1
    try:
        _send(replies, {"ready": True})
        while (payload := frames.read_frame(requests)) is not None:
            job = frames.decode_json(payload)
            sid = job["student_id"]
            record = grade_safely(worker, Submission(sid, Path(job["path"])))
            _send(replies, {"job": job["job"], "record": _json_ready(record, assignment, sid)})
    except BrokenPipeError:
        return 0  # the parent is gone: nobody is waiting for the record
    finally:
        close_worker(worker)
    return 0


def main(argv=None):
    from dlcourse.quick_imports import skip_unused

    skip_unused()
    argv = sys.argv[1:] if argv is None else argv
    requests, replies = _take_protocol_fds()
    return serve(requests, replies, Path(argv[0]))


def _exit_now(code):
    """End without the interpreter's shutdown: Jupyter's and ZeroMQ's exit handlers take up
    to a second, while the grader waits, and nothing is left to save (every record was sent
    over the pipe unbuffered, the worker's folder is the parent's to delete)."""
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    _exit_now(main())
