"""``dlcourse source``: every source notebook, only the chapters in use in the gradebook.

Also what goes with it: the staleness notes (an edited solutions/ file against
the exchange's and course/'s student versions) and the summary's list of
identical submissions.
"""

import json
import shutil
import subprocess
import sys

import pytest

from grading_course import CORRECT, ROOT, autograde, env, notebook, put
from test_grading_autograde import ASSIGNMENT
from test_grading_shared_gradebook import configured_course

pytest.importorskip("nbgrader", reason="dlcourse source drives nbgrader")
pytest.importorskip("jupytext", reason="the source notebooks are built from jupytext files")

OTHER = "91-tiny"


def _course(base):
    """A course with two chapters (90-tiny, 91-tiny) and an exchange of its own; nothing in it."""
    exchange = base / "exchange"
    exchange.mkdir(parents=True)
    course, solutions, _ = configured_course(base, f"c.Exchange.root = {str(exchange)!r}")
    shutil.copy(solutions / f"{ASSIGNMENT}.py", solutions / f"{OTHER}.py")
    for folder in ("source", "release"):
        shutil.rmtree(course / folder)
    (course / "gradebook.db").unlink()
    return course, solutions, exchange


def _source(course, solutions, *chapters):
    command = [sys.executable, "-m", "dlcourse", "source", *chapters]
    command += ["--course-dir", str(course), "--solutions", str(solutions)]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=ROOT, env=env())


def _registered(course):
    from nbgrader.api import Gradebook

    from dlcourse.grading.coursedir import db_url

    with Gradebook(db_url(course)) as gb:
        return sorted(a.name for a in gb.assignments)


def _release(course, exchange, name):
    """What ``nbgrader release_assignment`` does to the exchange: copy release/NAME there."""
    outbound = exchange / "dlcourse" / "outbound" / name
    shutil.copytree(course / "release" / name, outbound)
    return outbound


def test_every_source_is_written_and_only_named_chapters_registered(tmp_path):
    course, solutions, _ = _course(tmp_path)
    first = _source(course, solutions)
    assert first.returncode == 0, first.stderr
    for name in (ASSIGNMENT, OTHER):
        assert (course / "source" / name / f"{name}.ipynb").is_file()
    assert _registered(course) == []
    assert "not registered (not named, not released): 90-tiny, 91-tiny" in first.stdout
    named = _source(course, solutions, OTHER)
    assert named.returncode == 0, named.stderr
    assert _registered(course) == [OTHER]
    again = _source(course, solutions)  # a registered chapter stays registered and current
    assert "registered in the gradebook: 91-tiny" in again.stdout


def test_a_released_chapter_is_registered_and_a_stale_exchange_is_named(tmp_path):
    course, solutions, exchange = _course(tmp_path)
    assert _source(course, solutions, ASSIGNMENT).returncode == 0
    outbound = _release(course, exchange, ASSIGNMENT)
    shutil.rmtree(course / "release")
    (course / "gradebook.db").unlink()  # a new gradebook: the release alone registers it
    assert _source(course, solutions).returncode == 0
    assert _registered(course) == [ASSIGNMENT]
    quiet = _source(course, solutions)
    assert "older student version" not in quiet.stderr
    path = solutions / f"{ASSIGNMENT}.py"
    path.write_text(path.read_text().replace("worth 3 points", "worth 3 points (edited)"))
    stale = _source(course, solutions)
    assert stale.returncode == 0, stale.stderr
    assert f"the exchange ({outbound}) holds an older student version" in stale.stderr
    assert f"nbgrader release_assignment {ASSIGNMENT} --force" in stale.stderr


def test_an_unknown_chapter_is_refused_with_the_known_ones(tmp_path):
    course, solutions, _ = _course(tmp_path)
    done = _source(course, solutions, "99-nothing")
    assert done.returncode == 1
    assert "no chapter 99-nothing" in done.stderr and "90-tiny, 91-tiny" in done.stderr


def test_the_help_says_what_is_registered_with_examples():
    done = subprocess.run(
        [sys.executable, "-m", "dlcourse", "source", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env(),
    )
    assert done.returncode == 0
    assert "Examples:" in done.stdout and "dlcourse source 02-activations" in done.stdout


def test_a_course_notebook_built_from_an_older_solution_is_named(tmp_path):
    import nbformat

    from dlcourse.course import manifest
    from dlcourse.course.normalise import dumps, normalise
    from dlcourse.grading.stale import stale_course

    course, solutions, _ = _course(tmp_path)
    assert _source(course, solutions, ASSIGNMENT).returncode == 0
    release = course / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    built = dumps(normalise(nbformat.read(release, as_version=4)))
    students = tmp_path / "student-course"
    students.mkdir()
    manifest.save(
        students / ".build-manifest.json", {f"{ASSIGNMENT}.ipynb": manifest.sha256(built)}
    )
    assert stale_course(course, ASSIGNMENT, students) is None
    manifest.save(students / ".build-manifest.json", {f"{ASSIGNMENT}.ipynb": "0" * 64})
    note = stale_course(course, ASSIGNMENT, students)
    assert note is not None and f"run `dlcourse build {ASSIGNMENT}`" in note


def test_the_summary_names_byte_identical_and_same_code_submissions(tmp_path):
    course, solutions, release = configured_course(tmp_path)
    submitted = tmp_path / "submitted"
    text = notebook(release, CORRECT)
    put(submitted, "s01", text)
    put(submitted, "s02", text)  # the same bytes
    other = json.loads(text)
    other["metadata"]["edited_by"] = "s03"  # the same code, other bytes
    put(submitted, "s03", json.dumps(other))
    done = autograde(course, solutions, submitted, tmp_path / "out", "--in-kernel", "none")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "identical submissions (3 student(s); the scores are not changed):" in done.stdout
    assert "the same notebook, byte for byte: s01, s02" in done.stdout
    assert "  s03: identical to the submission of s01, s02" in done.stdout


def test_the_exchange_defaults_to_nbgraders_standard_one(tmp_path):
    from dlcourse.grading.exchange import STANDARD_ROOT, exchange_root
    from test_grading_shared_gradebook import write_config

    write_config(tmp_path)  # the repository's settings only
    assert exchange_root(tmp_path) == exchange_root(ROOT / "autograder")
    from nbgrader.exchange.default.exchange import Exchange

    assert str(exchange_root(ROOT / "autograder")) == STANDARD_ROOT == Exchange().root


def test_a_missing_exchange_is_made_by_root_and_named_to_others(tmp_path):
    import os

    from dlcourse.grading.exchange import ensure_exchange
    from test_grading_shared_gradebook import write_config

    exchange = tmp_path / "srv" / "exchange"
    write_config(tmp_path, f"c.Exchange.root = {str(exchange)!r}")
    message = ensure_exchange(tmp_path)
    if os.geteuid() == 0:
        assert message == f"made nbgrader's exchange {exchange} (mode 1777, as nbgrader's docs ask)"
        assert exchange.stat().st_mode & 0o7777 == 0o1777
        assert ensure_exchange(tmp_path) is None
    else:
        assert f"sudo mkdir -p {exchange} && sudo chmod 1777 {exchange}" in message
        assert not exchange.exists()


def test_start_takes_chapter_names_only_with_instructor():
    done = subprocess.run(
        [sys.executable, "-m", "dlcourse", "start", "02-activations", "--no-browser"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env(),
        timeout=120,
    )
    assert done.returncode == 2
    assert "CHAPTER names go with --instructor" in done.stderr
