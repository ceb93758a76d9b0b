"""Out-of-kernel checks of chapter 03, the losses (see dlcourse.grading.spec).

Each loss returns ``(loss, gradient)``; the sandbox sends both back and the
parent compares them with ``dlcourse.functional``'s losses. ``mse_loss`` must
also refuse two shapes that would broadcast: the driver turns "raised
ValueError" into a number so that it can travel back as an array.
"""

import numpy as np

from dlcourse.grading import Exercise
from dlcourse.grading.spec import BY_HAND

MSE_HIDDEN = ("dlcourse.functional:mse_loss", "dlcourse.functional.losses:mse_loss")
CE_HIDDEN = (
    "dlcourse.functional:softmax_cross_entropy",
    "dlcourse.functional.losses:softmax_cross_entropy",
)

# The loss comes back in the dtype of the inputs: a float32 loss is judged with float32's
# tolerance, and a loss returned as a Python float is not a mistake. 1.0 in "refuses_mismatch"
# when mse_loss refused two shapes that would broadcast, 0.0 when it answered.
DRIVER = """
def _loss_parts(result, like, gradient_name):
    if not (isinstance(result, tuple | list) and len(result) == 2):
        return result  # the comparison says what was expected instead
    loss, gradient = result
    if np.ndim(loss) == 0:
        loss = np.asarray(loss, dtype=like.dtype)
    return {"loss": loss, gradient_name: gradient}


def _mse_refuses(pred, target):
    try:
        mse_loss(pred, target)
    except ValueError:
        return 1.0
    return 0.0


def _mse_graded(pred, target, bad_pred, bad_target):
    parts = _loss_parts(mse_loss(pred, target), pred, "dpred")
    if isinstance(parts, dict):
        parts["refuses_mismatch"] = _mse_refuses(bad_pred, bad_target)
    return parts


def _cross_entropy_graded(logits, labels):
    return _loss_parts(softmax_cross_entropy(logits, labels), logits, "dlogits")
"""


def _reference_mse(pred, target):
    diff = pred - target
    return np.mean(diff * diff), (2 / diff.size) * diff


def mse_inputs(rng):
    """Several shapes and both float dtypes, each with a pair of shapes that must be refused."""
    cases = []
    for shape, dtype, bad in [
        ((4, 3), np.float64, ((4, 1), (4,))),
        ((8, 2), np.float32, ((2, 3), (3, 2))),
        ((7,), np.float64, ((5, 1), (5,))),
        ((2, 3, 4), np.float64, ((3,), (3, 1))),
        ((1, 1), np.float32, ((6, 1), (6,))),
    ]:
        cases.append(
            {
                "pred": (3 * rng.standard_normal(shape)).astype(dtype),
                "target": rng.standard_normal(shape).astype(dtype),
                "bad_pred": np.zeros(bad[0], dtype=dtype),
                "bad_target": np.zeros(bad[1], dtype=dtype),
            }
        )
    return cases


def mse_expected(pred, target, bad_pred, bad_target):
    loss, dpred = _reference_mse(pred, target)
    return {"loss": np.asarray(loss), "dpred": dpred, "refuses_mismatch": np.asarray(1.0)}


def mse_compare(got, expected, case):
    """Diagnose the loss and dpred; then say plainly when a broadcasting pair was accepted."""
    from dlcourse.diagnose import Diagnosis, diagnose

    if not isinstance(got, dict):
        return Diagnosis(
            kind="none",
            name="mse_loss",
            message=f"mse_loss should return the pair (loss, dpred), got {type(got).__name__}.",
        )
    for name in ("loss", "dpred"):
        result = diagnose(got[name], expected[name], name=name)
        if not result.ok:
            return result
    if float(np.asarray(got["refuses_mismatch"])) != 1.0:
        bad, good = case["bad_pred"].shape, case["bad_target"].shape
        return Diagnosis(
            kind="shape",
            name="mse_loss",
            message=f"mse_loss accepted pred of shape {bad} with target of shape {good}: "
            f"broadcasting would compare every prediction with every target. Compare "
            f"pred.shape with target.shape and raise ValueError when they differ.",
        )
    return None


def _reference_cross_entropy(logits, labels):
    """Mean cross-entropy of softmax(logits) and its gradient, computed in float64."""
    z = logits.astype(np.float64)
    shifted = z - z.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    rows = np.arange(len(labels))
    loss = -np.mean(log_probs[rows, labels])
    dlogits = np.exp(log_probs)
    dlogits[rows, labels] -= 1
    return np.asarray(loss, dtype=logits.dtype), (dlogits / len(labels)).astype(logits.dtype)


def cross_entropy_expected(logits, labels):
    loss, dlogits = _reference_cross_entropy(logits, labels)
    return {"loss": np.asarray(loss), "dlogits": dlogits}


def _labels(rng, n, c, dtype=np.int64):
    return rng.integers(0, c, size=n).astype(dtype)


def cross_entropy_inputs(rng):
    """Ordinary logits: one example, two classes, N == C, int32 labels, float32."""
    cases = []
    for n, c, dtype, label_dtype in [
        (6, 4, np.float64, np.int64),
        (1, 5, np.float64, np.int64),
        (9, 2, np.float64, np.int32),
        (4, 4, np.float64, np.int64),  # N == C: logits[:, labels] has the right shape here
        (16, 10, np.float32, np.int64),
    ]:
        logits = (2 * rng.standard_normal((n, c))).astype(dtype)
        cases.append({"logits": logits, "labels": _labels(rng, n, c, label_dtype)})
    return cases


def stable_inputs(rng):
    """Logits in the hundreds and thousands, where exp overflows without the max shift."""
    cases = []
    for scale, dtype in [
        (1e3, np.float64),
        (1e4, np.float64),
        (1e4, np.float32),
        (150, np.float32),
    ]:
        logits = (scale * rng.standard_normal((8, 5))).astype(dtype)
        cases.append({"logits": logits, "labels": _labels(rng, 8, 5)})
    # every logit equal and very negative: each exp underflows to 0 without the shift
    cases.append({"logits": np.full((3, 4), -800.0), "labels": _labels(rng, 3, 4)})
    return cases


CE_CALL = "_cross_entropy_graded(logits, labels)"

EXERCISES = [
    Exercise(
        grade_id="check_mse_loss",
        forbid=BY_HAND,
        solution=("mse_loss",),
        call="_mse_graded(pred, target, bad_pred, bad_target)",
        expected=mse_expected,
        inputs=mse_inputs,
        hidden=MSE_HIDDEN,
        driver=DRIVER,
        compare=mse_compare,
    ),
    Exercise(
        grade_id="check_softmax_cross_entropy",
        forbid=BY_HAND,
        solution=("softmax_cross_entropy",),
        call=CE_CALL,
        expected=cross_entropy_expected,
        inputs=cross_entropy_inputs,
        hidden=CE_HIDDEN,
        driver=DRIVER,
        names={"loss": "loss", "dlogits": "dlogits"},
        batch_of="logits",
    ),
    Exercise(
        grade_id="check_softmax_cross_entropy_stable",
        forbid=BY_HAND,
        solution=("softmax_cross_entropy",),
        call=CE_CALL,
        expected=cross_entropy_expected,
        inputs=stable_inputs,
        hidden=CE_HIDDEN,
        driver=DRIVER,
        names={"loss": "loss", "dlogits": "dlogits"},
        batch_of="logits",
    ),
]
