"""``Layer``: the base class of every layer, built-in or written by a student.

A layer has four methods to write, two of them optional:

``build(self, input_shape)``
    Called once, at the first call, with the shape of the first input (batch
    axis included). Create the weights here with ``self.add_weight(...)``: that
    is how ``Dense(64)`` learns its number of inputs from the data.
``call(self, x, training=False)``
    The forward pass, written with ``dlcourse.ops`` (``ops.matmul``, ``ops.relu``,
    ...). This is all that the autodiff backends (``torch``, ``jax``, ...) need.
``backward(self, dout)``
    Only for the ``manual`` backend: given dL/d(output), return dL/d(input) and
    put the gradient of each weight in ``self.grads[name]``. Save what you need in
    ``call`` (``self.x = x``), as in the hand-written chapters.
``forward(self, x, training=False)``
    Also for ``manual``: the forward pass that keeps what ``backward`` needs. It
    defaults to ``call``; built-in layers override it with ``dlcourse.functional``.

Weights are the backend's own arrays, kept as attributes named after the weight
(``self.kernel``), so ``call`` reads them like any attribute. Compiling backends
(JAX, PyTensor) temporarily put other values in those attributes to trace a
pure function of the weights; see ``Sequential.stateless_call``.
"""

import re

import numpy as np

from dlcourse import backends
from dlcourse.nn import config, initializers
from dlcourse.nn.errors import NotBuiltError, missing_backward_error

__all__ = ["Layer"]

_TRAINABLE, _STATE, _SEED = "trainable", "state", "seed"
_REGISTRY = {}  # class name -> class, so that load_model finds every layer class


def layer_class(name):
    """The Layer subclass called ``name`` (defined anywhere in this session), or None."""
    return _REGISTRY.get(name)


