"""nbgrader's "checksum has changed" warnings stand out: only a real edit of a locked cell warns.

A graded cell with a hidden test changes when the student version is made
(the hidden test goes), so plain nbgrader warns about it for every student.
The course's config replaces nbgrader's OverwriteCells with one that compares
the cell with the student version. Each case runs a real ``nbgrader
autograde`` in a course folder whose config reads the repository's.
"""

import json
import subprocess
import sys

import pytest

from grading_course import env, notebook, put
from test_grading_autograde import CHECKS, GOOD_DOUBLE, GOOD_RELU
from test_grading_autograde import SOLUTION as TINY
from test_grading_shared_gradebook import write_config

pytest.importorskip("nbgrader", reason="the warnings are nbgrader autograde's")
pytest.importorskip("jupytext", reason="the source notebook is built from a jupytext file")

ASSIGNMENT = "90-tiny"
HIDDEN = "### BEGIN HIDDEN TESTS\nassert double(5.0) == 10.0\n### END HIDDEN TESTS\n"
# the tiny assignment, with a hidden test in check_double
SOLUTION = TINY.replace(
    "assert np.allclose(double(np.arange(3.0)), [0.0, 2.0, 4.0])\n",
    "assert np.allclose(double(np.arange(3.0)), [0.0, 2.0, 4.0])\n" + HIDDEN,
)
NBGRADER_OVERWRITE = (  # nbgrader 0.9's own sanitize_preprocessors
    "c.Autograde.sanitize_preprocessors = ["
    "'nbgrader.preprocessors.ClearOutput', 'nbgrader.preprocessors.DeduplicateIds', "
    "'nbgrader.preprocessors.OverwriteKernelspec', 'nbgrader.preprocessors.OverwriteCells', "
    "'nbgrader.preprocessors.CheckCellMetadata']"
)


def _course(base, *config):
    from dlcourse.grading.coursedir import ensure_source

    assert HIDDEN in SOLUTION
    solutions, course = base / "solutions", base / "course"
    solutions.mkdir(parents=True)
    (solutions / f"{ASSIGNMENT}.py").write_text(SOLUTION, encoding="utf-8")
    (course / "checks").mkdir(parents=True)
    (course / "checks" / f"{ASSIGNMENT}.py").write_text(CHECKS, encoding="utf-8")
    write_config(course, *config)
    ensure_source(ASSIGNMENT, course, solutions)
    return course, (course / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_text()


def _autograde_log(course, student):
    command = [sys.executable, "-m", "nbgrader", "autograde", ASSIGNMENT, "--create", "--force"]
    command += [f"--student={student}"]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=300, cwd=course, env=env()
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done.stdout + done.stderr


def _with_edited_test(text):
    nb = json.loads(text)
    for cell in nb["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == "check_double":
            cell["source"] = "pass  # the check, removed by the student\n"
    return json.dumps(nb)


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    base = tmp_path_factory.mktemp("checksums")
    course, release = _course(base / "dlcourse")
    solved = notebook(release, {"double": GOOD_DOUBLE, "relu_backward": GOOD_RELU})
    assert HIDDEN not in release and "BEGIN HIDDEN" not in release
    put(course / "submitted", "honest", solved)
    put(course / "submitted", "editor", _with_edited_test(solved))
    plain, plain_release = _course(base / "plain", NBGRADER_OVERWRITE)
    put(plain / "submitted", "honest", notebook(plain_release, {"double": GOOD_DOUBLE}))
    return {
        "honest": _autograde_log(course, "honest"),
        "editor": _autograde_log(course, "editor"),
        "plain nbgrader": _autograde_log(plain, "honest"),
        "course": course,
    }


def test_plain_nbgrader_warns_about_every_cell_with_a_hidden_test(logs):
    assert "Attribute 'checksum' for cell check_double has changed" in logs["plain nbgrader"]


def test_an_untouched_student_version_gives_no_checksum_warning(logs):
    assert "has changed" not in logs["honest"], logs["honest"][-3000:]


def test_an_edited_test_cell_is_warned_about_and_restored_with_its_hidden_test(logs):
    assert "Attribute 'checksum' for cell check_double has changed" in logs["editor"]
    assert logs["editor"].count("has changed") == 1, logs["editor"][-3000:]
    graded = logs["course"] / "autograded" / "editor" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    sources = ["".join(c["source"]) for c in json.loads(graded.read_text())["cells"]]
    assert any("assert double(5.0) == 10.0" in s for s in sources)  # the hidden test ran
