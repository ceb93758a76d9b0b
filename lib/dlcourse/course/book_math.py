"""The book's formulas, rendered when the book is built: TeX between dollars -> MathML.

A page of the book must work with no network, so there is no MathJax (a script
from a CDN): every ``$...$`` and ``$$...$$`` of a markdown cell becomes a MathML
``<math>`` element, which browsers draw themselves. The conversion is
latex2mathml's (the ``course`` extra).

The dollars are found the way a careful reader would: not inside code spans or
fenced code, not when escaped (``\\$``), and not in prose about money ("$5 and
$10"): an inline formula opens with a ``$`` followed by a non-space, closes with a
``$`` preceded by a non-space and not followed by a digit, stays in one
paragraph and holds no other unescaped ``$``. A formula that cannot be converted
is shown as its TeX in a ``<code>`` element, with a warning, and the build goes on.
"""

import html
import re
import secrets

TEXT, DOLLAR, INLINE, DISPLAY = "text", "dollar", "inline", "display"

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_BLANK_LINE = re.compile(r"\n[ \t]*\n")


def split_math(text):
    """``text`` (markdown) as ``[(kind, string)]``, kinds TEXT, DOLLAR, INLINE and DISPLAY.

    TEXT pieces are markdown to keep as they are (code included), a DOLLAR piece
    is one literal ``$``, INLINE and DISPLAY pieces are the TeX between the dollars.
    """
    pieces, plain, i, n = [], [], 0, len(text)

    def emit(kind, value):
        if plain:
            pieces.append((TEXT, "".join(plain)))
            plain.clear()
        pieces.append((kind, value))

    while i < n:
        at_line_start = i == 0 or text[i - 1] == "\n"
        fence = _FENCE.match(text, i) if at_line_start else None
        char = text[i]
        if fence:
            end = _fence_end(text, fence)
            plain.append(text[i:end])
            i = end
        elif char == "\\" and i + 1 < n:
            if text[i + 1] == "$":
                emit(DOLLAR, "$")
            else:  # any other escape (\\, \`) is markdown's business
                plain.append(text[i : i + 2])
            i += 2
        elif char == "`":
            end = _code_span_end(text, i)
            plain.append(text[i:end])
            i = end
        elif text.startswith("$$", i):
            close = _display_end(text, i + 2)
            if close is None:
                emit(DOLLAR, "$")
                emit(DOLLAR, "$")
                i += 2
            else:
                emit(DISPLAY, text[i + 2 : close])
                i = close + 2
        elif char == "$":
            close = _inline_end(text, i + 1)
            if close is None:
                emit(DOLLAR, "$")
                i += 1
            else:
                emit(INLINE, text[i + 1 : close])
                i = close + 1
        else:
            plain.append(char)
            i += 1
    if plain:
        pieces.append((TEXT, "".join(plain)))
    return pieces


def _fence_end(text, fence):
    """Where the fenced code block opened by ``fence`` ends (after its closing line)."""
    marker = fence.group(1)
    closing = re.compile(r"^ {0,3}" + re.escape(marker[0]) + "{" + str(len(marker)) + r",}[ \t]*$")
    position = text.find("\n", fence.end())
    while position != -1:
        line_end = text.find("\n", position + 1)
        line = text[position + 1 : line_end if line_end != -1 else len(text)]
        if closing.match(line):
            return line_end + 1 if line_end != -1 else len(text)
        position = line_end
    return len(text)  # an unclosed fence runs to the end, as in CommonMark


def _code_span_end(text, start):
    """The end of the code span opened by the backticks at ``start`` (or of the backticks)."""
    run = len(text) - len(text[start:].lstrip("`"))
    ticks = run - start
    closing = re.compile(r"(?<!`)" + "`" * ticks + r"(?!`)")
    found = closing.search(text, run)
    return found.end() if found else run  # unmatched backticks are literal


def _display_end(text, start):
    """The index of the ``$$`` that closes a display formula opened before ``start``."""
    i = start
    while i < len(text):
        if text[i] == "\\":
            i += 2
        elif text.startswith("$$", i):
            return i if text[start:i].strip() else None
        else:
            i += 1
    return None


def _inline_end(text, start):
    """The index of the ``$`` that closes an inline formula opened before ``start``, or None."""
    if start >= len(text) or text[start].isspace():
        return None
    stop = _BLANK_LINE.search(text, start)
    stop = stop.start() if stop else len(text)
    i = start
    while i < stop:
        if text[i] == "\\":
            i += 2
        elif text[i] == "$":
            after = text[i + 1 : i + 2]
            if text[i - 1].isspace() or after.isdigit() or after == "$":
                return None  # another dollar that cannot close: this one was not math
            return i
        else:
            i += 1
    return None


