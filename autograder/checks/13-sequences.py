"""Out-of-kernel checks of chapter 13, "Sequences by hand".

Every backward is called on a cache built here, in the format the notebook
prescribes, so no exercise depends on the student's forward. The references in
``dlcourse.functional`` are hidden from the sandbox; ``bptt`` is graded with
the course's ``rnn_step_backward`` bound in place of the student's, so a
mistake in exercise 2 costs exercise 2 only. Each compare recognises the
chapter's classic mistakes, recomputed here by trusted code, and names them.
"""

import numpy as np

from dlcourse import functional as F
from dlcourse.diagnose import diagnose
from dlcourse.grading import Exercise
from dlcourse.grading.spec import BY_HAND, RECURRENT_BACKWARD

RNN_HIDDEN = (
    "dlcourse.functional:rnn_step_backward",
    "dlcourse.functional:rnn_backward",
    "dlcourse.functional.recurrent:rnn_step_backward",
    "dlcourse.functional.recurrent:rnn_backward",
)


def compare_untouched(got, expected, case, mistakes=()):
    """Inputs first (changed in place?), then each classic mistake, then each array."""
    for key, want in expected.items():
        if key.endswith("_after_call") and not np.array_equal(np.asarray(got[key]), want):
            name = key.removesuffix("_after_call")
            return (
                f"the function changed its input {name} in place: leave the arguments alone "
                f"and compute new arrays (write into arrays you created with np.zeros(...))."
            )
    for recognise in mistakes:
        message = recognise(got, expected, case)
        if message:
            return message
    for key, want in expected.items():
        if not key.endswith("_after_call"):
            result = diagnose(got[key], want, name=key)
            if not result.ok:
                return result
    return None


def close(got, want):
    got = np.asarray(got)
    return got.shape == np.shape(want) and np.allclose(got, want, rtol=1e-4, atol=1e-6)


# --- Exercise 1: embedding_backward ------------------------------------------------------

EMBEDDING_DRIVER = """
def _embedding_untouched(dout, ids, vocab_size):
    dout_in, ids_in = dout.copy(), ids.copy()
    dtable = embedding_backward(dout_in, ids_in, int(vocab_size))
    return {"dtable": dtable, "dout_after_call": dout_in, "ids_after_call": ids_in}
"""


def embedding_cases(rng):
    """ids of one and two axes, always with repeats, some rows never looked up, both dtypes."""
    cases = []
    for shape, D, V, dtype in (
        ((6,), 3, 4, np.float64),
        ((3, 8), 4, 7, np.float64),
        ((2, 5), 2, 12, np.float64),
        ((4, 6), 5, 3, np.float32),
    ):
        ids = rng.integers(0, V, size=shape)
        ids.reshape(-1)[1] = ids.reshape(-1)[0]  # at least one id repeats
        dout = rng.standard_normal((*shape, D)).astype(dtype)
        cases.append({"dout": dout, "ids": ids, "vocab_size": V})
    return cases


def expected_embedding(dout, ids, vocab_size):
    _, cache = F.embedding_forward(ids, np.zeros((int(vocab_size), dout.shape[-1]), dout.dtype))
    dtable = F.embedding_backward(dout, cache)
    return {"dtable": dtable, "dout_after_call": dout, "ids_after_call": ids}


def repeats_lost(got, expected, case):
    counts = np.bincount(case["ids"].reshape(-1), minlength=int(case["vocab_size"]))
    once, want = counts <= 1, expected["dtable"]
    dtable = np.asarray(got["dtable"])
    if dtable.shape == want.shape and not close(dtable, want) and close(dtable[once], want[once]):
        return (
            "dtable is wrong only in the rows of ids that appear more than once (expected the "
            "sum of all their upstream gradients): dtable[ids] += dout keeps one write per "
            "row; use np.add.at(dtable, ids, dout), which adds repeated ids."
        )
    return None


# --- Exercise 2: rnn_step_backward -------------------------------------------------------

RNN_STEP_DRIVER = """
def _rnn_step_untouched(dh, x, h_prev, wx, wh, h):
    dh_in, cache = dh.copy(), (x.copy(), h_prev.copy(), wx.copy(), wh.copy(), h.copy())
    dx, dh_prev, dwx, dwh, db = rnn_step_backward(dh_in, cache)
    return {"dx": dx, "dh_prev": dh_prev, "dwx": dwx, "dwh": dwh, "db": db,
            "dh_after_call": dh_in, "x_after_call": cache[0], "h_after_call": cache[4]}
"""

