"""Out-of-kernel checks of chapter 14, "Attention and a tiny GPT".

Every backward is called on a cache built here, in the format the notebook
prescribes, so no exercise depends on the student's forward. The references
(``dlcourse.functional``'s attention, ``dlcourse.data.bpe``) are hidden from
the sandbox; ``bpe_encode`` is graded with the course's ``merge_pair`` bound
as ``bpe_merge``, so a mistake in exercise 5 costs exercise 5 only. Each
compare recognises the chapter's classic mistakes, recomputed here by trusted
code, and names them.
"""

import numpy as np

from dlcourse import functional as F
from dlcourse.data import bpe
from dlcourse.diagnose import diagnose
from dlcourse.grading import Exercise
from dlcourse.grading.spec import BY_HAND

ATTENTION_HIDDEN = (
    "dlcourse.functional:attention_forward",
    "dlcourse.functional:attention_backward",
    "dlcourse.functional.attention:attention_forward",
    "dlcourse.functional.attention:attention_backward",
)
BPE_HIDDEN = tuple(
    f"dlcourse.data.bpe:{name}" for name in ("merge_pair", "bpe_encode", "bpe_train", "bpe_decode")
)


def close(got, want):
    got = np.asarray(got)
    return got.shape == np.shape(want) and np.allclose(got, want, rtol=1e-4, atol=1e-6)


def compare_with(mistakes):
    """Each classic mistake first, then every array with dlcourse.diagnose."""

    def compare(got, expected, case):
        for recognise in mistakes:
            message = recognise(got, expected, case)
            if message:
                return message
        for key, want in expected.items():
            result = diagnose(np.asarray(got[key]), want, name=key)
            if not result.ok:
                return result
        return None

    return compare


