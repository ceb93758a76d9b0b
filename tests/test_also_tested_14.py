"""Chapter 14's "also tested" lines are true: each property has a wrong attempt that passes
the visible check and loses the exercise's points with the grader, on those cases only."""

import numpy as np
import pytest

pytest.importorskip("jupytext", reason="reading the solutions needs jupytext (extra 'course')")

from also_tested import Claim, assert_true_claim  # noqa: E402
from chapter_helpers import cell_sources  # noqa: E402
from test_chapter_10_convolutions import mutated  # noqa: E402

CHAPTER = "14-attention"
SOURCES = cell_sources(CHAPTER)
BEFORE = {
    "check_attention_forward": ["setup", "attention_forward", "check_helpers"],
    "check_attention_backward": ["setup", "check_helpers", "attention_backward"],
    "check_causal_mask": ["setup", "check_helpers", "causal_mask"],
    "check_bpe_merge": ["setup", "bpe_merge"],
    "check_bpe_encode": ["setup", "bpe_merge", "bpe_encode"],
}
# np.sqrt gives a NumPy float64, which makes float32 scores float64 (a Python float does not)
FLOAT64_SCALE = "1 / np.sqrt(q.shape[-1])"

# Matches found all at once, and a match dropped when one starts just before it: right for
# a run of three equal tokens, but in a longer run the match before was itself dropped.
VECTORIZED_MERGE = """\
def bpe_merge(tokens, pair, new_token):
    a = np.asarray(tokens, dtype=np.int64)
    if len(a) < 2:
        return list(tokens)
    hits = (a[:-1] == pair[0]) & (a[1:] == pair[1])
    hits[1:] &= ~hits[:-1]  # a match right after a match overlaps it
    keep = np.ones(len(a), dtype=bool)
    keep[1:][hits] = False
    merged = a.copy()
    merged[:-1][hits] = new_token
    return [int(t) for t in merged[keep]]
"""


def wrong(gid, old, new):
    return {gid: mutated(SOURCES, gid, old, new)}


def _float32(case):
    return case["q"].dtype == np.float32


def _run_of_five(case):
    tokens, (first, second) = list(case["tokens"]), case["pair"]
    runs = (tokens[i : i + 5] == [first] * 5 for i in range(len(tokens) - 4))
    return first == second and any(runs)


CLAIMS = [
    Claim(
        "check_attention_forward",
        "float32 inputs keep float32",
        wrong("attention_forward", "q.shape[-1] ** -0.5", FLOAT64_SCALE),
        _float32,
    ),
    Claim(
        "check_attention_backward",
        "float32 caches give float32 gradients",
        # the scale recomputed instead of taken from the cache
        wrong(
            "attention_backward",
            "q, k, v, p, scale = cache",
            f"q, k, v, p, _ = cache\n    scale = {FLOAT64_SCALE}",
        ),
        _float32,
    ),
    Claim(
        "check_causal_mask",
        "one more length, between 5 and 11",
        # a sliding window of 4 keys (local attention): causal only while T <= 4
        {
            "causal_mask": (
                "def causal_mask(T):\n"
                "    return np.tri(T, dtype=bool) & ~np.tri(T, k=-4, dtype=bool)\n"
            )
        },
        lambda case: case["T"] > 4,
    ),
    Claim(
        "check_bpe_merge",
        "a run of five equal tokens merged by that same pair",
        {"bpe_merge": VECTORIZED_MERGE},
        _run_of_five,
    ),
    Claim(
        "check_bpe_encode",
        "text with two-byte UTF-8 characters",
        # characters taken for bytes: the same ids while the text is ASCII
        wrong("bpe_encode", 'list(text.encode("utf-8"))', "[ord(c) for c in text]"),
        lambda case: case["text_bytes"].max() >= 128,
    ),
]


@pytest.mark.parametrize("claim", CLAIMS, ids=lambda c: f"{c.check}: {c.phrase}")
def test_the_claim_is_true(claim):
    assert_true_claim(CHAPTER, claim, BEFORE[claim.check])
