"""The files of a grading run in ``--out``: grades.csv, records/*.json, feedback/*.html.

A previous run's files are never overwritten: they are moved, as they are,
into ``<out>/backup-<timestamp>/`` first, and the move is announced.
"""

import csv
import io
import json
import os
from datetime import datetime
from pathlib import Path

from dlcourse.grading.feedback import feedback_html

RESULT_NAMES = ("grades.csv", "records", "feedback")


def back_up_previous(out, now=None):
    """Move an earlier run's results into ``out/backup-<timestamp>/``; return it (or None)."""
    out = Path(out)
    present = [out / name for name in RESULT_NAMES if (out / name).exists()]
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


def grades_csv(records, grade_ids):
    """The text of grades.csv: one row per student, one column per graded cell."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["student_id", "assignment", "score", "max_score", *grade_ids])
    for record in records:
        points = {e["grade_id"]: e["points"] for e in record["exercises"]}
        writer.writerow(
            [
                record["student_id"],
                record["assignment"],
                _number(record["score"]),
                _number(record["max_score"]),
                *(_number(points.get(gid, 0.0)) for gid in grade_ids),
            ]
        )
    return text.getvalue()


def _number(value):
    return repr(float(value))


def _write(path, text):
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def write_results(out, records, grade_ids):
    """Write all result files into ``out`` (which holds no previous results any more)."""
    out = Path(out)
    (out / "records").mkdir(parents=True, exist_ok=True)
    (out / "feedback").mkdir(parents=True, exist_ok=True)
    for record in records:
        sid = record["student_id"]
        _write(out / "records" / f"{sid}.json", json.dumps(record, indent=1) + "\n")
        _write(out / "feedback" / f"{sid}.html", feedback_html(record))
    _write(out / "grades.csv", grades_csv(records, grade_ids))
