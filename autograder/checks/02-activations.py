"""Out-of-kernel checks of 02-activations: the four backward functions.

Every case also sends back the arrays the student's function received, so a
backward that writes into ``dout`` or its cache fails like the notebook's
``check_not_modified`` does. Cases use several shapes, float64 and float32,
saturated inputs for sigmoid/tanh, exact zeros for ReLU (any subgradient is
accepted there) and square batches and other axes for softmax.
"""

import numpy as np

from dlcourse import functional as F
from dlcourse.grading.drivers import CHECKED_CALL
from dlcourse.grading.spec import BY_HAND, RECURRENT_BACKWARD, SMALL_NUMPY_LIMITS, Exercise

# Run in the sandbox after the student's cells, and here for the expected answers.
DRIVER = CHECKED_CALL
exec(DRIVER)  # noqa: S102 -- trusted text: the same helper on both sides

SHAPES = [((4, 5), np.float64), ((7,), np.float64), ((2, 3, 4), np.float32), ((3, 3), np.float32)]
NAMES = {"0": "dx", "1": "dout after your function ran (it must not change it)"}
CACHE_NAME = "the cache after your function ran (it must not change it)"


def _dout(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def elementwise_cases(forward, scale=1.0, extreme=()):
    """Cases {dout, cache} for an activation whose cache is its output."""

    def inputs(rng):
        cases = []
        for shape, dtype in SHAPES:
            x = (scale * rng.standard_normal(shape)).astype(dtype)
            cases.append({"dout": _dout(rng, shape, dtype), "cache": forward(x)[1]})
        if extreme:
            x = np.array(extreme) * rng.uniform(0.9, 1.1, size=len(extreme))
            cases.append({"dout": _dout(rng, x.shape, x.dtype), "cache": forward(x)[1]})
        return cases

    return inputs


def relu_inputs(rng):
    cases = []
    for shape, dtype in SHAPES:
        x = rng.standard_normal(shape).astype(dtype)
        x.flat[::3] = 0.0  # exact kinks: any subgradient in [0, 1] is accepted there
        cases.append({"dout": _dout(rng, shape, dtype), "x": x})
    return cases


def softmax_inputs(rng):
    cases = []
    for shape, axis, dtype, scale in [
        ((4, 3), -1, np.float64, 1.0),
        ((5, 5), -1, np.float64, 1.0),  # square: a sum without keepdims broadcasts silently
        ((3, 6), 0, np.float64, 1.0),
        ((2, 4, 3), 1, np.float64, 1.0),
        ((4, 4), 0, np.float64, 1.0),
        ((6, 10), -1, np.float32, 30.0),  # large logits in float32
        ((7,), -1, np.float64, 1.0),
    ]:
        x = (scale * rng.standard_normal(shape)).astype(dtype)
        s, _ = F.softmax_forward(x, axis=axis)
        cases.append({"dout": _dout(rng, shape, dtype), "s": s, "axis": axis})
    return cases


def softmax_rounding(dout, s, axis):
    """How far a correct dx may round: each element sums one product per class, so a
    correct order other than the reference's (a Jacobian times dout) differs by about
    eps per term; from large logits the exact dx is far smaller than those terms."""
    return float(np.finfo(s.dtype).eps * s.shape[axis] * np.abs(dout).max())


EXERCISES = [
    Exercise(
        grade_id="check_sigmoid_backward",
        forbid=BY_HAND,
        **SMALL_NUMPY_LIMITS,
        solution=("sigmoid_backward",),
        call="_checked(sigmoid_backward, dout, cache)",
        expected=lambda dout, cache: _checked(F.sigmoid_backward, dout, cache),  # noqa: F821
        inputs=elementwise_cases(F.sigmoid_forward, scale=3.0, extreme=(-30.0, -8.0, 8.0, 30.0)),
        hidden=("dlcourse.functional:sigmoid_backward",),
        equivalents=tuple(r for r in RECURRENT_BACKWARD if ".recurrent:" not in r),  # gates
        driver=DRIVER,
        names={**NAMES, "2": CACHE_NAME},
    ),
    Exercise(
        grade_id="check_tanh_backward",
        forbid=BY_HAND,
        **SMALL_NUMPY_LIMITS,
        solution=("tanh_backward",),
        call="_checked(tanh_backward, dout, cache)",
        expected=lambda dout, cache: _checked(F.tanh_backward, dout, cache),  # noqa: F821
        inputs=elementwise_cases(F.tanh_forward, scale=2.0, extreme=(-20.0, -0.5, 0.5, 20.0)),
        hidden=("dlcourse.functional:tanh_backward",),
        equivalents=RECURRENT_BACKWARD,  # each cell has a tanh
        driver=DRIVER,
        names={**NAMES, "2": CACHE_NAME},
    ),
    Exercise(
        grade_id="check_relu_backward",
        forbid=BY_HAND,
        **SMALL_NUMPY_LIMITS,
        solution=("relu_backward",),
        call="_checked(relu_backward, dout, x)",
        expected=lambda dout, x: _checked(F.relu_backward, dout, x),  # noqa: F821
        inputs=relu_inputs,
        hidden=("dlcourse.functional:relu_backward",),
        equivalents=("dlcourse.functional.activations:leaky_relu_backward",),  # alpha=0 is ReLU
        driver=DRIVER,
        kinks="x",
        names={**NAMES, "2": CACHE_NAME},
    ),
    Exercise(
        grade_id="check_softmax_backward",
        forbid=BY_HAND,
        **SMALL_NUMPY_LIMITS,
        solution=("softmax_backward",),
        call="_checked(softmax_backward, dout, (s, axis))",
        expected=lambda dout, s, axis: _checked(F.softmax_backward, dout, (s, axis)),  # noqa: F821
        inputs=softmax_inputs,
        rounding=softmax_rounding,
        hidden=("dlcourse.functional:softmax_backward",),
        equivalents=("dlcourse.functional.attention:attention_backward",),  # a softmax inside
        driver=DRIVER,
        names={**NAMES, "2": "s in the cache after your function ran (it must not change it)"},
    ),
]
