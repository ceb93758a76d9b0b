"""The contract of a backend: what ``dlcourse.nn`` asks of a computing library.

A backend is a subclass of :class:`Backend`. Methods come in three groups:

*Arrays and weights* (required): convert NumPy to the library's arrays and
back, create weights and overwrite them, and make the random-generator state
that dropout draws from.

*Ops*: the functions behind ``dlcourse.ops``. Those marked *required* are the
primitives; the others are written here once in terms of the primitives and
Python's arithmetic operators (which every array library overloads). Override a
composite only to call a fused routine with the same math (``torch.addmm`` for
``dense``, ``cross_entropy`` for the loss), which is where speed comes from.

*Training* (required for a trainable backend): ``make_train_step`` turns a model,
a loss and an optimizer into a function ``step(x, y) -> (loss, y_pred)`` that
updates the weights once, and ``loss_and_gradients`` exposes the gradients so
that backends can be compared. ``make_eval_step`` and ``make_predict`` have
generic versions here.

Conventions every implementation keeps:

- dtypes are named by strings (``"float32"``, ``"int64"``); images are NCHW and
  convolution kernels (F, C, KH, KW), as in ``dlcourse.functional``;
- ``sum``, ``mean`` and ``max`` take ``axis`` (int, tuple or None) and ``keepdims``;
- a train step never applies an update computed from a non-finite loss: it
  returns that loss and leaves the weights as they were, so that ``fit`` can find
  the layer that went wrong with the weights that made it go wrong;
- a train step reads ``optimizer.learning_rate`` at every call (schedules change
  it between steps); compiled steps take it as an argument, never as a constant.
"""

import contextlib

__all__ = ["Backend"]


