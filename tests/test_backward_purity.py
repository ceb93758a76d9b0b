"""No backward function writes into its inputs: neither dout nor anything in the cache."""

import numpy as np
import pytest

from dlcourse.diagnose import check_not_modified
from layer_cases import CASES


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_backward_leaves_dout_and_cache_alone(case, rng):
    inputs = case.inputs(rng)
    copies = {k: v.copy() for k, v in inputs.items()}
    out, cache = case.forward(**inputs, **case.kwargs)
    for name, value in inputs.items():  # the forward pass left its inputs alone too
        np.testing.assert_array_equal(value, copies[name], err_msg=f"forward changed {name}")
    dout = rng.standard_normal(out.shape)
    report = check_not_modified(case.backward, dout, cache)
    assert report.ok, report.message


def test_the_check_catches_an_in_place_backward(rng):
    from dlcourse import functional as F

    def sloppy_relu_backward(dout, cache):
        dout *= cache > 0  # writes into the caller's array
        return dout

    _, cache = F.relu_forward(rng.standard_normal((3, 4)))
    report = check_not_modified(sloppy_relu_backward, rng.standard_normal((3, 4)), cache)
    assert not report.ok and "dout" in report.message
