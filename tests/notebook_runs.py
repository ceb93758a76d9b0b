"""One execution per notebook per test session, shared by every test that reads its outputs.

The generic notebook tests and the chapter tests ask the same ``runs`` fixture
(registered in conftest.py), so a chapter that takes a minute runs once.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 300  # per cell; the 60 s budget per notebook is reported, not enforced here


class Runs:
    """Executes each notebook at most once and remembers ``(executed notebook, seconds)``."""

    def __init__(self, tmp_path_factory):
        self._tmp = tmp_path_factory
        self._done = {}

    def _run(self, key, load):
        from dlcourse.course.execute import execute

        if key not in self._done:
            workdir = self._tmp.mktemp(key.replace("/", "-"))
            self._done[key] = execute(load(), workdir, timeout=TIMEOUT, allow_errors=True)
        return self._done[key]

    def solution(self, chapter):
        from dlcourse.course.source import read_solution

        return self._run(
            f"solutions/{chapter}", lambda: read_solution(ROOT / "solutions" / f"{chapter}.py")
        )

    def solution_output(self, chapter):
        """What the solution notebook printed, after checking that no cell raised."""
        from dlcourse.course.execute import first_error, plain

        nb, seconds = self.solution(chapter)
        error = first_error(nb)
        assert error is None, f"solutions/{chapter}.py raised:\n{plain(str(error))}"
        print(f"\n{chapter} executed in {seconds:.1f} s")
        return printed(nb)

    def student(self, chapter):
        import nbformat
        import pytest

        path = ROOT / "course" / f"{chapter}.ipynb"
        if not path.exists():
            pytest.fail(
                f"course/{chapter}.ipynb is missing: run `dlcourse build` and commit course/."
            )
        return self._run(f"course/{chapter}", lambda: nbformat.read(path, as_version=4))


def printed(nb):
    """Everything the code cells of an executed notebook printed to stdout, in order."""
    return "".join(
        out.get("text", "")
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.get("output_type") == "stream" and out.get("name") == "stdout"
    )
