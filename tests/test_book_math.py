"""The book's formulas: where the dollars are, and TeX -> MathML (no browser needed)."""

from pathlib import Path

import pytest

from dlcourse.course.book_math import (
    DISPLAY,
    DOLLAR,
    INLINE,
    TEXT,
    MathError,
    PageMath,
    split_math,
    to_mathml,
)

ROOT = Path(__file__).resolve().parents[1]


def formulas(text):
    return [(kind, tex) for kind, tex in split_math(text) if kind in (INLINE, DISPLAY)]


def kinds(text):
    return [kind for kind, _ in split_math(text)]


# --- where the formulas are ------------------------------------------------------------------


def test_inline_and_display_formulas_are_told_apart():
    assert split_math("a $x_1$ b") == [(TEXT, "a "), (INLINE, "x_1"), (TEXT, " b")]
    assert split_math("so $$z = xW + b$$ holds") == [
        (TEXT, "so "),
        (DISPLAY, "z = xW + b"),
        (TEXT, " holds"),
    ]


def test_a_display_formula_may_span_lines_and_an_inline_one_a_line_break():
    text = "$$\\begin{cases} a \\\\\n b \\end{cases}$$ and $x_1, \\dots,\n x_D$"
    assert formulas(text) == [
        (DISPLAY, "\\begin{cases} a \\\\\n b \\end{cases}"),
        (INLINE, "x_1, \\dots,\n x_D"),
    ]


def test_an_inline_formula_stays_in_its_paragraph():
    assert formulas("$a\n\nb$") == []


def test_an_escaped_dollar_is_a_literal_dollar():
    assert split_math("costs \\$4") == [(TEXT, "costs "), (DOLLAR, "$"), (TEXT, "4")]
    assert formulas("$a \\$ b$") == [(INLINE, "a \\$ b")]  # TeX's own escape, inside math
    assert formulas("\\\\$x$") == [(INLINE, "x")]  # an escaped backslash, then a formula


def test_dollar_amounts_in_prose_are_not_math():
    assert formulas("A coffee costs $5 and a book $10.") == []
    assert kinds("A coffee costs $5 and a book $10.").count(DOLLAR) == 2
    assert formulas("between $5 and $10, and then $x$") == [(INLINE, "x")]
    assert formulas("$5$10") == []  # a closing dollar is not followed by a digit
    assert formulas("$ x$ and $x $") == []  # no space just inside the dollars


def test_dollars_in_code_spans_and_fenced_code_are_left_alone():
    assert formulas("`price = $3` and `$x$` but $y$") == [(INLINE, "y")]
    assert formulas("``a ` $x$ `` then $y$") == [(INLINE, "y")]
    fenced = "```python\nprint('$x$ and $$y$$')\n```\nafter $z$"
    assert formulas(fenced) == [(INLINE, "z")]
    assert "".join(v for _, v in split_math(fenced)).startswith("```python\nprint('$x$")
    assert formulas("~~~\n$$x$$\n") == []  # an unclosed fence runs to the end


def test_unclosed_dollars_are_literal():
    assert split_math("$$x") == [(DOLLAR, "$"), (DOLLAR, "$"), (TEXT, "x")]
    assert kinds("$x") == [DOLLAR, TEXT]
    assert formulas("$$$$") == []


# --- TeX -> MathML ---------------------------------------------------------------------------


def test_to_mathml_makes_inline_and_display_math():
    pytest.importorskip("latex2mathml")
    inline = to_mathml("\\frac{\\partial L}{\\partial x}")
    assert inline.startswith("<math") and 'display="inline"' in inline and "<mfrac>" in inline
    assert "&#x02202;" in inline  # the partial sign
    assert 'display="block"' in to_mathml("x^\\top W", display=True)


