"""The ``tensorflow`` backend: ``tf.Variable`` weights, ``tf.GradientTape``, ``tf.function``.

The train step is the one TensorFlow's guides write by hand: run the layers
under a ``GradientTape``, ask the tape for the gradients, update the variables,
all inside one ``tf.function`` so that TensorFlow traces it once into a graph
and then runs the graph at every step.

Three details make that work for every dlcourse model:

- **State.** Batch norm's running statistics are ``tf.Variable`` s, but layers
  change their state by rebinding the attribute (``self.moving_mean = ...``).
  The step therefore runs ``model.stateless_call`` (which hands back the new
  state and leaves the layers alone) and assigns the new values to the
  variables itself. Dropout draws from a ``tf.random.Generator`` (a stateful
  object, updated in place).
- **Batch size.** The step is traced for batches of any size (a ``None``
  batch axis in its input signature), so the last, smaller batch of an epoch
  does not cost a second trace. A layer that needs the batch size as a Python
  number while tracing (``BatchNorm`` divides by it) makes that impossible; the
  step then falls back to one trace per batch size, which in ``fit`` means two.
- **Learning rate.** It lives in a ``tf.Variable`` that the step reads, and
  which is assigned only when ``optimizer.learning_rate`` changed: schedules
  work without retracing.

The update rules are the course's (``_tensorflow_optimizers``), not Keras's,
so that every backend takes the same steps. Images are NCHW and kernels
(F, C, KH, KW) as everywhere in dlcourse; TensorFlow's CPU convolution wants
NHWC, so ``conv2d`` and ``maxpool2d`` transpose on the way in and out (on a GPU,
TensorFlow's layout optimizer removes the pairs of transposes again).

A GPU is used when TensorFlow sees one (``device=None``); ``device="cpu"``
keeps everything on the CPU. TensorFlow is told to grow its GPU memory as
needed instead of taking all of it, so that it can share a GPU with PyTorch or
JAX in the same notebook. TensorFlow is imported when the backend is created.

Several devices: ``dlcourse.set_backend("tensorflow", data_parallel=N)`` trains
data-parallel over N replicas of a ``tf.distribute.MirroredStrategy`` in this
process: the GPUs when there are N, else N logical CPU devices (only before
TensorFlow has started); every variable mirrored, each batch split over the
replicas inside the step (see ``_tensorflow_mirrored``). With
``multi_worker=True`` as well, the N replicas are the N processes of the
cluster that ``TF_CONFIG`` names (``MultiWorkerMirroredStrategy``), one each.
``DataParallel("tensorflow", nproc=N)`` uses them.
"""

import contextlib
import os

import numpy as np

from dlcourse import backends
from dlcourse.backends.base import Backend

__all__ = ["TensorFlowBackend", "create"]

tf = None  # bound by _import_tensorflow() when the backend is created


def _import_tensorflow():
    global tf
    if tf is None:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # start-up chatter hides real messages
        import tensorflow as _tf

        for gpu in _tf.config.list_physical_devices("GPU"):
            try:
                _tf.config.experimental.set_memory_growth(gpu, True)
            except RuntimeError:  # the GPU is in use already: its setting stays as it is
                pass
        tf = _tf


def create(device=None, data_parallel=None, multi_worker=False):
    return TensorFlowBackend(device=device, data_parallel=data_parallel, multi_worker=multi_worker)


def _device_name(device):
    if device is None:
        return None
    kind = {"cuda": "gpu"}.get(str(device).lower(), str(device).lower())
    if kind not in ("cpu", "gpu"):
        raise ValueError(f"device={device!r}: use 'cpu', 'gpu' (or 'cuda'), or leave it unset.")
    if kind == "gpu" and not tf.config.list_physical_devices("GPU"):
        raise ValueError(
            f"device={device!r}: TensorFlow sees no GPU here; use device='cpu' or leave it unset."
        )
    return f"/{kind.upper()}:0"


def _axes(axis):
    return list(axis) if isinstance(axis, (tuple, list)) else axis


