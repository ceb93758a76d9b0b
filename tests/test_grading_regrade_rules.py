"""Whose manual score a gradebook cell holds: the rules, without nbgrader."""

from dlcourse.grading.gradebook import Regrade, Written, human_entered


def test_a_score_dlcourse_wrote_is_its_own():
    assert not human_entered(0.0, [0.0], verified=1.0)


def test_a_changed_score_is_a_persons_even_when_the_verified_score_changes():
    assert human_entered(2.0, [0.0], verified=0.0)
    assert human_entered(2.0, [0.0], verified=1.0)
    assert human_entered(1.0, [0.0], verified=1.0)  # agreeing now, but set by a person


def test_a_cleared_score_goes_back_to_the_grader():
    assert not human_entered(None, [0.0], verified=1.0)
    assert not human_entered(None, [], verified=1.0)


def test_an_unfinished_write_leaves_both_scores_dlcourse_s():
    assert not human_entered(0.0, [0.0, 1.0], verified=1.0)
    assert not human_entered(1.0, [0.0, 1.0], verified=1.0)


def test_before_there_was_a_memory_only_the_same_score_is_dlcourse_s():
    assert not human_entered(1.0, [], verified=1.0)
    assert human_entered(0.5, [], verified=1.0)


def test_the_summary_counts_and_names_the_kept_regrades():
    assert Written(3).summary() == "wrote 3 student(s) to the gradebook, kept 0 TA regrade(s)"
    text = Written(2, (Regrade("s02", "check_double", 0.5, 1.0),)).summary()
    assert "kept 1 TA regrade(s)" in text and "s02 check_double: 0.5 (verified 1)" in text
