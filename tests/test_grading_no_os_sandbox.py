"""``dlcourse autograde`` with and without the OS sandbox, end to end on a tiny course.

Without ``--no-os-sandbox`` every record says the exercises ran in the OS
sandbox; with it, the grades are the same, a warning is printed and every
record carries it. A fork bomb in the notebook costs its own student only.
"""

import importlib.util

import pytest

from grading_course import CORRECT, HALF, autograde, make_course, notebook, put, records

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("nbgrader") is None, reason="needs nbgrader (dlcourse[course])"
    ),
]

# a shell fork bomb, started by a call that no audit hook sees
FORK_BOMB = {
    **CORRECT,
    "double": "import _posixsubprocess, os\n"
    "r, w = os.pipe()\n"
    "_posixsubprocess.fork_exec(['/bin/sh', '-c', 'b() { b | b & }; b'], [b'/bin/sh'], True, (),"
    " None, None, -1, -1, -1, -1, -1, -1, r, w, True, True, 0, None, None, None, -1, None, False)"
    "\n" + CORRECT["double"],
}


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    base = tmp_path_factory.mktemp("course")
    course, solutions, release = make_course(base)
    submitted = base / "submitted"
    put(submitted, "s-correct", notebook(release, CORRECT))
    put(submitted, "s-half", notebook(release, HALF))
    put(submitted, "s-forks", notebook(release, FORK_BOMB))
    return course, solutions, submitted, base


def test_with_the_os_sandbox_every_record_says_so(course):
    course_dir, solutions, submitted, base = course
    done = autograde(course_dir, solutions, submitted, base / "out-os", "--workers", "2")
    assert done.returncode == 0, done.stderr
    found = records(base / "out-os")
    assert {sid: r["score"] for sid, r in found.items()} == {
        "s-correct": 3.0,
        "s-half": 2.0,
        "s-forks": 3.0,
    }
    assert {r["sandbox"] for r in found.values()} == {"os"}
    # the bomb hit the kernel sandbox's own process limit; the in-kernel pass of the others ran
    assert found["s-correct"]["exercises"][0]["in_kernel"] is not None
    assert found["s-half"]["exercises"][0]["in_kernel"] is not None


def test_without_it_the_grades_agree_and_every_record_warns(course):
    course_dir, solutions, submitted, base = course
    (submitted / "s-forks").rename(base / "s-forks-aside")  # no fork bomb without a sandbox
    try:
        done = autograde(course_dir, solutions, submitted, base / "out-plain", "--no-os-sandbox")
    finally:
        (base / "s-forks-aside").rename(submitted / "s-forks")
    assert done.returncode == 0, done.stderr
    assert "--no-os-sandbox" in done.stderr and "in-process guard only" in done.stderr
    found = records(base / "out-plain")
    assert {sid: r["score"] for sid, r in found.items()} == {"s-correct": 3.0, "s-half": 2.0}
    assert all("in-process guard only" in r["sandbox"] for r in found.values())
