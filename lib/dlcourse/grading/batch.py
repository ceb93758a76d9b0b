"""Grade many students with worker processes, under a supervisor that no worker can stop.

Each worker is a process of its own (``python -I -m dlcourse.grading.batch_worker``,
started from a private folder) that builds a :class:`~dlcourse.grading.student.Worker`:
the checks, a fork server for the sandboxes and a private nbgrader course with
its own copy of the gradebook. Workers only return records; the parent alone
writes the real gradebook and the output files, so no two processes ever
write one file.

The supervisor checks every reply: a worker that dies, takes longer than the
per-submission limit or answers anything but a well-formed record of the
submission it was sent is killed with its whole process group, and the
submission is tried once more on a fresh worker; failing again, it gets a
record with status "error". Either way the batch goes on, and
:func:`grade_all` always returns.
"""

import dataclasses
import math
import os
import pickle
import random
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import deque
from pathlib import Path

from dlcourse.grading import frames
from dlcourse.grading.checks import load_exercises
from dlcourse.grading.student import Worker, _record, grade_submission
from dlcourse.grading.verify import LIMITS, longest_wait

BASE_LIMIT_S = 600.0  # per submission, on top of its exercises' own limits
START_TIMEOUT_S = 300.0  # a worker imports NumPy, nbgrader and the checks, and warms kernels
STOP_GRACE_S = 30.0  # for a worker to clean up after its last submission
MAX_START_FAILURES = 3  # workers that failed to start in a row: the batch cannot be graded
ATTEMPTS = 2  # each submission is tried on at most this many workers
STATUSES = ("graded", "unreadable", "missing", "error")
_BLAS_THREADS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def make_worker(assignment, folder):
    """A :class:`Worker` whose private files live in ``folder``."""
    from dlcourse.grading.forkserver import ForkServer
    from dlcourse.grading.inkernel import PrivateCourse

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    exercises = load_exercises(assignment.course_dir, assignment.name)
    private = None
    if assignment.in_kernel != "none":
        private = PrivateCourse(
            folder / "course",
            assignment.course_dir,
            assignment.name,
            kernel_memory_mb(exercises.values()),
            forbidden=[*assignment.forbidden, folder.parent],  # every worker's files
            os_sandbox=assignment.os_sandbox,
            kernel_preload=_kernel_preload(assignment),
        )
    jobs = folder / "jobs"
    jobs.mkdir(exist_ok=True)
    return Worker(assignment, exercises, ForkServer(), private, jobs)


def kernel_memory_mb(exercises):
    """The memory nbgrader's pass may use: the most any one exercise may use in the sandbox.

    The whole notebook then needs no more than its hungriest exercise, and a memory bomb
    costs each worker that much at most, whichever of the two passes it goes off in.
    """
    return max(exercise.memory_mb for exercise in exercises)


def _kernel_preload(assignment):
    """The optional modules worth importing in the kernels' template: those the cells that
    nbgrader's pass runs may use."""
    import nbformat

    from dlcourse.grading import notebook as nbfile
    from dlcourse.grading.warm_kernels import optional_preload

    nb = nbformat.reads(assignment.source_text, as_version=4)
    if assignment.in_kernel == "graded":
        nb = nbfile.graded_only(nb)
    return optional_preload(c.source for c in nb.cells if c.cell_type == "code")


def close_worker(worker):
    """Stop what a worker started (its fork server and sandboxes)."""
    worker.stop()


def grade_safely(worker, submission):
    """:func:`grade_submission`, with a bug of ours turned into an "error" record."""
    try:
        return grade_submission(worker, submission)
    except Exception as err:
        return _record(
            worker.assignment,
            submission.student_id,
            "error",
            f"grading failed ({type(err).__name__}: {err}); please report this",
        )


def default_limit(assignment):
    """The wall-clock limit of one submission: generous, so only a stuck worker reaches it."""
    exercises = load_exercises(assignment.course_dir, assignment.name).values()
    return BASE_LIMIT_S + sum(longest_wait(e) for e in exercises)


def graded_order(name, count):
    """The order submissions are graded in: shuffled, the same on every run of ``name``.

    Similar submissions (a class's late ones, one tutor's group) arrive
    together; shuffled, the progress bar's estimate is not skewed by them.
    """
    order = list(range(count))
    random.Random(f"dlcourse autograde {name}").shuffle(order)
    return order


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _optional_text(value):
    return value is None or isinstance(value, str)


