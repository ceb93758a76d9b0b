"""The grading supervisor: workers that die, hang or lie cost one submission, never the batch.

One real batch (real worker processes, real sandboxes, nbgrader's pass off to
keep it short) grades five students with two workers while the test
SIGKILLs the worker grading "victim" on both tries and the one grading
"unlucky" on its first, and "hanger" sleeps past the per-submission limit.
The other students must get their grades, and grade_all must return.
"""

import os
import signal
import threading
import time

import pytest

from dlcourse.grading import frames
from dlcourse.grading.batch import check_record, grade_all, graded_order
from dlcourse.grading.student import _record
from grading_course import CORRECT, HALF, make_course, notebook, process_fields, put, sleepy
from test_grading_autograde import ASSIGNMENT

pytest.importorskip("nbgrader", reason="the workers drive nbgrader")
pytest.importorskip("jupytext", reason="the source notebook is built from a jupytext file")

LIMIT_S = 12.0  # the slowest honest submission here takes a few seconds
KILL_AFTER_S = 1.5  # into a submission that sleeps longer than that


def _group_members(pgid):
    """pids of the live processes in process group ``pgid`` (from /proc)."""
    return [
        pid
        for pid, fields in process_fields().items()
        if int(fields[2]) == pgid and fields[0] != "Z"
    ]


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    from dlcourse.grading.plan import plan_assignment
    from dlcourse.grading.submissions import find_submissions, snapshot

    base = tmp_path_factory.mktemp("supervisor")
    course, solutions, release = make_course(base)
    submitted = base / "submitted"
    put(submitted, "s01", notebook(release, CORRECT))
    put(submitted, "s02", notebook(release, HALF))
    put(submitted, "victim", notebook(release, sleepy(CORRECT, 6)))
    put(submitted, "unlucky", notebook(release, sleepy(CORRECT, 3)))
    put(submitted, "hanger", notebook(release, sleepy(CORRECT, 16)))  # the sandbox allows 19 s
    assignment = plan_assignment(
        ASSIGNMENT, course, solutions=solutions, extra_forbidden=[submitted], in_kernel="none"
    )
    copies = base / "copies"
    copies.mkdir()
    submissions = snapshot(find_submissions(submitted, ASSIGNMENT), submitted, copies)

    starts = []  # (student_id, worker pid), in the order workers took them

    def on_start(student_id, pid):
        tries = sum(sid == student_id for sid, _ in starts)
        starts.append((student_id, pid))
        if student_id == "victim" or (student_id == "unlucky" and tries == 0):
            threading.Timer(KILL_AFTER_S, os.kill, (pid, signal.SIGKILL)).start()

    arrived = []
    began = time.monotonic()
    records = grade_all(
        assignment,
        submissions,
        workers=2,
        progress=False,
        on_record=lambda submission, record: arrived.append(submission.student_id),
        limit_s=LIMIT_S,
        stamp={"checks_sha256": "x"},
        on_start=on_start,
    )
    return {
        "assignment": assignment,
        "submissions": submissions,
        "records": records,
        "by_id": {r["student_id"]: r for r in records},
        "starts": starts,
        "arrived": arrived,
        "seconds": time.monotonic() - began,
    }


def test_records_come_back_in_submission_order(batch):
    assert [r["student_id"] for r in batch["records"]] == [
        s.student_id for s in batch["submissions"]
    ]
    assert sorted(batch["arrived"]) == sorted(s.student_id for s in batch["submissions"])


def test_honest_students_get_their_grades(batch):
    by_id = batch["by_id"]
    assert by_id["s01"]["status"] == "graded" and by_id["s01"]["score"] == 3.0
    assert by_id["s02"]["status"] == "graded" and by_id["s02"]["score"] == 2.0


def test_a_worker_killed_twice_costs_that_submission_only(batch):
    record = batch["by_id"]["victim"]
    assert record["status"] == "error" and record["score"] == 0.0
    assert "twice" in record["reason"] and "SIGKILL" in record["reason"]
    assert [sid for sid, _ in batch["starts"]].count("victim") == 2


def test_a_worker_killed_once_is_retried_on_a_fresh_one(batch):
    tries = [pid for sid, pid in batch["starts"] if sid == "unlucky"]
    assert len(tries) == 2 and tries[0] != tries[1]
    record = batch["by_id"]["unlucky"]
    assert record["status"] == "graded" and record["score"] == 3.0