STEP_NAMES = ("dx", "dh_prev", "dwx", "dwh", "db")


def rnn_step_cases(rng):
    cases = []
    for N, D, H, dtype in ((2, 3, 4, np.float64), (1, 5, 2, np.float64), (4, 1, 6, np.float32)):
        x, h_prev = rng.standard_normal((N, D)), rng.standard_normal((N, H))
        wx, wh = rng.standard_normal((D, H)), rng.standard_normal((H, H)) / np.sqrt(H)
        h, _ = F.rnn_step_forward(x, h_prev, wx, wh, rng.standard_normal(H))
        arrays = {"dh": rng.standard_normal((N, H)), "x": x, "h_prev": h_prev, "wx": wx}
        arrays |= {"wh": wh, "h": h}
        cases.append({k: v.astype(dtype) for k, v in arrays.items()})
    return cases


def expected_rnn_step(dh, x, h_prev, wx, wh, h):
    grads = F.rnn_step_backward(dh, (x, h_prev, wx, wh, h))
    return dict(zip(STEP_NAMES, grads, strict=True)) | {
        "dh_after_call": dh,
        "x_after_call": x,
        "h_after_call": h,
    }


# --- Exercise 3: bptt --------------------------------------------------------------------

BPTT_DRIVER = """
def _bptt_untouched(dhs, x, h0, wx, wh, hs):
    dhs_in, cache = dhs.copy(), (x.copy(), h0.copy(), wx.copy(), wh.copy(), hs.copy())
    dx, dh0, dwx, dwh, db = bptt(dhs_in, cache)
    return {"dx": dx, "dh0": dh0, "dwx": dwx, "dwh": dwh, "db": db,
            "dhs_after_call": dhs_in, "x_after_call": cache[0], "hs_after_call": cache[4]}
"""

BPTT_NAMES = ("dx", "dh0", "dwx", "dwh", "db")


def bptt_cases(rng):
    cases = []
    for N, T, D, H, dtype in (
        (2, 5, 3, 4, np.float64),
        (1, 8, 2, 3, np.float64),
        (3, 1, 2, 2, np.float64),  # one step: nothing comes back from the future
        (2, 6, 1, 5, np.float32),
    ):
        x, h0 = rng.standard_normal((N, T, D)), rng.standard_normal((N, H))
        wx, wh = rng.standard_normal((D, H)), rng.standard_normal((H, H)) / np.sqrt(H)
        hs, _ = F.rnn_forward(x, h0, wx, wh, rng.standard_normal(H))
        arrays = {"dhs": rng.standard_normal((N, T, H)), "x": x, "h0": h0, "wx": wx, "wh": wh}
        cases.append({k: v.astype(dtype) for k, v in (arrays | {"hs": hs}).items()})
    return cases


def expected_bptt(dhs, x, h0, wx, wh, hs):
    grads = F.rnn_backward(dhs, (x, h0, wx, wh, hs))
    return dict(zip(BPTT_NAMES, grads, strict=True)) | {
        "dhs_after_call": dhs,
        "x_after_call": x,
        "hs_after_call": hs,
    }


def future_missing(got, expected, case):
    x, h0, wx, wh, hs, dhs = (case[k] for k in ("x", "h0", "wx", "wh", "hs", "dhs"))
    if x.shape[1] < 2:
        return None
    alone = [
        F.rnn_step_backward(dhs[:, t], (x[:, t], h0 if t == 0 else hs[:, t - 1], wx, wh, hs[:, t]))
        for t in range(x.shape[1])
    ]
    if close(got["dx"], np.stack([a[0] for a in alone], axis=1)):
        return (
            "dx is what each step gives from its own loss alone (expected also the gradient "
            "from the later steps): the gradient from the future is missing; call the step "
            "backward with dhs[:, t] + dnext, dnext being the dh_prev of step t + 1."
        )
    return None


# --- Exercise 4: clip_grad_norm ----------------------------------------------------------

CLIP_DRIVER = """
def _clip_untouched(g0, g1, g2, max_norm):
    grads = [g0.copy(), g1.copy(), g2.copy()]
    clipped, total_norm = clip_grad_norm(grads, float(max_norm))
    assert len(clipped) == 3, f"clipped must hold one array per gradient, got {len(clipped)}."
    return {"clipped_0": clipped[0], "clipped_1": clipped[1], "clipped_2": clipped[2],
            "total_norm": np.asarray(float(total_norm)), "g0_after_call": grads[0],
            "g1_after_call": grads[1], "g2_after_call": grads[2]}
"""


