"""Helpers the recurrent layers share: input checks, a stable sigmoid, time-step bookkeeping.

Shapes, in the names the error messages use: x (N, T, D) is a batch of N
sequences of T steps of D features; h (N, H) is the hidden state; a cell with
G gates has wx (D, G*H), wh (H, G*H) and a bias of G*H numbers per row.
"""

from dlcourse.functional._common import (
    namespace,
    require_float,
    require_same_dtype,
    require_shape,
)


def check_recurrent(x, states, wx, wh, b, gates, bias_rows=None, sequence=True):
    """Check the arguments of a recurrent forward; returns the dims {N, T?, D, H, ...}.

    states: ``[(name, array)]`` for h0 (and c0), each (N, H); gates: how many
    blocks of H columns wx and wh hold (1 for a plain RNN, 4 for an LSTM);
    bias_rows: None for b (G*H,), or the number of rows of b (2 for Keras' GRU).
    """
    dims = require_shape("x", x, ("N", "T", "D") if sequence else ("N", "D"))
    if sequence and dims["T"] == 0:
        raise ValueError(f"x: expected at least one time step, got shape {tuple(x.shape)}.")
    for name, state in states:
        require_shape(name, state, ("N", "H"), dims)
    # "4H" names the width of the stacked gates, so a message says "(D=3, 4H=8)"
    width = "H" if gates == 1 else f"{gates}H"
    dims[width] = gates * dims["H"]
    require_shape("wx", wx, ("D", width), dims)
    require_shape("wh", wh, ("H", width), dims)
    require_shape("b", b, (width,) if bias_rows is None else (bias_rows, width), dims)
    arrays = [("x", x), *states, ("wx", wx), ("wh", wh), ("b", b)]
    for name, arr in arrays:
        require_float(name, arr)
    for name, arr in arrays[1:]:
        require_same_dtype(name, arr, "x", x)
    return dims


def sigmoid(xp, a):
    """1 / (1 + exp(-a)) with no overflow: exp is only ever taken of -|a| <= 0."""
    e = xp.exp(-xp.where(a >= 0, a, -a))
    return xp.where(a >= 0, 1 / (1 + e), e / (1 + e))


def previous_states(xp, h0, hs):
    """(N, T, H): the state each step started from, h0 then every state but the last."""
    return xp.concat([h0[:, None, :], hs[:, :-1, :]], axis=1)


def sum_over_batch_and_time(xp, a, b):
    """sum over n and t of a[n, t]^T b[n, t]: a weight's gradient from every step at once.

    The same weight is used at every step, so its gradient is the sum of each
    step's share; one (D, N*T) @ (N*T, H) product computes them all.
    """
    rows = a.shape[0] * a.shape[1]
    return xp.reshape(a, (rows, a.shape[2])).mT @ xp.reshape(b, (rows, b.shape[2]))


def check_dout(name, dout, shape):
    require_shape(name, dout, tuple(shape))
    return namespace(dout)
