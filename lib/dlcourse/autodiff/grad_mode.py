"""Switching graph recording off: ``with no_grad(): ...``.

While recording is off, operations on tensors compute their results but
remember nothing: no graph, no saved arrays, outputs with
``requires_grad=False``. Use it for evaluation, and whenever parameters are
updated by hand, so that the update itself is not part of the next graph.
"""

import contextlib

__all__ = ["no_grad", "enable_grad", "is_grad_enabled"]

_enabled = True  # read by Function.apply on every operation


def is_grad_enabled():
    """True while operations record the graph that ``backward()`` needs."""
    return _enabled


class _GradMode(contextlib.ContextDecorator):
    """Set recording on or off inside a ``with`` block (or a decorated function)."""

    mode = True

    def _recreate_cm(self):  # a fresh instance per decorated call, so recursion nests
        return type(self)()

    def __enter__(self):
        global _enabled
        self._previous = _enabled
        _enabled = self.mode
        return self

    def __exit__(self, *exc):
        global _enabled
        _enabled = self._previous
        return False


class no_grad(_GradMode):
    """Context manager and decorator: inside it, no operation records a graph.

    >>> with no_grad():
    ...     y = w * 2        # y.requires_grad is False, even though w's is True
    """

    mode = False


class enable_grad(_GradMode):
    """Switch recording back on inside a ``no_grad`` block."""

    mode = True