# --- TeX -> MathML ---------------------------------------------------------------------------


class MathError(ValueError):
    """A formula latex2mathml cannot convert, or converts into something unreadable."""


# Constructs latex2mathml turns into broken MathML, rewritten as ones it handles.
_REWRITES = [
    (re.compile(r"\\mathrel(?![A-Za-z])"), ""),  # \mathrel{+} -> {+}: an <mo> inside an <mo>
    # latex2mathml has no aligned environment; an array of right/left pairs lines up the same
    (re.compile(r"\\begin\{aligned\}"), r"\\begin{array}{rlrlrl}"),
    (re.compile(r"\\end\{aligned\}"), r"\\end{array}"),
]
# TeX sets "/" as an ordinary symbol; MathML would space it like a binary operator.
_SLASH = ("<mo>&#x0002F;</mo>", '<mo lspace="0" rspace="0">&#x0002F;</mo>')
# What latex2mathml leaves when it does not understand: an unknown command as an
# identifier ("<mi>\foo</mi>"), or a stray "&", "{" or "}".
_LEFTOVER = re.compile(r"<m[ion](?:\s[^>]*)?>(\\[A-Za-z]+.*?|&|\{|\})</m[ion]>")


def to_mathml(tex, display=False):
    """The MathML ``<math>`` element of ``tex``; raises MathError if it cannot be converted."""
    from latex2mathml.converter import convert

    source = tex
    for pattern, replacement in _REWRITES:
        source = pattern.sub(replacement, source)
    try:
        mathml = convert(source.strip(), display="block" if display else "inline")
    except Exception as err:  # latex2mathml raises many kinds, all meaning "bad TeX"
        raise MathError(f"{type(err).__name__} {err}".strip()) from err
    leftover = _LEFTOVER.search(mathml)
    if leftover:
        raise MathError(f"not understood: {leftover.group(1)}")
    return mathml.replace(*_SLASH)


def tex_code(tex, display=False):
    """A formula that could not be converted, shown as its TeX source."""
    dollars = "$$" if display else "$"
    return f'<code class="book-tex">{html.escape(dollars + tex + dollars)}</code>'


# --- one page's formulas -----------------------------------------------------------------------

_TAG = re.compile(r"(<[^>]*>)")


class PageMath:
    """The formulas of one page: markdown in, placeholders out, MathML put in after rendering.

    Markdown rendering must not see the TeX (``_`` and ``*`` would become emphasis),
    so each formula is replaced by an alphanumeric placeholder first and by its MathML
    in the finished HTML.
    """

    def __init__(self, chapter, warn=None):
        self.chapter = chapter
        self.warn = warn or (lambda message: None)
        self.formulas = []  # (tex, html) per placeholder number
        self._token = "dlcmath" + secrets.token_hex(4)
        self._placeholder = re.compile(self._token + r"x(\d+)x")

    def markdown(self, source):
        """``source`` with each formula replaced by a placeholder and literal dollars escaped."""
        out = []
        for kind, value in split_math(source):
            if kind == TEXT:
                out.append(value)
            elif kind == DOLLAR:
                out.append("\\$")  # markdown's escape: a dollar nothing takes for math
            else:
                out.append(f"{self._token}x{len(self.formulas)}x")
                self.formulas.append((value, self._convert(value, kind == DISPLAY)))
        return "".join(out)

    def _convert(self, tex, display):
        try:
            return to_mathml(tex, display)
        except MathError as err:
            shown = " ".join(tex.split())
            self.warn(f"{self.chapter}: cannot render the formula {shown!r} ({err}); shown as TeX")
            return tex_code(tex, display)

    def html(self, body):
        """``body`` with the placeholders replaced: MathML in text, plain words in attributes."""
        parts = _TAG.split(body)
        for k, part in enumerate(parts):
            if k % 2:  # a tag: the placeholder is in an attribute (a heading's id)
                parts[k] = self._placeholder.sub(lambda m: self._slug(int(m.group(1))), part)
            else:
                parts[k] = self._placeholder.sub(lambda m: self.formulas[int(m.group(1))][1], part)
        return "".join(parts)

    def _slug(self, number):
        return re.sub(r"[^A-Za-z0-9]+", "-", self.formulas[number][0]).strip("-")
