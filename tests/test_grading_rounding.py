"""A correct answer computed in another order is not marked wrong for its rounding.

Chapter 02's softmax backward from large float32 logits: each exact element of
dx is far smaller than the products it is summed from, so a Jacobian times
dout (correct, only less direct than the chapter's formula) rounds differently
from the reference. Without the exercise's ``rounding`` bound it lost the
exercise on 3 of 40 students' seeds; a real mistake must still lose it.
"""

import numpy as np
import pytest

pytest.importorskip("jupytext", reason="reading the solutions needs jupytext (extra 'course')")

from chapter_helpers import cell_sources, failing_cases, load_checks  # noqa: E402
from dlcourse.diagnose import diagnose  # noqa: E402

CHAPTER = "02-activations"

JACOBIAN = (
    "import numpy as np\n"
    "def softmax_backward(dout, cache):\n"
    "    s, axis = cache\n"
    "    s_last, d_last = np.moveaxis(s, axis, -1), np.moveaxis(dout, axis, -1)\n"
    "    eye = np.eye(s_last.shape[-1], dtype=s.dtype)\n"
    "    jacobian = s_last[..., :, None] * eye - s_last[..., :, None] * s_last[..., None, :]\n"
    "    dx = np.einsum('...ij,...j->...i', jacobian, d_last)\n"
    "    return np.moveaxis(dx, -1, axis)\n"
)

# the chapter's formula with the row sum taken over a float16 copy: wrong by far more than rounding
HALF_SUM = (
    "import numpy as np\n"
    "def softmax_backward(dout, cache):\n"
    "    s, axis = cache\n"
    "    total = (dout * s).astype(np.float16).sum(axis=axis, keepdims=True)\n"
    "    return s * (dout - total.astype(s.dtype))\n"
)


def softmax_exercise():
    (exercise,) = [e for e in load_checks(CHAPTER) if e.grade_id == "check_softmax_backward"]
    return exercise


def test_a_jacobian_softmax_backward_gets_every_case_on_every_seed():
    exercise, sources = softmax_exercise(), cell_sources(CHAPTER)
    failed = {
        seed: failures[0][1]
        for seed in range(40)
        if (failures := failing_cases(exercise, sources, {"softmax_backward": JACOBIAN}, seed))
    }
    assert not failed, failed


def test_a_sum_rounded_to_float16_still_fails():
    failures = failing_cases(
        softmax_exercise(), cell_sources(CHAPTER), {"softmax_backward": HALF_SUM}
    )
    # the large-logit float32 case is where the rounding bound is widest
    assert any(case["s"].dtype == np.float32 for case, _ in failures), failures
    assert all("dx differs" in message for _, message in failures)


def test_noise_forgives_rounding_but_not_a_wrong_sign():
    expected = np.array([1.0e-6, -2.0e-6, 3.0e-6], dtype=np.float32)
    rounded = expected + np.float32(5e-8)
    assert not diagnose(rounded, expected, "dx").ok
    assert diagnose(rounded, expected, "dx", noise=1e-7).ok
    flipped = expected * np.array([1, -1, 1], dtype=np.float32)
    assert not diagnose(flipped, expected, "dx", noise=1e-7).ok


@pytest.mark.parametrize("noise", [-1e-7, float("inf"), True, "1e-7"])
def test_noise_must_be_a_finite_number_at_least_zero(noise):
    with pytest.raises(ValueError, match="noise"):
        diagnose(np.ones(3), np.ones(3), "dx", noise=noise)
