"""The pieces of nbgrader's autograde that dlcourse makes itself: hidden tests, nbgrader's files."""

import os

import pytest

from dlcourse.grading.nbgrader_autograded import (
    hidden_test_delimiters,
    read_nbgrader_files,
    strip_hidden_tests,
)
from dlcourse.grading.submissions import Submission

pytest.importorskip("nbgrader", reason="the module drives nbgrader")


def test_hidden_test_regions_are_removed_with_their_delimiters():
    source = (
        "assert f(1) == 2\n"
        "### BEGIN HIDDEN TESTS\nassert f(5) == 10  # secret\n### END HIDDEN TESTS\n"
        "assert f(2) == 4\n"
    )
    assert strip_hidden_tests(source) == "assert f(1) == 2\nassert f(2) == 4\n"


def test_an_unclosed_hidden_region_hides_everything_after_it():
    source = "visible\n### BEGIN HIDDEN TESTS\nsecret one\nsecret two\n"
    assert strip_hidden_tests(source) == "visible\n"


def test_the_course_s_own_delimiters_are_the_ones_removed(tmp_path):
    from dlcourse.grading.coursedir import nbgrader_config

    (tmp_path / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        "c.ClearHiddenTests.begin_test_delimeter = 'SECRET START'\n"
        "c.ClearHiddenTests.end_test_delimeter = 'SECRET STOP'\n"
    )
    delimiters = hidden_test_delimiters(nbgrader_config(tmp_path))
    assert delimiters == ("SECRET START", "SECRET STOP")
    source = "visible\n# SECRET START\nassert f(5) == 10\n# SECRET STOP\nshown\n"
    assert strip_hidden_tests(source, delimiters) == "visible\nshown\n"


def test_nbgrader_files_are_read_beside_the_notebook_and_links_are_not(tmp_path):
    def submission(student):
        folder = tmp_path / student / "90-tiny"
        folder.mkdir(parents=True)
        path = folder / "90-tiny.ipynb"
        path.write_text("{}")
        return folder, Submission(student, path)

    folder, alice = submission("alice")
    (folder / "timestamp.txt").write_text("2026-12-06 08:00:00.000000 UTC")
    (folder / "submission_secret.txt").write_text("abc")
    (folder / "other.txt").write_text("not nbgrader's")
    folder, bob = submission("bob")
    (tmp_path / "elsewhere.txt").write_text("2020-01-01 00:00:00 UTC")
    os.symlink(tmp_path / "elsewhere.txt", folder / "timestamp.txt")
    flat = Submission("cy", tmp_path / "cy_90-tiny.ipynb")  # a flat folder: no nbgrader files
    found = read_nbgrader_files([alice, bob, flat, Submission("dee", None)], "90-tiny")
    assert found == {
        "alice": {"timestamp.txt": "2026-12-06 08:00:00.000000 UTC", "submission_secret.txt": "abc"}
    }
