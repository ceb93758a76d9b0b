"""The files of a grading run in ``--out``: grades.csv, records/*.json, feedback/*.html
(and instructor-notes.html, the flags for the instructor alone).

Records and feedback pages are written as each student's record arrives, so
a crash of the grader loses nothing already graded. Every file is written to
a fresh temporary name (``mkstemp``: random, created exclusively, so nothing
can be planted there) and renamed into place.

While a run is unfinished, ``.grading-in-progress.json`` says which run it is
(the assignment and hashes of what decides the grades). A run that finds the
marker of the same run resumes it (:func:`resumable_records`); any other
previous results are never overwritten: they are moved, as they are, into
``<out>/backup-<timestamp>/`` first, and the move is announced.
"""

import csv
import hashlib
import io
import json
import os
import stat
import tempfile
import unicodedata
from datetime import datetime
from pathlib import Path

from dlcourse.grading.feedback import feedback_html, instructor_notes_html
from dlcourse.grading.precedence import final_points, final_score, overridden

MARKER = ".grading-in-progress.json"
INSTRUCTOR_NOTES = "instructor-notes.html"  # the flags: for the instructor, never the students
RESULT_NAMES = ("grades.csv", "records", "feedback", INSTRUCTOR_NOTES, MARKER)
_UNSAFE = set('/\\:*?"<>|%')  # path separators, Windows' reserved characters, our escape
_MAX_STEM_BYTES = 160  # room for ".json" within the usual 255-byte limit on a name


def back_up_previous(out, now=None):
    """Move an earlier run's results into ``out/backup-<timestamp>/``; return it (or None)."""
    out = Path(out)
    present = [out / name for name in RESULT_NAMES if os.path.lexists(out / name)]
    if not present:
        return None
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    backup = out / f"backup-{stamp}"
    counter = 1
    while backup.exists():  # two runs within a second
        backup = out / f"backup-{stamp}-{counter}"
        counter += 1
    backup.mkdir(parents=True)
    for path in present:
        os.replace(path, backup / path.name)
    return backup


def shown_id(student_id):
    """A student id as text for grades.csv and messages (a non-UTF-8 name gets \\x escapes)."""
    return os.fsencode(student_id).decode("utf-8", "backslashreplace")


def _plain(student_id):
    """Whether the id can be a file name as it is, on Linux, macOS and Windows."""
    encoded = os.fsencode(student_id)
    return (
        not student_id.startswith((".", " "))
        and not student_id.endswith((" ", "."))
        and student_id.isprintable()
        and not (_UNSAFE & set(student_id))
        and shown_id(student_id) == student_id
        and len(encoded) <= _MAX_STEM_BYTES
    )


def _escaped(student_id, hashed=False):
    """``%XX`` escapes of every byte but letters, digits and ``-_+@``; always has a ``%``."""
    raw = os.fsencode(student_id)
    text = "".join(
        chr(b) if chr(b).isalnum() and b < 128 or chr(b) in "-_+@" else f"%{b:02X}" for b in raw
    )
    if hashed or len(text) > _MAX_STEM_BYTES or "%" not in text:
        text = text[:100] + "%~" + hashlib.sha256(raw).hexdigest()[:16]
    return text


def file_stems(student_ids):
    """``{student_id: stem}`` of the records/ and feedback/ files, distinct for every id.

    A readable id is its own stem; any other is escaped (the escaped stems, and
    only they, contain ``%``). Ids that a case-insensitive or normalizing file
    system (macOS, Windows) would take for one name get hashed stems.
    """
    stems = {sid: sid if _plain(sid) else _escaped(sid) for sid in student_ids}
    seen = {}
    for sid, stem in stems.items():
        seen.setdefault(unicodedata.normalize("NFC", stem).casefold(), []).append(sid)
    for group in seen.values():
        if len(group) > 1:
            for sid in group:
                stems[sid] = _escaped(sid, hashed=True)
    return stems


def grades_csv(records, grade_ids):
    """The text of grades.csv: one row per student, one column per graded cell.

    A TA's regrade wins over the verified points (human > verified): ``score``
    and the cells' columns hold the grade that counts, ``verified_score`` what
    dlcourse verified, ``human_overrides`` the cells a person graded.
    """
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    header = ["student_id", "assignment", "score", "max_score", *grade_ids]
    writer.writerow([*header, "verified_score", "human_overrides"])
    for record in records:
        points = {e["grade_id"]: final_points(e) for e in record["exercises"]}  # human first
        regraded = [e["grade_id"] for e in record["exercises"] if overridden(e)]
        writer.writerow(
            [
                shown_id(record["student_id"]),
                record["assignment"],
                _number(final_score(record)),
                _number(record["max_score"]),
                *(_number(points.get(gid, 0.0)) for gid in grade_ids),
                _number(record["score"]),
                ";".join(regraded),
            ]
        )
    return text.getvalue()


