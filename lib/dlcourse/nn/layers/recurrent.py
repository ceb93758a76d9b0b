"""Recurrent layers: ``SimpleRNN``, ``LSTM`` and ``GRU``, in Keras's formulation.

Input (batch, steps, features), channels last. Each layer computes every
step's input term at once (one product ``x @ kernel + bias``), then runs the
recurrence with ``ops.scan``: a Python loop on eager backends, the library's
own loop (``jax.lax.scan``, ``tf.scan``, ``pytensor.scan``) on compiled ones.
A backend whose library has the whole recurrence as one routine runs that
instead (``ops.fused_recurrence``: ``torch.lstm`` on the torch backend).
The ``manual`` backend runs the hand-written passes of
``dlcourse.functional`` (``rnn``, ``lstm``, ``gru``) instead, backpropagation
through time included.

Outputs, as in Keras: the last state (batch, units), or every state
(batch, steps, units) with ``return_sequences=True``; with
``return_state=True`` a list ``[output, h]`` (LSTM: ``[output, h, c]``), in a
Functional graph too (``seq, h, c = LSTM(8, return_sequences=True,
return_state=True)(x)``); its ``backward`` then gets a list of gradients, one
per output. ``initial_state=[h, c]`` (SimpleRNN, GRU: ``[h]``) starts the
recurrence from given states instead of zeros, e.g. those of another layer (an
encoder's for a decoder); the gradient flows back into them. The layer's
inputs are then the list ``[x, *states]``, and its ``backward`` returns
``[dx, *dstates]``.

Weights, in this order (the shapes and layouts of Keras, so they copy across):
``kernel`` (features, G*units), ``recurrent_kernel`` (units, G*units) and
``bias`` (G*units,), G = 1, 4 (gates i, f, g, o) or 3 (GRU gates z, r, h;
its bias is (2, 3*units): the input row and the recurrent row, Keras's
``reset_after=True``).
"""

import numpy as np

from dlcourse import functional as F
from dlcourse import ops
from dlcourse.functional._common import device, namespace
from dlcourse.nn.layers._checks import positive_int
from dlcourse.nn.layers.base import Layer

__all__ = ["GRU", "LSTM", "SimpleRNN"]


def _forget_bias_ones(units):
    """LSTM bias: zeros, but ones for the forget gate (Keras's unit_forget_bias=True),
    so that at first the cell keeps what it holds."""

    def initializer(shape, dtype, rng):
        bias = np.zeros(shape, dtype=dtype)
        bias[units : 2 * units] = 1
        return bias

    return initializer


