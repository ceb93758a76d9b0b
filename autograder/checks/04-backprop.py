"""Out-of-kernel checks of 04-backprop: ``dense_backward`` and ``two_layer_backward``.

``two_layer_backward`` builds on ``dense_backward``: the sandbox binds the
course's reference ``dense_backward`` before the student's cell runs, so a
mistake in exercise 1 is not punished again in exercise 2. ``relu_backward``
comes from the notebook's setup cell, as in the notebook. The network's
cache is made in the sandbox by the instructor's locked ``two_layer_forward``
cell; some cases replace its upstream gradient ``dscores`` by a random one,
so a backward must follow what the cache says.
"""

import numpy as np

from dlcourse import functional as F
from dlcourse.grading.drivers import CHECKED_CALL
from dlcourse.grading.spec import BY_HAND, RECURRENT_BACKWARD, SMALL_NUMPY_LIMITS, Exercise

DRIVER = (
    CHECKED_CALL
    + '''

def _network_cache(x, y, w1, b1, w2, b2, dscores=None):
    """The cache of the notebook's two_layer_forward, with another upstream gradient if given."""
    _, cache = two_layer_forward(x, y, {"w1": w1, "b1": b1, "w2": w2, "b2": b2})
    if dscores is not None:
        cache = {**cache, "dscores": dscores}
    return cache
'''
)
exec(DRIVER)  # noqa: S102 -- trusted text: the same helpers on both sides


def two_layer_forward(x, y, params):
    """The notebook's locked two_layer_forward, for the expected answers (trusted side)."""
    h_pre, dense1_cache = F.dense_forward(x, params["w1"], params["b1"])
    h, relu_cache = F.relu_forward(h_pre)
    scores, dense2_cache = F.dense_forward(h, params["w2"], params["b2"])
    loss, dscores = F.softmax_cross_entropy(scores, y)
    cache = {"dense1": dense1_cache, "relu": relu_cache, "dense2": dense2_cache}
    cache["dscores"] = dscores
    return loss, cache


def reference_two_layer_backward(cache):
    dh, dw2, db2 = F.dense_backward(cache["dscores"], cache["dense2"])
    dh_pre = F.relu_backward(dh, cache["relu"])
    _, dw1, db1 = F.dense_backward(dh_pre, cache["dense1"])
    return {"w1": dw1, "b1": db1, "w2": dw2, "b2": db2}


def dense_inputs(rng):
    cases = []
    for n, d, m, dtype in [
        (5, 3, 4, np.float64),
        (8, 6, 3, np.float32),
        (1, 4, 2, np.float64),  # a batch of one
        (7, 1, 5, np.float64),  # a single input feature
        (6, 4, 4, np.float64),  # square w: a transposed dw has the right shape
    ]:
        x = rng.standard_normal((n, d)).astype(dtype)
        w = rng.standard_normal((d, m)).astype(dtype)
        dout = rng.standard_normal((n, m)).astype(dtype)
        cases.append({"dout": dout, "x": x, "w": w})
    return cases


def network_inputs(rng):
    cases = []
    for n, d, h, c, dtype, random_upstream in [
        (6, 4, 5, 3, np.float64, False),
        (1, 3, 4, 2, np.float64, False),
        (32, 8, 16, 10, np.float32, False),
        (12, 5, 40, 4, np.float64, False),
        (5, 3, 4, 2, np.float64, True),  # the backward must use the cache's dscores
    ]:
        case = {
            "x": rng.standard_normal((n, d)).astype(dtype),
            "y": rng.integers(0, c, size=n),
            "w1": (rng.standard_normal((d, h)) / np.sqrt(d)).astype(dtype),
            "b1": (0.1 * rng.standard_normal(h)).astype(dtype),
            "w2": (rng.standard_normal((h, c)) / np.sqrt(h)).astype(dtype),
            "b2": (0.1 * rng.standard_normal(c)).astype(dtype),
        }
        upstream = rng.standard_normal((n, c)).astype(dtype) if random_upstream else None
        case["dscores"] = upstream  # None: the loss's own gradient
        cases.append(case)
    return cases


def expected_network(x, y, w1, b1, w2, b2, dscores=None):
    cache = _network_cache(x, y, w1, b1, w2, b2, dscores)  # noqa: F821
    return _checked(reference_two_layer_backward, cache)  # noqa: F821


UNCHANGED = "(after your function ran: it must not change its inputs)"

EXERCISES = [
    Exercise(
        grade_id="check_dense_backward",
        forbid=BY_HAND,
        **SMALL_NUMPY_LIMITS,
        solution=("dense_backward",),
        call="_checked(dense_backward, dout, (x, w))",
        expected=lambda dout, x, w: _checked(F.dense_backward, dout, (x, w)),  # noqa: F821
        inputs=dense_inputs,
        hidden=("dlcourse.functional:dense_backward",),
        # a 1x1 convolution, the front end's layer and a recurrent step with a zero state
        # compute the same gradients
        equivalents=(
            "dlcourse.functional.conv:conv2d_backward",
            "dlcourse.functional.conv_naive:conv2d_backward_naive",
            "dlcourse.nn.layers.core:Dense.backward",
            *RECURRENT_BACKWARD,
        ),
        driver=DRIVER,
        names={
            "0/0": "dx",
            "0/1": "dw",
            "0/2": "db",
            "1": f"dout {UNCHANGED}",
            "2": f"x in the cache {UNCHANGED}",
            "3": f"w in the cache {UNCHANGED}",
        },
        batch_of="x",
    ),
    Exercise(
        grade_id="check_two_layer_backward",
        forbid=BY_HAND,
        **SMALL_NUMPY_LIMITS,
        solution=("two_layer_backward",),
        setup=("setup", "two_layer_forward"),
        call="_checked(two_layer_backward, _network_cache(x, y, w1, b1, w2, b2, dscores))",
        expected=expected_network,
        inputs=network_inputs,
        provided={"dense_backward": "dlcourse.functional:dense_backward"},
        driver=DRIVER,
        names={
            "0/w1": "dw1",
            "0/b1": "db1",
            "0/w2": "dw2",
            "0/b2": "db2",
            **{str(i): f"the cache {UNCHANGED}" for i in range(1, 8)},
        },
        batch_of="x",
    ),
]
