"""Out-of-kernel checks of chapter 12, "Making deep networks train".

The two backward exercises use the cache format the notebook prescribes,
``cache = (xhat, gamma, inv_std)``; the driver builds it from ``x`` here, so
the backward never depends on anything else the student wrote. The references
are ``dlcourse.functional``'s batch norm and layer norm and the ``he_normal``
initializer; they are hidden in the sandbox so that no exercise can be
answered by calling them. Each classic mistake is recognised in the trusted
parent and named in the feedback.
"""

import math

import numpy as np

from dlcourse import functional as F
from dlcourse.diagnose import diagnose
from dlcourse.grading import Exercise
from dlcourse.grading.spec import BY_HAND

HIDDEN_INIT = ("dlcourse.nn.initializers:he_normal",)
HIDDEN_NORM = (
    "dlcourse.functional:batchnorm_forward",
    "dlcourse.functional:batchnorm_backward",
    "dlcourse.functional:layernorm_forward",
    "dlcourse.functional:layernorm_backward",
    "dlcourse.functional.batchnorm:batchnorm_forward",
    "dlcourse.functional.batchnorm:batchnorm_backward",
    "dlcourse.functional.layernorm:layernorm_forward",
    "dlcourse.functional.layernorm:layernorm_backward",
)
# the layers whose backward is the same formula
NORM_EQUIVALENTS = (
    "dlcourse.nn.layers.normalization:BatchNorm.backward",
    "dlcourse.nn.layers.normalization:LayerNormalization.backward",
)
HIDDEN_SCHEDULE = ("dlcourse.nn.callbacks.schedules:one_cycle", "dlcourse.nn:one_cycle")


# --- exercise 1: kaiming_std ----------------------------------------------------------------


def kaiming_cases(rng):
    """Weight shapes (fan_in, fan_out) with fan_in != fan_out, so that a swap shows."""
    cases = [{"fan_in": 1, "fan_out": 7}, {"fan_in": 1000, "fan_out": 3}]
    for _ in range(4):
        fan_in, fan_out = rng.choice(np.arange(2, 2049), size=2, replace=False)
        cases.append({"fan_in": int(fan_in), "fan_out": int(fan_out)})
    return cases


KAIMING_DRIVER = """
def _kaiming(fan_in, fan_out):
    return float(kaiming_std((int(fan_in), int(fan_out))))
"""


def expected_kaiming(fan_in, fan_out):
    return np.float64(math.sqrt(2.0 / fan_in))


def compare_kaiming(got, expected, case):
    fan_in, fan_out = case["fan_in"], case["fan_out"]
    got, want = float(np.asarray(got)), float(expected)
    if math.isclose(got, want, rel_tol=1e-9):
        return None
    said = f"kaiming_std(({fan_in}, {fan_out})) is {got:.6g}, expected {want:.6g}: "
    mistakes = [
        (
            math.sqrt(2.0 / fan_out),
            "it uses fan_out; the forward rule counts each unit's "
            "inputs, so use fan_in = shape[0].",
        ),
        (
            math.sqrt(1.0 / fan_in),
            "the factor 2 is missing; ReLU zeroes half of the units, "
            "so the variance must be 2 / fan_in.",
        ),
        (2.0 / fan_in, "that is the variance; return its square root, the standard deviation."),
        (
            math.sqrt(2.0 / (fan_in + fan_out)),
            "that is Glorot's rule, made for tanh units; for ReLU use sqrt(2 / fan_in).",
        ),
    ]
    for value, fix in mistakes:
        if math.isclose(got, value, rel_tol=1e-9):
            return said + fix
    return said + "the Kaiming standard deviation is sqrt(2 / fan_in), with fan_in = shape[0]."


# --- exercises 2 and 3: the normalization backward passes ---------------------------------

# (N, D, dtype): one example per feature pair to many, a single feature, both dtypes.
BATCHNORM_SHAPES = ((6, 4, np.float64), (2, 1, np.float64), (3, 9, np.float64), (32, 5, np.float32))
LAYERNORM_SHAPES = ((5, 6, np.float64), (1, 8, np.float64), (7, 2, np.float64), (9, 12, np.float32))


def norm_cases(shapes):
    def inputs(rng):
        cases = []
        for n, d, dtype in shapes:
            cases.append(
                {
                    "x": (rng.standard_normal((n, d)) * rng.uniform(0.5, 3) + 1).astype(dtype),
                    "gamma": rng.uniform(0.5, 2.0, d).astype(dtype),
                    "beta": rng.standard_normal(d).astype(dtype),
                    "dout": rng.standard_normal((n, d)).astype(dtype),
                }
            )
        return cases

    return inputs


