"""Chapter 06: what the backward check tells a learner, for real wrong attempts.

Each backward runs through check_backward of course/06-autodiff.ipynb
(learner_checks.run_check). The check looks at which rules ran, with what and
in which order before it compares numbers, so each mistake gets its own
sentence and no other's.
"""

import pytest

pytest.importorskip("jupytext", reason="reading the solutions needs jupytext (extra 'course')")

from chapter_helpers import cell_sources  # noqa: E402
from learner_checks import run_check  # noqa: E402

CHAPTER = "06-autodiff"

# the instructor's topological_order, then a backward written by the learner
ORDER = cell_sources(CHAPTER)["backward"].split("def backward")[0]
LOOP = """
    for node in {nodes}:
        if node._backward is not None:
            node._backward(node.grad)
"""


def attempt(before="    root.grad = 1.0", nodes="reversed(topological_order(root))", after=""):
    loop = LOOP.format(nodes=nodes)
    return ORDER + "\ndef backward(root):\n" + before + loop + after


RECURSIVE_ORDER_WITHOUT_SEEN = (
    """
def topological_order(root):
    order = []
    def visit(node):
        for child in node._prev:
            visit(child)
        order.append(node)
    visit(root)
    return order
"""
    + "\ndef backward(root):\n    root.grad = 1.0"
    + LOOP.format(nodes="reversed(topological_order(root))")
)

BREADTH_FIRST_BACKWARD = (
    ORDER
    + """
def backward(root):
    root.grad, queue, seen = 1.0, [root], {id(root)}
    while queue:
        node = queue.pop(0)
        if node._backward is not None:
            node._backward(node.grad)
        for child in node._prev:
            if id(child) not in seen:
                seen.add(id(child))
                queue.append(child)
"""
)

# every message the check can give about the order, by the mistake it belongs to
SENTENCES = {
    "skips the root": "the root's own rule never ran",
    "not reversed": "reverse it, so that the output's rule runs first",
    "no root.grad": "set root.grad = 1.0 (dL/dL) before the loop",
    "grad not passed": "call node._backward(node.grad)",
    "breadth-first": "a breadth-first order, nearest first",
    "no visited set": "keep a set of the nodes already visited",
}
ATTEMPTS = {
    "skips the root": attempt(nodes="reversed(topological_order(root)[:-1])"),
    "not reversed": attempt(nodes="topological_order(root)"),
    "no root.grad": attempt(before=""),
    "grad not passed": attempt().replace("node._backward(node.grad)", "node._backward(1.0)"),
    "breadth-first": BREADTH_FIRST_BACKWARD,
    "no visited set": RECURSIVE_ORDER_WITHOUT_SEEN,
}


def backward_check(source):
    cells = ["setup", "scalar_class", "backward"]
    return run_check(CHAPTER, "check_backward", cells, {"backward": source})


@pytest.mark.parametrize("mistake", ATTEMPTS)
def test_each_mistake_gets_its_own_sentence_and_no_other(mistake):
    got = backward_check(ATTEMPTS[mistake])
    assert got.message is not None, f"{mistake}: the check passed"
    assert SENTENCES[mistake] in got.message
    for other, sentence in SENTENCES.items():
        if other != mistake:
            assert sentence not in got.message, f"{mistake} was told: {sentence}"
    assert "re-derive" not in got.message and "Did backward set" not in got.message


def test_skipping_the_root_is_not_told_to_set_root_grad():
    got = backward_check(ATTEMPTS["skips the root"])
    assert got.message.startswith("worked_example: root.grad is 1.0, but the root's own rule")
    assert "set root.grad = 1.0" not in got.message


def test_setting_root_grad_after_the_loop_is_told_to_set_it_before():
    got = backward_check(attempt(before="", after="    root.grad = 1.0\n"))
    assert "the root's rule ran with grad = 0.0" in got.message
    assert "before the loop" in got.message


def test_the_solution_passes():
    got = backward_check(cell_sources(CHAPTER)["backward"])
    assert got.message is None and "All visible checks passed." in got.printed
