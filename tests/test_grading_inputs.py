"""What may be submitted: links, odd student ids, copies of another student, a trapped gradebook.

The ids nbgrader accepts are found by running the real ``nbgrader autograde``
on them; ``find_submissions`` must accept exactly those, and every id, taken
or not, must reach grades.csv with a record and a reason.
"""

import hashlib
import json
import os
import sqlite3
import subprocess
import sys

import pytest

from dlcourse.grading import outputs
from dlcourse.grading.submissions import (
    SYMLINK_REASON,
    find_submissions,
    identical_flags,
    nbgrader_refuses,
    snapshot,
)
from grading_course import (
    CORRECT,
    HALF,
    ROOT,
    autograde,
    env,
    make_course,
    notebook,
    put,
    records,
)
from test_grading_autograde import ASSIGNMENT

pytest.importorskip("nbgrader", reason="the gradebook and the ids are nbgrader's")
pytest.importorskip("jupytext", reason="the source notebook is built from a jupytext file")

BAD_UTF8 = os.fsdecode(b"bad\xff")
ODD_IDS = ["s 01", "Jos\u00e9", "\u674e\u96f7", "-x", "a+b", "it's", " lead", "x" * 150]
REFUSED_IDS = ["...", ".hidden", "a[1]", BAD_UTF8]


