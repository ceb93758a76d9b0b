"""Why a row did not run: raised in a row's process, reported as a skipped row."""

__all__ = ["Unsupported"]


class Unsupported(Exception):
    """This row cannot run here (a missing library, no GPU for it); the message says why."""
