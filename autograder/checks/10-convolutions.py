"""Out-of-kernel checks of chapter 10, "Convolutions by hand".

Both exercises use the cache format the notebook prescribes,
``cache = (x, w, b, stride, pad)``, so the backward is called on a cache built
here and never depends on the student's forward. The references are
``dlcourse.functional``'s im2col convolution; it and the loop version are
hidden from the sandbox so that neither exercise can be answered by calling
them.
"""

import numpy as np

from dlcourse import functional as F
from dlcourse.diagnose import diagnose
from dlcourse.grading import Exercise
from dlcourse.grading.spec import BY_HAND

# Every reference that computes a convolution, under each name it is reachable by.
HIDDEN = (
    "dlcourse.functional:conv2d_forward",
    "dlcourse.functional:conv2d_backward",
    "dlcourse.functional:conv2d_forward_naive",
    "dlcourse.functional:conv2d_backward_naive",
    "dlcourse.functional.conv:conv2d_forward",
    "dlcourse.functional.conv:conv2d_backward",
    "dlcourse.functional.conv_naive:conv2d_forward_naive",
    "dlcourse.functional.conv_naive:conv2d_backward_naive",
)

# (N, C, H, W, filters, kernel, stride, pad, dtype): square and oblong images, one and
# several channels, 1x1 and whole-image kernels, strides 1 to 3, padding 0 to 2, both dtypes.
SHAPES = (
    (2, 3, 5, 5, 4, 3, 1, 0, np.float64),
    (2, 2, 6, 7, 3, 3, 2, 1, np.float64),
    (1, 2, 4, 4, 2, 1, 1, 0, np.float64),
    (3, 2, 7, 5, 2, 2, 3, 2, np.float64),
    (2, 3, 6, 6, 5, 3, 1, 1, np.float32),
    (2, 1, 5, 5, 2, 5, 1, 0, np.float32),
)


def conv_cases(rng, with_dout=False):
    """One case per entry of SHAPES, with values drawn from the student's ``rng``."""
    cases = []
    for N, C, H, W, filters, k, stride, pad, dtype in SHAPES:
        case = {
            "x": rng.standard_normal((N, C, H, W)).astype(dtype),
            "w": rng.standard_normal((filters, C, k, k)).astype(dtype),
            "b": rng.standard_normal(filters).astype(dtype),
            "stride": stride,
            "pad": pad,
        }
        if with_dout:
            OH = (H + 2 * pad - k) // stride + 1
            OW = (W + 2 * pad - k) // stride + 1
            case["dout"] = rng.standard_normal((N, filters, OH, OW)).astype(dtype)
        cases.append(case)
    return cases


# Runs in the sandbox after the student's cells: calls the student's function on copies
# and sends back the copies too, so a function that writes into its inputs is caught.
# Numbers may arrive as 0-d arrays: stride and pad become Python ints first.
FORWARD_DRIVER = """
def _forward_untouched(x, w, b, stride, pad):
    stride, pad = int(stride), int(pad)
    x_in, w_in, b_in = x.copy(), w.copy(), b.copy()
    out, cache = conv2d_forward(x_in, w_in, b_in, stride, pad)
    return {"out": out, "x_after_call": x_in, "w_after_call": w_in,
            "b_after_call": b_in}
"""

BACKWARD_DRIVER = """
def _backward_untouched(dout, x, w, b, stride, pad):
    stride, pad = int(stride), int(pad)
    dout_in, x_in, w_in, b_in = dout.copy(), x.copy(), w.copy(), b.copy()
    dx, dw, db = conv2d_backward(dout_in, (x_in, w_in, b_in, stride, pad))
    return {"dx": dx, "dw": dw, "db": db, "dout_after_call": dout_in,
            "x_after_call": x_in, "w_after_call": w_in}
"""


def expected_forward(x, w, b, stride, pad):
    out, _ = F.conv2d_forward(x, w, b, int(stride), int(pad))
    return {"out": out, "x_after_call": x, "w_after_call": w, "b_after_call": b}


def expected_backward(dout, x, w, b, stride, pad):
    _, cache = F.conv2d_forward(x, w, b, int(stride), int(pad))
    dx, dw, db = F.conv2d_backward(dout, cache)
    return {
        "dx": dx,
        "dw": dw,
        "db": db,
        "dout_after_call": dout,
        "x_after_call": x,
        "w_after_call": w,
    }


def compare_untouched(got, expected, case):
    """diagnose() the results; an input that came back changed is named as written in place."""
    for key, want in expected.items():
        if key.endswith("_after_call"):
            name = key.removesuffix("_after_call")
            if not np.array_equal(np.asarray(got[key]), want):
                return (
                    f"the function changed its input {name} in place: leave the arguments "
                    f"alone and compute new arrays (np.pad makes a padded copy; write into "
                    f"arrays you created, such as np.zeros_like(...))."
                )
        else:
            result = diagnose(got[key], want, name=key)
            if not result.ok:
                return result
    return None


EXERCISES = [
    Exercise(
        grade_id="check_conv2d_forward",
        forbid=BY_HAND,
        solution=("conv2d_forward",),
        driver=FORWARD_DRIVER,
        call="_forward_untouched(x, w, b, stride, pad)",
        expected=expected_forward,
        inputs=conv_cases,
        compare=compare_untouched,
        hidden=HIDDEN,
    ),
    Exercise(
        grade_id="check_conv2d_backward",
        forbid=BY_HAND,
        solution=("conv2d_backward",),
        driver=BACKWARD_DRIVER,
        call="_backward_untouched(dout, x, w, b, stride, pad)",
        expected=expected_backward,
        inputs=lambda rng: conv_cases(rng, with_dout=True),
        compare=compare_untouched,
        hidden=tuple(h for h in HIDDEN if not h.endswith(":conv2d_forward_naive")),
        # a backward that recomputes the forward finds the course's loop version under the
        # student's name, with the same (x, w, b, stride, pad) cache: one mistake, one penalty
        provided={"conv2d_forward": "dlcourse.functional.conv_naive:conv2d_forward_naive"},
    ),
]
