"""The ``pytensor`` backend: a symbolic graph, differentiated symbolically, compiled once.

What Theano did
===============
Theano (Montreal, 2007-2017) was one of the first widely used libraries to
take derivatives for deep learning. It did not run your Python operations one by
one, as NumPy or PyTorch do. Instead:

1. you described the computation with **symbolic variables** (``x =
   T.matrix()``): ``T.dot(x, W) + b`` computed nothing; it built a *graph*
   of operations;
2. ``T.grad(loss, W)`` walked that graph and built **another graph** for the
   derivative (reverse mode, but on symbols, not numbers);
3. ``theano.function([x, y], loss, updates=[(W, W - lr * gW)])`` **compiled**
   both graphs into one function: it simplified them (``log(softmax(x))``
   became a stable ``log_softmax``, ``x * 1`` disappeared, elementwise chains
   were fused), wrote C code for them, compiled it, and cached the result;
4. weights lived in **shared variables**, stored inside the compiled
   function; ``updates`` told it how to overwrite them at the end of each
   call, so a training step was one call with no Python in between.

TensorFlow 1's graphs and today's ``jax.jit`` and ``torch.compile`` grew out of
the same idea. PyTensor is Theano's maintained continuation (by the PyMC team):
``pytensor.tensor`` is ``theano.tensor``, ``pytensor.function`` is
``theano.function``, and the ideas above are unchanged.

How this backend mirrors it
===========================
- ``make_train_step`` builds the model's graph **once**: it calls the layers
  through ``model.stateless_call`` on symbolic variables (the layers' own
  ``call``, written with ``dlcourse.ops``, builds PyTensor graph pieces when
  handed symbols), applies the loss, asks ``pytensor.grad`` for the gradient
  of every weight, writes the optimizer's rule as ``updates`` (see
  ``_pytensor_updates.py``) and compiles ``step(x, y, lr) -> (loss, y_pred)``.
  Weights, batch-norm statistics and optimizer state are shared variables; the
  learning rate is an input, because schedules change it between steps.
- After each call the model's attributes are pointed at the shared variables'
  new values (no copy), so ``get_weights``, ``predict`` and saving see them.
- ``predict``, ``evaluate`` and ``loss_and_gradients`` compile their own
  functions once per model, taking the weights as inputs.
- Dropout draws from a shared random generator (``pytensor.tensor.random``):
  the graph returns the generator's next state, which ``updates`` stores, the
  functional style of random numbers that JAX also uses.
- Convolution and max-pooling are built by gathering patches, im2col-style
  (``_pytensor_conv.py``): PyTensor 3 no longer ships Theano's neural-network ops.

Outside a graph (building a model, ``model(x)``, a single ``ops.relu(x)``), the
weights and arrays are plain NumPy arrays, and each op compiles a small
function for its kind of inputs the first time (in FAST_COMPILE mode) and runs
it; the function is kept for the next call with the same kind of inputs.

Compilation
===========
``set_backend("pytensor", mode=...)`` picks how PyTensor compiles the graphs:

- ``"FAST_COMPILE"`` (the default here): few graph rewrites, and each node
  runs its Python (NumPy) implementation. Compiling takes a second or two.
- ``"FAST_RUN"`` (PyTensor's own default; Numba in PyTensor 3) or
  ``"NUMBA"``: every rewrite, then the graph is compiled to machine code by
  Numba. Steps are the fastest, but the first compilation of a new graph
  takes from tens of seconds (an MLP) to minutes (a CNN) on a small machine;
  the result is cached in ``~/.pytensor``, so later runs start in seconds.
- ``"CVM"``: Theano's classic path, C code for each node compiled by the
  system's C++ compiler (cached in ``~/.pytensor`` too).

Any other PyTensor mode name, or a ``pytensor.compile.mode.Mode``, works too.

PyTensor is imported when the backend is created, not when this module is.
"""

import contextlib
import inspect
import warnings
import weakref

import numpy as np

from dlcourse.backends.base import Backend

__all__ = ["PytensorBackend", "create"]

pytensor = None  # bound by _import_pytensor() on first use: importing this module stays light
pt = None
Variable = None
_conv = None
_updates = None


def _import_pytensor():
    global pytensor, pt, Variable, _conv, _updates
    if pytensor is None:
        import pytensor as _pytensor
        import pytensor.tensor as _pt
        from pytensor.graph.basic import Variable as _Variable

        from dlcourse.backends import _pytensor_conv, _pytensor_updates

        pytensor, pt, Variable = _pytensor, _pt, _Variable
        _conv, _updates = _pytensor_conv, _pytensor_updates


