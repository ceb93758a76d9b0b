"""Remember what the last build wrote, to tell a rebuild from a hand edit.

``course/.build-manifest.json`` (committed with the notebooks) holds the SHA-256
of every notebook as the build wrote it. A notebook whose hash no longer
matches was changed after the build, by hand or by a student working in
``course/``, and the next build will not overwrite it unless told to.
"""

import hashlib
import json
from pathlib import Path

ABOUT = (
    "Written by `dlcourse build`: the SHA-256 of each course notebook as built. A notebook "
    "whose hash differs was edited after the build; `dlcourse build` refuses to overwrite it "
    "unless given --backup or --force."
)


def sha256(data):
    """The SHA-256 of ``data`` (bytes or str), as hex."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def load(path):
    """``{notebook file name: sha256}`` from the manifest at ``path`` ({} when there is none)."""
    path = Path(path)
    if not path.is_file():
        return {}
    try:
        recorded = json.loads(path.read_text(encoding="utf-8")).get("notebooks", {})
    except (ValueError, AttributeError):  # a broken manifest protects nothing: start afresh
        return {}
    return {str(k): str(v) for k, v in recorded.items()}


def dumps(hashes):
    """The manifest's text: sorted, indented, one final newline (so that git diffs stay small)."""
    document = {"about": ABOUT, "notebooks": dict(sorted(hashes.items()))}
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def save(path, hashes):
    Path(path).write_text(dumps(hashes), encoding="utf-8")