# Builds the notebook's cache from x in the sandbox, calls the student's backward on copies
# and sends the copies back too, so a function that writes into its inputs is caught.
NORM_DRIVER = """
import numpy as _np


def _norm_cache(x, gamma, axis, eps=1e-5):
    mean = x.mean(axis=axis, keepdims=axis == 1)
    var = x.var(axis=axis, keepdims=axis == 1)
    inv_std = (1.0 / _np.sqrt(var + eps)).astype(x.dtype)
    return (x - mean) * inv_std, gamma, inv_std


def _backward_untouched(backward, axis, dout, x, gamma):
    xhat, gamma_in, inv_std = _norm_cache(x, gamma.copy(), axis)
    dout_in, xhat_in, inv_std_in = dout.copy(), xhat.copy(), inv_std.copy()
    dx, dgamma, dbeta = backward(dout_in, (xhat_in, gamma_in, inv_std_in))
    return {"dx": dx, "dgamma": dgamma, "dbeta": dbeta, "dout_after_call": dout_in,
            "xhat_after_call": xhat_in, "gamma_after_call": gamma_in,
            "inv_std_after_call": inv_std_in, "xhat": xhat, "inv_std": inv_std}
"""


def _expected(forward, backward):
    def expected(dout, x, gamma, beta):
        _, cache = forward(x, gamma, beta)
        dx, dgamma, dbeta = backward(dout, cache)
        return {"dx": dx, "dgamma": dgamma, "dbeta": dbeta}

    return expected


def expected_batchnorm(dout, x, gamma, beta):
    return _expected(
        lambda x, g, b: F.batchnorm_forward(x, g, b, None, True), F.batchnorm_backward
    )(dout, x, gamma, beta)


expected_layernorm = _expected(F.layernorm_forward, F.layernorm_backward)


def _stats(x, axis, eps=1e-5):
    """xhat and inv_std, computed here in float64 from the case's x (trusted)."""
    x = x.astype(np.float64)
    mean, var = x.mean(axis=axis, keepdims=True), x.var(axis=axis, keepdims=True)
    inv_std = 1.0 / np.sqrt(var + eps)
    return (x - mean) * inv_std, inv_std


def _direct_only(dout, x, gamma, axis):
    _, inv_std = _stats(x, axis)
    return dout * gamma * inv_std


def _chain(dout, x, gamma, stats_axis, sum_axis):
    """The normalization backward with statistics over stats_axis and sums over sum_axis."""
    xhat, inv_std = _stats(x, stats_axis)
    dxhat = dout * gamma
    m = x.shape[sum_axis]
    total = dxhat.sum(axis=sum_axis, keepdims=True)
    along = (dxhat * xhat).sum(axis=sum_axis, keepdims=True)
    return inv_std / m * (m * dxhat - total - xhat * along)


def _mean_only(dout, x, gamma, axis):
    _, inv_std = _stats(x, axis)
    dxhat = dout * gamma
    return inv_std * (dxhat - dxhat.mean(axis=axis, keepdims=True))


BATCHNORM_MISTAKES = (
    (
        lambda dout, x, gamma: _direct_only(dout, x, gamma, 0),
        "dx is dout * gamma * inv_std, as if the mean and the variance were constants; both "
        "are computed from x, so add the terms through them: dx = inv_std / N * (N*dxhat - "
        "sum(dxhat) - xhat * sum(dxhat * xhat)), sums over axis 0.",
    ),
    (
        lambda dout, x, gamma: _mean_only(dout, x, gamma, 0),
        "dx has the term through the mean but not the one through the variance: also "
        "subtract xhat * sum(dxhat * xhat, axis=0) inside inv_std / N * (...).",
    ),
)
LAYERNORM_MISTAKES = (
    (
        lambda dout, x, gamma: _chain(dout, x, gamma, 1, 0),
        "dx sums over the batch (axis 0), as batch norm does; layer norm's statistics are "
        "taken over each example's features, so sum over axis 1 (keepdims=True) and divide "
        "by D.",
    ),
    (
        lambda dout, x, gamma: _direct_only(dout, x, gamma, 1),
        "dx is dout * gamma * inv_std, as if each row's mean and variance were constants; add "
        "the terms through them: inv_std / D * (D*dxhat - sum(dxhat) - xhat * sum(dxhat * "
        "xhat)), sums over axis 1.",
    ),
)


def compare_norm(mistakes, layer):
    def compare(got, expected, case):
        for key in ("dout", "xhat", "gamma", "inv_std"):
            before = case[key] if key in case else got[key]
            if not np.array_equal(np.asarray(got[f"{key}_after_call"]), before):
                return (
                    f"{layer}_backward changed its input {key} in place: leave the arguments "
                    f"alone and compute new arrays."
                )
        dx = np.asarray(got["dx"])
        want = expected["dx"]
        if dx.shape == want.shape and not diagnose(dx, want, name="dx").ok:
            for mistake, message in mistakes:
                wrong = mistake(case["dout"].astype(np.float64), case["x"], case["gamma"])
                if np.allclose(dx.astype(np.float64), wrong, rtol=1e-4, atol=1e-7):
                    return message
        for key in ("dx", "dgamma", "dbeta"):
            result = diagnose(got[key], expected[key], name=key)
            if not result.ok:
                return result
        return None

    return compare