# One op at a time on arrays: compile fast and run Python implementations; generating
# and compiling C code for each little op would cost far more than it saves.
_EAGER_MODE = "FAST_COMPILE"


def create(mode="FAST_COMPILE"):
    return PytensorBackend(mode=mode)


# ------------------------------------------------------------------ symbolic ops
# Each function builds the graph of one op from symbolic inputs. The backend's
# methods call them directly inside a graph, or compile and run them on arrays.
def _relu(x):
    # slope 0 at x == 0, as the hand-written relu; a NaN stays NaN (fit looks for it)
    return pt.switch(x <= 0, 0, x)


def _dense(x, kernel, bias):
    y = pt.dot(x, kernel)
    return y if bias is None else y + bias


def _embedding(ids, table):
    # advanced indexing: its gradient is an increment of the rows looked up
    return pt.as_tensor_variable(table)[ids]  # a NumPy table indexed by symbolic ids too


def _concatenate(*xs, axis=-1):
    return pt.concatenate(list(xs), axis=axis)


def _dropout(x, rate, rng):
    with warnings.catch_warnings():
        # PyTensor warns when a generator variable is drawn from twice, a bug in
        # hand-built graphs; here each compiled graph draws once from the shared
        # generator and its update stores the next state.
        warnings.filterwarnings("ignore", message=".*has already been used")
        next_rng, u = rng.uniform(size=x.shape)
    keep = pt.cast(u >= rate, x.dtype)  # P(keep) = 1 - rate
    return x * keep / (1 - rate), next_rng


def _floatx(arrays):
    """The inputs' float dtype: PyTensor gives Python numbers in the graph this dtype."""
    for a in arrays:
        dtype = getattr(a, "dtype", None)
        if dtype is not None and np.dtype(dtype).kind == "f":
            return np.dtype(dtype).name
    return "float64"


def _is_array(value):
    return isinstance(value, (np.ndarray, np.generic))


def _signature(value):
    """How an eager argument enters a compiled op: as an input (arrays) or a constant."""
    if _is_array(value):
        # size-1 axes are marked as such, so that PyTensor may broadcast them
        return ("array", value.dtype.str, tuple(n == 1 for n in value.shape))
    return ("constant", value)


