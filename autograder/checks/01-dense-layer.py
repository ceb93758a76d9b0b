"""Out-of-kernel checks of chapter 01, the dense layer (see dlcourse.grading.spec).

Both graded cells of ``dense_forward`` check the same function: the first on
small batches (one example, one neuron), the second on larger ones in float32
and float64. ``compose_dense`` is checked on its own, float32 and float64.
"""

import numpy as np

from dlcourse.grading import Exercise
from dlcourse.grading.spec import BY_HAND

# The student's function must compute x @ w + b itself.
DENSE_HIDDEN = ("dlcourse.functional:dense_forward", "dlcourse.functional.dense:dense_forward")

# The sandbox returns arrays only: unpack (out, cache) there, and name a wrong structure.
DENSE_DRIVER = """
def _dense_out_and_cache(x, w, b):
    result = dense_forward(x, w, b)
    if not (isinstance(result, tuple) and len(result) == 2):
        raise TypeError(
            f"dense_forward should return the pair (out, cache), got {type(result).__name__}: "
            f"end it with `return out, cache`"
        )
    out, cache = result
    if not (isinstance(cache, tuple | list) and len(cache) == 2):
        raise TypeError(f"the cache should be the pair (x, w), got {type(cache).__name__}")
    return {"out": out, "cache_x": cache[0], "cache_w": cache[1]}
"""


DENSE_NAMES = {
    "out": "out",
    "cache_x": "cache[0] (should be x)",
    "cache_w": "cache[1] (should be w)",
}


def _dense_case(rng, n, d, m, dtype):
    return {
        "x": rng.standard_normal((n, d)).astype(dtype),
        "w": rng.standard_normal((d, m)).astype(dtype),
        "b": rng.standard_normal(m).astype(dtype),
    }


def dense_expected(x, w, b):
    """What dense_forward must return: out = x @ w + b and the cache (x, w)."""
    return {"out": x @ w + b, "cache_x": x, "cache_w": w}


def small_batches(rng):
    """One example, one neuron, one input: where a transposed w or a lost axis shows."""
    shapes = [(1, 2, 1), (1, 3, 4), (2, 3, 3), (3, 1, 2)]
    return [_dense_case(rng, *shape, np.float64) for shape in shapes]


def larger_batches(rng):
    """Batches of several sizes, float32 kept float32, float64 kept float64."""
    shapes = [(5, 4, 3, np.float64), (64, 20, 10, np.float32), (7, 7, 7, np.float64)]
    return [_dense_case(rng, n, d, m, dtype) for n, d, m, dtype in shapes]


def compose_inputs(rng):
    cases = []
    for d, h, m, dtype in [(4, 6, 3, np.float64), (5, 2, 7, np.float32), (3, 3, 3, np.float64)]:
        cases.append(
            {
                "w1": rng.standard_normal((d, h)).astype(dtype),
                "b1": rng.standard_normal(h).astype(dtype),
                "w2": rng.standard_normal((h, m)).astype(dtype),
                "b2": rng.standard_normal(m).astype(dtype),
            }
        )
    return cases


def compose_expected(w1, b1, w2, b2):
    """The single layer equal to two: (W1 W2, b1 W2 + b2)."""
    return (w1 @ w2, b1 @ w2 + b2)


EXERCISES = [
    Exercise(
        grade_id="check_dense_forward_by_hand",
        forbid=BY_HAND,
        solution=("dense_forward",),
        call="_dense_out_and_cache(x, w, b)",
        expected=dense_expected,
        inputs=small_batches,
        hidden=DENSE_HIDDEN,
        driver=DENSE_DRIVER,
        names=DENSE_NAMES,
    ),
    Exercise(
        grade_id="check_dense_forward_batches",
        forbid=BY_HAND,
        solution=("dense_forward",),
        call="_dense_out_and_cache(x, w, b)",
        expected=dense_expected,
        inputs=larger_batches,
        hidden=DENSE_HIDDEN,
        driver=DENSE_DRIVER,
        names=DENSE_NAMES,
    ),
    Exercise(
        grade_id="check_compose_dense",
        forbid=BY_HAND,
        solution=("compose_dense",),
        call="tuple(compose_dense(w1, b1, w2, b2))",
        expected=compose_expected,
        inputs=compose_inputs,
        names={"0": "w of the combined layer", "1": "b of the combined layer"},
    ),
]
