"""nbgrader's exchange between real Unix users on one machine, as on a JupyterHub.

The instructor (this process, root) releases the tiny assignment into an
exchange folder made as autograder/README.md says (mode 1777, inside a
folder only the course's group may enter); two students, each a Unix user with a home of
their own, fetch it, solve it and submit it as themselves; a third user, not
in the course's group, cannot fetch it; a student cannot read another's
submission; the instructor collects one student (``--student``), then all,
and ``dlcourse autograde`` grades what was collected.

The users are made with ``useradd`` and removed at the end. Where the Python
environment sits in a folder other users cannot enter (under /root, as here),
each student's command runs in a private mount namespace (bubblewrap) that
shows /root as an empty folder with only the Python installation in it: the
processes, the uids and every permission check on the exchange stay real.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

from grading_course import CORRECT, HALF, autograde, env, notebook, records
from test_grading_shared_gradebook import configured_course

pytest.importorskip("nbgrader", reason="the exchange is nbgrader's")

VENV_BIN = Path(sys.executable).parent
ASSIGNMENT = "90-tiny"
TAG = uuid.uuid4().hex[:6]  # two runs at once must not share users
STUDENTS = (f"dlcs1{TAG}", f"dlcs2{TAG}")
OUTSIDER = f"dlcout{TAG}"
GROUP = f"dlcgrp{TAG}"


def _needs_root():
    if os.geteuid() != 0:
        pytest.skip("making Unix users needs root (useradd)")
    for tool in ("useradd", "userdel", "groupadd", "groupdel", "runuser"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")


def _as_user(user, home, command, cwd, wrap):
    """Run ``command`` as ``user`` (its own uid, gid and groups), with the venv on PATH."""
    variables = [f"HOME={home}", f"USER={user}", f"LOGNAME={user}"]
    variables.append(f"PATH={VENV_BIN}{os.pathsep}/usr/bin:/bin")
    line = [*wrap, "runuser", "-u", user, "--", "env", "-i", *variables, *command]
    return subprocess.run(line, capture_output=True, text=True, timeout=300, cwd=cwd)


def _outermost_closed(path):
    """The outermost folder above ``path`` that other users may not enter, or None."""
    closed = [p for p in path.parents if p != Path("/") and not p.stat().st_mode & 0o001]
    return closed[-1] if closed else None


def _wrapper():
    """[] when other users can run this Python, else a bubblewrap view that lets them; or skip."""
    probe = [str(VENV_BIN / "python"), "-c", "import nbgrader, dlcourse"]
    if _as_user("nobody", "/", probe, "/", []).returncode == 0:
        return []
    if shutil.which("bwrap") is None:
        pytest.skip("other users cannot run this Python environment, and bubblewrap is missing")
    wrap = ["bwrap", "--dev-bind", "/", "/"]
    # the Python installation, the venv and this checkout (a clean clone may sit in a
    # private temporary folder): each outermost folder others may not enter is shown
    # empty but for the one entry on the way
    shown = {}  # closed folder -> the entries in it to show
    for needed in (Path(sys.base_prefix), VENV_BIN, Path(__file__).parent):
        needed = needed.resolve()
        hidden = _outermost_closed(needed)
        if hidden is not None:
            shown.setdefault(hidden, set()).add(hidden / needed.relative_to(hidden).parts[0])
    for hidden, entries in shown.items():
        wrap += ["--perms", "0755", "--tmpfs", str(hidden)]
        for entry in sorted(entries):
            wrap += ["--ro-bind", str(entry), str(entry)]
    if _as_user("nobody", "/", probe, "/", wrap).returncode != 0:
        pytest.skip(f"other users cannot run this Python environment (under {list(shown)})")
    return wrap


@pytest.fixture(scope="module")
def loop():
    _needs_root()
    wrap = _wrapper()
    base = Path(tempfile.mkdtemp(prefix="dlcourse-hub-"))
    base.chmod(0o755)
    made = []
    try:
        subprocess.run(["groupadd", GROUP], check=True)
        for user in (*STUDENTS, OUTSIDER):
            groups = ["-G", GROUP] if user in STUDENTS else []
            home = base / "home" / user
            home.parent.mkdir(exist_ok=True)
            subprocess.run(["useradd", "-m", "-d", str(home), *groups, user], check=True)
            made.append(user)
        yield _run_loop(base, wrap)
    finally:
        for user in made:
            subprocess.run(["userdel", user], capture_output=True)
        subprocess.run(["groupdel", GROUP], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def _run_loop(base, wrap):
    # nbgrader resets the exchange folder itself to rwx for all (keeping a sticky bit), so
    # the course's group is kept out one level up: a folder only the group may enter
    members_only = base / "course-group"
    members_only.mkdir()
    shutil.chown(members_only, group=GROUP)
    members_only.chmod(0o750)
    exchange = members_only / "exchange"
    exchange.mkdir()
    exchange.chmod(0o1777)  # as /tmp: no one removes another's folder
    course, solutions, release = configured_course(
        base / "instructor", f"c.Exchange.root = {str(exchange)!r}"
    )
    assert release
    done = {"base": base, "course": course, "exchange": exchange}
    done["exchange mode"] = lambda: exchange.stat().st_mode & 0o7777
    nbgrader = [str(VENV_BIN / "nbgrader")]
    student_args = ["--course", "dlcourse", f"--Exchange.root={exchange}"]
    done["release"] = subprocess.run(
        [*nbgrader, "release_assignment", ASSIGNMENT],
        capture_output=True,
        text=True,
        cwd=course,
        env=env(),
        timeout=300,
    )
    answers = dict(zip(STUDENTS, (CORRECT, HALF)))
    for user, cells in answers.items():
        home = base / "home" / user
        fetch = [*nbgrader, "fetch_assignment", ASSIGNMENT, *student_args]
        done[f"fetch {user}"] = _as_user(user, home, fetch, home, wrap)
        fetched = home / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
        text = fetched.read_text(encoding="utf-8")
        solved = home / "solve.py"  # the student writes their answers, as themselves
        solved.write_text(
            "import pathlib, sys\n"
            f"pathlib.Path({str(fetched)!r}).write_text(sys.stdin.read(), encoding='utf-8')\n"
        )
        done[f"solve {user}"] = subprocess.run(
            [*wrap, "runuser", "-u", user, "--", str(VENV_BIN / "python"), str(solved)],
            input=notebook(text, cells),
            capture_output=True,
            text=True,
            timeout=60,
        )
        submit = [*nbgrader, "submit", ASSIGNMENT, *student_args]
        done[f"submit {user}"] = _as_user(user, home, submit, home, wrap)
        done[f"owner {user}"] = fetched.stat().st_uid
    outsider = base / "home" / OUTSIDER
    fetch = [*nbgrader, "fetch_assignment", ASSIGNMENT, *student_args]
    done["fetch outsider"] = _as_user(OUTSIDER, outsider, fetch, outsider, wrap)
    inbound = exchange / "dlcourse" / "inbound"
    peek = ["ls", str(inbound)]
    done["peek"] = _as_user(STUDENTS[1], base / "home" / STUDENTS[1], peek, "/", wrap)
    collect = [*nbgrader, "collect", ASSIGNMENT]
    one = dict(capture_output=True, text=True, cwd=course, env=env(), timeout=300)
    done["collect one"] = subprocess.run([*collect, f"--student={STUDENTS[1]}"], **one)
    done["after one"] = sorted(p.name for p in (course / "submitted").iterdir())
    done["collect all"] = subprocess.run(collect, **one)
    out = base / "grades"
    done["autograde"] = autograde(course, solutions, course / "submitted", out)
    done["records"] = records(out)
    return done


def _ok(result):
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]


def test_the_instructor_releases_into_the_exchange(loop):
    _ok(loop["release"])
    released = loop["exchange"] / "dlcourse" / "outbound" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    assert released.is_file()
    assert oct(loop["exchange mode"]()) == oct(0o1777)  # nbgrader kept the sticky bit


def test_each_student_fetches_and_submits_as_themselves(loop):
    import pwd

    for user in STUDENTS:
        _ok(loop[f"fetch {user}"])
        _ok(loop[f"solve {user}"])
        _ok(loop[f"submit {user}"])
        assert loop[f"owner {user}"] == pwd.getpwnam(user).pw_uid
    inbound = loop["exchange"] / "dlcourse" / "inbound"
    owners = {pwd.getpwuid(p.stat().st_uid).pw_name for p in inbound.iterdir()}
    assert owners == set(STUDENTS)


def test_a_student_cannot_list_the_others_submissions(loop):
    assert loop["peek"].returncode != 0
    assert "Permission denied" in loop["peek"].stderr


def test_a_user_outside_the_courses_group_cannot_fetch(loop):
    result = loop["fetch outsider"]
    assert result.returncode != 0
    assert not (loop["base"] / "home" / OUTSIDER / ASSIGNMENT).exists()


def test_the_instructor_collects_one_student_then_all(loop):
    _ok(loop["collect one"])
    assert loop["after one"] == [STUDENTS[1]]
    _ok(loop["collect all"])
    collected = sorted(p.name for p in (loop["course"] / "submitted").iterdir())
    assert collected == sorted(STUDENTS)


def test_dlcourse_grades_what_was_collected(loop):
    _ok(loop["autograde"])
    scores = {sid: r["score"] for sid, r in loop["records"].items()}
    assert scores == {STUDENTS[0]: 3.0, STUDENTS[1]: 2.0}
    submitted = loop["course"] / "submitted" / STUDENTS[0] / ASSIGNMENT / "timestamp.txt"
    assert submitted.is_file()  # nbgrader's collect, not a copy
