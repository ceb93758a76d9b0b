"""Out-of-kernel checks of chapter 00, the fancy calculators (see dlcourse.grading.spec).

``broadcast_shape`` works on tuples and raises ValueError, neither of which
travels back from the sandbox as an array: the driver encodes each answer as
an integer array, ``[ndim, size_0, size_1, ...]`` for a shape, ``[-1]`` for
"raised ValueError" and ``[-2]`` for anything that is not a tuple of ints.
The shapes include sizes far too large to allocate, so only the rule itself,
not an array trick, gives the answer.
"""

import numpy as np

from dlcourse.grading import Exercise

BROADCAST_DRIVER = """
def _encoded_broadcast(a, b):
    a = tuple(int(n) for n in a)
    b = tuple(int(n) for n in b)
    try:
        got = broadcast_shape(a, b)
    except ValueError:
        return np.array([-1], dtype=np.int64)
    if not isinstance(got, tuple) or not all(isinstance(n, int) for n in got):
        return np.array([-2], dtype=np.int64)
    return np.array([len(got), *got], dtype=np.int64)
"""


def _encode_shape(a, b):
    """The trusted answer, encoded like the driver's (NumPy's broadcasting rule)."""
    try:
        shape = np.broadcast_shapes(tuple(int(n) for n in a), tuple(int(n) for n in b))
    except ValueError:
        return np.array([-1], dtype=np.int64)
    return np.array([len(shape), *shape], dtype=np.int64)


def broadcast_expected(a, b):
    return _encode_shape(a, b)


def _decoded(code):
    code = [int(n) for n in np.ravel(code)]
    if code == [-1]:
        return "raised ValueError"
    if code == [-2]:
        return "returned something other than a tuple of ints"
    return f"returned {tuple(code[1:])}"


def broadcast_compare(got, expected, case):
    """None when the answers agree; otherwise a Diagnosis that speaks of shapes."""
    from dlcourse.diagnose import Diagnosis

    if np.shape(got) == np.shape(expected) and np.array_equal(got, expected):
        return None
    a, b = tuple(int(n) for n in case["a"]), tuple(int(n) for n in case["b"])
    want = _decoded(expected)
    hint = "align the shapes at the right; a missing axis counts as size 1"
    if want == "raised ValueError":
        hint = "raise ValueError when two sizes differ and neither is 1"
    elif 0 in a + b:
        hint = "a size 1 stretches to any size, 0 included, and 0 meets only 1 or 0"
    return Diagnosis(
        kind="elementwise",
        name="broadcast_shape",
        message=f"broadcast_shape({a}, {b}) {_decoded(got)}, but it should have {want}: {hint}.",
    )


def _random_pair(rng):
    """Two shapes that broadcast: suffixes of one result shape with some sizes set to 1."""
    result = [int(n) for n in rng.integers(0, 6, size=rng.integers(0, 5))]
    pair = []
    for _ in range(2):
        keep = int(rng.integers(0, len(result) + 1))
        pair.append([n if rng.random() < 0.6 else 1 for n in result[len(result) - keep :]])
    return pair


def _shape(sizes):
    return np.array(sizes, dtype=np.int64)


def broadcast_inputs(rng):
    """Random compatible pairs, incompatible ones in both orders, sizes 0 and 10**9."""
    pairs = [_random_pair(rng) for _ in range(12)]
    pairs += [
        [[4, 3], [3]],
        [[], [4, 3]],
        [[2, 1, 5], [3, 1]],
        [[100_000, 1, 3_000], [7_000, 1]],
        [[1, 10**9], [10**9, 1]],
        [[0, 3], [1, 3]],
        [[1, 3], [0, 1]],
    ]
    incompatible = [[[3], [4]], [[2, 3], [3, 2]], [[0], [2]], [[7, 2], [8, 7, 3]]]
    pairs += incompatible + [[b, a] for a, b in incompatible]
    # a random incompatible pair: two different sizes above 1 on one axis
    n = int(rng.integers(2, 9))
    pairs.append([[int(rng.integers(1, 4)), n], [n + int(rng.integers(1, 5))]])
    return [{"a": _shape(a), "b": _shape(b)} for a, b in pairs]


def _reference_standardize(x, eps):
    x64 = x.astype(np.float64)
    centred = x64 - x64.mean(axis=0, keepdims=True)
    return (centred / np.sqrt((centred * centred).mean(axis=0, keepdims=True) + eps)).astype(
        x.dtype
    )


def standardize_inputs(rng):
    """Columns on very different scales, float32 and float64, a constant column, eps given,
    and means far from 0 next to a small spread."""
    cases = []
    for shape, dtype in [((50, 4), np.float64), ((7, 1), np.float64), ((40, 6), np.float32)]:
        scale = 10.0 ** rng.uniform(-1, 3, size=shape[1])
        # far-off means only in float64: in float32, x - mean would keep too few digits
        spread = 3000.0 if dtype == np.float64 else 3.0
        loc = rng.uniform(-spread, spread, size=shape[1]) * scale
        cases.append({"x": rng.normal(loc, scale, size=shape).astype(dtype), "eps": 1e-8})
    constant = np.column_stack([np.full(6, 7.0), rng.normal(size=6), rng.normal(size=6)])
    cases.append({"x": constant, "eps": 1e-8})
    cases.append({"x": np.array([[0.0], [2e-4]]) + rng.normal(size=(1, 1)), "eps": 1e-8})
    cases.append({"x": rng.normal(2.0, 3.0, size=(5, 5)), "eps": 0.5})
    # a million standard deviations from 0: E[x**2] - E[x]**2 loses the variance's digits
    scale = 10.0 ** rng.uniform(-1, 3, size=3)
    cases.append({"x": rng.normal(1e6 * scale, scale, size=(30, 3)), "eps": 1e-8})
    return cases


STANDARDIZE_DRIVER = """
def _standardized(x, eps):
    out = standardize(x, eps=float(eps))  # eps may arrive as a 0-d array
    return {"out": out, "x_after_the_call": x}  # x must come back as it went in
"""


def standardize_compare(got, expected, case):
    """Say plainly when x was changed in place; otherwise diagnose the standardized columns."""
    from dlcourse.diagnose import Diagnosis, diagnose

    after = np.asarray(got["x_after_the_call"])
    if after.shape != case["x"].shape or not np.array_equal(after, case["x"]):
        return Diagnosis(
            kind="inplace",
            name="x",
            message="standardize modified x in place: compute a new array (x - mean) "
            "instead of x -= mean, and return it.",
        )
    return diagnose(got["out"], expected["out"], name="standardize(x)")


def standardize_expected(x, eps):
    """The standardized columns, and x unchanged by the call."""
    return {"out": _reference_standardize(x, eps), "x_after_the_call": x}


EXERCISES = [
    Exercise(
        grade_id="check_broadcast_shape",
        solution=("broadcast_shape",),
        call="_encoded_broadcast(a, b)",
        expected=broadcast_expected,
        inputs=broadcast_inputs,
        compare=broadcast_compare,
        hidden=("numpy:broadcast_shapes", "numpy.lib._stride_tricks_impl:broadcast_shapes"),
        driver=BROADCAST_DRIVER,
        timeout_s=60.0,  # the setup cell imports PyTorch and TensorFlow: about 5 s of CPU
    ),
    Exercise(
        grade_id="check_standardize",
        solution=("standardize",),
        call="_standardized(x, eps)",
        expected=standardize_expected,
        inputs=standardize_inputs,
        driver=STANDARDIZE_DRIVER,
        compare=standardize_compare,
        timeout_s=60.0,
    ),
]
