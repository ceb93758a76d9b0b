"""Errors raised when a dataset cannot be obtained; each message says how to fix it."""

__all__ = ["DatasetError", "DatasetUnavailable", "ChecksumMismatch"]


class DatasetError(RuntimeError):
    """Base class: a dataset could not be loaded."""


class DatasetUnavailable(DatasetError):
    """The dataset is not in the cache and its URL cannot be reached (offline, timeout, 404)."""


class ChecksumMismatch(DatasetError):
    """A downloaded file's SHA-256 differs from the expected one; nothing corrupt was kept.

    ``file``, ``expected`` and ``got`` hold the file name and the two hex digests.
    """

    def __init__(self, message, *, file, expected, got):
        super().__init__(message)
        self.file = file
        self.expected = expected
        self.got = got
