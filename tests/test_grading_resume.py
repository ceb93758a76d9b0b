"""Results are written as they come, and a run killed midway resumes where it stopped.

The real ``dlcourse autograde`` grades ten students in a process of its own;
once a few records are on disk the test SIGKILLs that process (the grader
itself, not a worker). Its workers must then exit on their own, and running
the same command again must keep what was graded, grade the rest and end
with the grades.csv of a clean run.
"""

import json
import os
import re
import signal
import subprocess
import time

import pytest

from dlcourse.grading import outputs
from dlcourse.grading.student import _record
from grading_course import (
    CORRECT,
    HALF,
    ROOT,
    autograde,
    autograde_command,
    env,
    make_course,
    notebook,
    process_fields,
    put,
    records,
)
from test_grading_autograde import ASSIGNMENT

pytest.importorskip("nbgrader", reason="dlcourse autograde drives nbgrader")
pytest.importorskip("jupytext", reason="the source notebook is built from a jupytext file")

STUDENTS = {f"s{i:02d}": CORRECT if i % 3 else HALF for i in range(1, 11)}
KILL_AT_RECORDS = 3


def _children(pid):
    """pids of the processes whose parent is ``pid``."""
    return [child for child, fields in process_fields().items() if int(fields[1]) == pid]


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _kill_midway(command, out, tmp):
    """Start ``command``, SIGKILL it once KILL_AT_RECORDS records exist; return what it left."""
    tmp.mkdir()
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env={**env(), "TMPDIR": str(tmp)},  # the private folders a killed grader leaves behind
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    workers = set()
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and process.poll() is None:
            workers.update(_children(process.pid))
            if len(list((out / "records").glob("*.json"))) >= KILL_AT_RECORDS:
                break
            time.sleep(0.02)
        assert process.poll() is None, "the run ended before it could be killed"
        workers.update(_children(process.pid))
        os.kill(process.pid, signal.SIGKILL)  # the grader itself, mid-batch
        process.wait()
        kept = {p.name: p.read_text() for p in (out / "records").glob("*.json")}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and any(map(_alive, workers)):
            time.sleep(0.1)
        orphans = [pid for pid in workers if _alive(pid)]
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return kept, workers, orphans


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("resume")
    course, solutions, release = make_course(base)
    submitted = base / "submitted"
    for student, cells in STUDENTS.items():
        put(submitted, student, notebook(release, cells))
    out, clean = base / "out", base / "clean"
    command = autograde_command(course, solutions, submitted, out, "--workers", "1")
    kept, workers, orphans = _kill_midway(command, out, base / "tmp")
    left = {
        "marker": (out / outputs.MARKER).is_file(),
        "grades": (out / "grades.csv").exists(),
        "temporary": [p.name for p in out.rglob(".tmp-*")],
    }
    resumed = autograde(course, solutions, submitted, out, "--workers", "2")
    fresh = autograde(course, solutions, submitted, clean, "--workers", "2")
    return {
        "out": out,
        "clean": clean,
        "kept": kept,
        "workers": workers,
        "orphans": orphans,
        "left": left,
        "resumed": resumed,
        "fresh": fresh,
    }


def test_the_killed_run_left_its_records_and_its_marker(runs):
    assert len(runs["kept"]) >= KILL_AT_RECORDS
    for text in runs["kept"].values():
        assert json.loads(text)["status"] == "graded"  # complete files, never half-written
    assert runs["left"]["marker"] and not runs["left"]["grades"]


def test_the_workers_exit_when_the_grader_dies(runs):
    assert runs["workers"], "no worker process was seen"
    assert runs["orphans"] == []


def test_the_rerun_resumes_and_grades_only_the_rest(runs):
    result = runs["resumed"]
    assert result.returncode == 0, result.stderr[-3000:]
    match = re.search(r"(\d+) record\(s\) resumed, (\d+) to grade", result.stderr)
    assert match, result.stderr[-3000:]
    resumed, todo = map(int, match.groups())
    assert resumed >= len(runs["kept"]) and resumed + todo == len(STUDENTS)
    assert not list(runs["out"].glob("backup-*"))  # resumed, not backed up
    for name, text in runs["kept"].items():  # kept as they were
        assert json.loads((runs["out"] / "records" / name).read_text()) == json.loads(text)