def _exercise_problem(entry, grade_id, points):
    if not isinstance(entry, dict) or entry.get("grade_id") != grade_id:
        return f"its exercises are not the graded cells of the assignment (expected {grade_id})"
    if not (_number(entry.get("max_points")) and entry["max_points"] == float(points)):
        return f"{grade_id}: max_points is not {points:g}"
    if not (_number(entry.get("points")) and 0 <= entry["points"] <= entry["max_points"]):
        return f"{grade_id}: points are not a number between 0 and {points:g}"
    if not (isinstance(entry.get("verified"), bool) and isinstance(entry.get("disagrees"), bool)):
        return f"{grade_id}: verified or disagrees is not true or false"
    if entry.get("in_kernel") is not None and not _number(entry["in_kernel"]):
        return f"{grade_id}: in_kernel is not a number"
    if not (_optional_text(entry.get("diagnosis")) and _optional_text(entry.get("reason"))):
        return f"{grade_id}: diagnosis or reason is not text"
    if entry.get("human_override") is not None and not _number(entry["human_override"]):
        return f"{grade_id}: human_override is not a number"
    if entry.get("limit") not in (None, *LIMITS):
        return f"{grade_id}: limit is not one of {', '.join(LIMITS)} or null"
    return None


def check_record(record, assignment, student_id):
    """Why ``record`` is not a well-formed record of ``student_id``'s submission, or None."""
    if not isinstance(record, dict):
        return "it is not a JSON object"
    if record.get("student_id") != student_id:
        return "it is the record of another student"
    if record.get("assignment") != assignment.name:
        return "it is the record of another assignment"
    if record.get("status") not in STATUSES:
        return f"its status is not one of {', '.join(STATUSES)}"
    flags = record.get("flags")
    if not _optional_text(record.get("reason")) or not (
        isinstance(flags, list) and all(isinstance(f, str) for f in flags)
    ):
        return "its reason or flags are not text"
    exercises = record.get("exercises")
    if not isinstance(exercises, list) or len(exercises) != len(assignment.graded):
        return "its exercises are not the graded cells of the assignment"
    for entry, (grade_id, points) in zip(exercises, assignment.graded):
        problem = _exercise_problem(entry, grade_id, points)
        if problem:
            return problem
    total = sum(e["points"] for e in exercises)
    if not (_number(record.get("score")) and abs(record["score"] - total) <= 1e-9 * (1 + total)):
        return "its score is not the sum of its exercises' points"
    if record.get("max_score") != assignment.max_score:
        return "its max_score is not the assignment's"
    return None


@dataclasses.dataclass
class _Job:
    index: int
    submission: object
    failures: list = dataclasses.field(default_factory=list)


def _describe_exit(returncode):
    if returncode is None:
        return "stopped answering"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"was killed ({name}; out of memory?)"
    return f"exited with code {returncode}"


