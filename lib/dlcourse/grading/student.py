"""Grade one student's submission: every exercise verified, then nbgrader's in-kernel pass.

The result is the student's record (see ``grading_contract``): a dict ready
for JSON, with the verified points of each graded cell, nbgrader's own score
next to it, the diagnosis of the first failing case and the reason when
nothing could be verified.
"""

import copy
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dlcourse.grading import notebook as nbfile
from dlcourse.grading.seeds import seed_for
from dlcourse.grading.verify import verify


@dataclass
class Assignment:
    """What every worker needs to know about the assignment being graded (picklable)."""

    name: str
    course_dir: Path
    source_text: str
    graded: list  # [(grade_id, points)] in notebook order
    setup_sources: dict  # grade_id -> source, the instructor's locked cells
    secret: bytes
    forbidden: list
    in_kernel: str = "full"  # nbgrader's pass: "full" notebook, "graded" cells only, "none"
    os_sandbox: bool = True  # False: --no-os-sandbox, the in-process guard alone

    @property
    def max_score(self):
        return float(sum(points for _, points in self.graded))


@dataclass
class Worker:
    """One grading worker's tools: the checks, a fork server, a private nbgrader course."""

    assignment: Assignment
    exercises: dict
    server: object
    private: object  # inkernel.PrivateCourse, or None without the in-kernel pass
    jobs: Path
    counter: list = field(default_factory=lambda: [0])
    sandboxes: object = None  # sandboxes.SandboxPool, made on first use

    def server_for(self, exercise):
        """Where ``exercise`` runs: its OS sandbox, or the plain fork server without one."""
        if not self.assignment.os_sandbox:
            return self.server
        if self.sandboxes is None:
            from dlcourse.grading.sandboxes import SandboxPool

            self.sandboxes = SandboxPool(
                self.jobs.parent / "sandboxes",
                self.assignment.forbidden,
                self.exercises.values(),
                self.assignment.setup_sources,
            )
        return self.sandboxes.server_for(exercise)

    def stop(self):
        self.server.stop()
        if self.sandboxes is not None:
            self.sandboxes.stop()


SANDBOX_OS = "os"  # every exercise ran in a bubblewrap sandbox
SANDBOX_IN_PROCESS = (
    "in-process guard only (--no-os-sandbox): student code could reach the grader's files"
)


def _record(assignment, student_id, status, reason=None):
    return {
        "student_id": student_id,
        "assignment": assignment.name,
        "score": 0.0,
        "max_score": assignment.max_score,
        "status": status,
        "reason": reason,
        "sandbox": SANDBOX_OS if assignment.os_sandbox else SANDBOX_IN_PROCESS,
        "flags": [],
        "exercises": [
            {
                "grade_id": gid,
                "points": 0.0,
                "max_points": float(points),
                "verified": False,
                "in_kernel": None,
                "disagrees": False,
                "diagnosis": None,
                "reason": reason,
                "limit": None,
                "human_override": None,  # a TA's regrade, set by the parent from the gradebook
            }
            for gid, points in assignment.graded
        ],
    }


def grade_submission(worker, submission):
    """The record of one :class:`~dlcourse.grading.submissions.Submission`."""
    assignment = worker.assignment
    sid = submission.student_id
    if submission.path is None:
        return _record(
            assignment, sid, "missing", f"no notebook for {assignment.name} was submitted"
        )
    try:
        nb = nbfile.read_submission(Path(submission.path))
    except nbfile.Unreadable as err:
        return _record(assignment, sid, "unreadable", f"the submission cannot be graded: {err}")

    record = _record(assignment, sid, "graded")
    clean, notes = nbfile.sanitized(nb)
    record["flags"].extend(notes)
    missing = nbfile.missing_cells(nb, _source_nb(assignment))
    if missing:
        record["flags"].append(
            "cells of the assignment are missing from the submission (deleted?): "
            + ", ".join(missing)
        )

    solutions = nbfile.code_by_grade_id(nb)
    for entry in record["exercises"]:
        entry["reason"] = None
        _verify_into(entry, worker, worker.exercises[entry["grade_id"]], sid, solutions)

    # Verified first, so that the in-kernel pass knows which cells would only wait out a limit.
    in_kernel = {}
    if worker.private is not None:
        import nbformat

        try:
            if assignment.in_kernel == "graded":
                clean = nbfile.graded_only(clean)
            in_kernel = worker.private.grade(
                sid, nbformat.writes(clean), _exhausted_cells(worker, record)
            )
        except Exception as err:
            record["flags"].append(f"nbgrader could not grade the notebook in its kernel: {err}")

    for entry in record["exercises"]:
        entry["in_kernel"] = in_kernel.get(entry["grade_id"])
        if entry["in_kernel"] is not None:
            in_kernel_passed = entry["in_kernel"] >= entry["max_points"]
            entry["disagrees"] = in_kernel_passed != entry["verified"]
            if entry["disagrees"]:
                record["flags"].append(_disagreement(entry["grade_id"], entry["verified"]))
    record["score"] = float(sum(e["points"] for e in record["exercises"]))
    return record


def _exhausted_cells(worker, record):
    """grade_ids of the check and solution cells of the exercises a limit stopped in the sandbox."""
    cells = set()
    for entry in record["exercises"]:
        if entry["limit"] in ("cpu", "memory", "killed", "wall"):
            cells.update((entry["grade_id"], *worker.exercises[entry["grade_id"]].solution))
    return cells


def _disagreement(grade_id, verified):
    if verified:
        return (
            f"{grade_id}: the in-kernel checks failed but the verified result passed "
            f"(an error elsewhere in the notebook, or a check cell that was edited)"
        )
    # The grader tests more than the visible checks (dtypes, other shapes), so an honest
    # mistake lands here too: the flag must not accuse the student.
    return (
        f"{grade_id}: the in-kernel checks passed but the verified result failed: either a "
        f"mistake that only the grader's own cases find (see the diagnosis), or tampering "
        f"with the notebook's checks"
    )


_SOURCE_CACHE = {}


def _source_nb(assignment):
    key = (assignment.name, hash(assignment.source_text))
    if key not in _SOURCE_CACHE:
        import nbformat

        _SOURCE_CACHE[key] = nbformat.reads(assignment.source_text, as_version=4)
    return _SOURCE_CACHE[key]


def _verify_into(entry, worker, exercise, student_id, solutions):
    assignment = worker.assignment
    absent = [gid for gid in exercise.solution if gid not in solutions]
    if absent:
        entry["reason"] = (
            f"solution cell {', '.join(absent)} is missing from the notebook, so there was "
            f"nothing to verify"
        )
        return
    rng = np.random.default_rng(
        seed_for(assignment.secret, assignment.name, student_id, exercise.grade_id)
    )
    cases = exercise.inputs(rng)
    expected = [exercise.expected(**copy.deepcopy(case)) for case in cases]
    worker.counter[0] += 1
    verdict = verify(
        exercise,
        cases,
        expected,
        setup=[(gid, assignment.setup_sources[gid]) for gid in exercise.setup],
        solution=[(gid, solutions[gid]) for gid in exercise.solution],
        forbidden=assignment.forbidden,
        server=worker.server_for(exercise),
        job_dir=None if assignment.os_sandbox else worker.jobs / f"job-{worker.counter[0]}",
    )
    entry["verified"] = verdict.passed
    entry["points"] = entry["max_points"] if verdict.passed else 0.0
    entry["diagnosis"] = verdict.diagnosis
    entry["reason"] = verdict.reason
    entry["limit"] = verdict.limit