def _dense_grads(params, grads):
    """Plain tensors for every gradient: zeros where none flows, and the rows a gather
    (``ops.embedding``) returns as ``IndexedSlices`` added into a full table, which
    the update rules (momentum, Adam) need."""
    return [
        tf.zeros_like(p) if g is None else tf.convert_to_tensor(g) for p, g in zip(params, grads)
    ]


def _signature(args):
    """Input specs with the batch axis left open: one trace serves every batch size.

    An argument may be a tuple of arrays (the inputs of a model with several).
    """
    return [
        tf.nest.map_structure(lambda a: tf.TensorSpec((None, *a.shape[1:]), a.dtype), arg)
        for arg in args
    ]


class _Compiled:
    """``fn`` as a ``tf.function``, traced at the first call for any batch size.

    When ``fn`` cannot be traced with an unknown batch size (a layer does
    arithmetic on ``x.shape[0]``), it is traced once per batch size instead.
    """

    def __init__(self, fn):
        self.fn, self.graph = fn, None

    def __call__(self, *args):
        if self.graph is None:
            general = tf.function(self.fn, input_signature=_signature(args))
            try:
                general.get_concrete_function()
                self.graph = general
            except (TypeError, ValueError):
                # the error, if it is a real one, comes back from the first call below
                self.graph = tf.function(self.fn)
        return self.graph(*args)


