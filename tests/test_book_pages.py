"""The book's pages as HTML (no browser): offline, no stderr, set-up folded, contents once.

tests/test_browser_book_offline.py opens such pages in Chromium; these tests
read the HTML that ``render_page`` and ``index_page`` write.
"""

import re

import pytest

from dlcourse.course import cells
from dlcourse.course.book import BookChapter, index_page, render_page

pytest.importorskip("nbconvert", reason="dlcourse book needs nbconvert (extra 'course')")
pytest.importorskip("latex2mathml", reason="dlcourse book needs latex2mathml (extra 'course')")

CUDA_NOISE = "E0000 cuda_executor.cc: failed call to cuInit: CUDA_ERROR_NO_DEVICE\n"


def nbgrader(grade_id, *, grade=False, solution=False, locked=True):
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "solution": solution}
    return {"nbgrader": {**meta, "schema_version": 3}}


def chapter():
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

    return new_notebook(
        cells=[
            new_markdown_cell("# 97. A chapter\n\n## The gradient $dW$\n\n$$L = \\frac{1}{N}$$"),
            new_code_cell("import sys", metadata=nbgrader("setup")),
            new_code_cell("def helper(): ...", metadata=nbgrader("check_helpers")),
            new_code_cell("def given(): ...", metadata=nbgrader("gelu_forward")),
            new_code_cell(
                "import tensorflow as tf",
                outputs=[
                    new_output("stream", name="stderr", text=CUDA_NOISE),
                    new_output("stream", name="stdout", text="cost: $5 and $$x$$\n"),
                ],
            ),
            new_code_cell("assert True", metadata=nbgrader("check", grade=True)),
        ]
    )


@pytest.fixture(scope="module")
def page():
    return render_page(chapter(), "97. A chapter", "[Contents](index.html)")


def test_a_page_loads_nothing_from_a_network(page):
    assert "<script src" not in page and "<link" not in page
    for word in ("mathjax", "cdnjs", "unpkg", "require.js", "mermaid.esm"):
        assert word not in page.lower()
    assert page.count("<math") == 2 and "$$L" not in page and "dlcmath" not in page


def test_a_heading_with_a_formula_keeps_a_plain_id(page):
    assert re.search(r'<h2 id="The-gradient-dW">The gradient <math', page)


def test_stderr_is_not_shown_and_stdout_is_kept_as_printed(page):
    assert "cuInit" not in page and 'data-mime-type="application/vnd.jupyter.stderr"' not in page
    assert "cost: $5 and $$x$$" in page  # dollars printed by code are not math


def test_set_up_cells_are_folded_and_given_code_is_not(page):
    folded = re.findall(r'<details class="book-setup">\s*<summary>([^<]*)</summary>', page)
    assert folded == ["Set-up code", "Set-up code: helpers for the checks"]
    assert page.count("<details") == 2  # gelu_forward (given code) and the check stay open
    details = re.findall(r"<details.*?</details>", page, re.S)
    assert "import" in details[0] and "helper" in details[1]


def test_is_setup_reads_the_grade_id_of_locked_cells():
    assert cells.is_setup({"metadata": nbgrader("setup")})
    assert cells.is_setup({"metadata": nbgrader("check_backward_helpers")})
    assert not cells.is_setup({"metadata": nbgrader("setup", locked=False)})
    assert not cells.is_setup({"metadata": nbgrader("mlp_helpers")})  # code the chapter teaches
    assert not cells.is_setup({"metadata": nbgrader("check_helpers", grade=True)})
    assert not cells.is_setup({"metadata": {}})


def test_the_index_numbers_each_chapter_once_with_the_chapters_stylesheet(page):
    chapters = [
        BookChapter("00-first", "00. Fancy calculators", "00-first.html"),
        BookChapter("01-second", "01. A dense layer & more", "01-second.html", error="cell 3"),
    ]
    index = index_page(chapters)
    assert "<ol" not in index and '<ul class="book-contents">' in index
    assert "ul.book-contents { list-style: none;" in index
    assert '<a href="00-first.html">00. Fancy calculators</a>' in index
    assert '<a href="01-second.html">01. A dense layer &amp; more</a>' in index
    assert "this chapter raised an error" in index
    # the same inlined stylesheet as a chapter's page, and no scripts either
    style = re.search(r"<style[^>]*>(.*?)</style>", page, re.S).group(1)
    assert style in index and "<script src" not in index
