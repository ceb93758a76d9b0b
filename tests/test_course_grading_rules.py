"""Every graded notebook tells the student the rules its grader enforces.

The facts come from ``autograder/checks/NN-name.py`` (the out-of-kernel
specs), the words from the introduction of ``solutions/NN-name.py``: a
paragraph that starts with "**How this notebook is graded.**". It must name
every reference the grader hides (calling one scores zero), say which
packages cannot be imported when an exercise asks for a derivative by hand,
and give each graded cell a line of its own that lists what the grader tests
beyond the visible check, or says that the visible check covers everything.
The built student notebook in ``course/`` carries the same paragraph.
"""

import re

import pytest

pytest.importorskip("jupytext", reason="reading chapters needs jupytext (extra 'course')")

import nbformat  # noqa: E402 -- after the skip: nbformat comes with the course extra

from chapter_helpers import load_checks  # noqa: E402
from dlcourse.course.source import read_solution  # noqa: E402
from dlcourse.grading.spec import BY_HAND  # noqa: E402
from test_course_samples import ROOT  # noqa: E402

MARKER = "**How this notebook is graded.**"
CHAPTERS = [p.stem for p in sorted((ROOT / "autograder" / "checks").glob("[0-9]*.py"))]
# What a by-hand exercise's paragraph must name, for the packages of BY_HAND a student knows.
BY_HAND_NAMES = ("PyTorch", "JAX", "TensorFlow", "autodiff")
BEYOND_VISIBLE = ("also tested:", "the visible check covers everything")


def graded_paragraph(cell_source):
    """The text from MARKER to the end of the cell (None without one)."""
    start = cell_source.find(MARKER)
    return None if start < 0 else cell_source[start:]


def introduction(notebook):
    """The markdown cells before the first code cell: the chapter's introduction."""
    intro = []
    for cell in notebook.cells:
        if cell.cell_type == "code":
            break
        if cell.cell_type == "markdown":
            intro.append(cell.source)
    return intro


def paragraph_of(notebook):
    found = [p for p in map(graded_paragraph, introduction(notebook)) if p]
    return found[0] if found else None


def list_items(paragraph):
    """The paragraph's bullet items ("* " or "- "), each with its continuation lines joined."""
    items = []
    for line in paragraph.splitlines():
        if re.match(r"^[*-] ", line):
            items.append(line[2:].strip())
        elif items and line.startswith("  ") and line.strip():
            items[-1] += " " + line.strip()
        elif not line.strip() and items:
            items.append(None)  # a blank line ends the item before it
    return [item for item in items if item]


def flat(text):
    return " ".join(text.split())


def names(specs):
    """The attribute part of each "module:attribute" spec, e.g. "SGD" or "Dense.backward"."""
    return sorted({spec.split(":", 1)[1] for spec in specs})


def named(name, text):
    return re.search(rf"(?<!\w){re.escape(name)}(?!\w)", text) is not None


@pytest.fixture(scope="module", params=CHAPTERS)
def chapter(request):
    stem = request.param
    source = read_solution(ROOT / "solutions" / f"{stem}.py")
    return stem, paragraph_of(source), load_checks(stem)


def parts(chapter):
    """(stem, the paragraph's text on one line, its list items, the chapter's exercises)."""
    stem, paragraph, exercises = chapter
    assert paragraph is not None, (
        f"solutions/{stem}.py: its introduction (the markdown before the set-up cell) has no "
        f"paragraph starting {MARKER!r} that states what the grader enforces"
    )
    return stem, flat(paragraph), list_items(paragraph), exercises


def test_the_general_rules_are_stated(chapter):
    stem, text, _items, _exercises = parts(chapter)
    for phrase in ("inputs of its own", "scores zero"):
        assert phrase in text, f"{stem}: the grading paragraph does not say {phrase!r}"


def test_no_sentence_is_said_twice(chapter):
    stem, text, _items, _exercises = parts(chapter)
    sentences = [s.strip() for s in re.split(r"(?<=[.:;])\s+(?=[A-Z`])", text) if s.strip()]
    repeated = sorted({s for s in sentences if sentences.count(s) > 1})
    assert not repeated, f"{stem}: the grading paragraph says twice: {repeated}"