class TensorFlowBackend(Backend):
    """tf.Variable weights, tf.GradientTape and a tf.function train step."""

    name = "tensorflow"

    def __init__(self, device=None, data_parallel=None, multi_worker=False):
        super().__init__(device=device, data_parallel=data_parallel, multi_worker=multi_worker)
        _import_tensorflow()
        self.strategy = None
        if multi_worker and data_parallel is None:
            raise ValueError("multi_worker=True: give data_parallel=N, the cluster's workers.")
        if data_parallel is not None:
            from dlcourse.backends._tensorflow_mirrored import mirrored_strategy

            self.strategy = mirrored_strategy(tf, data_parallel, device, multi_worker)
            device = None  # the strategy places every replica's variables and ops
        self.device_name = _device_name(device)

    def describe(self):
        if self.strategy is not None:
            devices = self.strategy.extended.worker_devices
            kind = "gpu" if "GPU" in devices[0].upper() else "cpu"
            if self.options["multi_worker"]:
                replicas = self.strategy.num_replicas_in_sync
                return f"tensorflow ({kind}, data parallel over {replicas} worker processes)"
            return f"tensorflow ({kind}, data parallel over {len(devices)} devices)"
        if self.device_name is not None:
            return f"tensorflow ({self.device_name.strip('/').split(':')[0].lower()})"
        return "tensorflow (gpu)" if tf.config.list_physical_devices("GPU") else "tensorflow (cpu)"

    def _on_device(self):
        if self.device_name is None:
            return contextlib.nullcontext()
        return tf.device(self.device_name)

    def _creating(self):
        """Where variables are made: mirrored on every replica, or on the backend's device."""
        return self._on_device() if self.strategy is None else self.strategy.scope()

    # ------------------------------------------------------------------ arrays
    def asarray(self, x, dtype=None):
        with self._on_device():
            if isinstance(x, (tf.Tensor, tf.Variable)):
                x = tf.convert_to_tensor(x)
                return x if dtype is None else tf.cast(x, dtype)
            return tf.convert_to_tensor(np.asarray(x, dtype=dtype))

    def to_numpy(self, x):
        if isinstance(x, (tf.Tensor, tf.Variable)):
            return x.numpy()
        return np.asarray(x)

    def cast(self, x, dtype):
        return tf.cast(x, dtype)

    def variable(self, value, trainable=True):
        with self._creating():
            return tf.Variable(value, trainable=trainable)

    def assign(self, variable, value):
        if isinstance(variable, tf.Variable):
            variable.assign(value)
            return variable
        # a state that an eager training call left as a plain tensor: a variable again
        return self.variable(value, trainable=False)

    def seed_state(self, seed):
        with self._creating():
            return tf.random.Generator.from_seed(int(seed))

    def batch_index(self, index):
        return index  # NumPy: fit slices it per batch for free, tf.gather takes it as it is

    def take(self, x, index):
        return tf.gather(x, index)

    # ---------------------------------------------------------------------- ops
    def exp(self, x):
        return tf.exp(x)

    def log(self, x):
        return tf.math.log(x)

    def sqrt(self, x):
        return tf.sqrt(x)

    def abs(self, x):
        return tf.abs(x)

    def maximum(self, a, b):
        return tf.maximum(a, b)

    def minimum(self, a, b):
        return tf.minimum(a, b)

    def where(self, condition, a, b):
        return tf.where(condition, a, b)

    def clip(self, x, low, high):
        return tf.clip_by_value(x, low, high)  # slope 1 on [low, high], 0 outside

    def relu(self, x):
        return tf.nn.relu(x)

    def sigmoid(self, x):
        return tf.sigmoid(x)

    def tanh(self, x):
        return tf.tanh(x)

    def softmax(self, x, axis=-1):
        return tf.nn.softmax(x, axis=axis)

    def log_softmax(self, x, axis=-1):
        return tf.nn.log_softmax(x, axis=axis)

    def sum(self, x, axis=None, keepdims=False):
        return tf.reduce_sum(x, axis=_axes(axis), keepdims=keepdims)

    def mean(self, x, axis=None, keepdims=False):
        return tf.reduce_mean(x, axis=_axes(axis), keepdims=keepdims)

    def max(self, x, axis=None, keepdims=False):
        return tf.reduce_max(x, axis=_axes(axis), keepdims=keepdims)

    def argmax(self, x, axis=-1):
        return tf.argmax(x, axis=axis)

    def reshape(self, x, shape):
        shape = list(shape)
        if any(s is None for s in shape):
            # traced with an open batch axis, x.shape[0] is None: it stands for
            # "this axis of x as it is", which tf.shape knows when the graph runs
            actual = tf.shape(x)
            shape = [actual[i] if s is None else s for i, s in enumerate(shape)]
        return tf.reshape(x, shape)

    def transpose(self, x, axes=None):
        return tf.transpose(x, perm=None if axes is None else list(axes))

    def concatenate(self, xs, axis=-1):
        return tf.concat(xs, axis=axis)

    def take_along_axis(self, x, indices, axis):
        return tf.experimental.numpy.take_along_axis(x, indices, axis)

    def matmul(self, a, b):
        return tf.matmul(a, b)

    def dense(self, x, kernel, bias=None):
        y = tf.matmul(x, kernel)
        return y if bias is None else tf.nn.bias_add(y, bias)

    def scan(self, step, init, xs):
        # tf.scan stacks every carry itself: one while loop in the graph
        return tuple(tf.scan(lambda carry, x_t: tuple(step(carry, x_t)), xs, tuple(init)))

    def embedding(self, ids, table):
        return tf.gather(table, ids)

    def conv2d(self, x, kernel, bias=None, stride=1, padding=0):
        nhwc = tf.transpose(x, (0, 2, 3, 1))
        hwio = tf.transpose(kernel, (2, 3, 1, 0))  # (F, C, KH, KW) -> (KH, KW, C, F)
        pads = [[0, 0], [padding, padding], [padding, padding], [0, 0]]
        out = tf.nn.conv2d(nhwc, hwio, strides=stride, padding=pads)
        if bias is not None:
            out = tf.nn.bias_add(out, bias)
        return tf.transpose(out, (0, 3, 1, 2))

    def maxpool2d(self, x, size=2, stride=None):
        stride = size if stride is None else stride
        nhwc = tf.transpose(x, (0, 2, 3, 1))
        out = tf.nn.max_pool2d(nhwc, ksize=size, strides=stride, padding="VALID")
        return tf.transpose(out, (0, 3, 1, 2))

    def dropout(self, x, rate, seed_state):
        # a tf.random.Generator advances in place: the same object goes back
        keep = seed_state.uniform(tf.shape(x), dtype=x.dtype) >= rate
        return x * (tf.cast(keep, x.dtype) * (1.0 / (1 - rate))), seed_state

    def stop_gradient(self, x):
        return tf.stop_gradient(x)

    def sparse_categorical_crossentropy(self, labels, y_pred, from_logits=False, eps=1e-7):
        if from_logits:  # one fused kernel for log-softmax and the pick, same math
            per_example = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, y_pred)
            return tf.reduce_mean(per_example)
        return super().sparse_categorical_crossentropy(labels, y_pred, False, eps)

    # binary_crossentropy stays the generic one: TensorFlow's fused
    # sigmoid_cross_entropy_with_logits gives the slope -t instead of 0.5 - t at
    # exactly z = 0 (its |z| has slope 0 there), where the other backends agree.

    # ----------------------------------------------------------------- training
    def _own_state(self, model):
        """The model's state as variables the step can assign (see module docstring)."""
        state = model.state_variables
        fixed = [
            self.variable(s, trainable=False) if isinstance(s, tf.Tensor) else s for s in state
        ]
        if any(a is not b for a, b in zip(fixed, state)):
            model.bind(model.trainable_weights, fixed)
        return fixed

    def make_train_step(self, model, loss, optimizer):
        from dlcourse.backends._tensorflow_optimizers import variable_rule

        params = model.trainable_weights
        state = self._own_state(model)
        with self._creating():  # the slots are mirrored like the weights they belong to
            rule = variable_rule(optimizer, params, tf)
            lr = tf.Variable(optimizer.learning_rate, dtype=model.dtype, trainable=False)
        lr_now = [optimizer.learning_rate]

        def train(x, y):
            with backends.running(self), self._on_device():  # runs while TF traces
                with tf.GradientTape() as tape:
                    y_pred, new_state = model.stateless_call(params, state, x, True)
                    value = loss(y, y_pred)
                grads = _dense_grads(params, tape.gradient(value, params))

                def update():
                    rule.apply(params, grads, lr)
                    for variable, new in zip(state, new_state):
                        if isinstance(variable, tf.Variable) and new is not variable:
                            variable.assign(new)
                    return tf.constant(True)

                # a non-finite loss would wreck every weight: then nothing changes
                tf.cond(tf.math.is_finite(value), update, lambda: tf.constant(False))
                return value, y_pred

        if self.strategy is not None:
            from dlcourse.backends._tensorflow_mirrored import make_replicated_step

            train = make_replicated_step(self, model, loss, rule, lr, tf, _dense_grads)
        compiled = _Compiled(train)

        def step(x, y):
            if optimizer.learning_rate != lr_now[0]:  # a schedule changed it
                lr_now[0] = optimizer.learning_rate
                lr.assign(lr_now[0])
            if state:
                self._adopt_rebound_state(model, params, state)
            return compiled(x, y)

        return step

    def _adopt_rebound_state(self, model, params, state):
        """An eager ``model(x, training=True)`` rebinds batch-norm statistics to plain
        tensors; copy them into the step's variables and bind those again."""
        current = model.state_variables
        if any(a is not b for a, b in zip(current, state)):
            for variable, value in zip(state, current):
                if isinstance(variable, tf.Variable) and value is not variable:
                    variable.assign(value)
            model.bind(params, state)

    def loss_and_gradients(self, model, loss, x, y, training=True):
        params = model.trainable_weights
        with backends.running(self), self._on_device():
            with tf.GradientTape() as tape:
                y_pred, _ = model.stateless_call(params, model.state_variables, x, training)
                value = loss(y, y_pred)
            grads = _dense_grads(params, tape.gradient(value, params))
        return float(value), grads

    def _cached(self, model, kind, fn):
        """A compiled ``fn`` kept on the model; a new one when layers or variables change
        (a traced graph holds on to the variables it read)."""
        cache = model.__dict__.setdefault("_tensorflow_backend_cache", {})
        key = (kind, tuple(map(id, model.layers)), tuple(map(id, model.weights)))
        if key not in cache:
            cache[key] = _Compiled(fn)
        return cache[key]

    def make_eval_step(self, model, loss):
        def evaluate(x, y):
            with backends.running(self), self._on_device():
                y_pred = model.call(x, False)
                return loss(y, y_pred), y_pred

        return self._cached(model, ("eval", id(loss)), evaluate)

    def make_predict(self, model):
        def predict(x):
            with backends.running(self), self._on_device():
                return model.call(x, False)

        return self._cached(model, "predict", predict)
