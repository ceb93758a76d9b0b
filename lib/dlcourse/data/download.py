"""Download a file once, check its SHA-256, keep it in a cache folder.

Why so careful: a half-finished or tampered download that is silently reused
produces mysterious training results weeks later. So the file is written to a
temporary name next to its final place and renamed only after its checksum
matched (a rename is atomic: other readers see the old state or the complete
file, never a partial one), and a cached file that no longer matches is
deleted and fetched again.
"""

import hashlib
import os
import secrets
import warnings
from pathlib import Path

from dlcourse.data.errors import ChecksumMismatch, DatasetUnavailable

__all__ = ["default_cache_dir", "sha256_of", "fetch_file"]

CACHE_ENV = "DLCOURSE_CACHE"
_CHUNK = 1 << 16


def default_cache_dir():
    """Where downloads are kept: ``$DLCOURSE_CACHE`` if set, else ``~/.cache/dlcourse``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "dlcourse"


def sha256_of(path):
    """The SHA-256 hex digest of the file at ``path``, read in chunks (large files are fine)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _check_digest(sha256):
    text = str(sha256).strip().lower()
    if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
        raise ValueError(f"sha256: expected 64 hexadecimal digits, got {sha256!r}.")
    return text


def fetch_file(url, path, sha256, *, timeout=30.0, progress=True, hint=""):
    """Return ``path`` holding the verified contents of ``url``, downloading only if needed.

    Args:
        url: where to download from (``http(s)://`` or ``file://``).
        path: the cached file's final location; its folder is created when needed.
        sha256: the expected SHA-256 hex digest of the file.
        timeout: seconds to wait for the server before giving up.
        progress: show a tqdm progress bar while downloading.
        hint: extra advice appended to error messages (e.g. which env var picks a mirror).

    Raises:
        DatasetUnavailable: the file is not cached and ``url`` cannot be reached.
        ChecksumMismatch: the downloaded bytes do not match ``sha256`` (nothing is kept).
    """
    expected = _check_digest(sha256)
    path = Path(path)
    if path.exists():
        got = sha256_of(path)
        if got == expected:
            return path  # cache hit: no network at all
        warnings.warn(
            f"{path}: cached file is damaged (SHA-256 {got}, expected {expected}); "
            "deleting it and downloading it again.",
            stacklevel=2,
        )
        path.unlink()
    _download(url, path, expected, timeout, progress, hint)
    return path


def _unavailable(url, path, reason, hint):
    return DatasetUnavailable(
        f"Could not download {url} ({reason}).\n"
        f"The file is not in the cache yet: {path}\n"
        f"To fix it: run this again when you are online; or copy {path.name} into "
        f"{path.parent} by hand.{(' ' + hint) if hint else ''}"
    )


def _download(url, path, expected, timeout, progress, hint):
    # Imported here so that `import dlcourse.data` stays light.
    import http.client
    import urllib.error
    import urllib.request

    from tqdm import tqdm

    try:
        response = urllib.request.urlopen(url, timeout=timeout)
    except urllib.error.HTTPError as err:
        raise _unavailable(url, path, f"the server answered {err.code} {err.reason}", hint) from err
    except urllib.error.URLError as err:
        raise _unavailable(url, path, f"cannot connect: {err.reason}", hint) from err
    except (OSError, ValueError, http.client.HTTPException) as err:
        raise _unavailable(url, path, str(err) or type(err).__name__, hint) from err

    with response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        path.parent.mkdir(parents=True, exist_ok=True)
        # A unique hidden name in the same folder, so the final rename stays atomic;
        # os.open with 0o666 lets the user's umask decide the permissions as usual.
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.part")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        digest = hashlib.sha256()
        try:
            with (
                os.fdopen(fd, "wb") as out,
                tqdm(
                    total=total,
                    unit="B",
                    unit_scale=True,
                    desc=path.name,
                    disable=not progress,
                ) as bar,
            ):
                while True:
                    try:
                        chunk = response.read(_CHUNK)
                    except (OSError, http.client.HTTPException) as err:
                        reason = f"download interrupted: {err}"
                        raise _unavailable(url, path, reason, hint) from err
                    if not chunk:
                        break
                    out.write(chunk)  # a full disk raises OSError here, unchanged
                    digest.update(chunk)
                    bar.update(len(chunk))
            got = digest.hexdigest()
            if got != expected:
                raise ChecksumMismatch(
                    f"{path.name}: checksum mismatch for {url}\n"
                    f"  expected SHA-256 {expected}\n"
                    f"  got      SHA-256 {got}\n"
                    f"The download was discarded; nothing was written to {path}. "
                    f"The mirror serves a different or damaged file: try again later or "
                    f"use another mirror.{(' ' + hint) if hint else ''}",
                    file=path.name,
                    expected=expected,
                    got=got,
                )
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