class PytensorBackend(Backend):
    """Symbolic graphs from the model's layers, gradients by ``pytensor.grad``, compiled once."""

    name = "pytensor"

    def __init__(self, mode="FAST_COMPILE"):
        super().__init__(mode=mode)
        _import_pytensor()
        self.mode = mode
        self._eager = {}  # (op, argument signatures) -> a compiled function
        self._compiled = weakref.WeakKeyDictionary()  # model -> {key: compiled function}

    def describe(self):
        return f"pytensor ({self.mode if isinstance(self.mode, str) else 'custom mode'})"

    @staticmethod
    def _symbolic(*values):
        return any(isinstance(v, Variable) for v in values)

    def _call(self, fn, *args, **options):
        """``fn(*args, **options)``: a graph when an argument is symbolic, else its value.

        On arrays, ``fn``'s graph is compiled for the arguments' dtypes (and
        which axes have size 1) the first time, then reused.
        """
        if self._symbolic(*args):
            return fn(*args, **options)
        key = (fn, tuple(_signature(a) for a in args), tuple(sorted(options.items())))
        compiled = self._eager.get(key)
        if compiled is None:
            inputs, symbols = [], []
            for a in args:
                if _is_array(a):
                    v = pt.tensor(
                        dtype=a.dtype, shape=tuple(1 if n == 1 else None for n in a.shape)
                    )
                    inputs.append(v)
                    symbols.append(v)
                else:
                    symbols.append(a)
            with pytensor.config.change_flags(floatX=_floatx(args)):
                out = fn(*symbols, **options)
            compiled = pytensor.function(inputs, out, mode=_EAGER_MODE)
            self._eager[key] = compiled
        return compiled(*(a for a in args if _is_array(a)))

    # ------------------------------------------------------------------ arrays
    def asarray(self, x, dtype=None):
        if isinstance(x, Variable):
            return x if dtype is None else pt.cast(x, dtype)
        return np.asarray(x, dtype=dtype)

    def to_numpy(self, x):
        if isinstance(x, Variable):
            if hasattr(x, "get_value"):  # a shared variable
                return np.asarray(x.get_value())
            return np.asarray(x.eval(mode=self.mode))
        return np.asarray(x)

    def cast(self, x, dtype):
        if isinstance(x, Variable):
            return pt.cast(x, str(dtype))
        return np.asarray(x).astype(str(dtype))

    def variable(self, value, trainable=True):
        return np.array(value, copy=True)

    def assign(self, variable, value):
        variable[...] = value  # the training function's shared variable may own this array
        return variable

    def seed_state(self, seed):
        from pytensor.tensor.random.variable import shared_rng

        return shared_rng(seed=int(seed))

    def no_grad(self):
        return contextlib.nullcontext()  # nothing is recorded: graphs are built on purpose

    # ---------------------------------------------------------------------- ops
    def equal(self, a, b):
        return self._call(pt.eq, a, b)

    def exp(self, x):
        return self._call(pt.exp, x)

    def log(self, x):
        return self._call(pt.log, x)

    def sqrt(self, x):
        return self._call(pt.sqrt, x)

    def abs(self, x):
        return self._call(pt.abs, x)

    def maximum(self, a, b):
        return self._call(pt.maximum, a, b)

    def minimum(self, a, b):
        return self._call(pt.minimum, a, b)

    def where(self, condition, a, b):
        return self._call(pt.switch, condition, a, b)

    def clip(self, x, low, high):
        return self._call(pt.clip, x, low, high)

    def relu(self, x):
        return self._call(_relu, x)

    def sigmoid(self, x):
        return self._call(pt.sigmoid, x)

    def tanh(self, x):
        return self._call(pt.tanh, x)

    def softmax(self, x, axis=-1):
        return self._call(pt.special.softmax, x, axis=axis)

    def log_softmax(self, x, axis=-1):
        return self._call(pt.special.log_softmax, x, axis=axis)

    def sum(self, x, axis=None, keepdims=False):
        return self._call(pt.sum, x, axis=_axes(axis), keepdims=keepdims)

    def mean(self, x, axis=None, keepdims=False):
        return self._call(pt.mean, x, axis=_axes(axis), keepdims=keepdims)

    def max(self, x, axis=None, keepdims=False):
        return self._call(pt.max, x, axis=_axes(axis), keepdims=keepdims)

    def argmax(self, x, axis=-1):
        return self._call(pt.argmax, x, axis=axis)

    def reshape(self, x, shape):
        if self._symbolic(x):
            return pt.reshape(x, tuple(shape))
        return self._call(pt.reshape, x, tuple(int(n) for n in shape))

    def transpose(self, x, axes=None):
        axes = tuple(reversed(range(x.ndim))) if axes is None else tuple(axes)
        return self._call(pt.transpose, x, axes=axes)

    def concatenate(self, xs, axis=-1):
        return self._call(_concatenate, *xs, axis=axis)

    def take_along_axis(self, x, indices, axis):
        return self._call(pt.take_along_axis, x, indices, axis=axis)

    def matmul(self, a, b):
        return self._call(pt.matmul, a, b)

    def dense(self, x, kernel, bias=None):
        return self._call(_dense, x, kernel, bias)

    def scan(self, step, init, xs):
        if not self._symbolic(xs, *init):
            return super().scan(step, init, xs)  # plain arrays: the eager loop
        options = {}
        if "return_updates" in inspect.signature(pytensor.scan).parameters:
            options["return_updates"] = False  # newer PyTensor: no updates dict (none here)
        outputs = pytensor.scan(
            lambda x_t, *carry: list(step(tuple(carry), x_t)),
            sequences=[xs],
            outputs_info=list(init),
            **options,
        )
        if not options:
            outputs = outputs[0]
        return tuple(outputs) if isinstance(outputs, (list, tuple)) else (outputs,)

    def embedding(self, ids, table):
        return self._call(_embedding, ids, table)

    def conv2d(self, x, kernel, bias=None, stride=1, padding=0):
        shapes = (_static_shape(x, "conv2d: x")[1:], _static_shape(kernel, "conv2d: kernel"))
        return self._call(
            _conv.conv2d, x, kernel, bias, stride=stride, padding=padding, shapes=shapes
        )

    def maxpool2d(self, x, size=2, stride=None):
        image = _static_shape(x, "maxpool2d: x")[1:]
        stride = size if stride is None else stride
        return self._call(_conv.maxpool2d, x, size=size, stride=stride, image=image)

    def dropout(self, x, rate, seed_state):
        if self._symbolic(x):
            return _dropout(x, rate, seed_state)  # the graph returns the generator's next state
        key = ("dropout", x.dtype.str, x.ndim, rate, seed_state)
        compiled = self._eager.get(key)
        if compiled is None:
            v = pt.tensor(dtype=x.dtype, shape=(None,) * x.ndim)
            with pytensor.config.change_flags(floatX=str(x.dtype)):
                out, next_rng = _dropout(v, rate, seed_state)
            compiled = pytensor.function([v], out, updates={seed_state: next_rng}, mode=_EAGER_MODE)
            self._eager[key] = compiled
        return compiled(x), seed_state

    def stop_gradient(self, x):
        if isinstance(x, Variable):
            from pytensor.gradient import zero_grad

            return zero_grad(x)
        return x

    # ----------------------------------------------------------------- training
    def _functions(self, model):
        """This model's compiled functions, by key (forgotten with the model)."""
        return self._compiled.setdefault(model, {})

    def _trace(self, model, params, state, training, y_example=None):
        """Symbolic inputs (a list: one per model input) and y, and the model's output
        and new state on them."""
        xs = [
            pt.tensor(f"x{i}" if i else "x", dtype=dtype, shape=(None, *shape[1:]))
            for i, (shape, dtype) in enumerate(model.input_signature)
        ]
        x = xs[0] if len(xs) == 1 else tuple(xs)
        y = None
        if isinstance(y_example, tuple):  # several outputs: one target array each
            y = tuple(
                pt.tensor(f"y{i}", dtype=t.dtype, shape=(None, *t.shape[1:]))
                for i, t in enumerate(y_example)
            )
        elif y_example is not None:
            y = pt.tensor("y", dtype=y_example.dtype, shape=(None, *y_example.shape[1:]))
        from dlcourse import backends

        with backends.running(self), pytensor.config.change_flags(floatX=model.dtype):
            y_pred, new_state = model.stateless_call(params, state, x, training)
        return xs, y, y_pred, new_state

    def _structure(self, model, kind, *extra):
        """A cache key that changes when the model's layers or the data's kind do."""
        return (kind, tuple(id(layer) for layer in model.layers), model.dtype, *extra)

    def make_train_step(self, model, loss, optimizer):
        train = _TrainFunction(self, model, loss, optimizer)
        return train.step

    def _inference(self, model, kind, y_example=None, loss=None, training=False):
        """A compiled function of (x[, y], *params, *state) for predict / eval / gradients."""
        y_key = None if y_example is None else _y_key(y_example)
        key = self._structure(model, kind, y_key, training, id(loss))
        functions = self._functions(model)
        if key in functions:
            return functions[key]
        params = [_like(p, f"param{i}") for i, p in enumerate(model.trainable_weights)]
        state = [_state_input(s, i) for i, s in enumerate(model.state_variables)]
        xs, y, y_pred, new_state = self._trace(model, params, state, training, y_example)
        inputs = xs + (_flat(y) if y is not None else [])
        inputs += params + [s for s in state if not _is_rng(s)]
        # random generators are shared: they advance through updates, not inputs
        updates = {s: n for s, n in zip(state, new_state) if _is_rng(s) and n is not s}
        array_state = [n for s, n in zip(state, new_state) if not _is_rng(s)]
        with pytensor.config.change_flags(floatX=model.dtype):
            if kind == "predict":
                outputs = _flat(y_pred)
            elif kind == "eval":
                outputs = [loss(y, y_pred), *_flat(y_pred)]
            else:  # gradients
                value = loss(y, y_pred)
                outputs = [value, *pytensor.grad(value, params), *array_state]
        compiled = pytensor.function(inputs, outputs, updates=updates, mode=self.mode)
        functions[key] = compiled
        return compiled

    @staticmethod
    def _weights_in(model):
        return [*model.trainable_weights, *(s for s in model.state_variables if not _is_rng(s))]

    def make_predict(self, model):
        def predict(x):
            compiled = self._inference(model, "predict")
            return _grouped(model, compiled(*_flat(x), *self._weights_in(model)))

        return predict

    def make_eval_step(self, model, loss):
        def step(x, y):
            compiled = self._inference(model, "eval", y_example=y, loss=loss)
            value, *y_pred = compiled(*_flat(x), *_flat(y), *self._weights_in(model))
            return float(value), _grouped(model, y_pred)

        return step

    def loss_and_gradients(self, model, loss, x, y, training=True):
        compiled = self._inference(model, "gradients", y, loss, training)
        n = len(model.trainable_weights)
        value, *rest = compiled(*_flat(x), *_flat(y), *self._weights_in(model))
        grads, new_state = rest[:n], iter(rest[n:])
        # training mode moves batch-norm statistics, as on every other backend
        state = [s if _is_rng(s) else next(new_state) for s in model.state_variables]
        model.bind(model.trainable_weights, state)
        return float(value), grads


