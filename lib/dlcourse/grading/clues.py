"""Clues the grader adds to a wrong answer's diagnosis, as the chapters' own checks do.

Two mistakes hide behind "differs from the expected gradient": a backward that
never multiplies by ``dout`` (it returns what the formula gives for ``dout``
all ones), and one wrong gradient among right ones, where the right ones say
where the mistake is not.
"""

import re

import numpy as np

_PLAIN_NAME = re.compile(r"^[A-Za-z_][\w\[\]'\"]*$")  # dw1, result[0]; not a sentence


def case_without_dout(case):
    """The case with ``dout`` all ones, or None where there is no dout to forget."""
    dout = case.get("dout")
    if not isinstance(dout, np.ndarray) or dout.dtype.kind != "f" or np.all(dout == 1):
        return None
    return {**case, "dout": np.ones_like(dout)}


def forgot_dout(name):
    return (
        f"{name} ignores dout: it is what the formula gives for dout all ones. Multiply by dout "
        "(the chain rule: the gradient that arrives times the local one)."
    )


def _listed(names):
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + f" and {names[-1]}"


def right_and_wrong(right, wrong, message):
    """``message``, after which of the returned arrays are right, when some are."""
    right = [name for name in right if _PLAIN_NAME.match(name)]
    if not right:
        return message
    are = "is" if len(right) == 1 else "are"
    are_not = "is not" if len(wrong) == 1 else "are not"
    return f"{_listed(right)} {are} right but {_listed(wrong)} {are_not}: {message}"
