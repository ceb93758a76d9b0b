"""A student's feedback page: one self-contained HTML file per student.

It says, per graded cell, the points, whether the answer was verified, and
when it was not, the diagnosis of the first failing case (which array, what
was expected, the likely mistake) or why nothing could be verified. Every
piece of text is escaped: it may quote what the student's code printed or
raised.

The page goes to the student: the flags (notes for the instructor: an
identical submission, a possible tampering) are not on it; they go to the
instructor's own file, ``instructor-notes.html`` (:func:`instructor_notes_html`).
"""

import os
from html import escape

from dlcourse.grading.precedence import final_points, final_score, overridden

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 52rem; margin: 2rem auto; color: #222; }
table { border-collapse: collapse; width: 100%; }
td, th { border: 1px solid #ccc; padding: .4rem .6rem; vertical-align: top; text-align: left; }
.ok { color: #1a7f37; } .fail { color: #b42318; } .flag { color: #9a6700; }
code { background: #f4f4f4; padding: 0 .2rem; }
"""


def _status_line(record):
    if record["status"] == "graded":
        return ""
    return f'<p class="fail">{escape(str(record["reason"] or record["status"]))}</p>'


def _points(exercise):
    shown = f"{final_points(exercise):g} / {exercise['max_points']:g}"
    if overridden(exercise):
        shown += f" (graded by your TA; verified: {exercise['points']:g})"
    return escape(shown)


def _detail(exercise):
    if exercise["verified"]:
        return "All cases passed."
    return str(exercise["diagnosis"] or exercise["reason"] or "The checks failed.")


def verdict_text(exercise):
    """One exercise's result in plain text, as the autograded notebook's cell output shows it."""
    points = f"{final_points(exercise):g} / {exercise['max_points']:g} point(s)"
    if overridden(exercise):
        points += f" (graded by your TA; verified: {exercise['points']:g})"
    verdict = "verified" if exercise["verified"] else "not verified"
    return (
        f"dlcourse: {verdict}, {points}. This cell was run again outside your notebook, "
        f"on new inputs.\n{_detail(exercise)}"
    )


def _row(exercise):
    if exercise["verified"]:
        verdict = '<span class="ok">verified</span>'
    else:
        verdict = '<span class="fail">not verified</span>'
    detail = _detail(exercise)
    return (
        f"<tr><td><code>{escape(exercise['grade_id'])}</code></td>"
        f"<td>{_points(exercise)}</td>"
        f"<td>{verdict}</td><td>{escape(str(detail))}</td></tr>"
    )


def feedback_html(record):
    """The feedback page of one record, as HTML text."""
    student = os.fsencode(record["student_id"]).decode("utf-8", "backslashreplace")
    title = f"{record['assignment']}: feedback for {student}"
    rows = "".join(_row(exercise) for exercise in record["exercises"])
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{_STYLE}</style></head><body>\n"
        f"<h1>{escape(title)}</h1>\n"
        f"<p>Score: <strong>{final_score(record):g} / {record['max_score']:g}</strong></p>\n"
        f"{_status_line(record)}\n"
        "<p>Each exercise was run again outside your notebook, on new inputs, and compared "
        "with the reference; a cell earns its points only if every case passes.</p>\n"
        "<table><tr><th>exercise</th><th>points</th><th>result</th><th>what to fix</th></tr>\n"
        f"{rows}</table>\n"
        "</body></html>\n"
    )


def instructor_notes_html(records):
    """The instructor's page: every record's flags, by student (never given to students)."""
    items = []
    for record in records:
        if record["flags"]:
            student = os.fsencode(record["student_id"]).decode("utf-8", "backslashreplace")
            flags = "".join(f'<li class="flag">{escape(str(f))}</li>' for f in record["flags"])
            items.append(f"<h2>{escape(student)}</h2><ul>{flags}</ul>\n")
    title = f"{records[0]['assignment']}: notes for the instructor" if records else "notes"
    body = "".join(items) or "<p>No flags.</p>\n"
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{_STYLE}</style></head><body>\n<h1>{escape(title)}</h1>\n{body}</body></html>\n"
    )
