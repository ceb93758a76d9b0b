"""``dlcourse build``: solutions -> nbgrader -> course/, reproducibly, safely, without leaks.

Most tests build the small sample chapter of ``test_course_samples`` in a
temporary folder. The last ones hold the real course: the committed ``course/``
must be exactly what a fresh build of ``solutions/`` makes, and every chapter's
nbgrader metadata must be sound.
"""

import os
import re
import shutil

import pytest

pytest.importorskip("nbgrader", reason="building the course needs nbgrader (extra 'course')")
pytest.importorskip("jupytext", reason="building the course needs jupytext (extra 'course')")

import nbformat  # noqa: E402 -- after the skips: nbformat comes with the course extra

from dlcourse.course import cells, leaks, lint, manifest  # noqa: E402
from dlcourse.course.build import BuildError, build_course  # noqa: E402
from dlcourse.course.normalise import cell_ids  # noqa: E402
from dlcourse.course.paths import CourseLayout  # noqa: E402
from test_course_samples import (  # noqa: E402
    HIDDEN_LINE,
    ROOT,
    SAMPLE,
    SAMPLE_NAME,
    SOLUTION_LINE,
    VISIBLE_LINE,
    sample_layout,
    write_sample,
)

SOLUTIONS = sorted((ROOT / "solutions").glob("[0-9]*.py"))
CHAPTERS = [p.stem for p in SOLUTIONS]
REBUILD = "run `dlcourse build` and commit course/"


@pytest.fixture
def layout(tmp_path):
    course = sample_layout(tmp_path)
    write_sample(course.solutions)
    return course


def _build(layout, **options):
    report = build_course(layout, **options)
    (result,) = report.chapters
    return result, report


def _built_notebook(layout):
    result, report = _build(layout)
    assert report.ok, f"{result.message}\n{report.leaks}"
    return layout.course / f"{SAMPLE_NAME}.ipynb"


def _cell(nb, grade_id):
    (cell,) = [c for c in nb.cells if cells.grade_id(c) == grade_id]
    return cell


# --- the student version -----------------------------------------------------------------


def test_student_version_has_stubs_instead_of_solutions(layout):
    path = _built_notebook(layout)
    text = path.read_text(encoding="utf-8")
    assert SOLUTION_LINE.split("  #")[0] not in text
    assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text
    nb = nbformat.read(path, as_version=4)
    stub = _cell(nb, "double").source
    assert "def double(x):" in stub  # the signature and docstring stay
    assert "raise NotImplementedError()" in stub


def test_student_version_drops_hidden_tests_and_keeps_visible_checks(layout):
    nb = nbformat.read(_built_notebook(layout), as_version=4)
    check = _cell(nb, "check_double").source
    assert VISIBLE_LINE in check
    assert HIDDEN_LINE not in check and "HIDDEN TESTS" not in check


def test_student_version_is_locked_cleared_and_checksummed(layout):
    nb = nbformat.read(_built_notebook(layout), as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
    for grade_id in ("setup", "check_double", "check_double_array"):
        cell = _cell(nb, grade_id)
        assert cell.metadata["editable"] is False, f"{grade_id} should be read-only"
        assert cell.metadata["nbgrader"]["checksum"], "autograding compares these checksums"
    assert cells.total_points(nb) == 3
    assert "jupytext" not in nb.metadata  # it records the jupytext version: not reproducible


def test_cell_ids_come_from_grade_ids_and_positions(layout):
    nb = nbformat.read(_built_notebook(layout), as_version=4)
    assert [c.id for c in nb.cells] == [
        "cell-0",
        "setup",
        "double",
        "check_double",
        "check_double_array",
    ]


def test_cell_ids_stay_unique_when_a_grade_id_looks_like_a_position():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("intro"),
        nbformat.v4.new_code_cell("x = 1"),
        nbformat.v4.new_code_cell("y = 2", metadata={"nbgrader": {"grade_id": "cell-1"}}),
    ]
    ids = cell_ids(nb)
    assert len(set(ids)) == 3
    assert ids[2] == "cell-1" and ids[1] != "cell-1"
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{1,64}", i) for i in ids)


def test_two_builds_in_different_folders_are_byte_identical(tmp_path):
    first, second = sample_layout(tmp_path / "a"), sample_layout(tmp_path / "b")
    for course in (first, second):
        write_sample(course.solutions)
        assert build_course(course).ok
    name = f"{SAMPLE_NAME}.ipynb"
    assert (first.course / name).read_bytes() == (second.course / name).read_bytes()
    assert first.manifest.read_bytes() == second.manifest.read_bytes()


