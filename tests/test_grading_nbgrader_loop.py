"""The instructor's whole nbgrader loop, with ``dlcourse autograde`` as the only grading step.

Three students, each with a HOME of their own and ``--student``, fetch the tiny
assignment from an exchange in a temporary folder, solve it and submit it;
the third submits after the due date set in the gradebook. The instructor
collects, runs ``dlcourse autograde`` (no ``nbgrader autograde``), a TA
regrades a cell through nbgrader's Gradebook API, ``dlcourse autograde`` runs
again, then ``nbgrader generate_feedback`` and ``release_feedback``, and each
student fetches their feedback. The tiny assignment here has a hidden test,
and the course's late-submission plugin gives a late notebook zero.
"""

import html
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from grading_course import CORRECT, HALF, autograde, env, notebook, records
from test_grading_autograde import ASSIGNMENT, CHECKS, SOLUTION

pytest.importorskip("nbgrader", reason="the loop is nbgrader's")
pytest.importorskip("jupytext", reason="the source notebook is built from a jupytext file")

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
NBGRADER = [sys.executable, "-m", "nbgrader"]
HIDDEN = "assert double(5.0) == 10.0  # the-hidden-check\n"
CHECK_LINE = "assert np.allclose(double(np.arange(3.0)), [0.0, 2.0, 4.0])\n"
DELEGATE = {
    **CORRECT,
    "relu_backward": "def relu_backward(dout, x):\n    return F.relu_backward(dout, x)\n",
}
# run anywhere but in a sandbox (whose /tmp is its own), bob's cell leaves this file behind
TRAP = "try:\n    open({path!r}, 'w').write('ran')\nexcept OSError:\n    pass\n"
STUDENTS = {"ada": CORRECT, "bob": HALF, "cy": DELEGATE}  # cy submits late
LATE = "cy"
TA_SCORE = 0.5


def _course(base, exchange):
    """A course folder whose config is the repository's, a temporary exchange, late = zero."""
    from dlcourse.grading.coursedir import ensure_source

    assert CHECK_LINE in SOLUTION
    hidden = f"{CHECK_LINE}### BEGIN HIDDEN TESTS\n{HIDDEN}### END HIDDEN TESTS\n"
    solutions, course = base / "solutions", base / "course"
    solutions.mkdir(parents=True)
    (solutions / f"{ASSIGNMENT}.py").write_text(SOLUTION.replace(CHECK_LINE, hidden))
    (course / "checks").mkdir(parents=True)
    (course / "checks" / f"{ASSIGNMENT}.py").write_text(CHECKS)
    repository = ROOT / "autograder" / "nbgrader_config.py"
    (course / "nbgrader_config.py").write_text(
        "c = get_config()  # noqa: F821\n"
        f"load_subconfig({str(repository)!r})  # noqa: F821\n"
        f"c.Exchange.root = {str(exchange)!r}\n"
        "c.LateSubmissionPlugin.penalty_method = 'zero'\n"
    )
    ensure_source(ASSIGNMENT, course, solutions)
    return course, solutions


def _run(command, cwd, home=None, timeout=300):
    variables = env()
    if home is not None:
        variables["HOME"] = str(home)
    result = subprocess.run(
        command, capture_output=True, text=True, cwd=cwd, env=variables, timeout=timeout
    )
    assert result.returncode == 0, f"{command}\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    return result


def _student(base, exchange, sid):
    home = base / "home" / sid
    home.mkdir(parents=True, exist_ok=True)
    args = ["--course", "dlcourse", f"--Exchange.root={exchange}", f"--student={sid}"]
    return home, args


def _set_due_date_now(course):
    from nbgrader.api import Gradebook

    from dlcourse.grading.coursedir import db_url

    time.sleep(1.1)  # the submissions before it are on time, the one after it late
    with Gradebook(db_url(course)) as gb:
        gb.update_or_create_assignment(
            ASSIGNMENT, duedate=datetime.now(timezone.utc).replace(tzinfo=None)
        )
    time.sleep(1.1)


def _regrade(course):
    from nbgrader.api import Gradebook

    from dlcourse.grading.coursedir import db_url

    with Gradebook(db_url(course)) as gb:
        grade = gb.find_grade("check_double", ASSIGNMENT, ASSIGNMENT, "ada")
        grade.manual_score, grade.needs_manual_grade = TA_SCORE, False
        gb.db.commit()


def _gradebook(course):
    """``{student: (notebook score, late penalty, {grade_id: score})}`` from the gradebook."""
    from nbgrader.api import Gradebook

    from dlcourse.grading.coursedir import db_url

    found = {}
    with Gradebook(db_url(course)) as gb:
        for submission in gb.assignment_submissions(ASSIGNMENT):
            (nb,) = submission.notebooks
            grades = {g.name: g.score for g in nb.grades}
            found[submission.student.id] = (nb.score, nb.late_submission_penalty, grades)
    return found


def _formgrader_view(course):
    """What the formgrader's list of submissions shows, through nbgrader's own API."""
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    from dlcourse.grading.coursedir import nbgrader_config

    config = nbgrader_config(course, ASSIGNMENT)
    api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
    return {s["student"]: s for s in api.get_submissions(ASSIGNMENT)}