@pytest.mark.parametrize(
    "tex, expected",
    [
        ("\\sum_{i=1}^{D} x_i w_i", "<munderover>"),
        ("\\mathbf{x}^\\top", "<msup>"),
        ("\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}", "<mtable>"),
        ("\\begin{cases} z & z > 0 \\\\ 0 & \\text{else} \\end{cases}", "<mtable>"),
        ("\\begin{aligned} h &= \\sigma(z) \\\\ y &= hW \\end{aligned}", "<mtable>"),
        ("\\operatorname{ReLU}(z)", "ReLU"),
        ("\\underbrace{xW}_{(N, M)}", "<munder>"),
        ("db \\mathrel{+}= g", "&#x0002B;"),
    ],
)
def test_constructs_the_course_uses_convert(tex, expected):
    pytest.importorskip("latex2mathml")
    assert expected in to_mathml(tex, display=True)


def test_a_slash_is_spaced_as_in_tex():
    pytest.importorskip("latex2mathml")
    assert '<mo lspace="0" rspace="0">&#x0002F;</mo>' in to_mathml("\\partial L / \\partial x")


def test_mathrel_does_not_nest_an_operator_in_an_operator():
    pytest.importorskip("latex2mathml")
    assert "<mo><mrow>" not in to_mathml("a \\mathrel{+}= b")


@pytest.mark.parametrize("tex", ["\\frac{1}{", "x^", "\\frobnicate{x}", "a & b", "\\left( x"])
def test_a_formula_that_cannot_be_converted_raises_math_error(tex):
    pytest.importorskip("latex2mathml")
    with pytest.raises(MathError):
        to_mathml(tex)


def test_every_formula_of_the_course_converts():
    pytest.importorskip("latex2mathml")
    pytest.importorskip("jupytext", reason="reading solutions/ needs jupytext (extra 'course')")
    from dlcourse.course.source import read_solution

    failures, count = [], 0
    for path in sorted((ROOT / "solutions").glob("[0-9][0-9]-*.py")):
        for cell in read_solution(path).cells:
            if cell.cell_type != "markdown":
                continue
            for kind, tex in split_math(cell.source):
                if kind in (INLINE, DISPLAY):
                    count += 1
                    try:
                        to_mathml(tex, kind == DISPLAY)
                    except MathError as err:
                        failures.append(f"{path.name}: {tex!r}: {err}")
    assert count > 100  # the chapters are full of formulas: the parser found them
    assert not failures, "\n".join(failures)


# --- one page ---------------------------------------------------------------------------------


def test_page_math_hides_formulas_from_markdown_and_puts_mathml_back():
    pytest.importorskip("latex2mathml")
    math = PageMath("97. A chapter")
    source = math.markdown("Here $a_1 * b_1 * c$ costs \\$5, and `$x$` is code.")
    assert "$a_1" not in source and "`$x$`" in source and "\\$5" in source
    assert "*" not in source.split("`")[0]  # nothing left for markdown to make emphasis of
    html = math.html(f"<p>{source}</p>")
    assert html.count("<math") == 1 and "<msub>" in html


def test_a_placeholder_in_an_attribute_becomes_plain_words():
    pytest.importorskip("latex2mathml")
    math = PageMath("97. A chapter")
    heading = math.markdown("The gradient $dW$")
    html = math.html(f'<h2 id="{heading}">{heading}</h2>')
    assert html.startswith('<h2 id="The gradient dW">The gradient <math')


def test_a_formula_that_fails_is_shown_as_tex_with_a_warning():
    pytest.importorskip("latex2mathml")
    warnings = []
    math = PageMath("97. A chapter", warn=warnings.append)
    html = math.html(math.markdown("broken: $$\\frac{a<b}{$$ and fine: $x$"))
    assert '<code class="book-tex">$$\\frac{a&lt;b}{$$</code>' in html
    assert html.count("<math") == 1  # the others still render
    assert len(warnings) == 1
    assert "97. A chapter" in warnings[0] and "\\frac{a<b}{" in warnings[0]
