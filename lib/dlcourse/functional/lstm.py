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

from dlcourse.functional._common import device, namespace
from dlcourse.functional._sequence import check_dout, check_recurrent

__all__ = ["lstm_step_forward", "lstm_step_backward", "lstm_forward", "lstm_backward"]


def _gate_scale(xp, a):
    """(4H,) scale and offset: sigmoid(z) = tanh(z/2)/2 + 1/2 for i, f, o; tanh for g.

    sigmoid(z) = (1 + tanh(z/2)) / 2 never overflows, so all four gates come
    from one tanh over the whole of a (N, 4H), scaled by 1/2 except on g, then
    one multiply-add: one pass over the gates instead of four.
    """
    H = a.shape[-1] // 4
    scale = xp.full((4 * H,), 0.5, dtype=a.dtype, device=device(a))
    scale[2 * H : 3 * H] = 1.0
    offset = xp.full((4 * H,), 0.5, dtype=a.dtype, device=device(a))
    offset[2 * H : 3 * H] = 0.0
    return scale, offset


def _activate(xp, a, scale, offset):
    """The four gates side by side (..., 4H)."""
    return xp.tanh(a * scale) * scale + offset


def _cell(xp, a, c_prev):
    """From the pre-activations a (..., 4H): gates (i, f, g, o), the new c and tanh(c)."""
    H = a.shape[-1] // 4
    acts = _activate(xp, a, *_gate_scale(xp, a))
    i, f, g, o = (acts[..., k * H : (k + 1) * H] for k in range(4))
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
    T, N, H = dims["T"], dims["N"], dims["H"]
    # Time first, so that each step reads one contiguous block: every step's
    # input term in one product, then the states as they come. No array is
    # written in place, so that torch.autograd can differentiate this too.
    xt = xp.reshape(xp.permute_dims(x, (1, 0, 2)), (T * N, dims["D"]))
    xw = xp.reshape(xt @ wx + b, (T, N, 4 * H))
    scale, offset = _gate_scale(xp, xw)
    h, c = h0, c0
    acts, cs, tcs, hs = [], [c0], [], [h0]  # cs[t], hs[t]: the states step t starts from
    for t in range(T):
        gates = _activate(xp, xw[t] + h @ wh, scale, offset)
        c = gates[:, H : 2 * H] * c + gates[:, :H] * gates[:, 2 * H : 3 * H]
        tc = xp.tanh(c)
        h = gates[:, 3 * H :] * tc
        acts.append(gates)
        cs.append(c)
        tcs.append(tc)
        hs.append(h)
    acts, cs, tcs, hs = (xp.stack(a, axis=0) for a in (acts, cs, tcs, hs))
    out = xp.permute_dims(hs[1:], (1, 0, 2))
    cache = {"xt": xt, "h0": h0, "c0": c0, "wx": wx, "wh": wh, "acts": acts}
    return out, {**cache, "cs": cs, "tcs": tcs, "hs_by_time": hs, "hs": out, "c_last": cs[T]}


def lstm_backward(dhs, cache, dc=None):
    """Backpropagation through time: ``(dx, dh0, dc0, dwx, dwh, db)`` from dhs (N, T, H).

    ``dc``: the gradient reaching the last cell state (N, H), when the cell
    state itself is an output (a layer's ``return_state``); None: zero.
    """
    hs, cs, wh, acts, tcs = cache["hs"], cache["cs"], cache["wh"], cache["acts"], cache["tcs"]
    xp = check_dout("dhs", dhs, hs.shape)
    N, T, H = hs.shape
    dh = xp.zeros_like(cache["h0"])
    if dc is None:
        dc = xp.zeros_like(cache["c0"])
    else:
        check_dout("dc", dc, tuple(cache["c0"].shape))
    da = xp.empty_like(acts)  # dL/da of every step, time first like acts
    for t in reversed(range(T)):
        i, f, g, o = (acts[t, :, k * H : (k + 1) * H] for k in range(4))
        dh = dhs[:, t, :] + dh
        # c reaches the loss directly and through h = o * tanh(c)
        dc = dc + dh * o * (1 - tcs[t] * tcs[t])
        da[t, :, :H] = dc * g * i * (1 - i)  # sigmoid' = s (1 - s)
        da[t, :, H : 2 * H] = dc * cs[t] * f * (1 - f)
        da[t, :, 2 * H : 3 * H] = dc * i * (1 - g * g)  # tanh' = 1 - tanh^2
        da[t, :, 3 * H :] = dh * tcs[t] * o * (1 - o)
        dc = dc * f
        dh = da[t] @ wh.mT
    rows = xp.reshape(da, (T * N, 4 * H))
    dx = xp.permute_dims(xp.reshape(rows @ cache["wx"].mT, (T, N, -1)), (1, 0, 2))
    # the same weights at every step: each gradient sums every step's share at once
    dwx = cache["xt"].mT @ rows
    dwh = xp.reshape(cache["hs_by_time"][:T], (T * N, H)).mT @ rows
    return dx, dh, dc, dwx, dwh, xp.sum(rows, axis=0)