class _TrainFunction:
    """One model's training step, compiled at its first batch.

    The weights, the batch-norm statistics and the optimizer's state are shared
    variables owned by the compiled function; ``updates`` overwrite them at the
    end of each call. The model's attributes are then pointed at their new
    values, so the model always shows the current weights.
    """

    def __init__(self, backend, model, loss, optimizer):
        self.backend, self.model, self.loss, self.optimizer = backend, model, loss, optimizer
        self.compiled = {}  # (y dtype, y shape after the batch axis) -> function
        self.shared = None  # the shared variables holding the weights, then the states
        self.bound = None  # the arrays last handed to the model (the shared variables' own)

    def _compile(self, y_example):
        model = self.model
        if self.shared is None:
            self.shared = [_shared(p, f"param{i}") for i, p in enumerate(model.trainable_weights)]
            self.shared += [_shared_state(s, i) for i, s in enumerate(model.state_variables)]
        n = len(model.trainable_weights)
        params, state = self.shared[:n], self.shared[n:]
        backend = self.backend
        xs, y, y_pred, new_state = backend._trace(model, params, state, True, y_example)
        with pytensor.config.change_flags(floatX=model.dtype):
            value = self.loss(y, y_pred)
            lr = pt.scalar("learning_rate", dtype=model.dtype)
            grads = pytensor.grad(value, params)
            finite = pt.isfinite(value)  # a non-finite loss must not reach the weights
            updates = _updates.optimizer_updates(self.optimizer, params, grads, lr, finite)
            for old, new in zip(state, new_state):
                if new is not old:  # statistics and random generators move on every step
                    updates.append((old, new if _is_rng(old) else pt.cast(new, old.dtype)))
        return pytensor.function(
            [*xs, *_flat(y), lr], [value, *_flat(y_pred)], updates=updates, mode=backend.mode
        )

    def _sync_in(self):
        """Give the shared variables any value set on the model since the last step."""
        current = self.backend._weights_in(self.model)
        arrays = [s for s in self.shared if not _is_rng(s)]
        if self.bound is not None and all(a is b for a, b in zip(current, self.bound)):
            return
        for shared, value in zip(arrays, current):
            shared.set_value(value, borrow=True)

    def _sync_out(self):
        """Point the model's attributes at the shared variables' values (no copy)."""
        model = self.model
        n = len(model.trainable_weights)
        values = [s.get_value(borrow=True) for s in self.shared[:n]]
        state = [s if _is_rng(s) else s.get_value(borrow=True) for s in self.shared[n:]]
        model.bind(values, state)
        self.bound = values + [s for s in state if not _is_rng(s)]

    def step(self, x, y):
        key = _y_key(y)
        compiled = self.compiled.get(key)
        if compiled is None:
            compiled = self.compiled[key] = self._compile(y)
        self._sync_in()
        lr = np.asarray(self.optimizer.learning_rate, dtype=self.model.dtype)
        value, *y_pred = compiled(*_flat(x), *_flat(y), lr)
        self._sync_out()
        return float(value), _grouped(self.model, y_pred)


