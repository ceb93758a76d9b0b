"""Every chapter runs: solutions from top to bottom, student versions up to their first exercise.

Each notebook is executed once per test session (in a fresh kernel, in a
temporary folder) and the runs are shared by the tests below; the time each run
took is printed (a figure to report, not something to assert on). New chapters
in solutions/ are picked up automatically.
"""

import html

import pytest

pytest.importorskip("nbclient", reason="running notebooks needs nbclient (extra 'course')")
pytest.importorskip("jupytext", reason="reading the solutions needs jupytext (extra 'course')")

from dlcourse.course import cells  # noqa: E402
from dlcourse.course.execute import error_output, first_error, plain  # noqa: E402
from test_course_samples import ROOT  # noqa: E402

SOLUTIONS = sorted((ROOT / "solutions").glob("[0-9]*.py"))
CHAPTERS = [p.stem for p in SOLUTIONS]


def _say(capsys, line):
    with capsys.disabled():
        print(f"\n    {line}", end="")


def _describe(nb, index, error):
    gid = cells.grade_id(nb.cells[index])
    where = f"cell {index}" + (f" ({gid})" if gid else "")
    trace = plain("\n".join(error.get("traceback", [])))
    return f"{where} raised {error['ename']}: {plain(error['evalue'])}\n{trace}"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_solution_runs_top_to_bottom_without_error(runs, chapter, capsys):
    nb, seconds = runs.solution(chapter)
    _say(capsys, f"solutions/{chapter}.py ran in {seconds:.1f} s")
    found = first_error(nb)
    assert found is None, f"solutions/{chapter}.py: {_describe(nb, *found)}"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_student_version_fails_first_at_its_first_exercise(runs, chapter, capsys):
    nb, seconds = runs.student(chapter)
    _say(capsys, f"course/{chapter}.ipynb ran in {seconds:.1f} s")
    graded = cells.grade_cells(nb)
    found = first_error(nb)
    if not graded:  # a chapter without exercises must simply run
        assert found is None, f"course/{chapter}.ipynb: {_describe(nb, *found)}"
        return
    first_check, check = graded[0]
    assert found is not None, (
        f"course/{chapter}.ipynb ran without any error: its first check "
        f"({cells.grade_id(check)}) passes before the exercise is solved."
    )
    index, error = found
    assert index == first_check, (
        f"course/{chapter}.ipynb should fail first in its first check, cell {first_check} "
        f"({cells.grade_id(check)}), but {_describe(nb, index, error)}"
    )
    assert error["ename"] == "NotImplementedError", _describe(nb, index, error)


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_no_check_passes_in_the_student_version(runs, chapter):
    # nbgrader's `validate --invert`: a check that passes before anything is solved
    # gives its points away (often a grade cell left with hidden tests only).
    nb, _ = runs.student(chapter)
    free = [cells.grade_id(c) for _, c in cells.grade_cells(nb) if error_output(c) is None]
    assert not free, f"course/{chapter}.ipynb: these checks pass without a solution: {free}"


def _source_title(chapter):
    # Read straight from the .py file, independently of the code under test.
    text = (ROOT / "solutions" / f"{chapter}.py").read_text(encoding="utf-8")
    for line in text.splitlines():
        if line.startswith("# # "):
            return line[4:].strip()
    return chapter


def test_book_has_a_contents_page_and_every_chapter(runs, tmp_path):
    pytest.importorskip("nbconvert", reason="the book is rendered by nbconvert (extra 'course')")
    from dlcourse.course.book import build_book

    executed = {chapter: runs.solution(chapter)[0] for chapter in CHAPTERS}
    build_book(SOLUTIONS, tmp_path, executed=executed)
    index = (tmp_path / "index.html").read_text(encoding="utf-8")
    for chapter in CHAPTERS:
        title = html.escape(_source_title(chapter))
        assert f'<a href="{chapter}.html">{title}</a>' in index
        page = (tmp_path / f"{chapter}.html").read_text(encoding="utf-8")
        assert f"<title>{title}</title>" in page
        assert 'href="index.html"' in page
        assert "BEGIN SOLUTION" not in page and "END HIDDEN TESTS" not in page
