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

Layers inside layers
--------------------
A layer may hold other layers, assigned in ``__init__`` (or ``build``) and used
in ``call``, as in Keras::

    class Residual(Layer):
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.inner = Dense(units, activation="relu")
            self.outer = Dense(units)

        def call(self, x, training=False):
            return x + self.outer(self.inner(x))

        def backward(self, dout):        # only for 'manual'
            return dout + self.inner.backward(self.outer.backward(dout))

Every layer assigned as an attribute (or in a list or tuple) is tracked at
once, at any depth: its weights belong to the outer layer (``weights``,
``count_params``, ``get_weights``), so every backend trains them. While
``forward`` runs (on ``manual``), a sublayer called as ``self.inner(x)`` runs
its own ``forward``, so its ``backward`` finds what it needs.

Weight order
------------
``weights``, ``get_weights`` and ``set_weights`` list the layer's own weights
(trainable ones first, each kind in the order ``add_weight`` made them), then
those of each sublayer in the order the sublayers were assigned, depth first;
a layer held twice counts once. ``trainable_weights`` and ``state_variables``
keep the same layer order.

Weights are the backend's own arrays, kept as attributes named after the weight
(``self.kernel``), so ``call`` reads them like any attribute. Compiling backends
(JAX, PyTensor) temporarily put other values in those attributes to trace a
pure function of the weights; see ``Model.stateless_call``.
"""

import re

import numpy as np

from dlcourse import backends
from dlcourse.nn import config, initializers
from dlcourse.nn.errors import NotBuiltError, missing_backward_error
from dlcourse.nn.symbolic import Node, check_all_symbolic, is_symbolic

__all__ = ["Layer"]

_TRAINABLE, _STATE, _SEED = "trainable", "state", "seed"
# class name -> {module: class}, so that load_model finds every layer class; a
# class redefined in the same module (a notebook cell run again) replaces the old one
_REGISTRY = {}
_HAND_WRITTEN = [0]  # > 0 while a default forward() runs: sublayers then run forward() too
_BUILDING = []  # the layers whose first call is running, innermost last
_STRUCTURE = [0]  # bumped whenever a layer gains a sublayer or a weight: caches then renew


def layer_class(name, module=None):
    """The Layer subclass called ``name`` (defined anywhere in this session), or None.

    ``module``: where the saved class was defined; it decides between classes of
    the same name. With several and none from ``module``, a ValueError lists them.
    """
    found = _REGISTRY.get(name, {})
    if module in found:
        return found[module]
    if len(found) > 1:
        where = ", ".join(sorted(found))
        raise ValueError(
            f"several layer classes called {name!r} are defined in this session (in {where})"
            f"{f', none of them in {module}, where the saved one was' if module else ''}: "
            f"pass custom_objects={{{name!r}: TheRightClass}} to say which."
        )
    return next(iter(found.values()), None)


def class_reference(cls):
    """How a saved file names a class: its name, and its module to tell namesakes apart."""
    return {"class": cls.__name__, "module": cls.__module__}


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

    #: True for layers that read integer ids (Embedding): a model starting with one
    #: takes integer inputs and hands them on uncast; every other input is a float
    integer_inputs = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _REGISTRY.setdefault(cls.__name__, {})[cls.__module__] = cls

    def __init__(self, name=None, dtype=None):
        object.__setattr__(self, "_tracked", {})  # attribute -> sublayer(s), in order
        self.name = name or _snake(type(self).__name__)
        self.dtype = None if dtype is None else str(dtype)
        self._dtype_given = dtype is not None  # else the model it joins chooses
        self.built = False
        self.input_shape = None  # (None, ...) once built: None stands for the batch size
        self.output_shape = None
        self.grads = {}  # weight name -> gradient, filled by backward() on 'manual'
        self.needs_input_grad = True  # False: backward() may skip dx (nothing upstream learns)
        self._auto_name = name is None
        self._variables = []
        self._backend = None
        self._rng = None
        self._set_up = False  # True once a model has given it a backend, dtype and generator

    def __repr__(self):
        return f"<{type(self).__name__} {self.name!r}{'' if self.built else ' (not built)'}>"

    def __setattr__(self, attr, value):
        # track sublayers (self.inner = Dense(8)) so that their weights are the layer's too
        tracked = self.__dict__.get("_tracked")
        if isinstance(value, Layer) or _layer_sequence(value):
            if tracked is None:
                raise RuntimeError(
                    f"{type(self).__name__}.__init__ assigns the layer self.{attr} before "
                    "calling super().__init__(...): call super().__init__() first, so that "
                    "the sublayer's weights can be tracked."
                )
            tracked[attr] = value
            _STRUCTURE[0] += 1
            if self.__dict__.get("_set_up"):
                for layer in _as_layers(value):
                    self._give_setup(layer)
        elif tracked is not None and attr in tracked:
            del tracked[attr]
            _STRUCTURE[0] += 1
        elif attr == "name":
            _STRUCTURE[0] += 1  # names make the weights' paths
        object.__setattr__(self, attr, value)

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
        """Forward pass on the 'manual' backend; keep here what backward needs.

        The default runs ``call``, in which sublayers then run their ``forward``.
        """
        _HAND_WRITTEN[0] += 1
        try:
            return self.call(x, training)
        finally:
            _HAND_WRITTEN[0] -= 1

    def backward(self, dout):
        """dL/d(input) from dL/d(output); weight gradients go to ``self.grads``."""
        raise missing_backward_error(self)

    def output_count(self):
        """How many outputs a call gives (a list of them when more than one)."""
        return 1

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

    # -------------------------------------------------------------- sublayers
    def _named_sublayers(self):
        """``(name, layer)`` for each layer held directly, in the order they were assigned."""
        named = []
        for attr, value in self._tracked.items():
            if isinstance(value, Layer):
                named.append((attr, value))
            else:
                named.extend((f"{attr}[{i}]", layer) for i, layer in enumerate(value))
        return named

    def _sublayers(self):
        """The layers this one holds directly, in the order they were assigned."""
        return [layer for _, layer in self._named_sublayers()]

    def _walk(self):
        """``(path, layer)`` for this layer and every layer inside it, depth first, each once.

        ``path`` is how the layer is reached from here (``"inner/"``); this is the
        order of every weight list. Cached until any layer's structure changes
        (compiled train steps read the weights at every step).
        """
        cached = self.__dict__.get("_walk_cache")
        if cached is not None and cached[0] == _STRUCTURE[0]:
            return cached[1]
        seen, order = set(), []

        def visit(layer, path):
            if id(layer) in seen:
                return
            seen.add(id(layer))
            order.append((path, layer))
            for name, sub in layer._named_sublayers():
                visit(sub, f"{path}{name}/")

        visit(self, "")
        object.__setattr__(self, "_walk_cache", (_STRUCTURE[0], order))
        object.__setattr__(self, "_slot_cache", {})
        return order

    def _give_setup(self, layer):
        if not layer.built:
            layer._setup(self._backend, self.dtype, self._rng)
        elif self._backend is not None:
            check_joinable(layer, self._backend, self.dtype, f"{self._kind()} {self.name!r}")

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
        _STRUCTURE[0] += 1
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
        _STRUCTURE[0] += 1
        setattr(self, name, state)
        return state

    def _own(self, *kinds):
        """This layer's own variables of ``kinds`` (not its sublayers')."""
        return [v for v in self._variables if v.kind in kinds]

    def _own_weights(self):
        return self._own(_TRAINABLE) + self._own(_STATE)

    def _slots(self, kinds):
        """``(layer, variable)`` for every weight of ``kinds`` here and inside (cached)."""
        self._walk()  # renews the caches when the structure changed
        cache = self.__dict__["_slot_cache"]
        slots = cache.get(kinds)
        if slots is None:
            slots = cache[kinds] = [
                (layer, v) for _, layer in self._walk() for v in layer._own(*kinds)
            ]
        return slots

    def _values(self, *kinds):
        return [getattr(layer, v.name) for layer, v in self._slots(kinds)]

    def _set_values(self, values, *kinds):
        """Rebind this layer's own attributes of the weights of ``kinds`` to ``values``."""
        for variable, value in zip(self._own(*kinds), values):
            for attr in variable.attrs:
                setattr(self, attr, value)

    def weight_slots(self, *kinds):
        """``(layer, weight name)`` for each weight of ``kinds`` (default: trainable), in order.

        The layer is the one that made the weight (itself or a sublayer): where
        the 'manual' backend finds its gradient, ``layer.grads[name]``.
        """
        kinds = kinds or (_TRAINABLE,)
        return [(layer, v.name) for layer, v in self._slots(kinds)]

    def bind(self, params, state):
        """Put native values into the weight attributes, sublayers included (no copy).

        ``params`` follows ``trainable_weights``, ``state`` follows ``state_variables``.
        """
        for slots, values in (
            (self._slots((_TRAINABLE,)), params),
            (self._slots((_STATE, _SEED)), state),
        ):
            for (layer, variable), value in zip(slots, values):
                for attr in variable.attrs:
                    setattr(layer, attr, value)

    @property
    def trainable_weights(self):
        return self._values(_TRAINABLE)

    @property
    def trainable_weight_names(self):
        return [p + v.name for p, layer in self._walk() for v in layer._own(_TRAINABLE)]

    @property
    def non_trainable_weights(self):
        return self._values(_STATE)

    @property
    def weights(self):
        """Each layer's trainable weights, then its non-trainable ones (get_weights' order)."""
        return [getattr(layer, v.name) for _, layer in self._walk() for v in layer._own_weights()]

    @property
    def weight_names(self):
        """The weights' names, sublayers' prefixed with their path (``inner/kernel``)."""
        return [p + v.name for p, layer in self._walk() for v in layer._own_weights()]

    @property
    def state_variables(self):
        """Everything ``call`` may change: non-trainable weights and random states."""
        return self._values(_STATE, _SEED)

    def count_params(self):
        return sum(int(np.prod(tuple(w.shape))) for w in self.weights)

    def get_weights(self):
        """The weights as NumPy arrays (copies), in the order of ``weights``."""
        self._require_built("get_weights")
        to_numpy = self._active_backend().to_numpy
        return [np.array(to_numpy(w), copy=True) for w in self.weights]

    def set_weights(self, values):
        """Overwrite the weights with NumPy arrays, in the order of ``get_weights``."""
        self._require_built("set_weights")
        values = list(values)
        names = self.weight_names
        if len(values) != len(names):
            if self._kind() == "model":
                raise ValueError(
                    f"set_weights: the model has {len(names)} weight arrays, got {len(values)} "
                    "(the order is that of get_weights)."
                )
            raise ValueError(
                f"layer {self.name!r} has {len(names)} weights "
                f"({', '.join(names) or 'none'}), got {len(values)} arrays."
            )
        checked = iter(zip(self.weights, values))
        for _, layer in self._walk():
            new = []
            for variable in layer._own_weights():
                weight, value = next(checked)
                value = np.asarray(value)
                if tuple(value.shape) != tuple(weight.shape):
                    raise ValueError(
                        f"layer {layer.name!r}, weight {variable.name!r}: expected shape "
                        f"{tuple(weight.shape)}, got {tuple(value.shape)}."
                    )
                new.append(layer._backend.assign(weight, value.astype(layer._dtype(), copy=False)))
            trainable = len(layer._own(_TRAINABLE))
            layer._set_values(new[:trainable], _TRAINABLE)
            layer._set_values(new[trainable:], _STATE)

    # ------------------------------------------------------------------ plumbing
    def _kind(self):
        return "layer"

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
        """Called by a model before building: which backend, float type and generator.

        Sublayers (held now, or assigned later) get the same. A float type the
        layer was not given is the model's, even when another model set it up first.
        """
        self._backend = backend
        if not self._dtype_given:
            self.dtype = dtype
        self._rng = rng
        self._set_up = True
        for layer in self._sublayers():
            self._give_setup(layer)

    def _build(self, input_shape):
        self.build(input_shape)
        # remember every attribute that holds a weight (self.w = self.add_weight("kernel")),
        # so that binding new values updates them all
        for attr, value in vars(self).items():
            for variable in self._variables:
                if attr != variable.name and value is getattr(self, variable.name):
                    variable.attrs.append(attr)
        self.input_shape = _batch_free(input_shape)
        self.built = True

    def _build_and_call(self, x, training=False, record=True):
        """Build on the first input, run ``call`` (or ``forward`` while a default
        ``forward`` runs), and record the output shape when ``record``."""
        if not self.built:
            _BUILDING.append(self)
            try:
                self._build(_shape_of(x))
                out = self.forward(x, training) if _HAND_WRITTEN[0] else self.call(x, training)
            finally:
                _BUILDING.pop()
            record = True
        else:
            out = self.forward(x, training) if _HAND_WRITTEN[0] else self.call(x, training)
        if record:
            self.output_shape = _batch_free(_shape_of(out))
        return out

    def __call__(self, x, training=False):
        """Run the layer. On ``Input`` placeholders it records a graph node instead (see
        ``dlcourse.nn.symbolic``); NumPy input is converted to the backend's arrays."""
        if is_symbolic(x):
            check_all_symbolic(self, x)
            node = Node(self, list(x) if isinstance(x, (list, tuple)) else x, self.output_count())
            return node.outputs if len(node.outputs) > 1 else node.output
        if _BUILDING:
            check_tracked(_BUILDING[-1], self)
        backend = self._active_backend()
        with backends.running(backend):
            x = _native(backend, x, None if self.integer_inputs else self._dtype())
            return self._build_and_call(x, training, record=not self.built)


