"""Is each "also tested" claim of a notebook true? One wrong attempt per claimed property.

A notebook's "How this notebook is graded" lists, per exercise, what the
grader tests beyond the visible check. A claim is true when some wrong
attempt passes the visible check cell of ``course/NN-name.ipynb`` (the
student version, hidden tests removed) yet fails the grader's spec
(``autograder/checks/NN-name.py``) on the cases that have the property, and
only on those: then the property is tested by the grader and not by the check.
"""

from collections.abc import Callable
from dataclasses import dataclass

from chapter_helpers import cell_sources, failing_cases, load_checks
from dlcourse.course.source import read_solution
from learner_checks import run_check
from test_course_grading_rules import exercise_item, flat, list_items, paragraph_of
from test_course_samples import ROOT


@dataclass(frozen=True)
class Claim:
    """A property an "also tested" line names, and a wrong attempt that only it catches.

    check: the grade_id of the check cell; phrase: the words of its line for the
    property; wrong: {solution grade_id: source}; has_property(case) tells the
    grader's cases that have it. only=False: the attempt may also fail other cases
    (the property is not the only thing that catches it; say why where used).
    """

    check: str
    phrase: str
    wrong: dict
    has_property: Callable[[dict], bool]
    only: bool = True


def also_tested_line(chapter, check):
    """The item of the chapter's grading paragraph for ``check``, on one line."""
    paragraph = paragraph_of(read_solution(ROOT / "solutions" / f"{chapter}.py"))
    return flat(exercise_item(list_items(paragraph), check) or "")


def visible_failure(chapter, claim, cells_before):
    """What the visible check cell fails with on the wrong attempt (None: it passes)."""
    try:
        return run_check(chapter, claim.check, cells_before, claim.wrong).message
    except Exception as err:  # the attempt crashed a cell: the learner sees that too
        return f"{type(err).__name__}: {err}"


def grader_failures(chapter, claim):
    """(case, message) of every case of the grader's spec that the wrong attempt fails."""
    (exercise,) = [e for e in load_checks(chapter) if e.grade_id == claim.check]
    return failing_cases(exercise, cell_sources(chapter), claim.wrong)


def assert_true_claim(chapter, claim, cells_before):
    assert claim.phrase in also_tested_line(chapter, claim.check), (
        f"{chapter}, {claim.check}: its 'also tested' line does not say {claim.phrase!r}"
    )
    visible = visible_failure(chapter, claim, cells_before)
    assert visible is None, f"the visible check already catches it: {visible}"
    failed = grader_failures(chapter, claim)
    assert failed, f"the grader does not catch it: {claim.phrase!r} is not tested"
    with_it = [message for case, message in failed if claim.has_property(case)]
    assert with_it, f"the grader catches it, but not on a case with {claim.phrase!r}"
    if claim.only:
        others = [message for case, message in failed if not claim.has_property(case)]
        assert not others, f"it also fails cases without {claim.phrase!r}: {others[0]}"