def _snake(name):
    """Default layer names: MyLayer -> my_layer, MaxPool2D -> max_pool2d, ReLU -> relu."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z][a-z])", "_", name).lower()


class _Variable:
    """Bookkeeping for one weight: its name, its kind, and the attributes that hold it."""

    __slots__ = ("name", "kind", "attrs")

    def __init__(self, name, kind):
        self.name, self.kind, self.attrs = name, kind, [name]


class Layer:
    """Base class of layers; subclass it and write ``build``/``call`` (and ``backward``)."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _REGISTRY[cls.__name__] = cls

    def __init__(self, name=None, dtype=None):
        self.name = name or _snake(type(self).__name__)
        self.dtype = None if dtype is None else str(dtype)
        self.built = False
        self.input_shape = None  # (None, ...) once built: None stands for the batch size
        self.output_shape = None
        self.grads = {}  # weight name -> gradient, filled by backward() on 'manual'
        self.needs_input_grad = True  # False: backward() may skip dx (nothing upstream learns)
        self._auto_name = name is None
        self._variables = []
        self._backend = None
        self._rng = None

    def __repr__(self):
        return f"<{type(self).__name__} {self.name!r}{'' if self.built else ' (not built)'}>"

    # ------------------------------------------------------------- to override
    def build(self, input_shape):
        """Create the weights, knowing the input shape (batch axis first). Default: none."""

    def call(self, x, training=False):
        """The forward pass, written with ``dlcourse.ops``."""
        raise NotImplementedError(
            f"layer {self.name!r} ({type(self).__name__}) needs a call(self, x, training=False) "
            "method that computes its output."
        )

    def forward(self, x, training=False):
        """Forward pass on the 'manual' backend; keep here what backward needs."""
        return self.call(x, training)

    def backward(self, dout):
        """dL/d(input) from dL/d(output); weight gradients go to ``self.grads``."""
        raise missing_backward_error(self)

    def has_backward(self):
        return type(self).backward is not Layer.backward

    def get_config(self):
        """The constructor arguments, as JSON-friendly values (for save/load)."""
        config = {"name": self.name}
        if self.dtype is not None:
            config["dtype"] = self.dtype
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    # ----------------------------------------------------------------- weights
    def add_weight(self, name, shape, initializer="glorot_uniform", trainable=True):
        """Create a weight, store it as ``self.<name>`` and return it.

        The value is drawn in NumPy (from the model's seeded generator) and then
        handed to the backend, so every backend starts from the same numbers.
        ``trainable=False`` makes a state that is saved but not learned (batch
        norm's running mean, say); ``call`` updates it by assigning the attribute.
        """
        if not name.isidentifier() or name in {"name", "dtype", "grads", "built"}:
            raise ValueError(f"name: expected a Python identifier for the weight, got {name!r}.")
        if any(v.name == name for v in self._variables):
            raise ValueError(f"layer {self.name!r} already has a weight called {name!r}.")
        shape = tuple(int(s) for s in shape)
        value = initializers.get(initializer)(shape, self._dtype(), self._generator())
        native = self._active_backend().variable(value, trainable=trainable)
        self._variables.append(_Variable(name, _TRAINABLE if trainable else _STATE))
        setattr(self, name, native)
        return native

    def add_seed_state(self, name="seed_state", seed=None):
        """A random generator state (for dropout) stored as ``self.<name>``.

        ``seed=None`` draws one from the model's generator, so a seeded model
        gives the same random masks run after run.
        """
        if seed is None:
            seed = int(self._generator().integers(2**31 - 1))
        state = self._active_backend().seed_state(seed)
        self._variables.append(_Variable(name, _SEED))
        setattr(self, name, state)
        return state

    def _values(self, *kinds):
        return [getattr(self, v.name) for v in self._variables if v.kind in kinds]

    def _names(self, *kinds):
        return [v.name for v in self._variables if v.kind in kinds]

    def _set_values(self, values, *kinds):
        """Rebind the attributes of the weights of ``kinds`` to ``values`` (native arrays)."""
        chosen = [v for v in self._variables if v.kind in kinds]
        for variable, value in zip(chosen, values):
            for attr in variable.attrs:
                setattr(self, attr, value)

    @property
    def trainable_weights(self):
        return self._values(_TRAINABLE)

    @property
    def trainable_weight_names(self):
        return self._names(_TRAINABLE)

    @property
    def non_trainable_weights(self):
        return self._values(_STATE)

    @property
    def weights(self):
        """Trainable weights, then non-trainable ones (the order of get_weights)."""
        return self._values(_TRAINABLE) + self._values(_STATE)

    @property
    def weight_names(self):
        return self._names(_TRAINABLE) + self._names(_STATE)

    @property
    def state_variables(self):
        """Everything ``call`` may change: non-trainable weights and random states."""
        return self._values(_STATE, _SEED)

    def count_params(self):
        return sum(int(np.prod(tuple(w.shape))) for w in self.weights)

    def get_weights(self):
        """The weights as NumPy arrays (copies), trainable first."""
        self._require_built("get_weights")
        to_numpy = self._backend.to_numpy
        return [np.array(to_numpy(w), copy=True) for w in self.weights]

    def set_weights(self, values):
        """Overwrite the weights with NumPy arrays, in the order of ``get_weights``."""
        self._require_built("set_weights")
        values = list(values)
        names = self.weight_names
        if len(values) != len(names):
            raise ValueError(
                f"layer {self.name!r} has {len(names)} weights ({', '.join(names) or 'none'}), "
                f"got {len(values)} arrays."
            )
        new = []
        for name, weight, value in zip(names, self.weights, values):
            value = np.asarray(value)
            if tuple(value.shape) != tuple(weight.shape):
                raise ValueError(
                    f"layer {self.name!r}, weight {name!r}: expected shape "
                    f"{tuple(weight.shape)}, got {tuple(value.shape)}."
                )
            new.append(self._backend.assign(weight, value.astype(self._dtype(), copy=False)))
        trainable = len(self.trainable_weights)
        self._set_values(new[:trainable], _TRAINABLE)
        self._set_values(new[trainable:], _STATE)

    # ------------------------------------------------------------------ plumbing
    def _dtype(self):
        return self.dtype or config.floatx()

    def _generator(self):
        if self._rng is None:
            self._rng = np.random.default_rng(config.get_seed())
        return self._rng

    def _active_backend(self):
        if self._backend is None:
            self._backend = backends.current()
        return self._backend

    def _require_built(self, action):
        if not self.built:
            raise NotBuiltError(
                f"layer {self.name!r} has no weights yet: they are created at its first call. "
                f"Call it on an input (or build the model) before {action}."
            )

    def _setup(self, backend, dtype, rng):
        """Called by a model before building: which backend, float type and generator."""
        self._backend = backend
        if self.dtype is None:
            self.dtype = dtype
        self._rng = rng

    def _build(self, input_shape):
        self.build(tuple(input_shape))
        # remember every attribute that holds a weight (self.w = self.add_weight("kernel")),
        # so that binding new values updates them all
        for attr, value in vars(self).items():
            for variable in self._variables:
                if attr != variable.name and value is getattr(self, variable.name):
                    variable.attrs.append(attr)
        self.input_shape = (None, *tuple(input_shape)[1:])
        self.built = True

    def _build_and_call(self, x, training=False):
        """Build on the first input, run ``call``, and record the output shape."""
        if not self.built:
            self._build(tuple(x.shape))
        out = self.call(x, training)
        self.output_shape = (None, *tuple(out.shape)[1:])
        return out

    def __call__(self, x, training=False):
        """Run the layer on its own: NumPy input is converted to the backend's arrays."""
        backend = self._active_backend()
        with backends.running(backend):
            if isinstance(x, (np.ndarray, list, tuple, float, int)):
                x = backend.asarray(np.asarray(x), self._dtype())
            return self._build_and_call(x, training)
