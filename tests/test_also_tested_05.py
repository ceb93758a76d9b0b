"""Chapter 05's "also tested" lines are true: each property has a wrong attempt that passes
the visible check and loses the exercise's points with the grader, on those cases only."""

import numpy as np
import pytest

pytest.importorskip("jupytext", reason="reading the solutions needs jupytext (extra 'course')")

from also_tested import Claim, assert_true_claim  # noqa: E402
from chapter_helpers import cell_sources  # noqa: E402

CHAPTER = "05-training"
SOURCES = cell_sources(CHAPTER)
BEFORE = {
    "check_minibatch_indices": ["setup", "minibatch_indices"],
    "check_sgd_momentum_update": ["setup", "check_helpers", "sgd_momentum_update"],
    "check_adam_update": ["setup", "check_helpers", "adam_update"],
    "check_train": [
        "setup",
        "check_helpers",
        "mlp_helpers",
        "minibatch_indices",
        "optimizers",
        "train",
    ],
}
SOLUTION_LOOP = "    for epoch in range(epochs):\n"


def minibatches(first_lines="", batch="order[start : start + batch_size]"):
    return {
        "minibatch_indices": (
            "def minibatch_indices(n, batch_size, rng):\n"
            f"{first_lines}"
            "    order = rng.permutation(n)\n"
            f"    return [{batch} for start in range(0, n, batch_size)]\n"
        )
    }


def momentum(velocity="momentum * velocity + dw", first_lines="", new_w="w - lr * new_velocity"):
    return {
        "sgd_momentum_update": (
            "def sgd_momentum_update(w, dw, velocity, lr, momentum):\n"
            f"{first_lines}"
            f"    new_velocity = {velocity}\n"
            f"    return {new_w}, new_velocity\n"
        )
    }


def adam(first_lines="", m_hat="new_m / (1 - beta1**t)", step="m_hat / (np.sqrt(v_hat) + eps)"):
    return {
        "adam_update": (
            "def adam_update(w, dw, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8):\n"
            f"{first_lines}"
            "    new_m = beta1 * m + (1 - beta1) * dw\n"
            "    new_v = beta2 * v + (1 - beta2) * (dw * dw)\n"
            f"    m_hat = {m_hat}\n"
            "    v_hat = new_v / (1 - beta2**t)\n"
            f"    new_w = w - lr * {step}\n"
            "    return new_w, new_m, new_v\n"
        )
    }


def train(old, new):
    """The solution's train with ``old`` replaced by ``new``."""
    source = SOURCES["train"]
    assert old in source, f"the solution's train has no {old!r}"
    return {"train": source.replace(old, new)}


def _divides(case):
    """Where the grader compares the loss history: a batch size that divides n."""
    return len(case["x"]) % case["batch_size"] == 0


# The history holds each batch's loss after its step, "the loss once the batch is learnt":
# the right trained parameters, and a history close enough for the visible check's bounds.
AFTER_THE_STEP = train(
    "total += loss * len(idx)",
    "total += loss_and_gradients(params, x[idx], y[idx])[0] * len(idx)",
)


def _float32(case):
    return case["w0"].dtype == np.float32


