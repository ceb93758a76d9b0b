"""The ``jax`` backend: JAX arrays, ``jax.value_and_grad``, and a ``jax.jit``-compiled step.

JAX is functional: an array never changes, and ``jax.grad`` differentiates a
*pure* function of its arguments. So the train step here is one pure function

    (params, opt_state, state, x, y, lr) -> (params, opt_state, state, loss, y_pred)

built from ``model.stateless_call`` (the forward pass with the weights passed in),
differentiated with ``jax.value_and_grad`` and compiled once with ``jax.jit``.
After each step the new arrays are put back on the layers with ``model.bind``, so
``get_weights``, ``predict`` and ``evaluate`` always see the current values. (An
array you took from a layer earlier, ``w = dense.kernel``, keeps the values it
had then: JAX arrays never change, new ones replace them.)
The optimizers are the pure rules of ``_jax_optimizers`` (same formulas as
``dlcourse.functional``). Dropout draws from JAX random keys, which the step
threads through as part of ``state``.

float64
-------
JAX computes in float32 unless ``jax_enable_x64`` is on, and that switch is
global to the process. This backend turns it on the first time a float64 array
is asked for (a float64 model, or ``ops.convert_to_tensor`` of float64 NumPy
data), so float64 models really compute in float64. Float32 models are not
affected: every array dlcourse makes carries its dtype explicitly. Your own JAX
code in the same process will, from then on, default to 64-bit types, as with
``jax.config.update("jax_enable_x64", True)``.

Device: ``device=None`` uses JAX's default device (a GPU when jaxlib has one),
``"cpu"`` or ``"gpu"`` pick one. JAX is imported when the backend is created.

Several devices: ``dlcourse.set_backend("jax", data_parallel=N)`` trains
data-parallel over the first N devices of that platform, in this process:
weights replicated, each batch split over a ``Mesh`` axis, the same compiled
step (see ``_jax_mesh``). ``DataParallel("jax", nproc=N)`` uses it.
"""

import numpy as np

from dlcourse import backends
from dlcourse.backends.base import Backend

__all__ = ["JaxBackend", "create"]

jax = jnp = lax = None  # bound by _import_jax() when the backend is created

_WIDE_FLOATS = ("float64", "complex128")  # dtypes that switch on jax_enable_x64
_NARROW_INTS = {"int64": np.int32, "uint64": np.uint32}  # what 64-bit ints become without it


def _import_jax():
    global jax, jnp, lax
    if jax is None:
        import jax as _jax
        import jax.numpy as _jnp
        from jax import lax as _lax

        jax, jnp, lax = _jax, _jnp, _lax


def create(device=None, data_parallel=None):
    return JaxBackend(device=device, data_parallel=data_parallel)


def _resolve_device(device):
    if device is None:
        return jax.devices()[0]
    kind = {"cuda": "gpu"}.get(str(device), str(device))
    try:
        return jax.devices(kind)[0]
    except RuntimeError:
        present = ", ".join(sorted({d.platform for d in jax.devices()}))
        raise ValueError(
            f"device={device!r}: JAX sees no such device here; it has: {present}. "
            "Leave device unset to use JAX's default."
        ) from None


def _aligned_copy(a):
    """A fresh copy of the NumPy array ``a`` whose memory starts on a 64-byte boundary.

    On the CPU, ``jax.device_put`` adopts such memory as it is instead of copying
    it (and copies anything else several times slower than NumPy would): making
    the copy ourselves is faster, and the JAX array then shares memory with no
    array of the caller's, who may change theirs later.
    """
    buffer = np.empty(a.nbytes + 64, dtype=np.uint8)
    start = -buffer.ctypes.data % 64
    out = buffer[start : start + a.nbytes].view(a.dtype).reshape(a.shape)
    np.copyto(out, a)
    return out


def _dims(axis):
    return tuple(axis) if isinstance(axis, (tuple, list)) else axis


def _rows(xs, index):
    """The rows ``index`` of an input array, or of each array of a tuple of inputs."""
    return jax.tree.map(lambda a: a[index], xs)