def test_a_hanging_submission_is_stopped_at_the_limit(batch):
    record = batch["by_id"]["hanger"]
    assert record["status"] == "error"
    assert f"took longer than {LIMIT_S:g} s" in record["reason"]
    assert [sid for sid, _ in batch["starts"]].count("hanger") == 2
    assert batch["seconds"] < 10 * LIMIT_S


def test_no_worker_or_its_children_outlive_the_batch(batch):
    pids = {pid for _, pid in batch["starts"]}
    assert len(pids) >= 4  # two workers at first, then a fresh one after each failure
    for pid in pids:
        assert _group_members(pid) == [], f"process group {pid} still has processes"


def test_the_stamp_and_hash_reach_every_record(batch):
    hashes = {s.student_id: s.sha256 for s in batch["submissions"]}
    for record in batch["records"]:
        assert record["checks_sha256"] == "x"
        assert record["submission_sha256"] == hashes[record["student_id"]]
        assert len(record["submission_sha256"]) == 64


def test_submissions_are_taken_in_the_shuffled_order(batch):
    firsts = []
    for sid, _ in batch["starts"]:
        if sid not in firsts:
            firsts.append(sid)
    ids = [s.student_id for s in batch["submissions"]]
    assert firsts == [ids[i] for i in graded_order(ASSIGNMENT, len(ids))]


def test_the_graded_order_is_a_fixed_shuffle_per_assignment():
    order = graded_order("02-activations", 50)
    assert sorted(order) == list(range(50)) and order != list(range(50))
    assert order == graded_order("02-activations", 50)
    assert order != graded_order("04-backprop", 50)


def _assignment():
    from dlcourse.grading.student import Assignment

    return Assignment(
        name="a",
        course_dir=".",
        source_text="",
        graded=[("check_f", 2.0), ("check_g", 1.0)],
        setup_sources={},
        secret=b"",
        forbidden=[],
    )


def _good(assignment):
    record = _record(assignment, "s01", "graded")
    record["exercises"][0].update(points=2.0, verified=True)
    record["score"] = 2.0
    return record


@pytest.mark.parametrize(
    "change, why",
    [
        (lambda r: r.update(student_id="s02"), "another student"),
        (lambda r: r.update(assignment="b"), "another assignment"),
        (lambda r: r.update(status="excellent"), "status"),
        (lambda r: r.update(score=3.0), "sum"),
        (lambda r: r.update(max_score=99.0), "max_score"),
        (lambda r: r.update(flags="all good"), "flags"),
        (lambda r: r["exercises"].pop(), "graded cells"),
        (lambda r: r["exercises"].reverse(), "graded cells"),
        (lambda r: r["exercises"][0].update(points=5.0), "between 0 and 2"),
        (lambda r: r["exercises"][0].update(points=float("nan")), "between 0 and 2"),
        (lambda r: r["exercises"][0].update(points=True), "between 0 and 2"),
        (lambda r: r["exercises"][1].update(max_points=3.0), "max_points"),
        (lambda r: r["exercises"][0].update(verified="yes"), "true or false"),
        (lambda r: r["exercises"][0].update(diagnosis=["x"]), "not text"),
    ],
)
def test_a_record_that_lies_is_refused(change, why):
    assignment = _assignment()
    record = _good(assignment)
    assert check_record(record, assignment, "s01") is None
    change(record)
    problem = check_record(record, assignment, "s01")
    assert problem is not None and why in problem


def test_extra_fields_of_a_record_are_allowed():
    assignment = _assignment()
    record = {**_good(assignment), "sandbox": "os"}
    assert check_record(record, assignment, "s01") is None
    assert check_record(["not", "a", "record"], assignment, "s01") is not None


def test_frames_are_cut_where_they_end_and_bad_lengths_refused():
    reader = frames.Reader()
    data = frames.encode_json({"a": 1}) + frames.encode_json({"b": 2})
    assert reader.feed(data[:3]) == []
    payloads = reader.feed(data[3:])
    assert [frames.decode_json(p) for p in payloads] == [{"a": 1}, {"b": 2}]
    with pytest.raises(frames.BadFrame, match="more than the protocol allows"):
        frames.Reader().feed(b"\xff\xff\xff\xff")
    with pytest.raises(frames.BadFrame, match="not JSON"):
        frames.decode_json(b"\x80garbage")
    with pytest.raises(frames.BadFrame, match="not a JSON object"):
        frames.decode_json(b"[1, 2]")