def clip_cases(rng):
    """Norms above max_norm (clipped, one case of huge gradients) and below it (unchanged)."""
    cases = []
    for shapes, max_norm, scale in (
        (((3, 4), (4,), (1,)), 1.0, 1.0),
        (((2, 2), (5,), (2, 3)), 100.0, 1.0),
        (((6,), (1, 3), (2,)), 0.5, 1e3),
        (((4, 2), (3,), (3, 3)), 2.0, 3.0),
    ):
        grads = [scale * rng.standard_normal(shape) for shape in shapes]
        cases.append({f"g{k}": g for k, g in enumerate(grads)} | {"max_norm": max_norm})
    return cases


def expected_clip(g0, g1, g2, max_norm):
    clipped, total_norm = F.clip_grad_norm([g0, g1, g2], float(max_norm))
    return {f"clipped_{k}": c for k, c in enumerate(clipped)} | {
        "total_norm": np.asarray(total_norm),
        "g0_after_call": g0,
        "g1_after_call": g1,
        "g2_after_call": g2,
    }


def clipped_one_by_one(got, expected, case):
    grads, max_norm = [case[f"g{k}"] for k in range(3)], float(case["max_norm"])
    each = [g * min(1.0, max_norm / np.linalg.norm(g)) for g in grads]
    same_as_each = all(close(got[f"clipped_{k}"], e) for k, e in enumerate(each))
    right = all(close(got[f"clipped_{k}"], expected[f"clipped_{k}"]) for k in range(3))
    if same_as_each and not right:
        return (
            "each gradient was clipped by its own norm (expected one factor, max_norm / "
            "total_norm, for all of them): compute the global norm of all the gradients "
            "together and scale every one by the same factor."
        )
    return None


# --- Exercise 5: lstm_step_backward ------------------------------------------------------

LSTM_DRIVER = """
def _lstm_untouched(dh, dc, x, h_prev, c_prev, wx, wh, i, f, g, o, tanh_c):
    dh_in, dc_in = dh.copy(), dc.copy()
    cache = (x.copy(), h_prev.copy(), c_prev.copy(), wx.copy(), wh.copy(),
             (i.copy(), f.copy(), g.copy(), o.copy()), tanh_c.copy())
    dx, dh_prev, dc_prev, dwx, dwh, db = lstm_step_backward(dh_in, dc_in, cache)
    return {"dx": dx, "dh_prev": dh_prev, "dc_prev": dc_prev, "dwx": dwx, "dwh": dwh,
            "db": db, "dh_after_call": dh_in, "dc_after_call": dc_in,
            "c_prev_after_call": cache[2]}
"""

LSTM_NAMES = ("dx", "dh_prev", "dc_prev", "dwx", "dwh", "db")
GATES = "ifgo"


def lstm_cases(rng):
    cases = []
    for N, D, H, dtype in ((2, 3, 4, np.float64), (1, 5, 3, np.float64), (3, 2, 5, np.float32)):
        x, h_prev, c_prev = (rng.standard_normal((N, n)) for n in (D, H, H))
        wx = rng.standard_normal((D, 4 * H)) / np.sqrt(D)
        wh = rng.standard_normal((H, 4 * H)) / np.sqrt(H)
        _, _, cache = F.lstm_step_forward(x, h_prev, c_prev, wx, wh, rng.standard_normal(4 * H))
        (i, f, g, o), tanh_c = cache[5], cache[6]
        arrays = {"dh": rng.standard_normal((N, H)), "dc": rng.standard_normal((N, H))}
        arrays |= {"x": x, "h_prev": h_prev, "c_prev": c_prev, "wx": wx, "wh": wh}
        arrays |= {"i": i, "f": f, "g": g, "o": o, "tanh_c": tanh_c}
        cases.append({k: v.astype(dtype) for k, v in arrays.items()})
    return cases


def lstm_reference(dh, dc, x, h_prev, c_prev, wx, wh, i, f, g, o, tanh_c):
    return F.lstm_step_backward(dh, dc, (x, h_prev, c_prev, wx, wh, (i, f, g, o), tanh_c))


def expected_lstm(**case):
    grads = lstm_reference(**case)
    return dict(zip(LSTM_NAMES, grads, strict=True)) | {
        "dh_after_call": case["dh"],
        "dc_after_call": case["dc"],
        "c_prev_after_call": case["c_prev"],
    }