class _Process:
    """One worker process: its pipes, what it was sent, what it owes."""

    def __init__(self, root, number, assignment_bytes, env):
        self.folder = Path(root) / f"worker-{number}"
        self.popen = subprocess.Popen(
            [sys.executable, "-I", "-m", "dlcourse.grading.batch_worker", str(self.folder)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=root,  # never the user's folder: nothing planted there is imported
            env=env,
            start_new_session=True,  # its own process group, killed as a whole
        )
        self.pid = self.popen.pid
        os.set_blocking(self.popen.stdin.fileno(), False)
        os.set_blocking(self.popen.stdout.fileno(), False)
        self.outbox = bytearray(frames.encode(assignment_bytes))
        self.reader = frames.Reader()
        self.ready = False
        self.job = None  # the _Job being graded
        self.token = None  # what its reply must quote
        self.reserved = None  # a _Job to retry here first
        self.retired = False  # its stdin is closed: it is shutting down
        self.deadline = time.monotonic() + START_TIMEOUT_S

    def send(self, message):
        self.outbox += frames.encode_json(message)
        self.flush()

    def flush(self):
        """Write what the pipe takes now; False when the worker closed it."""
        try:
            while self.outbox:
                del self.outbox[: os.write(self.popen.stdin.fileno(), self.outbox)]
        except BlockingIOError:
            pass
        except OSError:
            return False
        return True

    def receive(self):
        """``(payloads, closed)`` of what can be read now."""
        payloads = []
        while True:
            try:
                data = os.read(self.popen.stdout.fileno(), 1 << 16)
            except BlockingIOError:
                return payloads, False
            if not data:
                return payloads, True
            payloads += self.reader.feed(data)

    def retire(self):
        """Close its stdin, which tells it to clean up and exit."""
        self.retired = True
        try:
            self.popen.stdin.close()
        except OSError:
            pass

    def exited(self):
        """Whether the worker has ended (without reaping it: its group id stays its own)."""
        try:
            return os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
        except ChildProcessError:
            return True

    def kill(self):
        """Kill the worker's whole process group, reap it; return its exit code."""
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        returncode = self.popen.wait()
        for pipe in (self.popen.stdin, self.popen.stdout):
            try:
                pipe.close()
            except OSError:
                pass
        return returncode


class Supervisor:
    """Runs jobs on up to ``workers`` processes; ``done(index, record)`` gets each record."""

    def __init__(self, assignment, workers, limit_s, root, done, on_start=None):
        self.assignment = assignment
        self.workers = max(1, workers)
        self.limit_s = limit_s
        self.root = Path(root)
        self.done = done
        self.on_start = on_start  # on_start(student_id, pid) when a worker takes a submission
        self.assignment_bytes = pickle.dumps(assignment)
        self.env = {**os.environ, **dict.fromkeys(_BLAS_THREADS, "1")}  # no BLAS thread fights
        self.processes = []
        self.pending = deque()
        self.started = 0
        self.start_failures = 0

    def run(self, jobs):
        self.pending.extend(jobs)
        try:
            while self._remaining():
                self._spawn_as_needed()
                self._dispatch()
                self._wait_and_handle()
            self._stop_all()
        finally:
            for process in self.processes:
                process.kill()
            self.processes = []

    def _remaining(self):
        owed = sum(p.job is not None or p.reserved is not None for p in self.processes)
        return len(self.pending) + owed

    def _spawn(self, reserved=None):
        self.started += 1
        process = _Process(self.root, self.started, self.assignment_bytes, self.env)
        process.reserved = reserved
        self.processes.append(process)

    def _spawn_as_needed(self):
        while len(self.processes) < min(self.workers, self._remaining()):
            self._spawn()

    def _dispatch(self):
        for process in self.processes:
            if not process.ready or process.job is not None or process.retired:
                continue
            job, process.reserved = process.reserved, None
            if job is None and self.pending:
                job = self.pending.popleft()
            if job is None:  # nothing left for it: it shuts down while the others finish
                process.retire()
                continue
            process.job, process.token = job, os.urandom(16).hex()
            process.deadline = time.monotonic() + self.limit_s
            path = job.submission.path
            process.send(
                {"job": process.token, "student_id": job.submission.student_id, "path": str(path)}
            )
            if self.on_start is not None:
                self.on_start(job.submission.student_id, process.pid)

    def _wait_and_handle(self):
        now = time.monotonic()
        timeout = min([p.deadline - now for p in self.processes] + [1.0])
        readers = {p.popen.stdout.fileno(): p for p in self.processes}
        writers = {p.popen.stdin.fileno(): p for p in self.processes if p.outbox and not p.retired}
        readable, writable, _ = select.select(list(readers), list(writers), [], max(timeout, 0))
        for fd in writable:
            if not writers[fd].flush():
                self._fail(writers[fd], "closed its pipe")
        for fd in readable:
            process = readers[fd]
            if process in self.processes:
                self._read(process)
        now = time.monotonic()
        for process in list(self.processes):
            if process.deadline <= now:
                self._fail(process, self._too_slow(process))
            elif process.exited():
                self._read(process)  # its last words, if any
                if process in self.processes:
                    self._fail(process, None)

    def _too_slow(self, process):
        if process.job is None:
            return f"did not start within {START_TIMEOUT_S:g} s"
        return f"took longer than {self.limit_s:g} s on this submission"

    def _read(self, process):
        try:
            payloads, closed = process.receive()
            for payload in payloads:
                self._handle(process, frames.decode_json(payload))
                if process not in self.processes:
                    return
        except frames.BadFrame as err:
            self._fail(process, f"answered with something that is not a record ({err})")
            return
        if closed:
            self._fail(process, None)

    def _handle(self, process, message):
        if not process.ready:
            if message == {"ready": True}:
                process.ready, process.deadline = True, math.inf
                self.start_failures = 0
            elif isinstance(message.get("setup_error"), str):
                self._fail(process, f"could not start: {message['setup_error']}")
            else:
                self._fail(process, "answered with something that is not a record")
            return
        job = process.job
        if job is None or message.get("job") != process.token or set(message) != {"job", "record"}:
            self._fail(process, "answered with something that is not a record of this submission")
            return
        record = message["record"]
        problem = check_record(record, self.assignment, job.submission.student_id)
        if problem:
            self._fail(process, f"answered with a record that is not well formed: {problem}")
            return
        process.job, process.token, process.deadline = None, None, math.inf
        self.done(job.index, record)

    def _fail(self, process, why):
        """Kill ``process``; retry its submission on a fresh worker, or give it an error record."""
        returncode = process.kill()
        self.processes.remove(process)
        why = why or _describe_exit(returncode)
        job = process.job
        if job is not None:
            job.failures.append(why)
            if len(job.failures) >= ATTEMPTS:
                self._give_up(job)
            else:
                self._spawn(reserved=job)
            return
        if process.reserved is not None:
            self.pending.appendleft(process.reserved)  # it never got the submission
        if not process.ready:
            self.start_failures += 1
            if self.start_failures >= MAX_START_FAILURES:
                self._abandon(why)

    def _give_up(self, job):
        reason = (
            "the grader failed on this submission twice, on two fresh processes (it "
            + "; then it ".join(job.failures)
            + "); the other submissions were graded. Please report this"
        )
        self.done(job.index, _record(self.assignment, job.submission.student_id, "error", reason))

    def _abandon(self, why):
        """No worker can start: every submission left gets an error record saying why."""
        reason = f"the grading processes could not start (the last one {why})"
        jobs = list(self.pending)
        self.pending.clear()
        for process in self.processes:
            jobs += [j for j in (process.job, process.reserved) if j is not None]
            process.kill()
        self.processes = []
        for job in jobs:
            self.done(
                job.index, _record(self.assignment, job.submission.student_id, "error", reason)
            )

    def _stop_all(self):
        """Close every worker's input and give it time to clean up; then kill what is left."""
        for process in self.processes:
            process.retire()
        deadline = time.monotonic() + STOP_GRACE_S
        while time.monotonic() < deadline and not all(p.exited() for p in self.processes):
            time.sleep(0.05)


def _direct_record(assignment, submission):
    """The record of a submission that needs no worker (refused or missing), or None."""
    if submission.status is not None:
        return _record(assignment, submission.student_id, submission.status, submission.reason)
    if submission.path is None:
        return _record(
            assignment,
            submission.student_id,
            "missing",
            f"no notebook for {assignment.name} was submitted",
        )
    return None


def grade_all(
    assignment,
    submissions,
    workers=1,
    progress=True,
    on_record=None,
    limit_s=None,
    stamp=None,
    on_start=None,
):
    """Records of all ``submissions`` (in their order), graded by ``workers`` processes.

    ``submissions`` are :class:`~dlcourse.grading.submissions.Submission`\\ s,
    best :func:`~dlcourse.grading.submissions.snapshot` copies (their hash goes
    into the record as ``submission_sha256``). ``on_record(submission, record)``
    is called as each record arrives, in the (shuffled) order of grading;
    ``stamp`` is a dict added to every record; ``limit_s`` is the wall-clock
    limit of one submission (default: :func:`default_limit`); ``on_start(
    student_id, pid)`` is called when a worker process takes a submission.
    """
    from tqdm import tqdm

    limit_s = default_limit(assignment) if limit_s is None else float(limit_s)
    records = [None] * len(submissions)
    bar = tqdm(
        total=len(submissions),
        desc="grading",
        unit="student",
        disable=not progress,
        file=sys.stderr,
    )

    def done(index, record):
        submission = submissions[index]
        record.update(stamp or {})
        record["submission_sha256"] = submission.sha256
        record["flags"] = [*record["flags"], *submission.flags]
        records[index] = record
        if on_record is not None:
            on_record(submission, record)
        bar.update()

    jobs = []
    for index in graded_order(assignment.name, len(submissions)):
        record = _direct_record(assignment, submissions[index])
        if record is not None:
            done(index, record)
        else:
            jobs.append(_Job(index, submissions[index]))
    root = Path(tempfile.mkdtemp(prefix="dlcourse-autograde-"))
    try:
        if jobs:
            Supervisor(assignment, workers, limit_s, root, done, on_start).run(jobs)
    finally:
        bar.close()
        shutil.rmtree(root, ignore_errors=True)
    return records