def _keep_if(ok, new, old):
    """``new`` where the loss was finite, ``old`` otherwise (pytrees of arrays)."""
    return jax.tree.map(lambda a, b: jnp.where(ok, a, b), new, old)


class JaxBackend(Backend):
    """JAX arrays, jax.value_and_grad and a jit-compiled train step."""

    name = "jax"
    step_takes_rows = True
    asynchronous_steps = True
    many_steps_per_call = True

    def __init__(self, device=None, data_parallel=None):
        super().__init__(device=device, data_parallel=data_parallel)
        _import_jax()
        self.device = _resolve_device(device)
        self.mesh = None
        # where every array the backend makes is put: one device, or a copy on each of the mesh's
        self._placement = self.device
        if data_parallel is not None:
            from dlcourse.backends._jax_mesh import DataMesh

            self.mesh = DataMesh(jax, self.device.platform, data_parallel)
            self._placement = self.mesh.replicated
        # one compiled gather serves every batch: jitted, it costs a single dispatch
        self._take = jax.jit(lambda x, index: x[index])

    def describe(self):
        if self.mesh is not None:
            return f"jax ({self.device.platform}, data parallel over {self.mesh.size} devices)"
        return f"jax ({self.device.platform})"

    def _split_batch(self, tree):
        """Inside a compiled step: the batch split over the mesh's devices (none: as it is)."""
        return tree if self.mesh is None else self.mesh.split_batch(tree)

    # ------------------------------------------------------------------ arrays
    @staticmethod
    def _need_x64(dtype):
        if str(dtype) in _WIDE_FLOATS and not jax.config.jax_enable_x64:
            jax.config.update("jax_enable_x64", True)  # see "float64" in the module docstring

    def asarray(self, x, dtype=None):
        if isinstance(x, jax.Array):
            if dtype is not None:
                self._need_x64(dtype)
                x = x.astype(dtype)
            return jax.device_put(x, self._placement)
        x = np.asarray(x, dtype=dtype)
        self._need_x64(x.dtype)
        x = x.astype(self._int_dtype(x.dtype), copy=False)
        if self.device.platform == "cpu":
            x = _aligned_copy(x)
        return jax.device_put(x, self._placement)

    def to_numpy(self, x):
        return np.asarray(x)

    @staticmethod
    def _int_dtype(dtype):
        """int64 as int32 while x64 is off: class labels fit in 32 bits, and JAX would
        otherwise truncate them itself, with a warning (only float64 switches x64 on)."""
        if str(dtype) in _NARROW_INTS and not jax.config.jax_enable_x64:
            return _NARROW_INTS[str(dtype)]
        return dtype

    def cast(self, x, dtype):
        self._need_x64(dtype)
        return x.astype(self._int_dtype(dtype))

    def variable(self, value, trainable=True):
        return self.asarray(value)

    def assign(self, variable, value):
        return self.asarray(value, variable.dtype)  # arrays are immutable: a new one

    def seed_state(self, seed):
        return jax.device_put(jax.random.PRNGKey(int(seed)), self._placement)

    def batch_index(self, index):
        # kept in NumPy: fit slices it once per batch, and slicing a NumPy array costs
        # nothing while slicing a JAX array is a dispatched operation
        return np.asarray(index, dtype=np.int32)

    def take(self, x, index):
        # a NumPy index goes straight into the compiled gather: a jitted function
        # moves its NumPy arguments itself, far faster than jax.device_put does
        return self._take(x, index)

    # ---------------------------------------------------------------------- ops
    def exp(self, x):
        return jnp.exp(x)

    def log(self, x):
        return jnp.log(x)

    def sqrt(self, x):
        return jnp.sqrt(x)

    def abs(self, x):
        return jnp.abs(x)

    def maximum(self, a, b):
        return jnp.maximum(a, b)

    def minimum(self, a, b):
        return jnp.minimum(a, b)

    def where(self, condition, a, b):
        return jnp.where(condition, a, b)

    def clip(self, x, low, high):
        # spelled with where, not jnp.clip, so that the slope is exactly 1 on the whole
        # closed interval [low, high] and 0 outside, as the hand-written losses assume
        return jnp.where(x < low, low, jnp.where(x > high, high, x)).astype(x.dtype)

    def relu(self, x):
        return jax.nn.relu(x)  # its derivative at 0 is 0, as everywhere in the course

    def sigmoid(self, x):
        return jax.nn.sigmoid(x)

    def tanh(self, x):
        return jnp.tanh(x)

    def softmax(self, x, axis=-1):
        return jax.nn.softmax(x, axis=axis)

    def log_softmax(self, x, axis=-1):
        return jax.nn.log_softmax(x, axis=axis)

    def sum(self, x, axis=None, keepdims=False):
        return jnp.sum(x, axis=_dims(axis), keepdims=keepdims)

    def mean(self, x, axis=None, keepdims=False):
        return jnp.mean(x, axis=_dims(axis), keepdims=keepdims)

    def max(self, x, axis=None, keepdims=False):
        return jnp.max(x, axis=_dims(axis), keepdims=keepdims)

    def argmax(self, x, axis=-1):
        return jnp.argmax(x, axis=axis)

    def reshape(self, x, shape):
        return jnp.reshape(x, tuple(shape))

    def transpose(self, x, axes=None):
        return jnp.transpose(x, None if axes is None else tuple(axes))

    def concatenate(self, xs, axis=-1):
        return jnp.concatenate(xs, axis=axis)

    def take_along_axis(self, x, indices, axis):
        return jnp.take_along_axis(x, indices, axis=axis)

    def matmul(self, a, b):
        return jnp.matmul(a, b)

    def scan(self, step, init, xs):
        def body(carry, x_t):
            new = tuple(step(carry, x_t))
            return new, new  # the carries are also what is stacked

        return lax.scan(body, tuple(init), xs)[1]

    def embedding(self, ids, table):
        return jnp.take(table, ids, axis=0)

    def conv2d(self, x, kernel, bias=None, stride=1, padding=0):
        # NCHW images and (F, C, KH, KW) kernels are the "OIHW" layout XLA knows
        # natively, so nothing needs transposing; like every deep-learning
        # "convolution" it is a cross-correlation (the kernel is not flipped)
        out = lax.conv_general_dilated(
            x,
            kernel,
            window_strides=(stride, stride),
            padding=((padding, padding), (padding, padding)),
            dimension_numbers=("NCHW", "OIHW", "NCHW"),
        )
        return out if bias is None else out + jnp.reshape(bias, (1, -1, 1, 1))

    def maxpool2d(self, x, size=2, stride=None):
        stride = size if stride is None else stride
        return lax.reduce_window(
            x, -jnp.inf, lax.max, (1, 1, size, size), (1, 1, stride, stride), "VALID"
        )

    def dropout(self, x, rate, seed_state):
        # JAX keys are values, not generators: split off a key for this mask and
        # hand the other back to be used next time
        seed_state, key = jax.random.split(seed_state)
        keep = jax.random.bernoulli(key, 1 - rate, x.shape)
        return x * (keep.astype(x.dtype) * (1.0 / (1 - rate))), seed_state

    def stop_gradient(self, x):
        return lax.stop_gradient(x)

    # ----------------------------------------------------------------- training
    def _objective(self, model, loss, state, x, y, training):
        """A pure function of the trainable weights: ``params -> (loss, (y_pred, state))``."""

        def objective(params):
            with backends.running(self):  # runs while JAX traces: ops come here
                x_rows, y_rows = self._split_batch((x, y))
                y_pred, new_state = model.stateless_call(params, state, x_rows, training)
                return loss(y_rows, y_pred), (y_pred, new_state)

        return objective

    def make_train_step(self, model, loss, optimizer):
        from dlcourse.backends._jax_optimizers import pure_rule

        init, update_rule = pure_rule(optimizer)

        def update(params, opt_state, state, x, y, lr, healthy):
            objective = self._objective(model, loss, state, x, y, True)
            (value, (y_pred, new_state)), grads = jax.value_and_grad(objective, has_aux=True)(
                params
            )
            new_params, new_opt_state = update_rule(params, grads, opt_state, lr)
            # a non-finite loss would wreck every weight: keep the old values instead
            # (a select, fused by XLA into the update itself, so it costs nothing)
            ok = jnp.logical_and(healthy, jnp.isfinite(value))
            kept = (
                _keep_if(ok, new_params, params),
                _keep_if(ok, new_opt_state, opt_state),
                _keep_if(ok, new_state, state),
            )
            return kept, value, y_pred, ok

        def train(params, opt_state, state, x, y, lr):
            kept, value, y_pred, _ = update(params, opt_state, state, x, y, lr, True)
            return (*kept, value, y_pred)

        def train_on_rows(params, opt_state, state, xs, ys, index, lr):
            return train(params, opt_state, state, _rows(xs, index), _rows(ys, index), lr)

        def train_on_many(params, opt_state, state, xs, ys, rows, lr):
            """One step per row of ``rows``, in one compiled loop (``lax.scan``).

            After a non-finite loss no weight changes any more, so the weights
            that come out are those from before the first bad batch.
            """

            def one(carry, index):
                *weights, healthy = carry
                kept, value, _, ok = update(
                    *weights, _rows(xs, index), _rows(ys, index), lr, healthy
                )
                return (*kept, ok), value

            start = (params, opt_state, state, jnp.asarray(True))
            (params, opt_state, state, _), values = lax.scan(one, start, rows)
            return params, opt_state, state, values

        compiled, compiled_on_rows = jax.jit(train), jax.jit(train_on_rows)
        compiled_on_many = jax.jit(train_on_many)
        opt_state = None

        def run(compiled_fn, *args):
            """Call ``compiled_fn`` on the current weights; bind the new ones, return the rest."""
            nonlocal opt_state
            # read the layers every time: set_weights between two fits is then seen
            params, state = model.trainable_weights, model.state_variables
            if opt_state is None:
                # placed like the weights, so that the first call and the next ones
                # look alike to jit (an unplaced array would cost a second compilation)
                opt_state = jax.device_put(init(params), self._placement)
            out = compiled_fn(params, opt_state, state, *args, optimizer.learning_rate)
            params, opt_state, state, *results = out
            model.bind(params, state)
            return results

        def step(x, y, index=None):
            if index is None:
                value, y_pred = run(compiled, x, y)
            else:
                # the batch is gathered inside the compiled step: one dispatch, not three
                value, y_pred = run(compiled_on_rows, x, y, index)
            return value, y_pred

        def many(xs, ys, rows):
            (values,) = run(compiled_on_many, xs, ys, rows)
            return values

        step.many = many
        return step

    def loss_and_gradients(self, model, loss, x, y, training=True):
        def build():
            def loss_and_grads(params, state, x, y):
                objective = self._objective(model, loss, state, x, y, training)
                (value, _), grads = jax.value_and_grad(objective, has_aux=True)(params)
                return value, grads

            return loss_and_grads

        # compiled, because JAX run op by op would compile every small op on its own
        compiled = self._compiled(model, ("gradients", id(loss), training), build)
        value, grads = compiled(model.trainable_weights, model.state_variables, x, y)
        return float(value), grads

    def _compiled(self, model, kind, build):
        """A jitted function cached on the model, rebuilt when its layers change."""
        cache = model.__dict__.setdefault("_jax_backend_cache", {})
        key = (kind, tuple(id(layer) for layer in model.layers))
        if key not in cache:
            cache[key] = jax.jit(build())
        return cache[key]

    def make_eval_step(self, model, loss):
        def build():
            def evaluate(params, state, x, y):
                with backends.running(self):
                    x, y = self._split_batch((x, y))
                    y_pred, _ = model.stateless_call(params, state, x, False)
                    return loss(y, y_pred), y_pred

            return evaluate

        compiled = self._compiled(model, ("eval", id(loss)), build)
        return lambda x, y: compiled(model.trainable_weights, model.state_variables, x, y)

    def make_predict(self, model):
        def build():
            def predict(params, state, x):
                with backends.running(self):
                    return model.stateless_call(params, state, self._split_batch(x), False)[0]

            return predict

        compiled = self._compiled(model, "predict", build)
        return lambda x: compiled(model.trainable_weights, model.state_variables, x)