class _Recurrent(Layer):
    """What the three layers share: arguments, weights, the scan, the outputs."""

    gates = 1  # blocks of `units` columns in the kernels

    def __init__(self, units, return_sequences=False, return_state=False, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.units = positive_int("units", units)
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self._cache = None
        self._given_states = False

    def __call__(self, x, training=False, initial_state=None):
        if initial_state is not None:
            states = (
                list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
            )
            if len(states) != self._state_count():
                raise ValueError(
                    f"{type(self).__name__} layer {self.name!r}: initial_state needs "
                    f"{self._state_count()} state(s) ({self._state_names()}), got {len(states)}."
                )
            x = [x, *states]
        return super().__call__(x, training)

    def output_count(self):
        return 1 + self._state_count() if self.return_state else 1

    def _state_names(self):
        return "[h, c]" if self._state_count() == 2 else "[h]"

    @staticmethod
    def _split_inputs(x):
        """The sequence, and the initial states given with it (None: zeros)."""
        if isinstance(x, (list, tuple)):
            return x[0], list(x[1:])
        return x, None

    # -------------------------------------------------------------------- weights
    def _bias_shape(self):
        return (self.gates * self.units,)

    def _bias_initializer(self):
        return "zeros"

    def build(self, input_shape):
        if isinstance(input_shape, list):  # [sequence, *initial states]
            input_shape = input_shape[0]
        if len(input_shape) != 3:
            raise ValueError(
                f"{type(self).__name__} layer {self.name!r} expects sequences (batch, steps, "
                f"features), got input of shape {tuple(input_shape)}; a sequence of numbers "
                "needs a features axis (x.reshape(len(x), steps, 1)), token ids an Embedding "
                "first."
            )
        width = self.gates * self.units
        self.add_weight("kernel", (input_shape[2], width), "glorot_uniform")
        self.add_weight("recurrent_kernel", (self.units, width), "orthogonal")
        self.add_weight("bias", self._bias_shape(), self._bias_initializer())

    # ------------------------------------------------------------ autodiff backends
    def _input_terms(self, x, bias):
        """x @ kernel + bias for every step at once, time first: (steps, batch, G*units)."""
        return ops.dense(ops.transpose(x, (1, 0, 2)), self.kernel, bias)

    def _initial_states(self, xs, given=None):
        if given:
            return tuple(given)
        zeros = xs[0][:, : self.units] * 0.0  # (batch, units), whatever the library
        return (zeros,) * self._state_count()

    def _state_count(self):
        return 1

    def call(self, x, training=False):
        x, given = self._split_inputs(x)
        fused = self._fused(x, given)
        if fused is not None:  # the backend's own routine for this recurrence
            hs, last = fused
            out = hs if self.return_sequences else last[0]
            return [out, *last] if self.return_state else out
        xs = self._input_terms(x, self._input_bias())
        states = ops.scan(self._step, self._initial_states(xs, given), xs)  # (steps, batch, units)
        last = [s[-1] for s in states]
        out = ops.transpose(states[0], (1, 0, 2)) if self.return_sequences else last[0]
        return [out, *last] if self.return_state else out

    def _fused(self, x, given):
        """The whole recurrence as one routine of the backend (torch.lstm), or None.

        Only for the steps this module writes: a subclass with a ``_step`` of its
        own runs that step (the class that defines the step names its routine).
        """
        owner = next(c for c in type(self).__mro__ if "_step" in vars(c))
        kind = vars(owner).get("fused_kind")
        if kind is None:
            return None
        return ops.fused_recurrence(
            kind, x, given or None, self.kernel, self.recurrent_kernel, self.bias
        )

    def _input_bias(self):
        return self.bias

    # --------------------------------------------------------------- manual backend
    def _zeros(self, x):
        xp = namespace(x)
        return xp.zeros((x.shape[0], self.units), dtype=x.dtype, device=device(x))

    def _starts(self, x):
        """Manual backend: the sequence and its initial states (given, or zeros)."""
        x, given = self._split_inputs(x)
        self._given_states = bool(given)
        return x, given or [self._zeros(x)] * self._state_count()

    def _input_grads(self, dx, dstates):
        """What backward returns: dx, and the states' gradients when they were inputs."""
        return [dx, *dstates] if self._given_states else dx

    def _output(self, hs, finals):
        out = hs if self.return_sequences else hs[:, -1, :]
        return [out, *finals] if self.return_state else out

    def _split_dout(self, dout, hs):
        """dL/d(every h) (batch, steps, units), and dL/d(final c) for an LSTM (or None)."""
        xp = namespace(hs)
        douts = list(dout) if self.return_state else [dout]
        if self.return_sequences:
            dhs = douts[0] + 0  # a copy: the state's gradient is added into it
        else:
            dhs = xp.zeros_like(hs)
            dhs[:, -1, :] = douts[0]
        if self.return_state:
            dhs[:, -1, :] += douts[1]
        dc = douts[2] if self.return_state and len(douts) > 2 else None
        return dhs, dc

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
        }