def with_overrides(records, regrades):
    """``records`` with each exercise a person regraded marked ``human_override``; and the
    records that changed."""
    by_cell = {(r.student_id, r.grade_id): r.score for r in regrades}
    marked, changed = [], []
    for record in records:
        entries = [
            {**e, "human_override": by_cell.get((record["student_id"], e["grade_id"]))}
            for e in record["exercises"]
        ]
        new = {**record, "exercises": entries}
        marked.append(new)
        if any(overridden(e) for e in entries):
            changed.append(new)
    return marked, changed


def _number(value):
    return repr(float(value))


def _umask():
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_atomically(path, text):
    """Write ``text`` to ``path`` through a fresh temporary file in the same folder."""
    path = Path(path)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp's 0600 would differ from a plain write
        # backslashreplace: a non-UTF-8 student id (a refused one) still gets its page
        with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.lexists(temporary):
            os.unlink(temporary)
        raise


def write_record(out, record, stem):
    """``records/<stem>.json`` and ``feedback/<stem>.html`` of one record."""
    out = Path(out)
    for folder in ("records", "feedback"):
        (out / folder).mkdir(parents=True, exist_ok=True)
    write_atomically(out / "records" / f"{stem}.json", json.dumps(record, indent=1) + "\n")
    write_atomically(out / "feedback" / f"{stem}.html", feedback_html(record))


def write_grades(out, records, grade_ids, stems):
    """grades.csv; and away with the records/ and feedback/ files of no current student,
    and with the temporary files of a run killed while it wrote one."""
    out = Path(out)
    wanted = set(stems.values())
    for folder, suffix in (("records", ".json"), ("feedback", ".html")):
        for path in (out / folder).glob(f"*{suffix}"):
            if path.name[: -len(suffix)] not in wanted:  # left by the unfinished run resumed
                path.unlink()
        for path in (out / folder).glob(".tmp-*"):  # write_atomically's, cut short by a kill
            if path.is_file() and not path.is_symlink():
                path.unlink()
    write_atomically(out / "grades.csv", grades_csv(records, grade_ids))
    write_atomically(out / INSTRUCTOR_NOTES, instructor_notes_html(records))


def write_results(out, records, grade_ids):
    """Write all result files into ``out`` (which holds no previous results any more)."""
    stems = file_stems([r["student_id"] for r in records])
    for record in records:
        write_record(out, record, stems[record["student_id"]])
    write_grades(out, records, grade_ids, stems)


def start_run(out, marker):
    """Mark ``out`` as holding an unfinished run described by the dict ``marker``."""
    Path(out).mkdir(parents=True, exist_ok=True)
    write_atomically(Path(out) / MARKER, json.dumps(marker, indent=1) + "\n")


def finish_run(out):
    """Remove the marker: the results in ``out`` are complete."""
    path = Path(out) / MARKER
    if os.path.lexists(path):
        path.unlink()


def _read_json(path):
    """The JSON in a regular file (never through a link), or None."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        with os.fdopen(fd, "rb", closefd=False) as f:
            return json.loads(f.read().decode("utf-8"))
    except (OSError, ValueError):
        return None
    finally:
        os.close(fd)


def unfinished_run(out):
    """The marker of the unfinished run in ``out`` (a dict), or None."""
    marker = _read_json(Path(out) / MARKER)
    return marker if isinstance(marker, dict) else None


def same_run(marker, expected):
    """Whether a marker describes the run ``expected`` describes (all but its start time)."""
    keys = set(expected) - {"started"}
    return marker is not None and all(marker.get(k) == expected[k] for k in keys)


def previous_records(out):
    """``{student_id: record}`` of the records in ``out/records`` that parse as JSON objects."""
    found = {}
    for path in sorted((Path(out) / "records").glob("*.json")):
        record = _read_json(path)
        if isinstance(record, dict) and isinstance(record.get("student_id"), str):
            found.setdefault(record["student_id"], record)
    return found
