"""The GRU layer in Keras' default formulation (reset_after=True), one step and a sequence.

Two products per step, each with its own bias row, split into blocks of H
columns in Keras' order z, r, h:

    xa = x_t @ wx + b[0],          ha = h_{t-1} @ wh + b[1]
    z  = sigmoid(xa_z + ha_z)      the update gate: how much of h_{t-1} to keep
    r  = sigmoid(xa_r + ha_r)      the reset gate
    hh = tanh(xa_h + r * ha_h)     the candidate; r acts *after* the product
    h_t = z * h_{t-1} + (1 - z) * hh

keras.layers.GRU's kernel, recurrent_kernel and bias (2, 3H) are wx, wh and b
as they are. torch.nn.GRU computes the same thing with its blocks in the order
r, z, n (n is hh) and its matrices transposed.
"""

from dlcourse.functional._common import namespace
from dlcourse.functional._sequence import (
    check_dout,
    check_recurrent,
    previous_states,
    sigmoid,
    sum_over_batch_and_time,
)

__all__ = ["gru_step_forward", "gru_step_backward", "gru_forward", "gru_backward"]


def _cell(xp, xa, ha, h_prev):
    """One step from the two products (..., 3H); returns h and what the backward needs."""
    H = xa.shape[-1] // 3
    z = sigmoid(xp, xa[..., :H] + ha[..., :H])
    r = sigmoid(xp, xa[..., H : 2 * H] + ha[..., H : 2 * H])
    ha_h = ha[..., 2 * H :]
    hh = xp.tanh(xa[..., 2 * H :] + r * ha_h)
    h = z * h_prev + (1 - z) * hh
    return h, (z, r, hh, ha_h)


def _cell_backward(xp, dh, h_prev, saved, wh):
    """dL/dxa and dL/dha (N, 3H), and dL/dh_prev, from dh = dL/dh_t."""
    z, r, hh, ha_h = saved
    dcand = dh * (1 - z) * (1 - hh * hh)  # through h_t's (1 - z) * hh, then tanh
    dz = dh * (h_prev - hh) * z * (1 - z)
    dr = dcand * ha_h * r * (1 - r)
    dxa = xp.concat([dz, dr, dcand], axis=-1)
    dha = xp.concat([dz, dr, dcand * r], axis=-1)  # r scaled ha_h, so it scales its gradient
    # h_prev reaches h_t twice: directly through z * h_prev, and through the product with wh
    return dxa, dha, dh * z + dha @ wh.mT


def _bias_gradient(xp, dxa, dha, axes):
    return xp.stack([xp.sum(dxa, axis=axes), xp.sum(dha, axis=axes)])


def gru_step_forward(x, h_prev, wx, wh, b):
    """One step. x: (N, D), h_prev: (N, H), wx: (D, 3H), wh: (H, 3H), b: (2, 3H) -> h (N, H)."""
    check_recurrent(x, [("h_prev", h_prev)], wx, wh, b, 3, bias_rows=2, sequence=False)
    xp = namespace(x, h_prev, wx, wh, b)
    h, saved = _cell(xp, x @ wx + b[0], h_prev @ wh + b[1], h_prev)
    return h, (x, h_prev, wx, wh, saved)


def gru_step_backward(dh, cache):
    """Gradients of one step, ``(dx, dh_prev, dwx, dwh, db)``, given dh = dL/dh (N, H)."""
    x, h_prev, wx, wh, saved = cache
    xp = check_dout("dh", dh, h_prev.shape)
    dxa, dha, dh_prev = _cell_backward(xp, dh, h_prev, saved, wh)
    return dxa @ wx.mT, dh_prev, x.mT @ dxa, h_prev.mT @ dha, _bias_gradient(xp, dxa, dha, 0)


def gru_forward(x, h0, wx, wh, b):
    """A whole sequence. x: (N, T, D), h0: (N, H) -> hs (N, T, H), every step's state."""
    dims = check_recurrent(x, [("h0", h0)], wx, wh, b, gates=3, bias_rows=2)
    xp = namespace(x, h0, wx, wh, b)
    xa = x @ wx + b[0]  # every step's input product at once: it needs no earlier state
    h, states, saved = h0, [], []
    for t in range(dims["T"]):
        h, kept = _cell(xp, xa[:, t, :], h @ wh + b[1], h)
        states.append(h)
        saved.append(kept)
    hs = xp.stack(states, axis=1)
    # each of z, r, hh, ha_h stacked along time to (N, T, H)
    stacked = tuple(xp.stack([s[j] for s in saved], axis=1) for j in range(4))
    return hs, {"x": x, "h0": h0, "wx": wx, "wh": wh, "hs": hs, "saved": stacked}


def gru_backward(dhs, cache):
    """Backpropagation through time: ``(dx, dh0, dwx, dwh, db)`` from dhs = dL/dhs (N, T, H)."""
    hs, h0, wh = cache["hs"], cache["h0"], cache["wh"]
    xp = check_dout("dhs", dhs, hs.shape)
    h_prevs = previous_states(xp, h0, hs)
    dnext = xp.zeros_like(h0)
    dxas, dhas = [None] * hs.shape[1], [None] * hs.shape[1]
    for t in reversed(range(hs.shape[1])):
        saved = tuple(s[:, t, :] for s in cache["saved"])
        dxas[t], dhas[t], dnext = _cell_backward(
            xp, dhs[:, t, :] + dnext, h_prevs[:, t, :], saved, wh
        )
    dxa, dha = xp.stack(dxas, axis=1), xp.stack(dhas, axis=1)
    dx = dxa @ cache["wx"].mT
    dwx = sum_over_batch_and_time(xp, cache["x"], dxa)
    dwh = sum_over_batch_and_time(xp, h_prevs, dha)
    return dx, dnext, dwx, dwh, _bias_gradient(xp, dxa, dha, (0, 1))
