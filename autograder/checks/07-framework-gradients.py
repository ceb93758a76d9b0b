"""Out-of-kernel checks for solutions/07-framework-gradients.py: one Exercise per graded cell.

The expected gradients come from the formulas written here, computed in
float64 and returned in the inputs' dtype; the sandbox needs NumPy only
(the notebook's torch and JAX oracles are feedback, not the grade).
"""

import numpy as np

from dlcourse.grading import Exercise

SQRT_2_OVER_PI = float(np.sqrt(2 / np.pi))
GELU_C = 0.044715


def _cases(rng, far=()):
    """Inputs of several shapes and both float dtypes, each with its upstream gradient."""
    cases = []
    for shape, scale, dtype in [
        ((4, 5), 2.0, np.float64),
        ((7,), 4.0, np.float64),
        ((3, 2, 4), 3.0, np.float32),
        ((1, 1), 1.0, np.float32),
    ]:
        x = (rng.standard_normal(shape) * scale).astype(dtype)
        cases.append({"dout": rng.standard_normal(shape).astype(dtype), "x": x})
    if far:
        x = np.array(far, dtype=np.float64)
        cases.append({"dout": rng.standard_normal(x.shape), "x": x})
    return cases


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(x / 2.0))  # never overflows


def _softplus_expected(dout, x):
    x64, dout64 = x.astype(np.float64), dout.astype(np.float64)
    return (dout64 * _sigmoid(x64)).astype(x.dtype)


SOFTPLUS = Exercise(
    grade_id="check_softplus_backward",
    setup=("setup", "softplus_forward"),
    solution=("softplus_backward",),
    call="softplus_backward(dout, x)",  # softplus_forward's cache is x itself
    expected=_softplus_expected,
    inputs=lambda rng: _cases(rng, far=(-800.0, -30.0, 0.0, 30.0, 800.0)),
)


def _gelu_expected(dout, x):
    x64, dout64 = x.astype(np.float64), dout.astype(np.float64)
    t = np.tanh(SQRT_2_OVER_PI * (x64 + GELU_C * x64**3))
    du_dx = SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_C * x64**2)
    return (dout64 * (0.5 * (1.0 + t) + 0.5 * x64 * (1.0 - t * t) * du_dx)).astype(x.dtype)


# Trusted: the cache that gelu_forward returns, (x, tanh(u)), made here rather than by a
# forward the student's cell could have redefined.
GELU_DRIVER = """
def _gelu_cache(x):
    u = 0.7978845608028654 * (x + 0.044715 * x**3)
    return x, np.tanh(u).astype(x.dtype)
"""

GELU = Exercise(
    grade_id="check_gelu_backward",
    setup=("setup", "gelu_forward"),
    solution=("gelu_backward",),
    driver=GELU_DRIVER,
    call="gelu_backward(dout, _gelu_cache(x))",
    expected=_gelu_expected,
    # the library's GELU takes the same cache (x, tanh(u)) and returns this very answer
    equivalents=("dlcourse.functional.gelu:gelu_backward",),
    inputs=lambda rng: _cases(rng, far=(-12.0, -3.0, 0.0, 3.0, 12.0)),
)

EXERCISES = [SOFTPLUS, GELU]