CLAIMS = [
    Claim(
        "check_minibatch_indices",
        "a large `n` (more indices than a byte holds)",
        # indices stored "compactly" in a byte: past 127 they wrap around
        minibatches(batch="order.astype(np.int8)[start : start + batch_size]"),
        lambda case: case["n"] > 127,
    ),
    Claim(
        "check_minibatch_indices",
        "an `n` that `batch_size` divides",
        # one slice more than the full batches: empty where batch_size divides n
        {
            "minibatch_indices": (
                "def minibatch_indices(n, batch_size, rng):\n"
                "    order = rng.permutation(n)\n"
                "    count = n // batch_size + 1\n"
                "    return [order[i * batch_size : (i + 1) * batch_size] for i in range(count)]\n"
            )
        },
        lambda case: case["n"] % case["batch_size"] == 0,
    ),
    Claim(
        "check_minibatch_indices",
        "fewer examples than one batch",
        minibatches(
            first_lines="    if batch_size > n:\n"
            "        raise ValueError('batch_size is larger than the data')\n"
        ),
        lambda case: case["batch_size"] > case["n"],
    ),
    Claim(
        "check_minibatch_indices",
        "batches of one",
        minibatches(batch="np.squeeze(order[start : start + batch_size])"),  # 'drop extra axes'
        lambda case: case["batch_size"] == 1,
    ),
    Claim(
        "check_sgd_momentum_update",
        "float32 parameters keep float32",
        momentum(velocity="momentum * velocity.astype(np.float64) + dw"),
        _float32,
    ),
    Claim(
        "check_sgd_momentum_update",
        "`momentum=0`",
        # plain SGD "keeps no velocity": it hands back the old one instead of dw
        momentum(first_lines="    if momentum == 0:\n        return w - lr * dw, velocity\n"),
        lambda case: case["momentum"] == 0,
    ),
    Claim(
        "check_sgd_momentum_update",
        "3-D parameters",
        # flattens every leading axis into one, as if parameters were at most 2-D
        momentum(
            new_w="(w - lr * new_velocity).reshape(-1, w.shape[-1]) if w.ndim > 1 else "
            "w - lr * new_velocity"
        ),
        lambda case: case["w0"].ndim == 3,
    ),
    Claim(
        "check_sgd_momentum_update",
        "your inputs left unchanged at every step of a run",
        # the first velocity is dw, added in place to the zeros it starts from: the visible
        # check for in-place writes starts from a velocity that is not zero
        momentum(
            first_lines="    if not velocity.any():\n"
            "        velocity += dw\n"
            "        return w - lr * velocity, velocity\n"
        ),
        lambda case: True,  # every run starts from a zero velocity
    ),
    Claim(
        "check_adam_update",
        "float32 parameters keep float32",
        adam(step="m_hat / (np.sqrt(v_hat.astype(np.float64)) + eps)"),
        _float32,
    ),
    Claim(
        "check_adam_update",
        "betas",
        adam(m_hat="new_m / (1 - 0.9**t)"),  # the default beta1 in the bias correction
        lambda case: case["beta1"] != 0.9,
    ),
    Claim(
        "check_adam_update",
        "an `eps` other than the default where gradients are as small as it",
        adam(step="m_hat / (np.sqrt(v_hat) + 1e-8)"),  # the default eps, whatever is passed
        lambda case: case["eps"] != 1e-8,
    ),
    Claim(
        "check_adam_update",
        "30 steps of gradients whose size changes by orders of magnitude",
        # gradients clipped "for stability": the visible ones never reach 10
        adam(first_lines="    dw = np.clip(dw, -10, 10)\n"),
        lambda case: len(case["grads"]) >= 30,
    ),
    Claim(
        "check_adam_update",
        "a zero gradient at `t=1` (a step of 0, not NaN)",
        # the same step with sqrt(v_hat) factored out: 0 / 0 for a zero gradient
        adam(step="(m_hat / np.sqrt(v_hat)) / (1 + eps / np.sqrt(v_hat))"),
        lambda case: not case["grads"].any(),
    ),
    Claim(
        "check_train",
        "float64 as well as float32 parameters",
        # "float32 is all a network needs": the visible check trains float32 parameters only
        train(
            SOLUTION_LOOP,
            "    params = {k: p.astype(np.float32) for k, p in params.items()}\n" + SOLUTION_LOOP,
        ),
        lambda case: case["x"].dtype == np.float64,
    ),
    Claim("check_train", "a batch size that divides `n`", AFTER_THE_STEP, _divides),
    Claim("check_train", "the loss history", AFTER_THE_STEP, _divides),
    Claim(
        "check_train",
        "one larger than `n`",
        train(
            SOLUTION_LOOP,
            "    if batch_size > len(x):\n"
            "        raise ValueError('batch_size is larger than the data')\n" + SOLUTION_LOOP,
        ),
        lambda case: case["batch_size"] > len(case["x"]),
    ),
    Claim(
        "check_train",
        "the same `seed` and the same shuffles",
        # a new generator each epoch, "so that the orders differ": the first epoch's is right
        train(SOLUTION_LOOP, SOLUTION_LOOP + "        rng = np.random.default_rng(seed + epoch)\n"),
        lambda case: case["epochs"] > 1,
    ),
]


@pytest.mark.parametrize("claim", CLAIMS, ids=lambda c: f"{c.check}: {c.phrase}")
def test_the_claim_is_true(claim):
    assert_true_claim(CHAPTER, claim, BEFORE[claim.check])
