"""Python errors raised by a learner's code, said with context: where, and what it usually means.

A traceback's last line ("ValueError: matmul: Input operand 1 has a mismatch
in its core dimension 0 ...") names the symptom, not the mistake. Two helpers
turn it into feedback: :func:`failing_line` finds the learner's own line in an
IPython traceback (the deepest notebook cell, not NumPy's insides), and
:func:`error_hint` adds one sentence for the common kinds, said only when the
message shows that kind.
"""

import re

_MATMUL = re.compile(
    r"matmul: Input operand \d has a mismatch in its core dimension"
    r"|shapes \(.*\) and \(.*\) not aligned"
    r"|mat1 and mat2 shapes cannot be multiplied"
    r"|size mismatch, got input"
)
_BROADCAST = re.compile(r"operands could not be broadcast together|must match the size of tensor")
_TUPLE = re.compile(r"'tuple' object has no attribute '(shape|T|dtype|reshape|sum|ndim)'")
_NONE = re.compile(r"'NoneType' object|unsupported operand type\(s\) for .*'NoneType'")
_AXES = re.compile(r"too many indices for (array|tensor)|axis \d+ is out of bounds")

HINTS = (
    (
        _MATMUL,
        "In a @ b the last axis of a must match the first axis of b (for 2-D arrays): print "
        "both shapes; a missing or extra .T is the usual cause.",
    ),
    (
        _BROADCAST,
        "Elementwise operations need equal shapes, or 1 on the axes where they differ: print "
        "the shapes of both operands.",
    ),
    (
        _TUPLE,
        "A tuple arrived where an array was expected: a cache or a function's result can hold "
        "several values; unpack it first (for example x, w = cache).",
    ),
    (
        _NONE,
        "None arrived where a value was expected: does a function end without returning its "
        "result?",
    ),
    (
        _AXES,
        "An array has fewer axes than the code uses: print its shape (a (N,) vector where an "
        "(N, 1) column, or a batch, was meant?).",
    ),
)


def error_hint(message):
    """One sentence on what the error ``"Name: text"`` usually means, or None."""
    for pattern, hint in HINTS:
        if pattern.search(message):
            return hint
    return None


_CELL_FRAME = re.compile(r"^Cell In\[\d+\], line (\d+)(?:, in (\S+?)\(.*?\))?$")


def failing_line(traceback):
    """``"in f, line 4: return y @ x"`` for the deepest notebook cell of an IPython
    traceback (a list of plain-text entries), or None when no cell is in it."""
    found = None
    for entry in traceback:
        lines = entry.splitlines()
        head = _CELL_FRAME.match(lines[0].strip()) if lines else None
        if head is None:
            continue
        arrow = next((line for line in lines if line.lstrip().startswith("---->")), None)
        if arrow is None:
            continue
        code = arrow.split("---->", 1)[1].strip()
        code = code.split(None, 1)[1] if code[:1].isdigit() and " " in code else code
        where = (
            f"in {head.group(2)}, line {head.group(1)}"
            if head.group(2)
            else "line " + head.group(1)
        )
        found = f"{where}: {code.strip()}"
    return found