def test_the_build_uses_nbgraders_release_folder(layout):
    _built_notebook(layout)
    released = layout.build / "release" / SAMPLE_NAME / f"{SAMPLE_NAME}.ipynb"
    source = layout.build / "source" / SAMPLE_NAME / f"{SAMPLE_NAME}.ipynb"
    assert released.is_file() and source.is_file()
    assert SOLUTION_LINE in source.read_text(encoding="utf-8")  # the source keeps the answer
    assert leaks.scan_folder(released.parent, [layout.solutions / f"{SAMPLE_NAME}.py"]) == []


# --- never lose a hand edit ----------------------------------------------------------------


def _edit_by_hand(path):
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell("my own notes"))
    nbformat.write(nb, path)
    return path.read_bytes()


def test_manifest_records_the_hash_of_the_built_notebook(layout):
    path = _built_notebook(layout)
    recorded = manifest.load(layout.manifest)
    assert recorded == {path.name: manifest.sha256(path.read_bytes())}


def test_a_rebuild_after_a_solution_change_overwrites_quietly(layout):
    path = _built_notebook(layout)
    solution = layout.solutions / f"{SAMPLE_NAME}.py"
    solution.write_text(SAMPLE.replace("double(3) should be 6", "double(3) is 6"), encoding="utf-8")
    result, report = _build(layout)
    assert result.status == "written" and report.ok
    assert "double(3) is 6" in path.read_text(encoding="utf-8")
    assert not layout.backups.exists()


def test_an_unchanged_rebuild_does_not_touch_the_notebook(layout):
    path = _built_notebook(layout)
    os.utime(path, (1_000_000_000, 1_000_000_000))
    result, _ = _build(layout)
    assert result.status == "unchanged"
    assert path.stat().st_mtime == 1_000_000_000


def test_a_hand_edited_notebook_is_not_overwritten(layout):
    path = _built_notebook(layout)
    edited = _edit_by_hand(path)
    recorded = layout.manifest.read_bytes()
    result, report = _build(layout)
    assert result.status == "refused" and not report.ok
    assert path.read_bytes() == edited
    assert "--backup" in result.message and "--force" in result.message
    assert f"solutions/{SAMPLE_NAME}.py" in result.message
    assert layout.manifest.read_bytes() == recorded


def test_backup_keeps_a_timestamped_copy_then_overwrites(layout):
    path = _built_notebook(layout)
    fresh = path.read_bytes()
    edited = _edit_by_hand(path)
    result, report = _build(layout, backup=True)
    assert result.status == "written" and report.ok
    assert path.read_bytes() == fresh
    (saved,) = layout.backups.iterdir()
    assert saved == result.backup
    assert re.fullmatch(rf"{SAMPLE_NAME}\.\d{{8}}-\d{{6}}\.ipynb", saved.name)
    assert saved.read_bytes() == edited


def test_force_overwrites_without_a_copy(layout):
    path = _built_notebook(layout)
    fresh = path.read_bytes()
    _edit_by_hand(path)
    result, report = _build(layout, force=True)
    assert result.status == "written" and report.ok
    assert path.read_bytes() == fresh
    assert not layout.backups.exists()


def test_a_notebook_the_build_never_wrote_is_protected_too(layout):
    layout.course.mkdir(parents=True)
    path = layout.course / f"{SAMPLE_NAME}.ipynb"
    path.write_text('{"something": "written by hand"}', encoding="utf-8")
    result, _ = _build(layout)
    assert result.status == "refused"
    assert path.read_text(encoding="utf-8") == '{"something": "written by hand"}'


# --- metadata problems stop a chapter before nbgrader sees it --------------------------------

BROKEN_SOURCES = {
    "repeated grade_id": (
        ('"grade_id": "check_double_array"', '"grade_id": "check_double"'),
        "grade_id 'check_double' is already used",
    ),
    "grade cell without points": (('"points": 1, ', ""), "needs positive 'points'"),
    "wrong stated total": (
        ("worth 3 points", "worth 4 points"),
        "says 4 points; the grade cells give 3",
    ),
    "solution without markers": (("    ### BEGIN SOLUTION\n", ""), "needs both"),
    "marker outside a solution": (
        ("import numpy as np\n", "import numpy as np  ### BEGIN SOLUTION\n"),
        "not a solution cell",
    ),
    "unlocked grade cell": (
        ('"check_double", "locked": true', '"check_double", "locked": false'),
        "must be locked",
    ),
    "header that is not JSON": (('"solution": true}', '"solution": true'), "could not be read"),
}


@pytest.mark.parametrize("problem", list(BROKEN_SOURCES))
def test_metadata_problems_fail_the_chapter_and_write_nothing(tmp_path, problem):
    (old, new), expected = BROKEN_SOURCES[problem]
    assert old in SAMPLE, "the test's edit must apply to the sample"
    course = sample_layout(tmp_path)
    write_sample(course.solutions, text=SAMPLE.replace(old, new, 1))
    result, report = _build(course)
    assert result.status == "failed" and not report.ok
    assert expected in result.message
    assert not result.notebook.exists()