class SimpleRNN(_Recurrent):
    """h_t = tanh(x_t @ kernel + h_{t-1} @ recurrent_kernel + bias), from h_0 = 0."""

    gates = 1
    fused_kind = "simple_rnn"  # the backend routine that may run these steps

    def _step(self, carry, x_t):
        (h,) = carry
        return (ops.tanh(x_t + ops.matmul(h, self.recurrent_kernel)),)

    def forward(self, x, training=False):
        x, (h0,) = self._starts(x)
        hs, self._cache = F.rnn_forward(x, h0, self.kernel, self.recurrent_kernel, self.bias)
        return self._output(hs, [hs[:, -1, :]])

    def backward(self, dout):
        dhs, _ = self._split_dout(dout, self._cache[-1])
        dx, dh0, dwx, dwh, db = F.rnn_backward(dhs, self._cache)
        self.grads = {"kernel": dwx, "recurrent_kernel": dwh, "bias": db}
        return self._input_grads(dx, [dh0])


class LSTM(_Recurrent):
    """Long short-term memory, gates i, f, g, o (Keras's and PyTorch's order).

    The forget gate's bias starts at 1 (Keras's ``unit_forget_bias=True``).
    """

    gates = 4
    fused_kind = "lstm"  # the backend routine that may run these steps

    def _bias_initializer(self):
        return _forget_bias_ones(self.units)

    def _state_count(self):
        return 2

    def _step(self, carry, x_t):
        h, c = carry
        a = x_t + ops.matmul(h, self.recurrent_kernel)
        u = self.units
        i = ops.sigmoid(a[:, :u])
        f = ops.sigmoid(a[:, u : 2 * u])
        g = ops.tanh(a[:, 2 * u : 3 * u])
        o = ops.sigmoid(a[:, 3 * u :])
        c = f * c + i * g
        return (o * ops.tanh(c), c)

    def forward(self, x, training=False):
        # the whole sequence at once: one input product for every step, and
        # lstm_backward starts from the last c's gradient too (return_state)
        x, (h0, c0) = self._starts(x)
        hs, self._cache = F.lstm_forward(x, h0, c0, self.kernel, self.recurrent_kernel, self.bias)
        return self._output(hs, [hs[:, -1, :], self._cache["c_last"]])

    def backward(self, dout):
        dhs, dc = self._split_dout(dout, self._cache["hs"])
        dx, dh0, dc0, dwx, dwh, db = F.lstm_backward(dhs, self._cache, dc=dc)
        self.grads = {"kernel": dwx, "recurrent_kernel": dwh, "bias": db}
        return self._input_grads(dx, [dh0, dc0])


class GRU(_Recurrent):
    """Gated recurrent unit in Keras's default form (``reset_after=True``), gates z, r, h.

    ``bias`` is (2, 3*units): row 0 is added to x_t @ kernel, row 1 to
    h_{t-1} @ recurrent_kernel, and the reset gate multiplies the latter.
    """

    gates = 3
    fused_kind = "gru"  # the backend routine that may run these steps

    def _bias_shape(self):
        return (2, 3 * self.units)

    def _input_bias(self):
        return self.bias[0]

    def _step(self, carry, x_t):
        (h,) = carry
        ha = ops.matmul(h, self.recurrent_kernel) + self.bias[1]
        u = self.units
        z = ops.sigmoid(x_t[:, :u] + ha[:, :u])
        r = ops.sigmoid(x_t[:, u : 2 * u] + ha[:, u : 2 * u])
        candidate = ops.tanh(x_t[:, 2 * u :] + r * ha[:, 2 * u :])
        return (z * h + (1 - z) * candidate,)

    def forward(self, x, training=False):
        x, (h0,) = self._starts(x)
        hs, self._cache = F.gru_forward(x, h0, self.kernel, self.recurrent_kernel, self.bias)
        return self._output(hs, [hs[:, -1, :]])

    def backward(self, dout):
        dhs, _ = self._split_dout(dout, self._cache["hs"])
        dx, dh0, dwx, dwh, db = F.gru_backward(dhs, self._cache)
        self.grads = {"kernel": dwx, "recurrent_kernel": dwh, "bias": db}
        return self._input_grads(dx, [dh0])
