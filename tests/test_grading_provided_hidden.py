"""An exercise given a course reference (``provided``) must not also hide it: in the OS
sandbox it would be a stub, and a right answer that builds on it would score zero. Both
``dlcourse autograde`` and ``dlcourse check --grader`` refuse such a spec by name."""

import dataclasses

import pytest

from chapter_helpers import load_checks
from dlcourse.grading.coursedir import GradingSetupError
from dlcourse.grading.plan import refuse_provided_and_hidden
from test_course_samples import ROOT

CHAPTERS = [p.stem for p in sorted((ROOT / "autograder" / "checks").glob("[0-9]*.py"))]


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_no_chapter_hides_what_it_provides(chapter):
    refuse_provided_and_hidden(load_checks(chapter))


def test_a_reference_both_provided_and_hidden_is_refused_by_name():
    exercise = next(e for e in load_checks("13-sequences") if e.provided)
    given = next(iter(exercise.provided.values()))
    clashing = dataclasses.replace(exercise, hidden=(*exercise.hidden, given))
    with pytest.raises(GradingSetupError, match=rf"{exercise.grade_id}: {given} is both"):
        refuse_provided_and_hidden([clashing])