def test_lint_release_finds_leftover_markers_and_outputs(layout):
    nb = nbformat.read(_built_notebook(layout), as_version=4)
    _cell(nb, "setup").source += "\n### BEGIN HIDDEN TESTS"
    _cell(nb, "check_double").outputs = [nbformat.v4.new_output("stream", text="hi")]
    _cell(nb, "double").source = "def double(x):\n    pass"
    problems = "\n".join(lint.lint_release(nb))
    assert "marker 'BEGIN HIDDEN TESTS' was left in" in problems
    assert "outputs were not cleared" in problems
    assert "no NotImplementedError stub" in problems


# --- leaks --------------------------------------------------------------------------------


def test_a_solution_file_copied_into_course_is_reported(layout):
    _built_notebook(layout)
    shutil.copy(layout.solutions / f"{SAMPLE_NAME}.py", layout.course / "answers.py")
    _, report = _build(layout)
    assert not report.ok
    assert any("answers.py is a copy of a solution file" in p for p in report.leaks)


def test_a_marker_anywhere_in_course_is_reported(layout):
    _built_notebook(layout)
    (layout.course / "notes.md").write_text("### BEGIN SOLUTION\nx = 1\n", encoding="utf-8")
    _, report = _build(layout)
    assert not report.ok
    assert any("notes.md contains the marker 'BEGIN SOLUTION'" in p for p in report.leaks)


# --- choosing chapters ------------------------------------------------------------------------


def test_build_can_be_limited_to_named_chapters(layout):
    write_sample(layout.solutions, name="99-other")
    report = build_course(layout, chapters=["99-other"])
    assert [c.name for c in report.chapters] == ["99-other"]
    assert not (layout.course / f"{SAMPLE_NAME}.ipynb").exists()
    with pytest.raises(BuildError, match="the chapters are: 98-sample, 99-other"):
        build_course(layout, chapters=["42-nope"])


# --- the real course -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def fresh_build(tmp_path_factory):
    """The whole course, built from solutions/ into a temporary folder."""
    tmp = tmp_path_factory.mktemp("fresh-course")
    course = CourseLayout(
        solutions=ROOT / "solutions",
        course=tmp / "course",
        build=tmp / "build",
        autograder=ROOT / "autograder",
    )
    return course, build_course(course)


def test_every_chapter_builds(fresh_build):
    _, report = fresh_build
    failed = [f"{c.name}: {c.message}" for c in report.chapters if c.status != "written"]
    assert not failed, "\n".join(failed)


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_committed_course_notebook_is_what_a_fresh_build_makes(fresh_build, chapter):
    course, _ = fresh_build
    built = course.course / f"{chapter}.ipynb"
    committed = ROOT / "course" / f"{chapter}.ipynb"
    assert built.exists(), f"solutions/{chapter}.py did not build (see test_every_chapter_builds)"
    assert committed.exists(), f"course/{chapter}.ipynb is missing: {REBUILD}."
    assert committed.read_bytes() == built.read_bytes(), (
        f"course/{chapter}.ipynb is not what solutions/{chapter}.py builds to "
        f"(a solution changed without a rebuild?): {REBUILD}."
    )


def test_committed_manifest_is_what_a_fresh_build_writes(fresh_build):
    course, _ = fresh_build
    committed = ROOT / "course" / ".build-manifest.json"
    assert committed.exists(), f"course/.build-manifest.json is missing: {REBUILD}."
    assert manifest.load(committed) == manifest.load(course.manifest), REBUILD


def test_every_committed_course_notebook_has_a_source():
    orphans = [p.name for p in (ROOT / "course").glob("*.ipynb") if p.stem not in CHAPTERS]
    assert not orphans, f"course/ notebooks without a solutions/ source: {orphans}"


def test_committed_course_leaks_no_solution():
    assert leaks.scan_folder(ROOT / "course", SOLUTIONS) == []


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_solution_metadata_is_sound(chapter):
    from dlcourse.course.source import read_solution

    nb = read_solution(ROOT / "solutions" / f"{chapter}.py")
    assert lint.lint_source(nb) == []
    ids = [cells.grade_id(c) for c in nb.cells if cells.grade_id(c)]
    assert len(ids) == len(set(ids))
    for _, cell in cells.grade_cells(nb):
        assert cells.points(cell) > 0
    if cells.grade_cells(nb):
        assert cells.stated_total(nb) == cells.total_points(nb)


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_course_notebook_metadata_is_sound(chapter):
    path = ROOT / "course" / f"{chapter}.ipynb"
    assert path.exists(), f"course/{chapter}.ipynb is missing: {REBUILD}."
    assert lint.lint_release(nbformat.read(path, as_version=4)) == []
