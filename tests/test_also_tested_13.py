"""Chapter 13's "also tested" lines are true: each property has a wrong attempt that passes
the visible check and loses the exercise's points with the grader, on those cases only."""

import numpy as np
import pytest

pytest.importorskip("jupytext", reason="reading the solutions needs jupytext (extra 'course')")

from also_tested import Claim, assert_true_claim  # noqa: E402
from chapter_helpers import cell_sources  # noqa: E402
from test_chapter_10_convolutions import mutated  # noqa: E402

CHAPTER = "13-sequences"
SOURCES = cell_sources(CHAPTER)
HAND_IDS = "ids_hand = np.array"  # the worked example the check reuses has no grade_id
BEFORE = {
    "check_embedding_backward": ["setup", HAND_IDS, "embedding_backward", "check_helpers"],
    "check_rnn_step_backward": ["setup", "check_helpers", "rnn_step_backward"],
    "check_bptt": ["setup", "check_helpers", "rnn_step_backward", "bptt"],
    "check_clip_grad_norm": ["setup", "check_helpers", "clip_grad_norm"],
    "check_lstm_step_backward": ["setup", "check_helpers", "lstm_step_backward"],
}
SQUEEZED = "  # 'drop the extra axes'"


def wrong(gid, old, new):
    return {gid: mutated(SOURCES, gid, old, new)}


def _float32(case):
    return next(iter(case.values())).dtype == np.float32


def _batch_of_one(case):
    return case["x"].shape[0] == 1


RNN_DA = "da = dh * (1 - h * h)"
LSTM_DA = "da = np.concatenate([da_i, da_f, da_g, da_o], axis=1)"
BPTT_RETURN = "return dx, dnext, dwx, dwh, db"

CLAIMS = [
    Claim(
        "check_embedding_backward",
        "a float32 `dout` gives a float32 `dtable`",
        wrong(
            "embedding_backward",
            "np.zeros((vocab_size, D), dtype=dout.dtype)",
            "np.zeros((vocab_size, D))",
        ),
        _float32,
    ),
    Claim(
        "check_rnn_step_backward",
        "float32 inputs keep float32",
        wrong("rnn_step_backward", RNN_DA, f"{RNN_DA}.astype(np.float64)"),
        _float32,
    ),
    Claim(
        "check_rnn_step_backward",
        "a batch of one example",
        wrong("rnn_step_backward", RNN_DA, f"da = np.squeeze(dh * (1 - h * h)){SQUEEZED}"),
        _batch_of_one,
    ),
    Claim(
        "check_bptt",
        "float32 inputs keep float32",
        wrong("bptt", "np.zeros(wh.shape[1], dtype=wh.dtype)", "np.zeros(wh.shape[1])"),
        _float32,
    ),
    Claim(
        "check_bptt",
        "a batch of one sequence of 8 steps",
        wrong("bptt", BPTT_RETURN, f"return dx, np.squeeze(dnext), dwx, dwh, db{SQUEEZED}"),
        lambda case: case["x"].shape[:2] == (1, 8),
    ),
    Claim(
        "check_bptt",
        "a sequence of a single step",
        wrong("bptt", BPTT_RETURN, f"return np.squeeze(dx), dnext, dwx, dwh, db{SQUEEZED}"),
        lambda case: case["x"].shape[1] == 1,
        only=False,  # dx's other axes of length 1 (one sequence, one feature) squeeze too
    ),
    Claim(
        "check_bptt",
        "a single input feature",
        wrong("bptt", BPTT_RETURN, f"return dx, dnext, np.squeeze(dwx), dwh, db{SQUEEZED}"),
        lambda case: case["x"].shape[2] == 1,
    ),
    Claim(
        "check_clip_grad_norm",
        "gradients of a single element",
        wrong(
            "clip_grad_norm",
            "[g * scale for g in grads], total_norm",
            f"[np.squeeze(g) * scale for g in grads], total_norm{SQUEEZED}",
        ),
        lambda case: any(case[f"g{k}"].size == 1 for k in range(3)),
        only=False,  # the 1 x 3 gradient of another case loses its axis of length 1 too
    ),
    Claim(
        "check_clip_grad_norm",
        "`max_norm` values of 0.5 and 2",
        # clipped to a norm of 1, the visible checks' max_norm, instead of max_norm
        wrong("clip_grad_norm", "max_norm / total_norm if", "1 / total_norm if"),
        lambda case: case["max_norm"] in (0.5, 2.0),
    ),
    Claim(
        "check_lstm_step_backward",
        "float32 inputs keep float32",
        wrong("lstm_step_backward", LSTM_DA, f"{LSTM_DA}.astype(np.float64)"),
        _float32,
    ),
    Claim(
        "check_lstm_step_backward",
        "a batch of one example",
        wrong("lstm_step_backward", LSTM_DA, f"da = np.squeeze({LSTM_DA[5:]}){SQUEEZED}"),
        _batch_of_one,
    ),
]


@pytest.mark.parametrize("claim", CLAIMS, ids=lambda c: f"{c.check}: {c.phrase}")
def test_the_claim_is_true(claim):
    assert_true_claim(CHAPTER, claim, BEFORE[claim.check])
