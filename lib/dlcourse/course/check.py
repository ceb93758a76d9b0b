"""``dlcourse check``'s report: run a student's notebook and say, per check, what is wrong.

The notebook is copied to a temporary folder and run there from top to bottom,
every cell even after a failure, so the report covers every exercise. Each
grade cell (nbgrader ``"grade": true``) either passed or failed; a failure
carries the error's message, which for the course's checks is a diagnosis
("transposed: out has shape (3, 2) but should be (2, 3) ...").
"""

import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from dlcourse.course import cells
from dlcourse.course.execute import DEFAULT_TIMEOUT, error_output, execute_in_place, plain, ran

_NOT_WRITTEN = "not written yet: replace `raise NotImplementedError()` in {where} with your code"
_NOT_RUN = "did not run: the notebook stopped before this cell (see above)"
_DIED = "the Python kernel died while running this cell (out of memory? os._exit?)"
_TOO_SLOW = "stopped: the cell ran past the time limit (dlcourse check --timeout SECONDS)"


@dataclass
class CheckResult:
    """One grade cell: which check, of which exercise, worth how much, and the verdict."""

    check: str
    exercise: str | None
    points: float
    passed: bool
    message: str = ""


@dataclass
class CheckReport:
    notebook: Path
    results: list = field(default_factory=list)
    other_errors: list = field(default_factory=list)  # (cell label, message) outside the checks
    seconds: float = 0.0
    crash: str | None = None  # the kernel died or would not start

    @property
    def passed(self):
        return self.crash is None and bool(self.results) and all(r.passed for r in self.results)

    @property
    def score(self):
        return sum(r.points for r in self.results if r.passed)

    @property
    def total(self):
        return sum(r.points for r in self.results)


def describe_error(error, exercise=None):
    """A one-paragraph message for an error output: the exception and its message."""
    name, value = error.get("ename", "Error"), plain(error.get("evalue", "")).strip()
    if name == "NotImplementedError" and not value:
        where = f"`{exercise}`" if exercise else "the exercise above"
        return f"NotImplementedError: {_NOT_WRITTEN.format(where=where)}."
    if name == "KeyboardInterrupt":
        return f"KeyboardInterrupt: {_TOO_SLOW}."
    text = f"{name}: {value}" if value else name
    if name in _DIAGNOSES:  # a check's own verdict: its message says it all
        return text
    return "\n".join([text, *_context(error, text)])


_DIAGNOSES = ("AssertionError", "DeadKernelError")


def _context(error, text):
    """The learner's failing line and what the error usually means, as far as known."""
    from dlcourse.diagnose.errors import error_hint, failing_line

    extra = []
    where = failing_line([plain(t) for t in error.get("traceback", [])])
    if where:
        extra.append(f"  {where}")
    hint = error_hint(text)
    if hint:
        extra.append(hint)
    return extra


def _results(nb, died_in=None):
    """The verdict of every grade cell, and the errors raised by other cells.

    ``died_in`` is the index of the cell that was running when the kernel died.
    """
    results, other_errors = [], []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        error = error_output(cell)
        if index == died_in:
            error = {"ename": "DeadKernelError", "evalue": _DIED}
        if cells.is_grade(cell):
            exercise = cells.exercise_of(nb, index)
            if error is not None:
                message = describe_error(error, exercise)
            else:
                message = "" if ran(cell) else _NOT_RUN + "."
            results.append(
                CheckResult(
                    check=cells.grade_id(cell) or f"cell {index}",
                    exercise=exercise,
                    points=cells.points(cell),
                    passed=not message,
                    message=message,
                )
            )
        elif error is not None:
            gid = cells.grade_id(cell)
            label = f"cell {index}" + (f" ({gid})" if gid else "")
            other_errors.append((label, describe_error(error)))
    return results, other_errors


def check_notebook(path, *, timeout=DEFAULT_TIMEOUT):
    """Run the notebook at ``path`` (``.ipynb``, or a percent ``.py``) on a copy; report each check.

    The file itself is only read: the run happens on a copy in a temporary
    folder, which is deleted afterwards.
    """
    from dlcourse.course.source import read_notebook

    path = Path(path)
    report = CheckReport(notebook=path)
    with tempfile.TemporaryDirectory(prefix="dlcourse-check-") as tmp:
        copy = Path(tmp) / path.name
        shutil.copyfile(path, copy)
        nb = read_notebook(copy)
        start = time.perf_counter()
        started = []
        try:
            execute_in_place(nb, tmp, timeout=timeout, allow_errors=True, started=started)
        except Exception as err:  # the kernel died (out of memory, os._exit, ...)
            report.crash = f"{type(err).__name__}: {plain(str(err)).strip()}"
        report.seconds = time.perf_counter() - start
        died_in = started[-1] if report.crash and started else None
        report.results, report.other_errors = _results(nb, died_in)
    return report


def format_report(report):
    """The report as text: one line per check, with the diagnosis under each failure."""
    lines = [f"{report.notebook}"]
    if report.crash:
        lines.append(f"  the notebook could not run to the end: {report.crash}")
    if not report.results:
        lines.append('  no graded checks found (cells with nbgrader metadata "grade": true)')
    width = max((len(r.check) for r in report.results), default=0)
    for r in report.results:
        verdict = "PASS" if r.passed else "FAIL"
        exercise = f"  [{r.exercise}]" if r.exercise else ""
        earned = r.points if r.passed else 0
        lines.append(f"  {verdict}  {r.check:<{width}}  {earned:g}/{r.points:g}{exercise}")
        if not r.passed:
            lines.extend("        " + line for line in r.message.splitlines())
    for label, message in report.other_errors:
        lines.append(f"  note: {label}, not graded, raised {message.splitlines()[0]}")
    passed = sum(r.passed for r in report.results)
    lines.append(
        f"{passed} of {len(report.results)} visible checks passed, {report.score:g} of "
        f"{report.total:g} points in the notebook ({report.seconds:.1f} s)."
    )
    return "\n".join(lines)
