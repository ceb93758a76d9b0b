"""Out-of-kernel checks for solutions/09-real-tools.py: one Exercise per graded cell.

``nchw_dense_to_nhwc(kernel, channels, height, width)`` reorders the rows of a
Dense kernel that follows Flatten, from channels-first (c, h, w) order to
channels-last (h, w, c) order. The expected kernel is that reorder written
here in NumPy; the cases mix square and non-square maps (where a wrong axis
order cannot hide), one channel, one unit, and float32.
"""

import numpy as np

from dlcourse.grading import Exercise


def _inputs(rng):
    cases = []
    for channels, height, width, units, dtype in [
        (3, 4, 5, 7, np.float64),
        (8, 2, 2, 10, np.float64),
        (2, 3, 3, 4, np.float64),
        (1, 3, 3, 4, np.float64),
        (4, 3, 2, 1, np.float32),
    ]:
        kernel = rng.standard_normal((channels * height * width, units)).astype(dtype)
        cases.append({"kernel": kernel, "channels": channels, "height": height, "width": width})
    return cases


def _expected(kernel, channels, height, width):
    units = kernel.shape[1]
    grid = kernel.reshape(channels, height, width, units)
    return np.ascontiguousarray(grid.transpose(1, 2, 0, 3)).reshape(-1, units)


NCHW_DENSE_TO_NHWC = Exercise(
    grade_id="check_nchw_dense_to_nhwc",
    solution=("nchw_dense_to_nhwc",),
    call="nchw_dense_to_nhwc(kernel, channels, height, width)",
    expected=_expected,
    inputs=_inputs,
)

EXERCISES = [NCHW_DENSE_TO_NHWC]
