"""Write the verified scores into nbgrader's real gradebook (the parent is its only writer).

Each graded cell's ``manual_score`` is set to the verified points and its
``auto_score`` to what nbgrader's in-kernel run gave (0 when it could not
run). nbgrader counts a manual score before an automatic one, so its
formgrader and its exports show the verified score, with the in-kernel one
still visible next to it.
"""

import warnings

from dlcourse.grading import coursedir


def write_scores(course_dir, assignment, records):
    """Record every student's submission and verified scores; return how many were written."""
    from nbgrader.api import Gradebook, MissingEntry

    written = 0
    with Gradebook(coursedir.db_url(course_dir)) as gb, warnings.catch_warnings():
        # nbgrader's add_submission trips SQLAlchemy's autoflush warnings; they are harmless
        warnings.simplefilter("ignore")
        for record in records:
            sid = record["student_id"]
            gb.update_or_create_student(sid)
            try:
                gb.find_submission(assignment, sid)
            except MissingEntry:
                gb.add_submission(assignment, sid)
            for exercise in record["exercises"]:
                grade = gb.find_grade(exercise["grade_id"], assignment, assignment, sid)
                in_kernel = exercise["in_kernel"]
                grade.auto_score = float(in_kernel) if in_kernel is not None else 0.0
                grade.manual_score = float(exercise["points"])
                grade.needs_manual_grade = False
            gb.db.commit()
            written += 1
    return written


def verified_scores(course_dir, assignment):
    """``{student_id: {grade_id: score}}`` as nbgrader's gradebook reports them."""
    from nbgrader.api import Gradebook

    scores = {}
    with Gradebook(coursedir.db_url(course_dir)) as gb:
        for submission in gb.assignment_submissions(assignment):
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    scores.setdefault(submission.student.id, {})[grade.name] = grade.score
    return scores
