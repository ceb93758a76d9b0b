"""Hypothesis strategies for the shapes and values that layers see."""

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

small = st.integers(min_value=1, max_value=6)


def float_arrays(shape, dtype=np.float64, bound=3.0):
    """Arrays of finite values in [-bound, bound], the range where gradients are well behaved."""
    return hnp.arrays(
        dtype,
        shape,
        elements=st.floats(-bound, bound, allow_nan=False, allow_infinity=False, width=64),
    )


@st.composite
def dense_inputs(draw, dtype=np.float64):
    """(x, w, b) with matching shapes for a dense layer."""
    n, d, m = draw(small), draw(small), draw(small)
    return (
        draw(float_arrays((n, d), dtype)),
        draw(float_arrays((d, m), dtype)),
        draw(float_arrays((m,), dtype)),
    )


@st.composite
def matrices(draw, dtype=np.float64, bound=3.0):
    return draw(float_arrays((draw(small), draw(small)), dtype, bound))
