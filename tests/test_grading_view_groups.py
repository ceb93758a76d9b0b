"""Exercises share a sandbox only when nothing one of them needs is hidden for another.

The grouping is checked on the course's own checks (chapter 02: one sandbox
for four exercises; chapter 04: the exercise given ``dense_backward`` apart
from the one that hides it) and on made-up exercises for each rule; then a
shared sandbox is started for real to show that it hides every member's
reference, so a student cannot call the course's version of another
exercise's function.
"""

import dataclasses
import textwrap

import numpy as np
import pytest

from dlcourse.course.paths import find_root
from dlcourse.grading import osbox
from dlcourse.grading.checks import load_exercises
from dlcourse.grading.plan import locked_sources
from dlcourse.grading.sandboxes import SandboxPool
from dlcourse.grading.spec import BY_HAND, Exercise
from dlcourse.grading.verify import verify
from dlcourse.grading.view_groups import can_share, group_exercises

ROOT = find_root()
CHECKS = ROOT / "autograder"


def _exercise(grade_id, hidden=(), **fields):
    defaults = {
        "solution": (grade_id,),
        "call": f"{grade_id}(x)",
        "expected": lambda x: x,
        "inputs": lambda rng: [{"x": rng.standard_normal(3)}],
    }
    return Exercise(grade_id=grade_id, hidden=hidden, **{**defaults, **fields})


def _setup_sources(assignment):
    import nbformat

    from dlcourse.grading.coursedir import source_text

    return locked_sources(nbformat.reads(source_text(assignment, ROOT / "solutions"), 4))


def _grade_ids(groups):
    return [[e.grade_id for e in group] for group in groups]


def test_chapter_02s_four_backward_functions_share_one_sandbox():
    exercises = load_exercises(CHECKS, "02-activations")
    groups = group_exercises(exercises.values(), _setup_sources("02-activations"))
    assert _grade_ids(groups) == [list(exercises)]


def test_an_exercise_given_a_reference_keeps_away_from_the_one_that_hides_it():
    exercises = load_exercises(CHECKS, "04-backprop")
    groups = group_exercises(exercises.values(), _setup_sources("04-backprop"))
    assert _grade_ids(groups) == [["check_dense_backward"], ["check_two_layer_backward"]]


A = _exercise("a", hidden=("dlcourse.functional:sigmoid_backward",))


def test_exercises_with_disjoint_needs_share():
    b = _exercise("b", hidden=("dlcourse.functional:tanh_backward",))
    assert can_share([A, b], {"setup": "import numpy as np\n"})


def test_a_setup_cell_that_names_a_hidden_function_keeps_its_exercise_apart():
    b = _exercise("b")
    setup = {"setup": "from dlcourse.functional import sigmoid_backward\n"}
    assert not can_share([A, b], setup)
    assert can_share([A, b], {"setup": "from dlcourse import functional as F\nF.relu_forward\n"})
    assert not can_share(
        [A, b], {"setup": "from dlcourse import functional as F\nF.sigmoid_backward\n"}
    )


def test_a_method_stubbed_for_one_exercise_keeps_apart_code_that_names_its_class():
    a = _exercise("a", equivalents=("dlcourse.nn.layers.core:Dense.backward",))
    assert not can_share([a, _exercise("b", driver="layer = Dense(3)\n")], {})
    assert can_share([a, _exercise("b", driver="layer = Conv2D(3)\n")], {})


def test_a_reference_provided_to_one_exercise_and_hidden_for_another_keeps_them_apart():
    b = _exercise("b", provided={"sigmoid_backward": "dlcourse.functional:sigmoid_backward"})
    assert not can_share([A, b], {})


def test_different_forbidden_packages_or_unreadable_setup_keep_exercises_apart():
    assert not can_share([A, dataclasses.replace(A, grade_id="b", forbid=BY_HAND)], {})
    b = _exercise("b", hidden=("dlcourse.functional:tanh_backward",))
    assert not can_share([A, b], {"setup": "def broken(:\n"})


def test_groups_are_first_fit_in_notebook_order():
    b = _exercise("b", driver="sigmoid_backward\n")  # needs a's reference
    c = _exercise("c", hidden=("dlcourse.functional:tanh_backward",))
    assert _grade_ids(group_exercises([A, b, c], {})) == [["a", "c"], ["b"]]


TANH = _exercise(
    "tanh_backward",
    hidden=("dlcourse.functional:tanh_backward",),
    call="tanh_backward(dout, t)",
    expected=lambda dout, t: dout * (1 - t * t),
    inputs=lambda rng: [{"dout": rng.standard_normal(4), "t": rng.uniform(-0.9, 0.9, 4)}],
)
SIGMOID = dataclasses.replace(A, grade_id="sigmoid_backward", solution=("sigmoid_backward",))
SETUP = "import numpy as np\nfrom dlcourse import functional as F\n"


@pytest.mark.skipif(osbox.probe() is not None, reason=f"needs bubblewrap: {osbox.probe()}")
def test_a_shared_sandbox_hides_the_reference_of_every_exercise_it_runs(tmp_path):
    pool = SandboxPool(tmp_path, [], [SIGMOID, TANH], {"setup": SETUP})
    assert pool.server_for(SIGMOID) is pool.server_for(TANH)
    cases = TANH.inputs(np.random.default_rng(0))
    expected = [TANH.expected(**case) for case in cases]
    try:

        def run(source):
            return verify(
                TANH,
                cases,
                expected,
                setup=[("setup", SETUP)],
                solution=[("tanh_backward", textwrap.dedent(source))],
                forbidden=[],
                server=pool.server_for(TANH),
            )

        assert run("def tanh_backward(dout, t):\n    return dout * (1 - t * t)\n").passed
        # tanh' from sigmoid's reference: 1 - t^2 = 4 s (1 - s) at s = (t + 1) / 2
        borrowed = run(
            """
            def tanh_backward(dout, t):
                return 4 * F.sigmoid_backward(dout, (t + 1) / 2)
            """
        )
        assert not borrowed.passed
        assert "sigmoid_backward" in borrowed.reason and "your own version" in borrowed.reason
    finally:
        pool.stop()


def test_folders_inside_a_masked_folder_are_not_masked_again(tmp_path):
    from dlcourse.grading.sandboxes import _outermost

    (tmp_path / "tensorflow" / "_api" / "v2").mkdir(parents=True)
    (tmp_path / "tensorflow_io").mkdir()
    found = _outermost(
        [
            str(tmp_path / "tensorflow" / "_api" / "v2"),
            str(tmp_path / "tensorflow"),
            str(tmp_path / "tensorflow_io"),  # a sibling whose name starts the same
            str(tmp_path / "gone"),
        ]
    )
    assert found == [str(tmp_path / "tensorflow"), str(tmp_path / "tensorflow_io")]


@pytest.mark.skipif(osbox.probe() is not None, reason=f"needs bubblewrap: {osbox.probe()}")
def test_a_process_that_imported_tensorflow_still_starts_a_by_hand_sandbox():
    pytest.importorskip("tensorflow", reason="the case is TensorFlow's own package path")
    import subprocess
    import sys

    code = (
        "import tensorflow\n"
        "from dlcourse.grading.selfcheck import check_like_the_grader, format_view\n"
        "view = check_like_the_grader('course/02-activations.ipynb', 'check_tanh_backward')\n"
        "print(format_view(view).splitlines()[-1])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    assert done.stdout.strip().splitlines()[-1:] == ["the grader would give 0 / 2"], done.stderr[
        -2000:
    ]