# --- exercise 4: cosine_with_warmup ---------------------------------------------------------


def schedule_cases(rng):
    """(total, warmup, peak, floor): with and without warm-up, one decay step or many."""
    cases = [
        {"total": 3, "warmup": 1, "peak": 1.0, "floor": 0.0},
        {"total": 12, "warmup": 0, "peak": 0.5, "floor": 0.1},
    ]
    for _ in range(3):
        total = int(rng.integers(20, 400))
        warmup = int(rng.integers(1, total // 3))
        peak = float(rng.uniform(1e-4, 1.0))
        cases.append({"total": total, "warmup": warmup, "peak": peak, "floor": peak / 100})
    return cases


# One array per case: the grader reads back a bounded number of arrays, not one per step.
SCHEDULE_DRIVER = """
import numpy as _np


def _schedule(total, warmup, peak, floor):
    total, warmup, peak, floor = int(total), int(warmup), float(peak), float(floor)
    return _np.array([float(cosine_with_warmup(step, total, warmup, peak, floor))
                      for step in range(total + 3)])
"""


def expected_schedule(total, warmup, peak, floor):
    rates = []
    for step in range(total + 3):
        if step < warmup:
            rates.append(peak * (step + 1) / warmup)
        elif step >= total - 1:
            rates.append(floor)
        else:
            progress = (step - warmup) / (total - 1 - warmup)
            rates.append(floor + (peak - floor) * (1 + math.cos(math.pi * progress)) / 2)
    return np.array(rates)


def compare_schedule(got, expected, case):
    total, warmup, floor = case["total"], case["warmup"], case["floor"]
    rates = np.asarray(got, dtype=float)
    if rates.shape != expected.shape:
        return f"expected one learning rate per step, got {rates.shape}."
    if np.allclose(rates, expected, rtol=1e-9, atol=1e-15):
        return None
    said = f"for total_steps={total}, warmup_steps={warmup}: "
    if warmup and rates[0] == 0:
        return said + (
            "the rate at step 0 is 0, so the first step does not move the weights: the "
            "warm-up is off by one, use peak_lr * (step + 1) / warmup_steps."
        )
    if not np.allclose(rates[:warmup], expected[:warmup], rtol=1e-9):
        return said + "the warm-up should climb linearly: peak_lr * (step + 1) / warmup_steps."
    if not math.isclose(rates[total - 1], floor, rel_tol=1e-9, abs_tol=1e-15):
        return said + (
            f"the last step, {total - 1}, gives {rates[total - 1]:.6g} instead of the floor "
            f"{floor:.6g}: the cosine does not reach the floor. Use progress = (step - "
            f"warmup_steps) / (total_steps - 1 - warmup_steps)."
        )
    if not np.allclose(rates[total:], floor, rtol=1e-9, atol=1e-15):
        return said + "after the last step the rate must stay at min_lr (the cosine climbs again)."
    return diagnose(rates, expected, name="learning rates")


EXERCISES = [
    Exercise(
        grade_id="check_kaiming_std",
        solution=("kaiming_std",),
        driver=KAIMING_DRIVER,
        call="_kaiming(fan_in, fan_out)",
        expected=expected_kaiming,
        inputs=kaiming_cases,
        compare=compare_kaiming,
        hidden=HIDDEN_INIT,
    ),
    Exercise(
        grade_id="check_batchnorm_backward",
        forbid=BY_HAND,
        solution=("batchnorm_backward",),
        driver=NORM_DRIVER,
        call="_backward_untouched(batchnorm_backward, 0, dout, x, gamma)",
        expected=expected_batchnorm,
        inputs=norm_cases(BATCHNORM_SHAPES),
        compare=compare_norm(BATCHNORM_MISTAKES, "batchnorm"),
        hidden=HIDDEN_NORM,
        equivalents=NORM_EQUIVALENTS,
    ),
    Exercise(
        grade_id="check_layernorm_backward",
        forbid=BY_HAND,
        solution=("layernorm_backward",),
        driver=NORM_DRIVER,
        call="_backward_untouched(layernorm_backward, 1, dout, x, gamma)",
        expected=expected_layernorm,
        inputs=norm_cases(LAYERNORM_SHAPES),
        compare=compare_norm(LAYERNORM_MISTAKES, "layernorm"),
        hidden=HIDDEN_NORM,
        equivalents=NORM_EQUIVALENTS,
    ),
    Exercise(
        grade_id="check_cosine_with_warmup",
        solution=("cosine_with_warmup",),
        driver=SCHEDULE_DRIVER,
        call="_schedule(total, warmup, peak, floor)",
        expected=expected_schedule,
        inputs=schedule_cases,
        compare=compare_schedule,
        hidden=HIDDEN_SCHEDULE,
    ),
]
