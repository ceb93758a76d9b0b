"""``CourseDirectory.db_url`` of the course's nbgrader_config.py: one gradebook for several graders.

The tiny course of ``grading_course`` gets a config that reads the
repository's and points the gradebook at an SQLite file in another folder
(as a shared disk would hold it). ``dlcourse autograde`` must grade into that
file, make no ``gradebook.db`` in the course folder, keep its memory of the
scores it wrote beside the shared file, and ``nbgrader export`` run in the
course folder (which reads the same config) must list the verified scores.
PostgreSQL cannot be installed here, so a server URL is only checked for how
it is read, not connected to.
"""

import csv
import subprocess
import sys

import pytest

from grading_course import CORRECT, HALF, ROOT, autograde, env, notebook, put, records
from test_grading_autograde import ASSIGNMENT, CHECKS, SOLUTION

pytest.importorskip("nbgrader", reason="dlcourse autograde drives nbgrader")
pytest.importorskip("jupytext", reason="the source notebook is built from a jupytext file")


def write_config(course, *lines):
    """``course/nbgrader_config.py``: the repository's settings plus ``lines``."""
    course.mkdir(parents=True, exist_ok=True)
    repository = ROOT / "autograder" / "nbgrader_config.py"
    text = f"c = get_config()  # noqa: F821\nload_subconfig({str(repository)!r})  # noqa: F821\n"
    (course / "nbgrader_config.py").write_text(text + "".join(f"{x}\n" for x in lines))


def configured_course(base, *lines):
    """``(course, solutions, release text)`` of a course whose config adds ``lines``."""
    from dlcourse.grading.coursedir import ensure_source

    solutions, course = base / "solutions", base / "course"
    solutions.mkdir(parents=True)
    (solutions / f"{ASSIGNMENT}.py").write_text(SOLUTION, encoding="utf-8")
    (course / "checks").mkdir(parents=True)
    (course / "checks" / f"{ASSIGNMENT}.py").write_text(CHECKS, encoding="utf-8")
    write_config(course, *lines)
    ensure_source(ASSIGNMENT, course, solutions)
    release = (course / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_text()
    return course, solutions, release


# --- how the URL is read ------------------------------------------------------------------


def test_without_a_setting_the_gradebook_is_in_the_course_folder(tmp_path):
    from dlcourse.grading.coursedir import db_url, gradebook_file

    write_config(tmp_path)
    assert db_url(tmp_path) == f"sqlite:///{tmp_path.resolve() / 'gradebook.db'}"
    assert gradebook_file(tmp_path) == tmp_path.resolve() / "gradebook.db"


def test_an_absolute_sqlite_path_elsewhere_is_used_as_it_is(tmp_path):
    from dlcourse.grading.coursedir import db_url, gradebook_file

    shared = tmp_path / "shared" / "dlcourse.db"
    write_config(tmp_path / "course", f"c.CourseDirectory.db_url = 'sqlite:///{shared}'")
    assert db_url(tmp_path / "course") == f"sqlite:///{shared}"
    assert gradebook_file(tmp_path / "course") == shared


def test_a_relative_sqlite_path_is_read_from_the_course_folder(tmp_path):
    from dlcourse.grading.coursedir import gradebook_file

    write_config(tmp_path, "c.CourseDirectory.db_url = 'sqlite:///grading/gb.db'")
    assert gradebook_file(tmp_path) == tmp_path.resolve() / "grading" / "gb.db"


def test_a_database_server_url_passes_through_unopened(tmp_path):
    from dlcourse.grading.coursedir import db_url, gradebook_exists, gradebook_file
    from dlcourse.grading.gradebook import foreign_objects, memory_path

    url = "postgresql://grader@db.example.invalid/dlcourse"
    write_config(tmp_path, f"c.CourseDirectory.db_url = {url!r}")
    assert db_url(tmp_path) == url
    assert gradebook_file(tmp_path) is None and gradebook_exists(tmp_path)
    assert foreign_objects(tmp_path) == []  # the SQLite-only check does not connect
    assert memory_path(tmp_path) == tmp_path.resolve() / ".dlcourse-verified.json"


@pytest.mark.parametrize(
    "url, says",
    [("sqlite://", "in-memory"), ("sqlite:///:memory:", "in-memory"), ("no url", "not an SQLAl")],
)
def test_a_url_that_cannot_hold_grades_is_refused_with_the_fix(tmp_path, url, says):
    from dlcourse.grading.coursedir import GradingSetupError, db_url, gradebook_file

    write_config(tmp_path, f"c.CourseDirectory.db_url = {url!r}")
    with pytest.raises(GradingSetupError, match=says) as caught:
        gradebook_file(tmp_path)
    assert "sqlite:////" in str(caught.value) or "db_url" in str(caught.value)
    if url == "no url":
        with pytest.raises(GradingSetupError):
            db_url(tmp_path)


def test_the_sandbox_may_not_read_a_shared_gradebook(tmp_path):
    from dlcourse.grading.plan import forbidden_paths

    shared = tmp_path / "shared" / "dlcourse.db"
    write_config(tmp_path / "course", f"c.CourseDirectory.db_url = 'sqlite:///{shared}'")
    assert str(shared) in forbidden_paths(tmp_path / "course", tmp_path / "secret")


# --- grading into it ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    base = tmp_path_factory.mktemp("shared-gradebook")
    gradebook = base / "shared" / "dlcourse.db"
    gradebook.parent.mkdir()
    course, solutions, release = configured_course(
        base, f"c.CourseDirectory.db_url = 'sqlite:///{gradebook}'"
    )
    submitted, out = base / "submitted", base / "out"
    put(submitted, "s01", notebook(release, CORRECT))
    put(submitted, "s02", notebook(release, HALF))
    done = autograde(course, solutions, submitted, out)
    return {"base": base, "course": course, "gradebook": gradebook, "out": out, "done": done}


def test_autograde_writes_into_the_configured_gradebook_only(shared):
    from nbgrader.api import Gradebook

    assert shared["done"].returncode == 0, shared["done"].stderr[-3000:]
    assert not (shared["course"] / "gradebook.db").exists()
    with Gradebook(f"sqlite:///{shared['gradebook']}") as gb:
        scores = {s.student.id: s.score for s in gb.assignment_submissions(ASSIGNMENT)}
    assert scores == {"s01": 3.0, "s02": 2.0}
    assert {sid: r["score"] for sid, r in records(shared["out"]).items()} == scores


def test_the_memory_of_written_scores_lives_beside_the_shared_file(shared):
    memory = shared["gradebook"].with_name("dlcourse.db.dlcourse-verified.json")
    assert memory.is_file(), sorted(p.name for p in shared["gradebook"].parent.iterdir())
    assert not (shared["course"] / ".dlcourse-verified.json").exists()
    assert ASSIGNMENT in memory.read_text(encoding="utf-8")


def test_nbgrader_export_in_the_course_folder_reads_the_same_gradebook(shared):
    to = shared["base"] / "export.csv"
    command = [sys.executable, "-m", "nbgrader", "export", f"--to={to}"]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=300, cwd=shared["course"], env=env()
    )
    assert done.returncode == 0, done.stderr[-3000:]
    with open(to, newline="", encoding="utf-8") as f:
        rows = {row["student_id"]: float(row["score"]) for row in csv.DictReader(f)}
    assert rows == {"s01": 3.0, "s02": 2.0}