def gates_swapped(got, expected, case):
    want = expected["db"]
    if close(got["db"], want):
        return None
    blocks = np.split(want, 4)
    for order in ("ifog", "fiog", "igfo", "oigf", "giof", "ogfi", "gifo", "fgio"):
        if close(got["db"], np.concatenate([blocks[GATES.index(k)] for k in order])):
            return (
                f"db holds the right numbers in the wrong blocks (expected the gate order "
                f"i, f, g, o, got {', '.join(order)}): concatenate [da_i, da_f, da_g, da_o] "
                f"in that order, the order of the forward's a."
            )
    return None


def cell_path_missing(got, expected, case):
    without_dc = lstm_reference(**(case | {"dc": np.zeros_like(case["dc"])}))
    if close(got["dx"], without_dc[0]) and not close(got["dx"], expected["dx"]):
        return (
            "dx is what dc = 0 would give (expected the cell path too): the gradient dc "
            "reaching c_t is missing; start from dc_t = dc + dh * o * (1 - tanh(c_t)**2)."
        )
    return None


EXERCISES = [
    Exercise(
        grade_id="check_embedding_backward",
        forbid=BY_HAND,
        solution=("embedding_backward",),
        driver=EMBEDDING_DRIVER,
        call="_embedding_untouched(dout, ids, vocab_size)",
        expected=expected_embedding,
        inputs=embedding_cases,
        compare=lambda got, want, case: compare_untouched(got, want, case, (repeats_lost,)),
        hidden=(
            "dlcourse.functional:embedding_backward",
            "dlcourse.functional.embedding:embedding_backward",
        ),
        equivalents=("dlcourse.nn.layers.embedding:Embedding.backward",),
    ),
    Exercise(
        grade_id="check_rnn_step_backward",
        forbid=BY_HAND,
        solution=("rnn_step_backward",),
        driver=RNN_STEP_DRIVER,
        call="_rnn_step_untouched(dh, x, h_prev, wx, wh, h)",
        expected=expected_rnn_step,
        inputs=rnn_step_cases,
        compare=compare_untouched,
        hidden=RNN_HIDDEN,
        equivalents=(
            *RECURRENT_BACKWARD,
            "dlcourse.functional:tanh_backward",
            "dlcourse.functional:dense_backward",
        ),
    ),
    Exercise(
        grade_id="check_bptt",
        forbid=BY_HAND,
        solution=("bptt",),
        driver=BPTT_DRIVER,
        call="_bptt_untouched(dhs, x, h0, wx, wh, hs)",
        expected=expected_bptt,
        inputs=bptt_cases,
        compare=lambda got, want, case: compare_untouched(got, want, case, (future_missing,)),
        hidden=(
            "dlcourse.functional:rnn_backward",
            "dlcourse.functional.recurrent:rnn_backward",
        ),
        # the course's step backward stands in for the student's: one mistake, one penalty
        provided={"rnn_step_backward": "dlcourse.functional.recurrent:rnn_step_backward"},
    ),
    Exercise(
        grade_id="check_clip_grad_norm",
        forbid=BY_HAND,
        solution=("clip_grad_norm",),
        driver=CLIP_DRIVER,
        call="_clip_untouched(g0, g1, g2, max_norm)",
        expected=expected_clip,
        inputs=clip_cases,
        compare=lambda got, want, case: compare_untouched(got, want, case, (clipped_one_by_one,)),
        hidden=(
            "dlcourse.functional:clip_grad_norm",
            "dlcourse.functional.clip:clip_grad_norm",
        ),
    ),
    Exercise(
        grade_id="check_lstm_step_backward",
        forbid=BY_HAND,
        solution=("lstm_step_backward",),
        driver=LSTM_DRIVER,
        call="_lstm_untouched(dh, dc, x, h_prev, c_prev, wx, wh, i, f, g, o, tanh_c)",
        expected=expected_lstm,
        inputs=lstm_cases,
        compare=lambda got, want, case: compare_untouched(
            got, want, case, (gates_swapped, cell_path_missing)
        ),
        hidden=(
            "dlcourse.functional:lstm_step_backward",
            "dlcourse.functional:lstm_backward",
            "dlcourse.functional.lstm:lstm_step_backward",
            "dlcourse.functional.lstm:lstm_backward",
        ),
        equivalents=RECURRENT_BACKWARD,
    ),
]