def test_the_resumed_grades_equal_a_clean_run(runs):
    assert runs["fresh"].returncode == 0, runs["fresh"].stderr[-3000:]
    assert "resuming" not in runs["fresh"].stderr
    resumed = (runs["out"] / "grades.csv").read_text()
    assert resumed == (runs["clean"] / "grades.csv").read_text()
    assert len(resumed.splitlines()) == len(STUDENTS) + 1


def test_a_finished_run_has_no_marker_and_records_name_their_inputs(runs):
    assert not (runs["out"] / outputs.MARKER).exists()
    assert not list(runs["out"].rglob(".tmp-*"))
    for record in records(runs["out"]).values():
        assert len(record["submission_sha256"]) == 64
        assert len(record["checks_sha256"]) == 64


def _assignment():
    from dlcourse.grading.student import Assignment

    return Assignment(
        name=ASSIGNMENT,
        course_dir=".",
        source_text="",
        graded=[("check_f", 1.0)],
        setup_sources={},
        secret=b"",
        forbidden=[],
    )


def _previous_run(out, marker, students):
    """An unfinished run in ``out``: its marker and a record per (student, status, sha)."""
    from dlcourse.grading.submissions import Submission

    outputs.start_run(out, marker)
    submissions = []
    for sid, status, sha in students:
        record = _record(_assignment(), sid, status)
        record.update(submission_sha256=sha, checks_sha256=marker["checks_sha256"])
        record["flags"] = ["identical to the submission of someone who changed since"]
        outputs.write_record(out, record, sid)
        submissions.append(Submission(sid, None, sha256=sha))
    return submissions


def test_only_unchanged_records_of_the_same_run_are_resumed(tmp_path, capsys):
    from dlcourse.grading.command import _resume_or_back_up

    marker = {"assignment": ASSIGNMENT, "checks_sha256": "c" * 64, "started": "then"}
    students = [("same", "graded", "1"), ("changed", "graded", "2"), ("failed", "error", "3")]
    submissions = _previous_run(tmp_path, marker, students)
    submissions[1] = type(submissions[1])("changed", None, sha256="2 but edited")
    kept = _resume_or_back_up(tmp_path, {**marker, "started": "now"}, submissions, _assignment())
    assert set(kept) == {"same"}  # an edited notebook and a grader failure are graded again
    assert kept["same"]["flags"] == []  # flags about other students are recomputed
    assert "1 record(s) resumed, 2 to grade" in capsys.readouterr().err
    assert not list(tmp_path.glob("backup-*"))


def test_another_run_is_backed_up_instead(tmp_path, capsys):
    from dlcourse.grading.command import _resume_or_back_up

    marker = {"assignment": ASSIGNMENT, "checks_sha256": "c" * 64, "started": "then"}
    submissions = _previous_run(tmp_path, marker, [("same", "graded", "1")])
    other_checks = {**marker, "checks_sha256": "d" * 64}
    assert _resume_or_back_up(tmp_path, other_checks, submissions, _assignment()) == {}
    (backup,) = tmp_path.glob("backup-*")
    assert (backup / outputs.MARKER).is_file() and (backup / "records" / "same.json").is_file()
    assert not (tmp_path / "records").exists()
    assert "moved to" in capsys.readouterr().err


def test_files_are_written_through_fresh_temporary_names(tmp_path):
    (tmp_path / "records").mkdir()
    (tmp_path / "records" / "s01.json.partial").mkdir()  # what broke the old writer
    outputs.write_record(tmp_path, _record(_assignment(), "s01", "graded"), "s01")
    assert json.loads((tmp_path / "records" / "s01.json").read_text())["student_id"] == "s01"
    assert [p.name for p in (tmp_path / "records").iterdir() if p.name.startswith(".tmp-")] == []
