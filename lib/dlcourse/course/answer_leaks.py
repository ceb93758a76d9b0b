"""The behavioural leak test: no visible function of a student notebook computes an answer.

The marker scan of :mod:`dlcourse.course.leaks` sees text; this test sees
behaviour. A visible check cell that defines ``gelu_reference(dout, x)``, the
whole solution of the exercise above it, has no marker left in it, yet gives
the answer away. So the build runs the student version's visible cells in a
child process (:mod:`dlcourse.course.leak_probe`), calls every function they
define with the inputs of the chapter's graded exercises
(``autograder/checks/NN-name.py``), and fails when one returns the reference
answer. Each problem is a sentence naming the function, its cell and the
exercise.
"""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from dlcourse.course import cells

TIMEOUT_S = 120  # for a whole chapter; a chapter takes a few seconds

# Visible functions that compute an answer and are let through, each with the reason, by
# chapter. Keep it short: an entry is a decision someone made, and tests/test_course_leak_lint.py
# fails once an entry is no longer needed, so the list cannot outlive its reasons.
ACCEPTED = {
    "00-fancy-calculators": {
        "standardize_by_loop": "the slow loop that exercise 2 asks to vectorise: its numbers are "
        "the exercise's specification, given on purpose",
    },
}


class LeakTestError(Exception):
    """The leak test itself could not run; the message says why."""


def cell_label(index, cell):
    gid = cells.grade_id(cell)
    return f"cell {index}" + (f" ({gid})" if gid else "")


def job_cells(student):
    """The student version's code cells, each with how the child should run it.

    Set-up cells (locked, not graded) run whole, as the grader runs them;
    solution cells (the stubs) and every other cell only define things.
    """
    job = []
    for index, cell in enumerate(student.cells):
        if cell.cell_type != "code":
            continue
        meta = cells.nbgrader_meta(cell)
        job.append(
            {
                "label": cell_label(index, cell),
                "grade_id": cells.grade_id(cell),
                "solution": cells.is_solution(cell),
                "whole": bool(meta.get("locked")) and not cells.is_grade(cell),
                "source": cell.source,
            }
        )
    return job


def instructor_solutions(source):
    """The source notebook's solution cells: the instructor's answers, by grade_id."""
    return [
        {"grade_id": cells.grade_id(cell), "source": cell.source}
        for cell in source.cells
        if cell.cell_type == "code" and cells.is_solution(cell)
    ]


def describe(finding):
    """The problem sentence for one finding of the child."""
    solution = ", ".join(finding["solution"]) or "its answer"
    return (
        f"{finding['cell']}: the visible function {finding['function']} computes the answer "
        f"of exercise {finding['exercise']} ({solution}): {finding['how']}, it returned the "
        f"reference answer for {finding['matched']} of {finding['cases']} inputs. A visible "
        f"check must not contain the solution: take the expected values from finite "
        f"differences, known answers written as numbers, or properties."
    )


def _run_child(job, timeout):
    with tempfile.TemporaryDirectory(prefix="dlcourse-leak-test-") as scratch:
        job_file, result_file = Path(scratch) / "job.json", Path(scratch) / "result.json"
        job_file.write_text(json.dumps(job), encoding="utf-8")
        environment = {**os.environ, "MPLBACKEND": "Agg", "TF_CPP_MIN_LOG_LEVEL": "3"}
        command = [sys.executable, "-m", "dlcourse.course.leak_probe", str(job_file)]
        try:
            done = subprocess.run(
                [*command, str(result_file)],
                cwd=scratch,  # whatever a cell writes lands in the scratch folder
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired as err:
            raise LeakTestError(f"the leak test did not finish within {timeout} s") from err
        if done.returncode != 0 or not result_file.exists():
            tail = done.stderr.decode("utf-8", errors="replace")[-2000:]
            raise LeakTestError(f"the leak test failed (exit code {done.returncode}):\n{tail}")
        return json.loads(result_file.read_text(encoding="utf-8"))


def probe(student, source, checks_file, *, timeout=TIMEOUT_S):
    """The child's raw result for one chapter: findings, problems, candidates and seconds."""
    job = {
        "checks": str(Path(checks_file).resolve()),
        "cells": job_cells(student),
        "solutions": instructor_solutions(source),
    }
    return _run_child(job, timeout)


def answer_leaks(student, source, checks_file, *, accepted=None, timeout=TIMEOUT_S):
    """Problems (sentences) for the visible functions of ``student`` that give an answer away.

    student: the released notebook; source: the instructor's notebook, whose
    solution cells stand in for an exercise's other functions; checks_file: the
    chapter's ``autograder/checks/NN-name.py``; accepted: names of functions let
    through (default: this chapter's entry of :data:`ACCEPTED`). A leak test that
    cannot run is a problem too: the build must not publish what it could not check.
    """
    if accepted is None:
        accepted = ACCEPTED.get(Path(checks_file).stem, {})
    try:
        result = probe(student, source, checks_file, timeout=timeout)
    except LeakTestError as err:
        return [str(err)]
    return problems_in(result, accepted)


def problems_in(result, accepted=()):
    """The problem sentences of a child's result, leaving out the ``accepted`` functions."""
    findings = [f for f in result["findings"] if f["function"] not in accepted]
    return [describe(f) for f in findings] + result["problems"]