def _tree(tmp_path):
    """A submitted folder with a link at every level nbgrader's layout has."""
    sub = tmp_path / "sub"
    real = put(sub, "real", "{}")
    put(tmp_path / "elsewhere", "other", "{}")
    (sub / "linked-student").symlink_to(tmp_path / "elsewhere" / "other")
    (sub / "linked-folder").mkdir()
    (sub / "linked-folder" / ASSIGNMENT).symlink_to(tmp_path / "elsewhere" / "other" / ASSIGNMENT)
    (sub / "linked-notebook" / ASSIGNMENT).mkdir(parents=True)
    (sub / "linked-notebook" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").symlink_to(real)
    (sub / "flat_90-tiny.ipynb").symlink_to(real)
    (sub / "fifo" / ASSIGNMENT).mkdir(parents=True)
    os.mkfifo(sub / "fifo" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    (sub / "two" / ASSIGNMENT).mkdir(parents=True)
    for name in ("a.ipynb", "b.ipynb"):
        (sub / "two" / ASSIGNMENT / name).write_text("{}")
    (sub / ".link").symlink_to(tmp_path / "elsewhere")  # hidden: not a student
    return sub


def test_links_anywhere_on_the_way_to_the_notebook_are_refused(tmp_path):
    found = {s.student_id: s for s in find_submissions(_tree(tmp_path), ASSIGNMENT)}
    assert set(found) == {
        "real",
        "linked-student",
        "linked-folder",
        "linked-notebook",
        "flat",
        "fifo",
        "two",
    }
    assert found["real"].status is None and found["real"].path.is_file()
    for sid in ("linked-student", "linked-folder", "linked-notebook", "flat"):
        assert found[sid].status == "unreadable" and found[sid].path is None
        assert SYMLINK_REASON in found[sid].reason
    assert found["fifo"].status == "unreadable" and "not a regular file" in found["fifo"].reason
    assert "several notebooks" in found["two"].reason


def test_a_link_swapped_in_after_the_search_is_refused_when_copied(tmp_path):
    sub = tmp_path / "sub"
    first = put(sub, "s01", '{"cells": []}')
    second = put(sub, "s02", '{"cells": []}')
    (tmp_path / "secret.txt").write_text("the instructor's")
    found = find_submissions(sub, ASSIGNMENT)
    first.unlink()
    first.symlink_to(tmp_path / "secret.txt")  # the notebook itself
    folder = second.parent
    os.rename(folder, tmp_path / "moved")
    folder.symlink_to(tmp_path / "moved")  # a folder on the way
    copies = tmp_path / "copies"
    copies.mkdir()
    copied = snapshot(found, sub, copies)
    for submission in copied:
        assert submission.status == "unreadable" and SYMLINK_REASON in submission.reason
    assert list(copies.iterdir()) == []


def test_a_snapshot_is_a_private_copy_with_its_hash(tmp_path):
    sub = tmp_path / "sub"
    path = put(sub, "s01", '{"cells": []}')
    copies = tmp_path / "copies"
    copies.mkdir()
    (copied,) = snapshot(find_submissions(sub, ASSIGNMENT), sub, copies)
    assert copied.path.parent == copies and copied.path.read_bytes() == path.read_bytes()
    assert copied.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("sid", ODD_IDS)
def test_ids_nbgrader_grades_are_accepted(sid):
    assert nbgrader_refuses(sid) is None


@pytest.mark.parametrize("sid", [*REFUSED_IDS, "new\nline", ""])
def test_ids_nbgrader_does_not_grade_are_refused_with_a_reason(sid):
    assert nbgrader_refuses(sid)


def test_a_student_twice_is_graded_once_and_told(tmp_path):
    put(tmp_path, "s01", "{}")
    (tmp_path / f"s01_{ASSIGNMENT}.ipynb").write_text("{}")
    (tmp_path / f"_{ASSIGNMENT}.ipynb").write_text("{}")
    found = {s.student_id: s for s in find_submissions(tmp_path, ASSIGNMENT)}
    assert found["s01"].path.parent.name == ASSIGNMENT  # the folder wins
    assert any(f"s01_{ASSIGNMENT}.ipynb" in flag for flag in found["s01"].flags)
    assert found[f"_{ASSIGNMENT}.ipynb"].status == "error"  # no id: still a row


def test_file_stems_are_safe_distinct_and_readable_where_possible():
    ids = [*ODD_IDS, *REFUSED_IDS, "a/b", "..", "Alice", "alice", "50%", "x" * 250, "new\nline"]
    stems = outputs.file_stems(ids)
    assert len(set(stems.values())) == len(ids)
    for stem in stems.values():
        assert "/" not in stem and not stem.startswith(".") and stem.isprintable()
        assert len(os.fsencode(stem + ".json")) < 255
    for sid in ("s 01", "Jos\u00e9", "-x", "a+b", "it's", "a[1]"):
        assert stems[sid] == sid
    assert stems["Alice"] != "Alice" and stems["alice"] != "alice"  # one file on macOS


def _with_cells(release, cells, extra_markdown=False):
    nb = json.loads(notebook(release, cells))
    if extra_markdown:
        nb["cells"].append(
            {"cell_type": "markdown", "id": "my-notes", "metadata": {}, "source": "my notes"}
        )
    return json.dumps(nb)


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    base = tmp_path_factory.mktemp("inputs")
    course, solutions, release = make_course(base)
    return {"base": base, "course": course, "solutions": solutions, "release": release}


def test_identical_solutions_are_flagged_but_not_the_untouched_version(course, tmp_path):
    from dlcourse.grading.submissions import solution_ids

    sub = tmp_path / "sub"
    release = course["release"]
    put(sub, "ann", _with_cells(release, CORRECT))
    put(sub, "bob", _with_cells(release, CORRECT))  # the same file
    put(sub, "cid", _with_cells(release, CORRECT, extra_markdown=True))  # the same code
    put(sub, "dan", _with_cells(release, HALF))
    put(sub, "eve", release)
    put(sub, "fay", release)  # untouched, like eve
    copies = tmp_path / "copies"
    copies.mkdir()
    copied = snapshot(find_submissions(sub, ASSIGNMENT), sub, copies)
    source = (course["course"] / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_text()
    flags = identical_flags(copied, solution_ids(source))
    assert set(flags) == {"ann", "bob", "cid"}
    assert "bob, cid" in flags["ann"] and "byte for byte, as bob" in flags["ann"]
    assert "byte for byte" not in flags["cid"]


def test_nbgrader_itself_grades_exactly_the_ids_find_submissions_accepts(course, tmp_path):
    import shutil

    nb_course = tmp_path / "nbcourse"
    shutil.copytree(course["course"], nb_course)
    (nb_course / "gradebook.db").unlink()
    shutil.copy2(ROOT / "autograder" / "nbgrader_config.py", nb_course)
    text = notebook(course["release"], CORRECT)
    ids = [*ODD_IDS[:6], *REFUSED_IDS]
    for sid in ids:
        put(nb_course / "submitted", sid, text)
    subprocess.run(
        [sys.executable, "-m", "nbgrader", "generate_assignment", ASSIGNMENT, "--force"],
        cwd=nb_course,
        env=env(),
        capture_output=True,
        timeout=300,
        check=True,
    )
    result = subprocess.run(
        [sys.executable, "-m", "nbgrader", "autograde", ASSIGNMENT, "--create", "--force"],
        cwd=nb_course,
        env=env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    with sqlite3.connect(nb_course / "gradebook.db") as db:
        db.text_factory = lambda raw: raw.decode("utf-8", "surrogateescape")
        graded = {row[0] for row in db.execute("SELECT student_id FROM submitted_assignment")}
    accepted = {
        s.student_id
        for s in find_submissions(nb_course / "submitted", ASSIGNMENT)
        if s.status is None
    }
    assert graded == accepted == set(ODD_IDS[:6]), result.stderr[-3000:]


def _grade_rows(gradebook):
    with sqlite3.connect(gradebook) as db:
        return sorted(db.execute("SELECT id, manual_score, auto_score FROM grade"))


@pytest.fixture(scope="module")
def graded(course):
    """One run over odd ids, links and copies; then one on a gradebook with a trigger."""
    base = course["base"]
    sub = base / "submitted"
    release = course["release"]
    for sid in [*ODD_IDS, *REFUSED_IDS]:
        put(sub, sid, notebook(release, CORRECT))
    put(sub, "half", notebook(release, HALF))
    put(sub, "copycat", notebook(release, HALF))
    (sub / "linked").symlink_to(sub / "half")
    out = base / "out"
    first = autograde(course["course"], course["solutions"], sub, out, "--workers", "2")
    gradebook = course["course"] / "gradebook.db"
    before = _grade_rows(gradebook)
    with sqlite3.connect(gradebook) as db:
        db.execute(
            "CREATE TRIGGER full_marks AFTER UPDATE ON grade "
            "BEGIN UPDATE grade SET manual_score = 100; END"
        )
    trapped_out = base / "trapped"
    trapped = autograde(course["course"], course["solutions"], sub, trapped_out, "--workers", "2")
    return {
        "out": out,
        "first": first,
        "trapped": trapped,
        "trapped_out": trapped_out,
        "before": before,
        "after": _grade_rows(gradebook),
        "gradebook": gradebook,
    }


def test_every_student_found_has_a_row_and_a_record(graded):
    assert graded["first"].returncode == 0, graded["first"].stderr[-3000:]
    rows = (graded["out"] / "grades.csv").read_text(encoding="utf-8")
    found = records(graded["out"])
    everyone = [*ODD_IDS, *REFUSED_IDS, "half", "copycat", "linked"]
    assert set(found) == set(everyone)
    assert len(rows.splitlines()) == len(everyone) + 1
    for sid in ODD_IDS:
        assert found[sid]["status"] == "graded" and found[sid]["score"] == 3.0, found[sid]
    for sid in REFUSED_IDS:
        assert found[sid]["status"] == "error" and found[sid]["reason"]
    assert found["linked"]["status"] == "unreadable"
    assert SYMLINK_REASON in found["linked"]["reason"]
    assert "bad\\xff," in rows and any(line.startswith("...,") for line in rows.splitlines())


def test_the_summary_lists_every_student_not_graded_with_the_reason(graded):
    summary = graded["first"].stdout
    for sid in ("...", ".hidden", "a[1]", "bad\\xff", "linked"):
        assert f"  {sid}: " in summary, summary
    assert "symbolic links are not accepted" in summary


def test_copies_are_flagged_for_the_instructor_only(graded):
    found = records(graded["out"])
    assert any("identical to the submission of copycat" in f for f in found["half"]["flags"])
    assert found["half"]["score"] == 2.0  # flagged, not penalised
    page = (graded["out"] / "feedback" / "half.html").read_text()
    assert "copycat" not in page


def test_a_trapped_gradebook_is_refused_and_left_alone(graded):
    result = graded["trapped"]
    assert result.returncode == 1
    assert "trigger 'full_marks'" in result.stderr and "backup" in result.stderr
    assert graded["after"] == graded["before"]  # the trigger never fired
    assert (graded["trapped_out"] / "grades.csv").is_file()
    assert len(records(graded["trapped_out"])) == len(records(graded["out"]))


def test_a_fresh_gradebook_has_nothing_foreign_and_a_trigger_is_found(tmp_path, monkeypatch):
    from nbgrader.api import Gradebook

    from dlcourse.grading import gradebook

    monkeypatch.setenv("PATH", env()["PATH"])
    with Gradebook(f"sqlite:///{tmp_path / 'gradebook.db'}"):
        pass
    assert gradebook.foreign_objects(tmp_path) == []
    with sqlite3.connect(tmp_path / "gradebook.db") as db:
        db.execute("CREATE TABLE notes (x)")
        db.execute("CREATE VIEW everyone AS SELECT * FROM student")
        db.execute("CREATE TRIGGER t AFTER INSERT ON student BEGIN DELETE FROM grade; END")
    assert gradebook.foreign_objects(tmp_path) == [
        ("table", "notes"),
        ("trigger", "t"),
        ("view", "everyone"),
    ]
    data = (tmp_path / "gradebook.db").read_bytes()
    record = {"student_id": "s01", "status": "graded", "exercises": []}
    with pytest.raises(gradebook.GradebookError, match="remove them|Remove them"):
        gradebook.write_scores(tmp_path, ASSIGNMENT, [record])
    assert (tmp_path / "gradebook.db").read_bytes() == data