def test_a_worker_copies_an_sqlite_gradebook_whole(tmp_path):
    from nbgrader.api import Gradebook

    from dlcourse.grading.coursedir import copy_gradebook, db_url

    course, _, _ = configured_course(tmp_path)
    target = tmp_path / "worker" / "gradebook.db"
    target.parent.mkdir()
    copy_gradebook(course, ASSIGNMENT, target)
    with Gradebook(db_url(course)) as real, Gradebook(f"sqlite:///{target}") as copy:
        assert [a.name for a in copy.assignments] == [a.name for a in real.assignments]


def test_a_worker_registers_the_assignment_when_the_gradebook_is_a_server(tmp_path, monkeypatch):
    # no database server runs here: the course's gradebook is made to look like one, and the
    # worker's private SQLite gradebook must then be made from the source notebook alone
    import shutil

    from nbgrader.api import Gradebook

    from dlcourse.grading import coursedir

    course, _, _ = configured_course(tmp_path)
    worker = tmp_path / "worker"
    source = coursedir.source_path(ASSIGNMENT, worker)
    source.parent.mkdir(parents=True)
    shutil.copy(coursedir.source_path(ASSIGNMENT, course), source)
    monkeypatch.setattr(coursedir, "gradebook_file", lambda course_dir: None)
    coursedir.copy_gradebook(course, ASSIGNMENT, worker / "gradebook.db")
    with Gradebook(f"sqlite:///{worker / 'gradebook.db'}") as gb:
        cells = sorted(c.name for c in gb.find_notebook(ASSIGNMENT, ASSIGNMENT).grade_cells)
    assert cells == ["check_double", "check_relu_backward"]
