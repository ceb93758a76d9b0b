"""The LSTM layer, one step and a whole sequence, gates in PyTorch's and Keras' order.

One step computes four gates from a = x_t @ wx + h_{t-1} @ wh + b, split into
four blocks of H columns in the order i, f, g, o:

    i = sigmoid(a_i)   how much of the candidate to write
    f = sigmoid(a_f)   how much of the old cell to keep
    g = tanh(a_g)      the candidate
    o = sigmoid(a_o)   how much of the cell to show
    c_t = f * c_{t-1} + i * g,     h_t = o * tanh(c_t)

The same order as torch.nn.LSTM (whose weight_ih is wx transposed, and whose
two biases add up to b) and keras.layers.LSTM, so weights copy across.

The cell state is the LSTM's point: dL/dc_{t-1} = dL/dc_t * f, a product of
gates rather than of weight matrices, so a gradient can cross many steps
without vanishing when f stays near 1.
"""

from dlcourse.functional._common import namespace
from dlcourse.functional._sequence import (
    check_dout,
    check_recurrent,
    previous_states,
    sigmoid,
    sum_over_batch_and_time,
)

__all__ = ["lstm_step_forward", "lstm_step_backward", "lstm_forward", "lstm_backward"]


def _cell(xp, a, c_prev):
    """From the pre-activations a (..., 4H): gates (i, f, g, o), the new c and tanh(c)."""
    H = a.shape[-1] // 4
    i = sigmoid(xp, a[..., :H])
    f = sigmoid(xp, a[..., H : 2 * H])
    g = xp.tanh(a[..., 2 * H : 3 * H])
    o = sigmoid(xp, a[..., 3 * H :])
    c = f * c_prev + i * g
    return (i, f, g, o), c, xp.tanh(c)


def _cell_backward(xp, dh, dc, gates, c_prev, tc):
    """dL/da (N, 4H) and dL/dc_prev from the gradients reaching h_t and c_t."""
    i, f, g, o = gates
    dc = dc + dh * o * (1 - tc * tc)  # c reaches the loss directly and through h = o*tanh(c)
    da = xp.concat(
        [
            dc * g * i * (1 - i),  # sigmoid' = s (1 - s)
            dc * c_prev * f * (1 - f),
            dc * i * (1 - g * g),  # tanh' = 1 - tanh^2
            dh * tc * o * (1 - o),
        ],
        axis=-1,
    )
    return da, dc * f


def lstm_step_forward(x, h_prev, c_prev, wx, wh, b):
    """One step. x: (N, D), h_prev and c_prev: (N, H), wx: (D, 4H), wh: (H, 4H), b: (4H,).

    Returns ``(h, c, cache)``, both states (N, H).
    """
    check_recurrent(x, [("h_prev", h_prev), ("c_prev", c_prev)], wx, wh, b, 4, sequence=False)
    xp = namespace(x, h_prev, c_prev, wx, wh, b)
    gates, c, tc = _cell(xp, x @ wx + h_prev @ wh + b, c_prev)
    h = gates[3] * tc
    return h, c, (x, h_prev, c_prev, wx, wh, gates, tc)


def lstm_step_backward(dh, dc, cache):
    """Gradients of one step, ``(dx, dh_prev, dc_prev, dwx, dwh, db)``.

    dh, dc: (N, H), the gradients reaching the step's two outputs.
    """
    x, h_prev, c_prev, wx, wh, gates, tc = cache
    xp = check_dout("dh", dh, tc.shape)
    check_dout("dc", dc, tc.shape)
    da, dc_prev = _cell_backward(xp, dh, dc, gates, c_prev, tc)
    return da @ wx.mT, da @ wh.mT, dc_prev, x.mT @ da, h_prev.mT @ da, xp.sum(da, axis=0)


def lstm_forward(x, h0, c0, wx, wh, b):
    """A whole sequence. x: (N, T, D), h0 and c0: (N, H) -> hs (N, T, H).

    Only the hidden states are returned, like torch.nn.LSTM's first output;
    the cell states stay in the cache.
    """
    dims = check_recurrent(x, [("h0", h0), ("c0", c0)], wx, wh, b, gates=4)
    xp = namespace(x, h0, c0, wx, wh, b)
    xw = x @ wx + b  # every step's input term in one product
    h, c = h0, c0
    steps = []
    for t in range(dims["T"]):
        gates, c, tc = _cell(xp, xw[:, t, :] + h @ wh, c)
        h = gates[3] * tc
        steps.append((gates, c, tc, h))
    # Stacked along time, each (N, T, H): the cache holds arrays, not T tuples.
    stacked = [xp.stack([s[0][j] for s in steps], axis=1) for j in range(4)]
    cs, tcs, hs = (xp.stack([s[j] for s in steps], axis=1) for j in (1, 2, 3))
    cache = {"x": x, "h0": h0, "c0": c0, "wx": wx, "wh": wh}
    return hs, {**cache, "gates": stacked, "cs": cs, "tcs": tcs, "hs": hs}


def lstm_backward(dhs, cache):
    """Backpropagation through time: ``(dx, dh0, dc0, dwx, dwh, db)`` from dhs (N, T, H)."""
    hs, cs, wh = cache["hs"], cache["cs"], cache["wh"]
    xp = check_dout("dhs", dhs, hs.shape)
    c_prevs = previous_states(xp, cache["c0"], cs)
    dh, dc = xp.zeros_like(cache["h0"]), xp.zeros_like(cache["c0"])
    das = [None] * hs.shape[1]
    for t in reversed(range(hs.shape[1])):
        gates = tuple(gate[:, t, :] for gate in cache["gates"])
        das[t], dc = _cell_backward(
            xp, dhs[:, t, :] + dh, dc, gates, c_prevs[:, t, :], cache["tcs"][:, t, :]
        )
        dh = das[t] @ wh.mT
    da = xp.stack(das, axis=1)
    dx = da @ cache["wx"].mT
    dwx = sum_over_batch_and_time(xp, cache["x"], da)
    dwh = sum_over_batch_and_time(xp, previous_states(xp, cache["h0"], hs), da)
    return dx, dh, dc, dwx, dwh, xp.sum(da, axis=(0, 1))
