"""Which score counts for a graded cell: a person's over dlcourse's verified one.

nbgrader's formgrader stores a TA's regrade as the cell's manual score;
``dlcourse autograde`` keeps it (see :mod:`dlcourse.grading.gradebook`) and marks
the cell's record entry with ``human_override``. Everything that shows a grade
(grades.csv, the feedback page, the summary) reads it through here, so the
order human > verified > in-kernel is written down once.
"""


def overridden(entry):
    """Whether a person graded this exercise entry of a record."""
    return entry.get("human_override") is not None


def final_points(entry):
    """The points of one exercise entry that count."""
    return entry["human_override"] if overridden(entry) else entry["points"]


def final_score(record):
    """The record's score with every person's regrade counted."""
    return float(sum(final_points(e) for e in record["exercises"]))
