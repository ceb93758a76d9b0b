"""After ``dlcourse check`` ran a notebook: what the grader would say, where it disagrees.

The notebook's visible checks test less than the grader's own checks
(``autograder/checks/NN-name.py``; each notebook's "How this notebook is
graded" lists the rest). So plain ``dlcourse check`` also runs those checks,
the way ``dlcourse check --grader`` does (:func:`check_like_the_grader`, one
code path), and names every exercise whose visible checks passed but from
which the grader would take points. Its verdict is the grader's: a check that
passes in the notebook is no promise when the grader disagrees.
"""

import time
from dataclasses import dataclass


@dataclass
class GraderOpinion:
    """The grader's record of the notebook, or why its checks were not run."""

    record: dict | None
    seconds: float = 0.0
    not_run: str | None = None

    @property
    def full_marks(self):
        record = self.record
        return (
            record is not None
            and record["status"] == "graded"
            and (record["score"] == record["max_score"])
        )


def ask_the_grader(path, seed=0):
    """Run the grader's checks on the notebook at ``path``; a :class:`GraderOpinion`."""
    from dlcourse.grading.selfcheck import SelfCheckError, check_like_the_grader

    start = time.perf_counter()
    try:
        record = check_like_the_grader(path, seed=seed).record
    except SelfCheckError as err:  # no checkout, no checks for this chapter, ...
        return GraderOpinion(None, not_run=str(err))
    except Exception as err:  # the grader's own machinery failed: say so, keep the report
        return GraderOpinion(None, not_run=f"{type(err).__name__}: {err}")
    return GraderOpinion(record, time.perf_counter() - start)


def overruled(report, record):
    """The grader's entries for the checks that passed in the notebook but lose points."""
    passed = {r.check for r in report.results if r.passed}
    return [
        entry
        for entry in record["exercises"]
        if entry["grade_id"] in passed and entry["points"] < entry["max_points"]
    ]


def format_opinion(report, opinion):
    """The lines plain ``dlcourse check`` prints after the notebook's own report."""
    from dlcourse.grading.selfcheck import entry_reason

    if opinion.record is None:
        return f"The grader's extra checks were not run: {opinion.not_run}"
    record = opinion.record
    lines = []
    if record["status"] != "graded":
        lines.append(f"The grader cannot grade this notebook: {record['reason']}")
    for entry in overruled(report, record):
        points = f"{entry['points']:g} / {entry['max_points']:g}"
        lines.append(
            f"  {entry['grade_id']}: the notebook's checks pass, but the grader would give "
            f"{points}:"
        )
        lines.extend("        " + line for line in entry_reason(entry).splitlines())
    if lines and record["status"] == "graded":
        lines.insert(0, "The grader's own checks test more (see 'How this notebook is graded'):")
    lines.append(
        f"The grader would give {record['score']:g} / {record['max_score']:g} "
        f"(its checks on local inputs, {opinion.seconds:.1f} s; --no-grader skips them)."
    )
    return "\n".join(lines)


def exit_code(report, opinion):
    """0 when the notebook's checks pass and the grader, when it ran, gives full marks."""
    if not report.passed:
        return 1
    if opinion is None or opinion.record is None:
        return 0
    return 0 if opinion.full_marks else 1