class Backend:
    """Base class of every backend; see the module docstring for the contract."""

    name = "base"
    #: True when gradients come from the layers' hand-written ``backward`` methods
    needs_backward = False
    #: True when a train step also takes ``step(xs, ys, index)``: the whole data and
    #: the rows of one batch, picked inside the step (one compiled call, not three)
    step_takes_rows = False
    #: True when a train step returns before its work is done and leaves new,
    #: immutable weight arrays (JAX): ``fit`` then reads each loss one step late
    asynchronous_steps = False
    #: True when a train step also offers ``step.many(xs, ys, rows)``: several
    #: steps in one compiled call, with no Python between them
    many_steps_per_call = False

    def __init__(self, **options):
        self.options = dict(options)

    def __repr__(self):
        return f"<dlcourse backend {self.describe()}>"

    def describe(self):
        """A short description for messages and ``summary()``, e.g. ``torch (cuda)``."""
        return self.name

    def _missing(self, what):
        return NotImplementedError(
            f"the {self.name!r} backend does not implement {what} yet; "
            "see dlcourse.backends.base for the list of methods a backend provides."
        )

    # ------------------------------------------------------------------ arrays
    def asarray(self, x, dtype=None):
        """Required. ``x`` (NumPy, list, or native) as a native array, on this backend's device."""
        raise self._missing("asarray")

    def to_numpy(self, x):
        """Required. A NumPy copy (or view) of the native array ``x``."""
        raise self._missing("to_numpy")

    def cast(self, x, dtype):
        """Required. ``x`` converted to the dtype named by ``dtype`` ("float32", ...)."""
        raise self._missing("ops.cast")

    def variable(self, value, trainable=True):
        """A weight made from the NumPy array ``value``; trainable ones get gradients."""
        return self.asarray(value)

    def assign(self, variable, value):
        """Give ``variable`` the NumPy ``value``; returns the object the layer keeps.

        Eager libraries copy into the existing array (optimizers hold on to it);
        immutable ones (JAX) return a new array.
        """
        raise self._missing("assign")

    def seed_state(self, seed):
        """Required. The random state a dropout layer starts from, seeded with the int ``seed``."""
        raise self._missing("seed_state")

    def batch_index(self, index):
        """The NumPy int array ``index`` in the form ``take`` accepts."""
        return self.asarray(index)

    def take(self, x, index):
        """The rows ``index`` of ``x`` (a batch picked from a shuffled epoch)."""
        return x[index]

    def no_grad(self):
        """A context in which no gradient bookkeeping happens (evaluation, prediction)."""
        return contextlib.nullcontext()

    # ------------------------------------------------------- arithmetic (composite)
    def add(self, a, b):
        return a + b

    def subtract(self, a, b):
        return a - b

    def multiply(self, a, b):
        return a * b

    def divide(self, a, b):
        return a / b

    def negative(self, x):
        return -x

    def square(self, x):
        return x * x

    def equal(self, a, b):
        return a == b

    # -------------------------------------------------------- elementwise (required)
    def exp(self, x):
        raise self._missing("ops.exp")

    def log(self, x):
        raise self._missing("ops.log")

    def sqrt(self, x):
        raise self._missing("ops.sqrt")

    def abs(self, x):
        raise self._missing("ops.abs")

    def maximum(self, a, b):
        """Elementwise max; ``b`` may be a Python number."""
        raise self._missing("ops.maximum")

    def minimum(self, a, b):
        """Elementwise min; ``b`` may be a Python number."""
        raise self._missing("ops.minimum")

    def where(self, condition, a, b):
        raise self._missing("ops.where")

    def clip(self, x, low, high):
        """``x`` limited to [low, high] (Python numbers); the gradient is 0 outside."""
        raise self._missing("ops.clip")

    # -------------------------------------------------------------- activations
    def relu(self, x):
        """Required. max(x, 0); the slope at 0 is taken as 0."""
        raise self._missing("ops.relu")

    def sigmoid(self, x):
        raise self._missing("ops.sigmoid")

    def tanh(self, x):
        raise self._missing("ops.tanh")

    def softmax(self, x, axis=-1):
        e = self.exp(x - self.max(x, axis=axis, keepdims=True))
        return e / self.sum(e, axis=axis, keepdims=True)

    def log_softmax(self, x, axis=-1):
        # the shift only keeps exp finite; log_softmax does not depend on it
        shifted = x - self.stop_gradient(self.max(x, axis=axis, keepdims=True))
        return shifted - self.log(self.sum(self.exp(shifted), axis=axis, keepdims=True))

    # --------------------------------------------------------------- reductions
    def sum(self, x, axis=None, keepdims=False):
        raise self._missing("ops.sum")

    def mean(self, x, axis=None, keepdims=False):
        raise self._missing("ops.mean")

    def max(self, x, axis=None, keepdims=False):
        raise self._missing("ops.max")

    def argmax(self, x, axis=-1):
        raise self._missing("ops.argmax")

    # ------------------------------------------------------------------- shapes
    def reshape(self, x, shape):
        raise self._missing("ops.reshape")

    def transpose(self, x, axes=None):
        raise self._missing("ops.transpose")

    def concatenate(self, xs, axis=-1):
        """Required. The arrays of the list ``xs`` joined along ``axis``."""
        raise self._missing("ops.concatenate")

    def take_along_axis(self, x, indices, axis):
        """Required. ``x`` read at ``indices`` along ``axis`` (as ``numpy.take_along_axis``)."""
        raise self._missing("ops.take_along_axis")

    # ------------------------------------------------------------------- layers
    def matmul(self, a, b):
        raise self._missing("ops.matmul")

    def dense(self, x, kernel, bias=None):
        """``x @ kernel + bias``, kernel (in, out) as in Keras; x (N, in) or (..., in)."""
        y = self.matmul(x, kernel)
        return y if bias is None else y + bias

    def embedding(self, ids, table):
        """Required. The rows of ``table`` (V, D) picked by the integer ``ids`` of any
        shape: ``ids.shape + (D,)``. The gradient flows into ``table`` only, a row
        looked up several times receiving the sum of its uses (ids get none)."""
        raise self._missing("ops.embedding")

    def conv2d(self, x, kernel, bias=None, stride=1, padding=0):
        """Required. x (N, C, H, W), kernel (F, C, KH, KW), symmetric zero ``padding``."""
        raise self._missing("ops.conv2d")

    def maxpool2d(self, x, size=2, stride=None):
        """Required. Max over ``size`` x ``size`` windows; ``stride`` defaults to ``size``."""
        raise self._missing("ops.maxpool2d")

    def dropout(self, x, rate, seed_state):
        """Required. Inverted dropout: returns ``(out, new_seed_state)``.

        Stateful generators return the same ``seed_state`` object; functional
        ones (JAX keys) return the state to use next time.
        """
        raise self._missing("ops.dropout")

    def stop_gradient(self, x):
        """Required. ``x`` as a constant: no gradient flows back through it."""
        raise self._missing("ops.stop_gradient")

    def scan(self, step, init, xs):
        """A loop over the first (time) axis of ``xs``, carrying a state along.

        ``init`` is a tuple of arrays; ``step(carry, x_t)`` returns the next carry
        (a tuple of arrays of the same shapes and dtypes), written with ops. The
        result is the tuple of every step's carry, each stacked along a new first
        axis: (T, ...). Gradients flow through every step.

        This generic version is a Python loop, right for eager libraries. Compiled
        backends override it with their loop construct (``jax.lax.scan``,
        ``tf.scan``, ``pytensor.scan``) so that a graph holds one loop, not T
        copies of the step.
        """
        carry, history = tuple(init), []
        for t in range(xs.shape[0]):
            carry = tuple(step(carry, xs[t]))
            history.append(carry)
        return tuple(
            self.concatenate([self.reshape(c[k], (1, *tuple(c[k].shape))) for c in history], 0)
            for k in range(len(carry))
        )

    # ------------------------------------------------- fused layers (optional)
    # A layer asks for these first and, given None, computes with the ops above.
    # A backend overrides one where its library runs the same math as one routine
    # (fewer small ops, a backward written in C++), and returns None for the
    # options that routine does not cover.

    def fused_recurrence(self, kind, x, states, kernel, recurrent_kernel, bias):
        """A whole recurrent layer in one routine: ``(hs, finals)``, or None.

        ``kind`` names the recurrence of ``dlcourse.nn``'s layers: ``"lstm"``
        (gates i, f, g, o), ``"gru"`` (gates z, r, h, Keras's ``reset_after``,
        ``bias`` (2, 3*units)) or ``"simple_rnn"`` (tanh); the weights are the
        layer's, in Keras's layout. ``x`` is (batch, steps, features) and
        ``states`` the initial states, a list (``[h]``, LSTM ``[h, c]``) of
        (batch, units) arrays, or None for zeros. ``hs`` is every step's h
        (batch, steps, units), ``finals`` the list of the last states.
        """
        return None

    def fused_attention(self, q, k, v, scale, mask=None):
        """``softmax(q k^T * scale) v`` per head in one routine, or None.

        ``q`` (batch, heads, Tq, d), ``k`` (batch, heads, Tk, d), ``v`` (batch,
        heads, Tk, dv); ``mask``: None, or a NumPy bool array (Tq, Tk), True where
        a query may attend to a key (a hidden pair weighs exactly 0).
        """
        return None

    def fused_layer_norm(self, x, gamma, beta, epsilon):
        """Layer normalization over the last axis in one routine, or None.

        ``(x - mean) / sqrt(var + epsilon)`` (biased variance) times ``gamma``
        plus ``beta``; either may be None (no scale, no shift).
        """
        return None

    # ------------------------------------------------------- losses (composite)
    def sparse_categorical_crossentropy(self, labels, y_pred, from_logits=False, eps=1e-7):
        """Mean over the batch of -log p[label]; ``labels`` (N,) integer classes."""
        picked_index = self.reshape(labels, (-1, 1))
        if from_logits:
            log_probs = self.log_softmax(y_pred, axis=-1)
            return -self.mean(self.take_along_axis(log_probs, picked_index, axis=1))
        picked = self.take_along_axis(y_pred, picked_index, axis=1)
        return -self.mean(self.log(self.clip(picked, eps, 1 - eps)))

    def categorical_crossentropy(self, targets, y_pred, from_logits=False, eps=1e-7):
        """Mean over the batch of -sum(targets * log p); ``targets`` (N, C) one-hot or soft."""
        if from_logits:
            log_probs = self.log_softmax(y_pred, axis=-1)
        else:
            log_probs = self.log(self.clip(y_pred, eps, 1 - eps))
        return -self.mean(self.sum(targets * log_probs, axis=-1))

    def binary_crossentropy(self, targets, y_pred, from_logits=False, eps=1e-7):
        """Mean over every element of -[t log p + (1 - t) log(1 - p)]."""
        if from_logits:
            z = y_pred
            # max(z, 0) - z t + log(1 + exp(-|z|)): stable for any z. Both the max and
            # |z| are spelled with where(z >= 0) so that every library sees the same
            # slope at z = 0 (and the gradient there is sigmoid(0) - t, as it must be).
            positive = z >= 0
            zero = z * 0
            per_element = (
                self.where(positive, z, zero)
                - z * targets
                + self.log(1 + self.exp(-self.where(positive, z, -z)))
            )
            return self.mean(per_element)
        p = self.clip(y_pred, eps, 1 - eps)
        return -self.mean(targets * self.log(p) + (1 - targets) * self.log(1 - p))

    def mean_squared_error(self, targets, y_pred):
        diff = y_pred - targets
        return self.mean(diff * diff)

    # ----------------------------------------------------------------- training
    def make_train_step(self, model, loss, optimizer):
        """Required. ``step(x, y) -> (loss, y_pred)``: one update of ``model``'s weights.

        ``x`` and ``y`` are native arrays (one batch); ``loss`` comes back as a
        Python float or a 0-d array, ``y_pred`` as a native array (for metrics).
        A backend with ``step_takes_rows`` also accepts ``step(xs, ys, index)``:
        the whole native data and the NumPy int array of the batch's rows.
        A backend with ``many_steps_per_call`` also gives the step a method
        ``step.many(xs, ys, rows) -> losses``: one step for each row of the
        ``(steps, batch)`` int array ``rows``, all in one call. After a
        non-finite loss it changes no weight any more, so the model is left
        with the weights from before the first bad batch.
        """
        raise self._missing("make_train_step")

    def loss_and_gradients(self, model, loss, x, y, training=True):
        """Required. ``(loss, grads)``: the loss on (x, y) and its gradient for
        every trainable weight (native arrays, in ``model.trainable_weights``
        order). Trainable weights are not changed; in training mode the layers'
        state (batch-norm statistics, dropout generators) advances as in a step."""
        raise self._missing("loss_and_gradients")

    def make_eval_step(self, model, loss):
        """``step(x, y) -> (loss, y_pred)`` in inference mode, weights untouched."""

        def step(x, y):
            with self.no_grad():
                y_pred = model.call(x, training=False)
                return loss(y, y_pred), y_pred

        return step

    def make_predict(self, model):
        """``predict(x) -> y_pred`` (native) in inference mode."""

        def predict(x):
            with self.no_grad():
                return model.call(x, training=False)

        return predict