@pytest.fixture(scope="module")
def loop(tmp_path_factory):
    base = tmp_path_factory.mktemp("loop")
    exchange = base / "exchange"
    exchange.mkdir()
    course, solutions = _course(base, exchange)
    done = {"course": course, "trap": base / "ran-outside-the-sandbox"}
    answers = {
        **STUDENTS,
        "bob": {**HALF, "double": TRAP.format(path=str(done["trap"])) + HALF["double"]},
    }
    _run([*NBGRADER, "release_assignment", ASSIGNMENT], course)
    for sid, cells in answers.items():
        home, args = _student(base, exchange, sid)
        _run([*NBGRADER, "fetch_assignment", ASSIGNMENT, *args], home, home)
        fetched = home / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
        fetched.write_text(notebook(fetched.read_text(encoding="utf-8"), cells))
        if sid == LATE:
            _set_due_date_now(course)
        _run([*NBGRADER, "submit", ASSIGNMENT, *args], home, home)
    _run([*NBGRADER, "collect", ASSIGNMENT], course)
    out = base / "grades"
    first = autograde(course, solutions, course / "submitted", out)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-3000:]
    done["first"], done["records"] = first, records(out)
    done["first gradebook"], done["formgrader"] = _gradebook(course), _formgrader_view(course)
    done["autograded"] = {
        sid: course / "autograded" / sid / ASSIGNMENT / f"{ASSIGNMENT}.ipynb" for sid in STUDENTS
    }
    _regrade(course)
    again = autograde(course, solutions, course / "submitted", out)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-3000:]
    done["again gradebook"] = _gradebook(course)
    done["own feedback"] = {
        sid: (out / "feedback" / f"{sid}.html").read_text(encoding="utf-8") for sid in STUDENTS
    }
    done["instructor notes"] = (out / "instructor-notes.html").read_text(encoding="utf-8")
    _run([*NBGRADER, "generate_feedback", ASSIGNMENT], course)
    _run([*NBGRADER, "release_feedback", ASSIGNMENT], course)
    done["fetched"] = {}
    for sid in STUDENTS:
        home, args = _student(base, exchange, sid)
        _run([*NBGRADER, "fetch_feedback", ASSIGNMENT, *args], home, home)
        pages = sorted((home / ASSIGNMENT / "feedback").glob("*/*.html"))
        done["fetched"][sid] = [p.read_text(encoding="utf-8") for p in pages]
    return done


def test_dlcourse_autograde_alone_writes_the_autograded_notebooks(loop):
    for sid, path in loop["autograded"].items():
        assert path.is_file(), sid
    view = loop["formgrader"]
    assert sorted(view) == sorted(STUDENTS)
    for sid, record in loop["records"].items():
        assert view[sid]["autograded"] is True
        # the verified score (the formgrader shows a late penalty apart from it)
        assert view[sid]["score"] == record["score"]
        assert view[sid]["max_score"] == 3.0


def test_no_student_code_ran_outside_the_sandbox(loop):
    assert loop["records"]["bob"]["score"] == 2.0  # the trapped cell was graded
    assert not loop["trap"].exists()


def test_the_gradebook_has_the_verified_scores_and_the_late_penalty_on_them(loop):
    scores = {sid: r["score"] for sid, r in loop["records"].items()}
    assert scores == {"ada": 3.0, "bob": 2.0, "cy": 1.0}
    in_kernel = sum(e["in_kernel"] for e in loop["records"][LATE]["exercises"])
    assert in_kernel == 3.0  # the delegating answer passes the visible checks in the kernel
    book = loop["first gradebook"]
    assert {sid: book[sid][2] for sid in STUDENTS} == {
        sid: {e["grade_id"]: e["points"] for e in loop["records"][sid]["exercises"]}
        for sid in STUDENTS
    }
    assert book[LATE][1] == 1.0  # 'zero' takes the verified 1 point, not the in-kernel 3
    assert book["ada"][1] is None and book["bob"][1] is None
    assert "late: cy: penalty 1" in loop["first"].stdout


def test_a_ta_override_survives_a_second_run(loop):
    book = loop["again gradebook"]
    assert book["ada"][2]["check_double"] == TA_SCORE
    assert book["ada"][0] == TA_SCORE + 2.0
    assert book[LATE][1] == 1.0


def test_the_fetched_feedback_says_why_and_hides_the_hidden_tests(loop):
    source = loop["course"] / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    assert "the-hidden-check" in source.read_text(encoding="utf-8")
    for sid, pages in loop["fetched"].items():
        assert len(pages) == 1, sid
        page = html.unescape(pages[0])
        assert "the-hidden-check" not in page and "BEGIN HIDDEN TESTS" not in page, sid
        for flag in loop["records"][sid]["flags"]:
            assert flag not in page, sid
    wrong = {e["grade_id"]: e for e in loop["records"][LATE]["exercises"]}["check_relu_backward"]
    assert not wrong["verified"]
    why = wrong["diagnosis"] or wrong["reason"]
    page = html.unescape(loop["fetched"][LATE][0])
    assert "not verified, 0 / 2 point(s)" in page
    assert why.splitlines()[0] in page


def test_dlcourse_feedback_pages_keep_the_instructor_notes_apart(loop):
    flagged = [sid for sid, r in loop["records"].items() if r["flags"]]
    assert LATE in flagged  # the kernel's 3 points against the verified 1
    notes = html.unescape(loop["instructor notes"])
    for sid in flagged:
        page = html.unescape(loop["own feedback"][sid])
        assert "Notes for the instructor" not in page
        for flag in loop["records"][sid]["flags"]:
            assert flag not in page
            assert flag in notes