# ----------------------------------------------------------------------- helpers
def _axes(axis):
    return tuple(axis) if isinstance(axis, list) else axis


def _flat(x):
    """A model's inputs (or targets, or outputs) as a list: one array, or each of several."""
    return list(x) if isinstance(x, (tuple, list)) else [x]


def _grouped(model, outputs):
    """A compiled function's outputs as the model gives them: one array, or a list."""
    return list(outputs) if isinstance(model.output_shape, list) else outputs[0]


def _y_key(y):
    """What a compiled function depends on in the targets: dtypes and example shapes."""
    return tuple((t.dtype.str, t.shape[1:]) for t in _flat(y))


def _static_shape(x, what):
    """The shape of ``x`` (arrays: their shape; symbols: their static type); the batch
    axis (first) may be unknown (None), every other one must be an int."""
    shape = tuple(x.type.shape) if isinstance(x, Variable) else tuple(x.shape)
    if any(n is None for n in shape[1:]):
        raise ValueError(
            f"{what}: the pytensor backend builds convolutions for known image sizes, "
            f"but this input's shape is only known as {shape}."
        )
    return tuple(None if n is None else int(n) for n in shape)


def _is_rng(value):
    return type(value).__name__.startswith("RandomGenerator")


def _like(value, name):
    """A symbolic input of the array's dtype and (static) shape."""
    return pt.tensor(name=name, dtype=str(value.dtype), shape=tuple(value.shape))


def _state_input(value, i):
    return value if _is_rng(value) else _like(value, f"state{i}")


def _shared(value, name):
    return pytensor.shared(value, name=name, shape=tuple(value.shape), borrow=True)


def _shared_state(value, i):
    return value if _is_rng(value) else _shared(value, f"state{i}")