def softmax_rows(s, axis=-1):
    e = np.exp(s - s.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def lower_triangle(Tq, Tk):
    return np.arange(Tk)[None, :] <= np.arange(Tq)[:, None]


def attention_cases(rng):
    cases = []
    for lead, Tq, Tk, d, dv, causal, dtype in (
        ((2,), 5, 5, 4, 3, True, np.float64),
        ((2, 3), 3, 6, 8, 2, False, np.float64),
        ((3,), 7, 7, 16, 5, True, np.float64),
        ((1, 2), 4, 4, 6, 4, True, np.float32),
    ):
        case = {
            "q": rng.standard_normal((*lead, Tq, d)).astype(dtype),
            "k": rng.standard_normal((*lead, Tk, d)).astype(dtype),
            "v": rng.standard_normal((*lead, Tk, dv)).astype(dtype),
            "dout": rng.standard_normal((*lead, Tq, dv)).astype(dtype),
            "mask": lower_triangle(Tq, Tk) if causal else np.ones((Tq, Tk), bool),
        }
        cases.append(case)
    return cases


# --- Exercise 1: attention_forward --------------------------------------------------------

FORWARD_DRIVER = """
def _attention_forward(q, k, v, mask):
    out, cache = attention_forward(q, k, v, None if mask.all() else mask)
    return {"out": out, "p": cache[3]}
"""


def expected_forward(q, k, v, mask, dout):
    out, cache = F.attention_forward(q, k, v, None if mask.all() else mask)
    return {"out": out, "p": cache[3]}


def forward_mistake(got, expected, case):
    if close(got["out"], expected["out"]):
        return None
    q, k, v, mask = case["q"], case["k"], case["v"], case["mask"]
    s = q @ np.swapaxes(k, -1, -2)
    scaled = s / np.sqrt(q.shape[-1])
    masked = np.where(mask, scaled, -np.inf)
    out = got["out"]
    if not mask.all() and close(out, (softmax_rows(scaled) * mask) @ v):
        return (
            "out is what masking after the softmax gives (expected hidden keys to get no "
            "weight while each row still sums to 1): apply the mask to the scores before "
            "the softmax, s = np.where(mask, s, -np.inf)."
        )
    if not mask.all() and close(out, softmax_rows(scaled) @ v):
        return (
            "out is attention without the mask (expected hidden keys to get a weight of 0): "
            "the mask is not applied; set the hidden scores to -inf before the softmax."
        )
    with np.errstate(invalid="ignore"):
        if close(out, np.nan_to_num(softmax_rows(masked, axis=-2)) @ v):
            return (
                "out is what a softmax over the queries gives (expected each query's weights "
                "over the keys to sum to 1): take the softmax over the last axis, axis=-1."
            )
    if close(out, softmax_rows(np.where(mask, s, -np.inf)) @ v):
        return (
            f"out is attention with the scores q @ k^T left unscaled (expected them divided "
            f"by sqrt(d) = sqrt({q.shape[-1]})): the 1/sqrt(d) is missing; multiply the "
            f"scores by scale = 1 / np.sqrt(d)."
        )
    return None


# --- Exercise 2: attention_backward -------------------------------------------------------

BACKWARD_DRIVER = """
def _attention_backward(dout, q, k, v, p, scale):
    dq, dk, dv = attention_backward(dout, (q, k, v, p, float(scale)))
    return {"dq": dq, "dk": dk, "dv": dv}
"""


def backward_cases(rng):
    cases = []
    for case in attention_cases(rng):
        _, (q, k, v, p, scale) = F.attention_forward(
            case["q"], case["k"], case["v"], None if case["mask"].all() else case["mask"]
        )
        cases.append({"dout": case["dout"], "q": q, "k": k, "v": v, "p": p, "scale": scale})
    return cases


def expected_backward(dout, q, k, v, p, scale):
    dq, dk, dv = F.attention_backward(dout, (q, k, v, p, scale))
    return {"dq": dq, "dk": dk, "dv": dv}


def scale_missing(got, expected, case):
    root_d = 1.0 / case["scale"]
    if close(got["dq"], expected["dq"] * root_d) and close(got["dk"], expected["dk"] * root_d):
        return (
            f"dq and dk are sqrt(d) = {root_d:.3g} times too large: the scale is missing from "
            f"the backward; the scores were s = scale * q @ k^T, so multiply ds @ k and "
            f"ds^T @ q by scale."
        )
    return None


# --- Exercise 3: causal_mask --------------------------------------------------------------


def mask_cases(rng):
    return [{"T": int(t)} for t in (1, 4, int(rng.integers(5, 12)))]


def expected_mask(T):
    return {"mask": lower_triangle(T, T)}


def mask_mistake(got, expected, case):
    mask, T = np.asarray(got["mask"]), case["T"]
    if T > 1 and np.array_equal(mask, lower_triangle(T, T).T):
        return (
            "mask is the upper triangle (expected True where the key comes at or before the "
            "query, j <= i): query i would read the future; keep the lower triangle, np.tril."
        )
    if mask.shape == (T, T) and np.array_equal(mask, lower_triangle(T, T) & ~np.eye(T, dtype=bool)):
        return (
            "mask hides the diagonal (expected True at j = i too): a token may attend to "
            "itself, and row 0 would have no key at all; include the diagonal."
        )
    if mask.dtype != bool:
        return f"mask must hold booleans (True = may attend), got {mask.dtype}."
    return None


# --- Exercise 4: split_heads and merge_heads ----------------------------------------------

HEADS_DRIVER = """
def _heads(x, parts, num_heads):
    x_in, parts_in = x.copy(), parts.copy()
    return {"split": split_heads(x_in, int(num_heads)), "merged": merge_heads(parts_in)}
"""


def heads_cases(rng):
    cases = []
    for N, T, D, heads in ((2, 3, 8, 2), (1, 5, 6, 3), (2, 7, 12, 4)):
        x = rng.standard_normal((N, T, D))
        parts = rng.standard_normal((N, heads, T, D // heads))
        cases.append({"x": x, "parts": parts, "num_heads": heads})
    return cases


def expected_heads(x, parts, num_heads):
    N, T, D = x.shape
    split = x.reshape(N, T, num_heads, D // num_heads).transpose(0, 2, 1, 3)
    return {"split": split, "merged": parts.transpose(0, 2, 1, 3).reshape(N, T, D)}


def heads_mistake(got, expected, case):
    x, parts, heads = case["x"], case["parts"], case["num_heads"]
    N, T, D = x.shape
    if not close(got["split"], expected["split"]) and close(
        got["split"], x.reshape(N, heads, T, D // heads)
    ):
        return (
            "split_heads cut x in the wrong order (expected head j to hold features j*dh to "
            "(j+1)*dh of every token): a reshape to (N, h, T, dh) without a transpose mixes "
            "tokens into heads; reshape to (N, T, h, dh), then transpose(0, 2, 1, 3)."
        )
    if not close(got["merged"], expected["merged"]) and close(
        got["merged"], parts.reshape(N, T, D)
    ):
        return (
            "merge_heads put the heads back in the wrong order (expected the heads' features "
            "side by side for every token): a reshape to (N, T, h*dh) without a transpose "
            "mixes tokens; transpose(0, 2, 1, 3) first, then reshape."
        )
    return None


# --- Exercise 5: bpe_merge ----------------------------------------------------------------

MERGE_DRIVER = """
def _bpe_merge(tokens, pair, new_token):
    tokens_in = [int(t) for t in tokens]
    merged = bpe_merge(tokens_in, (int(pair[0]), int(pair[1])), int(new_token))
    return {"merged": np.asarray(list(merged), dtype=np.int64),
            "tokens_after_call": np.asarray(tokens_in, dtype=np.int64)}
"""


def merge_cases(rng):
    cases = [
        {"tokens": np.array([97, 97, 97]), "pair": np.array([97, 97]), "new_token": 256},
        {"tokens": np.array([5, 5, 5, 5, 5, 2, 5, 5]), "pair": np.array([5, 5]), "new_token": 300},
    ]
    tokens = rng.integers(0, 3, size=30)
    cases.append({"tokens": tokens, "pair": tokens[:2].copy(), "new_token": 256})
    return cases


def overlapping_merge(tokens, pair, new_token):
    out = []
    for i, t in enumerate(tokens):
        if i + 1 < len(tokens) and (t, tokens[i + 1]) == tuple(pair):
            out.append(new_token)
        elif not (i > 0 and (tokens[i - 1], t) == tuple(pair)):
            out.append(t)
    return out


def stepped_once(tokens, pair, new_token):
    """What a merge that moves on by one token, not two, after a pair gives."""
    out = []
    for i, t in enumerate(tokens):
        out.append(new_token if (t, *tokens[i + 1 : i + 2]) == tuple(pair) else t)
    return out


def expected_merge(tokens, pair, new_token):
    merged = bpe.merge_pair([int(t) for t in tokens], (int(pair[0]), int(pair[1])), int(new_token))
    return {"merged": np.asarray(merged, dtype=np.int64), "tokens_after_call": tokens}


def merged_twice(got, expected, case):
    tokens = [int(t) for t in case["tokens"]]
    if not np.array_equal(np.asarray(got["tokens_after_call"]), case["tokens"]):
        return "bpe_merge changed its input tokens in place: return a new list."
    wrong = overlapping_merge(
        tokens, (int(case["pair"][0]), int(case["pair"][1])), case["new_token"]
    )
    got_list = [int(t) for t in np.asarray(got["merged"]).reshape(-1)]
    wrong_too = stepped_once(
        tokens, (int(case["pair"][0]), int(case["pair"][1])), case["new_token"]
    )
    want = [int(t) for t in expected["merged"]]  # plain ints: np.int64(97) would be printed
    if got_list != want and got_list in (wrong, wrong_too):
        return (
            f"merged is {got_list[:12]}..., expected {want[:12]}...: an "
            f"overlapping run was merged twice (the middle token used by two pairs); after a "
            f"merge, skip both tokens of the pair (i += 2)."
        )
    return None


# --- Exercise 6: bpe_encode ---------------------------------------------------------------

ENCODE_DRIVER = """
def _bpe_encode(text_bytes, merges):
    text = bytes(int(b) for b in text_bytes).decode("utf-8")
    pairs = [(int(a), int(b)) for a, b in merges]
    return {"tokens": np.asarray(list(bpe_encode(text, pairs)), dtype=np.int64)}
"""


def encode_cases(rng):
    cases = []
    for text in ("the theme then", "the cat and the hat sat", "héé aaaa"):
        merges = np.array(bpe.bpe_train(text, 5), dtype=np.int64).reshape(-1, 2)
        cases.append(
            {"text_bytes": np.frombuffer(text.encode(), np.uint8).copy(), "merges": merges}
        )
    return cases


def expected_encode(text_bytes, merges):
    text = bytes(text_bytes.tolist()).decode("utf-8")
    tokens = bpe.bpe_encode(text, [tuple(int(v) for v in m) for m in merges])
    return {"tokens": np.asarray(tokens, dtype=np.int64)}


def merges_reversed(got, expected, case):
    text = bytes(case["text_bytes"].tolist()).decode("utf-8")
    pairs = [tuple(int(v) for v in m) for m in case["merges"]]
    last_first = list(text.encode("utf-8"))
    for k in reversed(range(len(pairs))):  # each merge keeps its own token, 256 + k
        last_first = bpe.merge_pair(last_first, pairs[k], 256 + k)
    if not close(got["tokens"], expected["tokens"]) and close(got["tokens"], last_first):
        return "the merges were applied in the reverse order; apply merge 0 first, as learned."
    return None


EXERCISES = [
    Exercise(
        grade_id="check_attention_forward",
        forbid=BY_HAND,
        solution=("attention_forward",),
        driver=FORWARD_DRIVER,
        call="_attention_forward(q, k, v, mask)",
        expected=expected_forward,
        inputs=attention_cases,
        compare=compare_with((forward_mistake,)),
        hidden=ATTENTION_HIDDEN,
    ),
    Exercise(
        grade_id="check_attention_backward",
        forbid=BY_HAND,
        solution=("attention_backward",),
        driver=BACKWARD_DRIVER,
        call="_attention_backward(dout, q, k, v, p, scale)",
        expected=expected_backward,
        inputs=backward_cases,
        compare=compare_with((scale_missing,)),
        hidden=ATTENTION_HIDDEN,
    ),
    Exercise(
        grade_id="check_causal_mask",
        forbid=BY_HAND,
        solution=("causal_mask",),
        call="{'mask': np.asarray(causal_mask(int(T)))}",
        expected=expected_mask,
        inputs=mask_cases,
        compare=compare_with((mask_mistake,)),
        hidden=ATTENTION_HIDDEN,
    ),
    Exercise(
        grade_id="check_heads",
        forbid=BY_HAND,
        solution=("heads",),
        driver=HEADS_DRIVER,
        call="_heads(x, parts, num_heads)",
        expected=expected_heads,
        inputs=heads_cases,
        compare=compare_with((heads_mistake,)),
        hidden=ATTENTION_HIDDEN,
    ),
    Exercise(
        grade_id="check_bpe_merge",
        forbid=BY_HAND,
        solution=("bpe_merge",),
        driver=MERGE_DRIVER,
        call="_bpe_merge(tokens, pair, new_token)",
        expected=expected_merge,
        inputs=merge_cases,
        compare=compare_with((merged_twice,)),
        hidden=BPE_HIDDEN,
    ),
    Exercise(
        grade_id="check_bpe_encode",
        forbid=BY_HAND,
        solution=("bpe_encode",),
        driver=ENCODE_DRIVER,
        call="_bpe_encode(text_bytes, merges)",
        expected=expected_encode,
        inputs=encode_cases,
        compare=compare_with((merges_reversed,)),
        # the course's merge stands in for the student's (so it is not hidden here): one
        # mistake, one penalty
        hidden=tuple(r for r in BPE_HIDDEN if not r.endswith(":merge_pair")),
        provided={"bpe_merge": "dlcourse.data.bpe:merge_pair"},
    ),
]
