"""``dlcourse book``: the worked solutions as a static HTML site for self-study readers.

Every chapter's solution is executed (in a temporary folder) so its figures and
printed results are part of the page, then rendered by nbconvert's HTML
exporter. ``index.html`` lists the chapters by title. nbgrader's marker lines
are dropped from the pages: a reader wants the answer, not the scaffolding.
"""

import html
import tempfile
from dataclasses import dataclass
from pathlib import Path

from dlcourse.course import cells
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


def render_page(nb, title, navigation):
    """The HTML of one chapter, with ``navigation`` (markdown links) above and below it."""
    from nbconvert import HTMLExporter
    from nbformat.v4 import new_markdown_cell

    nb = without_markers(nb)
    nb.cells.insert(0, new_markdown_cell(navigation))
    nb.cells.append(new_markdown_cell(navigation))
    exporter = HTMLExporter(template_name="lab")
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
    return body


def index_page(chapters, heading="dlcourse: the worked solutions"):
    """``index.html``: the table of contents, one link per chapter."""
    items = []
    for chapter in chapters:
        note = " <em>(this chapter raised an error)</em>" if chapter.error else ""
        link = f'<a href="{html.escape(chapter.page)}">{html.escape(chapter.title)}</a>'
        items.append(f"    <li>{link}{note}</li>")
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            '<head><meta charset="utf-8"><title>' + html.escape(heading) + "</title></head>",
            "<body>",
            f"  <h1>{html.escape(heading)}</h1>",
            "  <p>Every chapter with its solutions worked out and run. The exercises are in",
            "  <code>course/</code>: open them with <code>dlcourse start</code>.</p>",
            "  <ol>",
            *items,
            "  </ol>",
            "</body>",
            "</html>",
            "",
        ]
    )


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
        page = render_page(nb, chapter.title, _navigation(chapters, position))
        (out_dir / chapter.page).write_text(page, encoding="utf-8")
        took = f" ({chapter.seconds:.1f} s)" if chapter.seconds is not None else ""
        log(f"  {chapter.page}{took}" + (f"  ERROR in {chapter.error}" if chapter.error else ""))
    (out_dir / "index.html").write_text(index_page(chapters), encoding="utf-8")
    return chapters
