"""The grader's feedback names a forgotten dout and which returned arrays are right,
as the chapters' own check cells do (issue: "re-derive the formula" said nothing)."""

import pytest

pytest.importorskip("jupytext", reason="reading the solutions needs jupytext (extra 'course')")

from chapter_helpers import cell_sources, failing_cases, load_checks  # noqa: E402


def first_failure(chapter, grade_id, wrong):
    (exercise,) = [e for e in load_checks(chapter) if e.grade_id == grade_id]
    failures = failing_cases(exercise, cell_sources(chapter), wrong)
    assert failures, f"{grade_id}: the wrong attempt passed every case"
    return failures[0][1]


def dense(dw):
    source = (
        "import numpy as np\n"
        "def dense_backward(dout, cache):\n"
        "    x, w = cache\n"
        f"    return dout @ w.T, {dw}, dout.sum(axis=0)\n"
    )
    return {"dense_backward": source}


def test_an_elementwise_backward_without_dout_is_told_to_multiply_by_it():
    no_dout = "def sigmoid_backward(dout, cache):\n    s = cache\n    return s * (1 - s)\n"
    message = first_failure(
        "02-activations", "check_sigmoid_backward", {"sigmoid_backward": no_dout}
    )
    assert message.startswith("dx ignores dout") and "Multiply by dout" in message


def test_one_wrong_gradient_among_right_ones_says_which_are_right():
    message = first_failure("04-backprop", "check_dense_backward", dense("2 * (x.T @ dout)"))
    assert message.startswith("dx and db are right but dw is not: dw is 2 times")
    assert "ignores dout" not in message  # a factor is not a forgotten dout


def test_both_clues_together():
    message = first_failure(
        "04-backprop", "check_dense_backward", dense("x.T @ np.ones_like(dout)")
    )
    assert message.startswith("dx and db are right but dw is not: dw ignores dout")


def test_when_every_array_is_wrong_none_is_called_right():
    wrong = {
        "dense_backward": (
            "def dense_backward(dout, cache):\n"
            "    x, w = cache\n"
            "    return -(dout @ w.T), -(x.T @ dout), -dout.sum(axis=0)\n"
        )
    }
    message = first_failure("04-backprop", "check_dense_backward", wrong)
    assert "are right" not in message and "is right" not in message
