"""Out-of-kernel checks for solutions/08-keras-style.py: one Exercise per graded cell.

Both graded cells check the student's ``PReLU`` layer (solution cell ``prelu``).
The trusted driver instantiates it on the ``manual`` backend, gives it the
case's ``alpha``, runs ``call`` (and ``backward``) and hands back NumPy arrays;
the expected values are PReLU's formulas written here in NumPy:

    out    = where(x > 0, x, alpha * x)
    dx     = where(x > 0, dout, alpha * dout)
    dalpha = sum over the batch of dout * min(x, 0)
"""

import numpy as np

from dlcourse.grading import Exercise

# Runs in the sandbox after the student's cells; PReLU is the student's class.
DRIVER = '''
def _built_prelu(x, alpha):
    import numpy
    import dlcourse

    with dlcourse.backend("manual"):
        layer = PReLU(dtype=str(x.dtype))
        layer(numpy.zeros((1, x.shape[1]), dtype=x.dtype))  # the first call builds alpha
    layer.set_weights([alpha])
    return layer


def prelu_outputs(x, alpha):
    """The student's PReLU forward on x, as a NumPy array."""
    import numpy

    return numpy.asarray(_built_prelu(x, alpha)(x))


def prelu_gradients(x, alpha, dout):
    """(dx, dalpha) from the student's backward after a forward on x."""
    import numpy

    layer = _built_prelu(x, alpha)
    layer(x)
    dx = layer.backward(dout)
    return numpy.asarray(dx), numpy.asarray(layer.grads["alpha"])
'''

# The course library's leaky ReLU computes PReLU's forward and dx when handed an array alpha.
HIDDEN = ("dlcourse.functional:leaky_relu_forward", "dlcourse.functional:leaky_relu_backward")


def _inputs(rng):
    cases = []
    for shape, dtype in [((6, 4), np.float64), ((1, 3), np.float64), ((9, 5), np.float32)]:
        x = rng.standard_normal(shape)
        x = np.where(np.abs(x) < 1e-3, 0.5, x)  # keep away from the kink at 0
        alpha = rng.uniform(0.05, 1.5, size=shape[1])
        dout = rng.standard_normal(shape)
        cases.append(
            {"x": x.astype(dtype), "alpha": alpha.astype(dtype), "dout": dout.astype(dtype)}
        )
    # every input negative: alpha alone decides the output
    x = -rng.uniform(0.1, 2.0, size=(4, 3))
    cases.append({"x": x, "alpha": np.array([0.0, 0.5, 2.0]), "dout": rng.standard_normal((4, 3))})
    return cases


def _forward_inputs(rng):
    return [{"x": c["x"], "alpha": c["alpha"]} for c in _inputs(rng)]


def _expected_out(x, alpha):
    return np.where(x > 0, x, alpha * x)


def _expected_gradients(x, alpha, dout):
    dx = np.where(x > 0, dout, alpha * dout)
    dalpha = (dout * np.minimum(x, 0)).sum(axis=0)
    return dx, dalpha.astype(x.dtype)


PRELU_CALL = Exercise(
    grade_id="check_prelu_call",
    solution=("prelu",),
    call="prelu_outputs(x, alpha)",
    expected=_expected_out,
    inputs=_forward_inputs,
    hidden=HIDDEN,
    driver=DRIVER,
)

PRELU_BACKWARD = Exercise(
    grade_id="check_prelu_backward",
    solution=("prelu",),
    call="prelu_gradients(x, alpha, dout)",
    expected=_expected_gradients,
    inputs=_inputs,
    hidden=HIDDEN,
    driver=DRIVER,
)

EXERCISES = [PRELU_CALL, PRELU_BACKWARD]