def check_tracked(parent, layer):
    """A ValueError when ``parent``'s call uses ``layer`` without holding it as an attribute.

    Its weights would belong to no model: never trained, never saved, and made
    anew at each call if it was created inside ``call``.
    """
    if layer is parent or any(sub is layer for _, sub in parent._walk()):
        return
    raise ValueError(
        f"{parent._kind()} {parent.name!r} ({type(parent).__name__}) calls layer "
        f"{layer.name!r} ({type(layer).__name__}) in call(), but does not hold it: its weights "
        "would never be trained or saved. Create the layer in __init__ (or build) and assign "
        "it to an attribute, self.name = ..., or put it in a list attribute "
        "(self.blocks = [...]); layers kept in a dict or made inside call() are not tracked."
    )


def check_joinable(layer, backend, dtype, where):
    """A ValueError when the built ``layer`` cannot run inside ``where`` (a model, named
    in words): its weights are another backend's arrays, or of another float type."""
    if layer._backend is not backend:
        raise ValueError(
            f"layer {layer.name!r} was built on {layer._backend.describe()}, but {where} "
            f"runs on {backend.describe()}: make a fresh layer for it."
        )
    if layer.dtype is not None and dtype is not None and layer.dtype != dtype:
        raise ValueError(
            f"{layer._kind()} {layer.name!r} ({type(layer).__name__}) already has {layer.dtype} "
            f"weights, but {where} computes in {dtype}: make both with the same dtype "
            f"(dtype={dtype!r}, or dlcourse.nn.set_floatx({dtype!r}) before making them)."
        )


def _layer_sequence(value):
    return type(value) in (list, tuple) and bool(value) and all(isinstance(v, Layer) for v in value)


def _as_layers(value):
    return [value] if isinstance(value, Layer) else list(value)


def _shape_of(x):
    """The shape of an array, or the list of shapes of a list of arrays."""
    if isinstance(x, (list, tuple)):
        return [tuple(t.shape) for t in x]
    return tuple(x.shape)


def _batch_free(shape):
    """``shape`` with the batch size as None (each shape of a list of shapes)."""
    if isinstance(shape, list):
        return [_batch_free(s) for s in shape]
    return (None, *tuple(shape)[1:])


def _native(backend, x, dtype):
    """NumPy (and numbers, nested lists) as the backend's arrays; a list of arrays item by item."""
    if isinstance(x, (list, tuple)) and x and all(hasattr(t, "shape") for t in x):
        return [_native(backend, t, dtype) for t in x]
    if isinstance(x, (np.ndarray, list, tuple, float, int)):
        x = np.asarray(x)
        if dtype is None and x.dtype.kind in "iu":
            return backend.asarray(x, "int64")  # ids: one integer type on every backend
        return backend.asarray(x, dtype)
    return x
