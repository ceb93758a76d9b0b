"""``dlcourse book``: the worked solutions as a static HTML site for self-study readers.

Every chapter's solution is executed (in a temporary folder) so its figures and
printed results are part of the page, then rendered by nbconvert's HTML
exporter. ``index.html`` lists the chapters by title. nbgrader's marker lines
are dropped from the pages: a reader wants the answer, not the scaffolding.

A page needs nothing from the network: formulas are MathML made here
(:mod:`~dlcourse.course.book_math`) and the look is inlined
(:mod:`~dlcourse.course.book_html`).
"""

import html
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from dlcourse.course import book_html, cells
from dlcourse.course.book_math import PageMath
from dlcourse.course.execute import DEFAULT_TIMEOUT, execute, first_error, plain
from dlcourse.course.leaks import MARKERS
from dlcourse.course.paths import chapter_name


@dataclass
class BookChapter:
    """One page of the book: its title, file, run time and the first error, if any."""

    name: str
    title: str
    page: str
    seconds: float | None = None
    error: str | None = None
    warnings: list[str] = field(default_factory=list)


def without_markers(nb):
    """A copy of ``nb`` whose code cells have no nbgrader marker lines."""
    import copy

    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            lines = cell.source.splitlines()
            kept = [ln for ln in lines if not (ln.lstrip().startswith("#") and _marker(ln))]
            cell.source = "\n".join(kept)
    return nb


def _marker(line):
    return any(marker in line for marker in MARKERS)


def _navigation(chapters, position):
    links = ["[Contents](index.html)"]
    if position > 0:
        before = chapters[position - 1]
        links.insert(0, f"[&larr; {before.title}]({before.page})")
    if position + 1 < len(chapters):
        after = chapters[position + 1]
        links.append(f"[{after.title} &rarr;]({after.page})")
    return " &nbsp;|&nbsp; ".join(links)


def render_page(nb, title, navigation, warn=None):
    """The HTML of one chapter, with ``navigation`` (markdown links) above and below it.

    ``warn`` is called with a message for each formula that cannot be rendered.
    """
    from nbformat.v4 import new_markdown_cell

    nb = book_html.for_reading(without_markers(nb))
    math = PageMath(title, warn)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = math.markdown(cell.source)
    nb.cells.insert(0, new_markdown_cell(navigation))
    nb.cells.append(new_markdown_cell(navigation))
    return math.html(book_html.to_html(nb, title))


def index_page(chapters, heading="dlcourse: the worked solutions"):
    """``index.html``: the table of contents, one link per chapter, styled like the chapters.

    The titles carry their numbers ("01. A dense layer by hand"), so the list is
    not numbered again.
    """
    from nbformat.v4 import new_markdown_cell, new_notebook

    items = []
    for chapter in chapters:
        note = " <em>(this chapter raised an error)</em>" if chapter.error else ""
        link = f'<a href="{html.escape(chapter.page)}">{html.escape(chapter.title)}</a>'
        items.append(f"<li>{link}{note}</li>")
    text = "\n".join(
        [
            f"# {heading}",
            "",
            "Every chapter with its solutions worked out and run. The exercises are in",
            "`course/`: open them with `dlcourse start`.",
            "",
            '<ul class="book-contents">',
            *items,
            "</ul>",
        ]
    )
    return book_html.to_html(new_notebook(cells=[new_markdown_cell(text)]), heading)


def build_book(solution_files, out_dir, *, timeout=DEFAULT_TIMEOUT, executed=None, log=None):
    """Execute and render every chapter into ``out_dir``; return the list of BookChapters.

    ``executed`` maps chapter names to notebooks that were already executed (the
    tests pass them in to avoid running a chapter twice). A chapter that raises
    is still rendered, error and all, and its ``error`` is set.
    """
    from dlcourse.course.source import read_solution

    log = log or (lambda line: None)
    executed = executed or {}
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    notebooks, chapters = [], []
    for path in solution_files:
        name = chapter_name(path)
        nb, seconds = executed.get(name), None
        if nb is None:
            with tempfile.TemporaryDirectory(prefix="dlcourse-book-") as tmp:
                nb, seconds = execute(read_solution(path), tmp, timeout=timeout, allow_errors=True)
        chapter = BookChapter(name, cells.title(nb, name), f"{name}.html", seconds)
        if (found := first_error(nb)) is not None:
            index, error = found
            chapter.error = f"cell {index}: {error.get('ename')}: {plain(error.get('evalue', ''))}"
        notebooks.append(nb)
        chapters.append(chapter)
    for position, (nb, chapter) in enumerate(zip(notebooks, chapters)):
        navigation = _navigation(chapters, position)
        page = render_page(nb, chapter.title, navigation, warn=chapter.warnings.append)
        (out_dir / chapter.page).write_text(page, encoding="utf-8")
        took = f" ({chapter.seconds:.1f} s)" if chapter.seconds is not None else ""
        log(f"  {chapter.page}{took}" + (f"  ERROR in {chapter.error}" if chapter.error else ""))
        for warning in chapter.warnings:
            log(f"    warning: {warning}")
    (out_dir / "index.html").write_text(index_page(chapters), encoding="utf-8")
    return chapters