def test_every_hidden_reference_is_named(chapter):
    stem, text, _items, exercises = parts(chapter)
    for exercise in exercises:
        missing = [n for n in names(exercise.hidden) if not named(n, text)]
        assert not missing, (
            f"{stem}, {exercise.grade_id}: the grader hides {missing}, which the grading "
            f"paragraph does not name"
        )
        if exercise.equivalents and "relatives" not in text:
            unnamed = [n for n in names(exercise.equivalents) if not named(n, text)]
            assert not unnamed, (
                f"{stem}, {exercise.grade_id}: the grader also hides {unnamed}: name them, or "
                f"say 'and their relatives'"
            )


def test_forbidden_packages_are_named(chapter):
    stem, text, _items, exercises = parts(chapter)
    for exercise in exercises:
        if not exercise.forbid:
            continue
        wanted = (
            BY_HAND_NAMES
            if tuple(exercise.forbid) == BY_HAND
            else tuple(m.split(".")[-1] for m in exercise.forbid)
        )
        missing = [n for n in wanted if n not in text]
        assert not missing, (
            f"{stem}, {exercise.grade_id}: the grader forbids {exercise.forbid}, but the grading "
            f"paragraph does not name {missing}"
        )


def exercise_item(items, grade_id):
    found = [item for item in items if f"`{grade_id}`" in item]
    return found[0] if len(found) == 1 else None


def test_each_exercise_says_what_else_is_tested(chapter):
    stem, _text, items, exercises = parts(chapter)
    for exercise in exercises:
        item = exercise_item(items, exercise.grade_id)
        assert item is not None, (
            f"{stem}: the grading paragraph has no list item (or more than one) naming "
            f"`{exercise.grade_id}`"
        )
        assert any(phrase in item for phrase in BEYOND_VISIBLE), (
            f"{stem}, {exercise.grade_id}: its item says neither {BEYOND_VISIBLE[0]!r} nor "
            f"{BEYOND_VISIBLE[1]!r}: {item}"
        )
        for given in exercise.provided:
            assert named(given, item), (
                f"{stem}, {exercise.grade_id}: graded with the course's {given} in place of the "
                f"student's, which its item does not say"
            )


def test_no_item_names_a_cell_the_grader_does_not_grade(chapter):
    stem, _text, items, exercises = parts(chapter)
    graded = {exercise.grade_id for exercise in exercises}
    for item in items:
        for grade_id in re.findall(r"`(check_\w+)`", item):
            assert grade_id in graded, f"{stem}: the grading paragraph names {grade_id}, not graded"


@pytest.mark.parametrize("stem", CHAPTERS)
def test_the_student_notebook_carries_the_same_paragraph(stem):
    source = paragraph_of(read_solution(ROOT / "solutions" / f"{stem}.py"))
    built = paragraph_of(nbformat.read(ROOT / "course" / f"{stem}.ipynb", as_version=4))
    assert built is not None and source is not None and flat(built) == flat(source), (
        f"course/{stem}.ipynb does not carry the grading paragraph of solutions/{stem}.py: "
        f"run `dlcourse build {stem}`"
    )


def test_the_readme_states_the_rules():
    readme = flat((ROOT / "README.md").read_text(encoding="utf-8"))
    for phrase in ("check --grader", "scores zero", "inputs of its own"):
        assert phrase in readme, f"README.md does not say {phrase!r} where it speaks of grading"


def test_the_limits_are_stated(chapter):
    stem, text, _items, exercises = parts(chapter)
    for exercise in exercises:
        stated = (
            f"{exercise.timeout_s:g} CPU seconds and {exercise.memory_mb / 1024:g} GB of memory"
        )
        assert stated in text, (
            f"{stem}, {exercise.grade_id}: the grader stops it after {exercise.timeout_s:g} CPU "
            f"seconds or {exercise.memory_mb} MB, which the grading paragraph does not say "
            f"({stated!r})"
        )
