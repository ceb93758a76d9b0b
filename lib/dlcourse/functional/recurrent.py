"""The vanilla (Elman) recurrent layer with tanh, one step and a whole sequence.

One step mixes the input with the previous hidden state:

    h_t = tanh(x_t @ wx + h_{t-1} @ wh + b)

The sequence version runs that step T times with the same weights.
Backpropagation through time walks the steps in reverse: the gradient that
reaches h_t comes from the loss at step t (dhs[:, t]) *and* from step t + 1,
which used h_t as its h_prev. Only that chain is sequential; the parts that
do not depend on the previous step (the input projection, the weight and
bias sums) are computed for all steps at once.
"""

from dlcourse.functional._common import namespace
from dlcourse.functional._sequence import (
    check_dout,
    check_recurrent,
    previous_states,
    sum_over_batch_and_time,
)

__all__ = ["rnn_step_forward", "rnn_step_backward", "rnn_forward", "rnn_backward"]


def _cell_backward(dh, h, wh):
    """From dL/dh_t to dL/da_t (a the pre-activation) and the share that goes to h_{t-1}."""
    da = dh * (1 - h * h)  # tanh' = 1 - tanh^2, written with the output we kept
    return da, da @ wh.mT


def rnn_step_forward(x, h_prev, wx, wh, b):
    """One step. x: (N, D), h_prev: (N, H), wx: (D, H), wh: (H, H), b: (H,) -> h (N, H)."""
    check_recurrent(x, [("h_prev", h_prev)], wx, wh, b, gates=1, sequence=False)
    xp = namespace(x, h_prev, wx, wh, b)
    h = xp.tanh(x @ wx + h_prev @ wh + b)
    return h, (x, h_prev, wx, wh, h)


def rnn_step_backward(dh, cache):
    """Gradients of one step, ``(dx, dh_prev, dwx, dwh, db)``, given dh = dL/dh (N, H)."""
    x, h_prev, wx, wh, h = cache
    xp = check_dout("dh", dh, h.shape)
    da, dh_prev = _cell_backward(dh, h, wh)
    return da @ wx.mT, dh_prev, x.mT @ da, h_prev.mT @ da, xp.sum(da, axis=0)


def rnn_forward(x, h0, wx, wh, b):
    """A whole sequence. x: (N, T, D), h0: (N, H) -> hs (N, T, H), every step's state."""
    dims = check_recurrent(x, [("h0", h0)], wx, wh, b, gates=1)
    xp = namespace(x, h0, wx, wh, b)
    xw = x @ wx + b  # every step's input term in one product: it needs no earlier state
    h, states = h0, []
    for t in range(dims["T"]):
        h = xp.tanh(xw[:, t, :] + h @ wh)
        states.append(h)
    hs = xp.stack(states, axis=1)
    return hs, (x, h0, wx, wh, hs)


def rnn_backward(dhs, cache):
    """Backpropagation through time: ``(dx, dh0, dwx, dwh, db)`` from dhs = dL/dhs (N, T, H)."""
    x, h0, wx, wh, hs = cache
    xp = check_dout("dhs", dhs, hs.shape)
    dnext = xp.zeros_like(h0)  # nothing comes back from after the last step
    das = [None] * hs.shape[1]
    for t in reversed(range(hs.shape[1])):
        das[t], dnext = _cell_backward(dhs[:, t, :] + dnext, hs[:, t, :], wh)
    da = xp.stack(das, axis=1)
    dx = da @ wx.mT
    dwx = sum_over_batch_and_time(xp, x, da)
    dwh = sum_over_batch_and_time(xp, previous_states(xp, h0, hs), da)
    db = xp.sum(da, axis=(0, 1))
    return dx, dnext, dwx, dwh, db
