"""The book in a browser with no network: formulas drawn, stderr hidden, set-up folded.

``build_book`` renders every chapter of solutions/ (from its source, not run:
running them all takes minutes, and the formulas are in the markdown) plus one
small chapter that is run for real, whose cells print to stderr and whose
markdown holds every kind of dollar. Headless Chromium then opens each page
from disk with every request that is not ``file://`` aborted. Screenshots go
to the test's tmp folder, and also to $DLCOURSE_SCREENSHOTS/book-offline/ when
that is set.
"""

import os
import shutil
from contextlib import contextmanager

import pytest

from browser_helpers import ROOT, Recorder, require_browser
from test_course_samples import header, write_sample

pytestmark = pytest.mark.slow  # runs one small chapter, renders twelve, opens them all

NAME = "97-offline"
TITLE = "97. The book offline"
# jupytext percent source: a chapter whose markdown has every kind of dollar and
# whose code writes to stderr, as TensorFlow does when it looks for a GPU.
SOURCE = "\n".join(
    [
        "# %% [markdown]",
        f"# # {TITLE}",
        "#",
        "# Inline: $\\frac{\\partial L}{\\partial W} = x^\\top \\delta$ with",
        "# $\\mathbf{x} \\in \\mathbb{R}^{D}$. A coffee costs $5 and a book $10; `price = '$3'`",
        "# is code and \\$4 is escaped.",
        "#",
        "# $$L = \\frac{1}{N} \\sum_{n=1}^{N} \\ell_n, \\qquad",
        "# \\operatorname{ReLU}(z) =",
        "# \\begin{cases} z & z > 0 \\\\ 0 & \\text{otherwise} \\end{cases}$$",
        "#",
        "# $$\\begin{aligned} h &= \\sigma(x W_1 + b_1) \\\\ y &= h W_2 + b_2 \\end{aligned}$$",
        "#",
        "# A formula the converter cannot read: $$\\frac{1}{$$",
        "",
        header("setup"),
        "import sys",
        "",
        "print('noise-on-' + 'stderr: failed call to cuInit', file=sys.stderr)",
        "",
        header("check_helpers"),
        "def check(value):",
        "    assert value == 2, 'setup-helper-body'",
        "",
        "# %%",
        "print('printed-on-stdout: $5 and $$x$$')",
        "print('noise-on-' + 'stderr, again', file=sys.stderr)",
        "check(2)",
        "",
    ]
)


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    require_browser()  # before the build: skip at once where there is no Chromium
    pytest.importorskip("nbconvert", reason="dlcourse book needs nbconvert (extra 'course')")
    pytest.importorskip("latex2mathml", reason="dlcourse book needs latex2mathml (extra 'course')")
    from dlcourse.course.book import build_book
    from dlcourse.course.paths import chapter_name
    from dlcourse.course.source import read_solution

    tmp = tmp_path_factory.mktemp("book")
    fixture = write_sample(tmp / "solutions", NAME, SOURCE)
    course = sorted((ROOT / "solutions").glob("[0-9][0-9]-*.py"))
    unrun = {chapter_name(path): read_solution(path) for path in course}
    chapters = build_book([*course, fixture], tmp / "site", executed=unrun)
    return tmp / "site", chapters


@contextmanager
def offline_page(chromium, tmp_path, name):
    """A Chromium page that may load only ``file://`` URLs; yields (Recorder, blocked URLs).

    The screenshots go to ``tmp_path/name/``, and to $DLCOURSE_SCREENSHOTS/book-offline/name/.
    """
    from playwright.sync_api import sync_playwright

    folder = tmp_path / name
    folder.mkdir(parents=True, exist_ok=True)
    blocked = []

    def only_files(route):
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, headless=True)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 900})
                page.set_default_timeout(30_000)
                page.route("**/*", only_files)
                recorder = Recorder(page, folder)
                try:
                    yield recorder, blocked
                except BaseException:
                    page.screenshot(path=folder / "failed.png")
                    recorder.save_log("console-at-failure.log")
                    raise
                recorder.save_log()
            finally:
                browser.close()
    finally:
        wanted = os.environ.get("DLCOURSE_SCREENSHOTS")
        if wanted:
            target = os.path.join(wanted, "book-offline", name)
            shutil.copytree(folder, target, dirs_exist_ok=True)


# What the page shows, measured in the page.
MARKDOWN_PROSE = """() => Array.from(document.querySelectorAll('.jp-MarkdownCell')).map(cell => {
    const copy = cell.cloneNode(true);
    copy.querySelectorAll('code, math').forEach(e => e.remove());
    return copy.textContent;
}).join('\\n')"""
UNSIZED_MATH = """() => Array.from(document.querySelectorAll('math')).filter(m => {
    const box = m.getBoundingClientRect();
    return !(box.width > 0 && box.height > 0);
}).map(m => m.outerHTML.slice(0, 200))"""
FLAT_FRACTIONS = """() => Array.from(document.querySelectorAll('mfrac')).filter(f => {
    const [top, bottom] = f.children;
    return top.getBoundingClientRect().bottom > bottom.getBoundingClientRect().top + 1;
}).length"""
FIRST_CODE_FOLDED = """() => {
    const first = document.querySelector('.jp-CodeCell');
    return first !== null && first.closest('details.book-setup') !== null;
}"""


