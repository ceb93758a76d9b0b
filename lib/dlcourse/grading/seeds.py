"""Per-student random inputs that nobody can predict: seeds from a secret.

Each (assignment, student, graded cell) gets its own seed, the HMAC-SHA256 of
those three names under a secret key. The same student always gets the same
numbers (so re-grading gives the same grades), two students never share them,
and without the secret nobody can compute them ahead of the grading run.

The secret lives in ``<course-dir>/.grading-secret`` unless told otherwise;
it is created on first use, readable by its owner only. Keep it out of git.
"""

import hashlib
import hmac
import os
import secrets
from pathlib import Path

SECRET_NAME = ".grading-secret"


def load_secret(path):
    """The secret in ``path`` (bytes); a new random one is written there (mode 0600) if missing."""
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_hex(32) + "\n")
    secret = path.read_bytes().strip()
    if len(secret) < 16:
        raise ValueError(
            f"the grading secret in {path} is too short ({len(secret)} bytes, at least 16 "
            f"needed): delete the file and a new one is made on the next run"
        )
    return secret


def seed_for(secret, assignment, student, grade_id):
    """A 64-bit seed for one student's cases of one graded cell."""
    message = "\0".join((assignment, student, grade_id)).encode("utf-8")
    digest = hmac.new(secret, message, hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big")