def test_the_blocker_catches_requests_off_disk(tmp_path):
    chromium = require_browser()
    probe = tmp_path / "probe.html"
    probe.write_text('<script src="https://cdn.example.org/x.js"></script><p>hi</p>')
    with offline_page(chromium, tmp_path, "probe") as (recorder, blocked):
        recorder.page.goto(probe.as_uri())
    assert blocked == ["https://cdn.example.org/x.js"]


def test_every_page_renders_its_formulas_offline(book, tmp_path):
    chromium = require_browser()
    site, chapters = book
    with offline_page(chromium, tmp_path, "chapters") as (recorder, blocked):
        page = recorder.page
        for chapter in chapters:
            page.goto((site / chapter.page).as_uri())
            recorder.shot(f"{chapter.name}-top")
            prose = page.evaluate(MARKDOWN_PROSE)
            assert "$$" not in prose, f"{chapter.page} shows raw $$"
            if chapter.name != NAME:  # the course's prose has no dollar amounts
                assert "$" not in prose and "\\frac" not in prose, f"{chapter.page} shows raw TeX"
                assert page.evaluate(FIRST_CODE_FOLDED), f"{chapter.page} opens with set-up code"
            assert page.locator("math").count() > 0, f"{chapter.page} has no formulas"
            assert page.evaluate(UNSIZED_MATH) == [], f"{chapter.page}: formulas of no size"
            assert page.evaluate(FLAT_FRACTIONS) == 0, f"{chapter.page}: MathML not laid out"
            assert page.locator('[data-mime-type="application/vnd.jupyter.stderr"]').count() == 0
            assert page.locator("code.book-tex").count() == (1 if chapter.name == NAME else 0)
            display = page.locator('math[display="block"]').first
            if display.count():
                display.scroll_into_view_if_needed()
                recorder.shot(f"{chapter.name}-formula")
    assert blocked == [], f"the pages asked the network for {blocked}"
    errors = [m for m in recorder.console if m.startswith(("error:", "pageerror:"))]
    assert errors == []


def test_the_run_chapter_hides_stderr_and_folds_its_set_up(book, tmp_path):
    chromium = require_browser()
    site, chapters = book
    (ours,) = [c for c in chapters if c.name == NAME]
    assert ours.error is None
    (warning,) = ours.warnings
    assert TITLE in warning and "\\frac{1}{" in warning
    with offline_page(chromium, tmp_path, "run-chapter") as (recorder, blocked):
        page = recorder.page
        page.goto((site / ours.page).as_uri())
        recorder.shot("formulas")
        text = page.locator("body").inner_text()
        assert "printed-on-stdout: $5 and $$x$$" in text  # what code prints stays as printed
        assert "A coffee costs $5 and a book $10;" in text and "$4 is escaped" in text
        assert "price = '$3'" in page.locator("code").all_inner_texts()
        assert "noise-on-stderr" not in page.content()  # not even folded away
        assert page.locator("code.book-tex").inner_text() == "$$\\frac{1}{$$"
        assert page.locator("mtable").count() == 2  # cases and aligned

        folds = page.locator("details.book-setup")
        assert folds.count() == 2
        assert folds.locator("summary").all_inner_texts() == [
            "Set-up code",
            "Set-up code: helpers for the checks",
        ]
        helper = page.locator(".jp-CodeCell", has_text="setup-helper-body")
        assert not helper.is_visible()
        folds.nth(1).locator("summary").click()
        helper.wait_for(state="visible")
        helper.scroll_into_view_if_needed()
        recorder.shot("helpers-unfolded")
    assert blocked == []


def test_the_index_is_styled_and_numbers_each_chapter_once(book, tmp_path):
    chromium = require_browser()
    site, chapters = book
    with offline_page(chromium, tmp_path, "index") as (recorder, blocked):
        page = recorder.page
        page.goto((site / chapters[0].page).as_uri())
        chapter_font = page.evaluate("getComputedStyle(document.body).fontFamily")
        page.goto((site / "index.html").as_uri())
        recorder.shot("index")
        assert page.locator("ol").count() == 0
        items = page.locator("ul.book-contents > li")
        assert items.all_inner_texts() == [c.title for c in chapters]
        styles = items.evaluate_all("els => els.map(e => getComputedStyle(e).listStyleType)")
        assert set(styles) == {"none"}  # the titles carry the numbers: no second one
        assert page.evaluate("getComputedStyle(document.body).fontFamily") == chapter_font
        page.get_by_role("link", name=chapters[1].title).click()
        page.wait_for_load_state()
        assert page.title() == chapters[1].title
        recorder.shot("followed-a-link")
    assert blocked == []
