"""``Model``: what every model shares (weights, compile/fit/predict, saving), and subclassing.

Three ways to make a model, as in Keras:

- ``Sequential([...])``: a chain of layers (``dlcourse.nn.models.sequential``);
- ``Model(inputs, outputs)``: any graph of layers drawn on ``Input`` placeholders
  (``dlcourse.nn.models.functional``);
- a subclass of ``Model`` whose ``__init__`` assigns layers and whose ``call``
  uses them (this module): its layers and their weights are tracked by
  assignment, at any depth, exactly as for a ``Layer`` holding layers.

A model is a layer too: call one on a tensor in a graph (``y = inner(x)``),
put it in a ``Sequential``, or assign it in a layer's ``__init__``. Its weights
are then the outer model's (counted, trained, saved, under its name:
``inner/dense/kernel``). A nested model made without a ``dtype`` or ``seed``
takes the outer model's when it is built with it (a Functional model is built
when made, so it keeps its own, and a float type that differs is an error).

A model is tied to the backend chosen when it is made (``dlcourse.set_backend``):
its weights are that backend's arrays, and ``fit`` runs that backend's train step.
The weights are drawn in NumPy from ``seed``, so the same seed gives the same
model on every backend.

The order of the weights (``weights``, ``get_weights``, ``set_weights``, the
saved file) is documented and stable: the layers of ``model.layers`` in order
(Sequential: as added; Functional: the order the graph runs them; subclassed:
the order ``__init__`` assigned them), each layer's own weights (trainable
first, in creation order) followed by those of its sublayers, depth first; a
layer used twice counts once.

Inputs: a model with one input takes an array; a model with several takes a
list of arrays (``model.inputs`` order) or a dict ``{input name: array}``.
"""

import numpy as np

from dlcourse import backends
from dlcourse.nn import config, model_file
from dlcourse.nn import losses as losses_module
from dlcourse.nn import metrics as metrics_module
from dlcourse.nn import optimizers as optimizers_module
from dlcourse.nn import training as training_loop
from dlcourse.nn.arrays import map_arrays
from dlcourse.nn.errors import NotBuiltError, missing_backward_error, not_compiled_error
from dlcourse.nn.layers.base import (
    _BUILDING,
    _HAND_WRITTEN,
    Layer,
    _snake,
    check_joinable,
    check_tracked,
    class_reference,
)
from dlcourse.nn.models.inputs import check_same_length, checked_array, split_inputs
from dlcourse.nn.multi_output import compile_outputs
from dlcourse.nn.symbolic import is_symbolic

__all__ = ["Model"]

_FLOATS = ("float32", "float64")


def check_float_dtype(dtype):
    dtype = str(dtype or config.floatx())
    if dtype not in _FLOATS:
        raise ValueError(f"dtype: expected one of {_FLOATS}, got {dtype!r}.")
    return dtype


class Model(Layer):
    """Base of every model; subclass it to write a model of your own.

    ::

        class TwoLayer(Model):
            def __init__(self, **kwargs):
                super().__init__(**kwargs)
                self.hidden = Dense(32, activation="relu")
                self.out = Dense(10)

            def call(self, x, training=False):
                return self.out(self.hidden(x))

    ``Model(inputs, outputs)`` makes a Functional model instead (see
    ``dlcourse.nn.models.functional``). On the ``manual`` backend a subclassed
    model needs a ``backward(self, dout)``, as a layer does.

    Parameters: ``name``, ``seed`` (fixes the initial weights, dropout masks and
    shuffling; None uses ``set_seed``'s seed), ``dtype`` ("float32" or "float64").
    """

    #: set by dlcourse.nn.models.functional: the class Model(inputs, outputs) makes
    _graph_class = None

    def __new__(cls, *args, **kwargs):
        if cls is Model and (args or "inputs" in kwargs or "outputs" in kwargs):
            return super().__new__(cls._graph_class)
        return super().__new__(cls)

    def __init__(self, name=None, seed=None, dtype=None):
        super().__init__(name=name or _snake(type(self).__name__), dtype=check_float_dtype(dtype))
        # what was not given, a model that holds this one may choose (see _setup)
        self._dtype_given, self._seed_given = dtype is not None, seed is not None
        self.backend = backends.load()
        self.seed = config.get_seed() if seed is None else seed
        weights_seq, shuffle_seq = np.random.SeedSequence(self.seed).spawn(2)
        self._init_rng = np.random.default_rng(weights_seq)
        self.shuffle_rng = np.random.default_rng(shuffle_seq)
        # the model is its layers' source of backend, dtype and random numbers
        self._backend, self._rng, self._set_up = self.backend, self._init_rng, True
        self.optimizer = self.loss = None
        self.metrics = []
        self.stop_training = False
        self.history = None
        self._train_step = None

    def __repr__(self):
        kind = type(self).__name__
        return f"<{kind} {self.name!r}: {len(self.layers)} layers on {self.backend.describe()}>"

    def _kind(self):
        return "model"

    # ----------------------------------------------------------------- structure
    @property
    def layers(self):
        """The model's layers (subclassed models: those assigned in ``__init__``)."""
        return self._sublayers()

    @property
    def input_names(self):
        """The names a dict of inputs uses (one input: ``["input"]``)."""
        return ["input"]

    @property
    def output_names(self):
        """The names of the outputs (a model with several: what a dict of targets uses)."""
        if isinstance(self.output_shape, list):
            return [f"output_{i}" for i in range(len(self.output_shape))]
        return ["output"]

    @property
    def input_signature(self):
        """``(shape, dtype)`` of each input, batch axis first as None; None before building."""
        if self.input_shape is None:
            return None
        return [(tuple(self.input_shape), self.input_dtype())]

    def input_dtype(self):
        """The dtype of the model's (single) input: "int64" when its first layer reads
        integer ids (``Embedding``), else the model's float type."""
        return self.dtype

    @property
    def integer_inputs(self):
        """True when the model reads integer ids (it starts with an ``Embedding``):
        a model inside a model then gets its ids uncast, as a layer would."""
        return np.dtype(self.input_dtype()).kind in "iu"

    def _setup(self, backend, dtype, rng):
        """A model put, unbuilt, inside another (a layer of it, or a sublayer of one).

        The backends must agree. A float type or seed the model was not given
        comes from the outer model, as for any layer: then the outer seed alone
        fixes every initial weight, and one dtype runs through.
        """
        if backend is not self.backend:
            raise ValueError(
                f"model {self.name!r} runs on {self.backend.describe()}, but the model it was "
                f"put in runs on {backend.describe()}: make both on the same backend."
            )
        if self._dtype_given or dtype is None:
            check_joinable(self, backend, dtype, "the model it was put in")
        else:
            self.dtype = dtype
        if not self._seed_given:
            self._init_rng = self._rng = rng
        for layer in self._sublayers():  # a subclassed model set its layers up at assignment
            self._give_setup(layer)

    def build(self, input_shape):
        """Create every weight for inputs of ``input_shape`` (batch axis first, e.g. (None, 64))."""
        shape = tuple(input_shape)
        dtype = self.input_dtype()
        sample = np.zeros((2, *shape[1:]), dtype=dtype)
        with backends.running(self.backend):
            self._build_with(self.backend.asarray(sample, dtype))

    def _build_with(self, x):
        """Run the native batch ``x`` through ``call``, building every layer on the way."""
        self.input_shape = (None, *tuple(x.shape)[1:])
        _BUILDING.append(self)  # every layer call() uses must be one the model holds
        try:
            with self.backend.no_grad():
                out = self.call(x, training=False)
        finally:
            _BUILDING.pop()
        self.output_shape = (None, *tuple(out.shape)[1:])
        self.built = True
        self._train_step = None

    def _build_and_call(self, x, training=False, record=True):
        if not self.built:
            with backends.running(self.backend):
                self._build_with(x)
        return self.forward(x, training) if _HAND_WRITTEN[0] else self.call(x, training)

    def prepare_inputs(self, x, name="x"):
        """``x`` as NumPy of the right dtypes (one array, or a tuple of them), checked
        against the model's inputs (or building the model, from its first input)."""
        names = self.input_names
        arrays = split_inputs(x, names, name)
        signature = self.input_signature
        if signature is None:
            dtypes = [self.input_dtype()] * len(arrays)
        else:
            dtypes = [d for _, d in signature]
        labels = [name] if len(arrays) == 1 else [f"{name}[{n!r}]" for n in names]
        arrays = [checked_array(a, d, w) for a, d, w in zip(arrays, dtypes, labels)]
        check_same_length(arrays, names, name)
        if not self.built:
            with backends.running(self.backend):
                self._build_with(self.backend.asarray(arrays[0][:2], dtypes[0]))
            signature = self.input_signature
        for a, (shape, _), label in zip(arrays, signature, labels):
            if tuple(a.shape[1:]) != tuple(shape[1:]):
                raise ValueError(
                    f"{label}: the model was built for inputs of shape {tuple(shape)}, got "
                    f"{a.shape}; every example must have the shape {tuple(shape[1:])}."
                )
        return arrays[0] if len(arrays) == 1 else tuple(arrays)

    def _prepare_inputs(self, x, name="x"):  # the name used before prepare_inputs was public
        return self.prepare_inputs(x, name)

    def native_inputs(self, x):
        """Prepared NumPy inputs (``prepare_inputs``) as the backend's arrays."""
        return map_arrays(lambda a: self.backend.asarray(a, a.dtype.name), x)

    # ------------------------------------------------------------- forward pass
    def call(self, x, training=False):
        """The forward pass on native arrays (the backend's); subclasses write it."""
        raise NotImplementedError(
            f"model {self.name!r} ({type(self).__name__}) needs a call(self, x, training=False) "
            "method that computes its output from the layers assigned in __init__."
        )

    def __call__(self, x, training=False):
        """Run the model; NumPy input is converted, the result is a native array.

        On ``Input`` placeholders the model acts as one layer of a larger graph.
        """
        if is_symbolic(x):
            return super().__call__(x, training)
        if _BUILDING:
            check_tracked(_BUILDING[-1], self)
        if _user_data(x):
            x = self.native_inputs(self.prepare_inputs(x))
        with backends.running(self.backend):
            return self._build_and_call(x, training)

    def stateless_call(self, params, state, x, training=False):
        """The forward pass as a pure function: ``(y, new_state)``; the model is left as it was.

        This is what a compiling backend traces: JAX's ``jit``, PyTensor's graph.
        """
        old_params, old_state = self.trainable_weights, self.state_variables
        self.bind(params, state)
        try:
            y = self.call(x, training)
            new_state = self.state_variables
        finally:
            self.bind(old_params, old_state)
        return y, new_state

    def layer_outputs(self, x, training=True):
        """``(layer, output)`` for each layer as the model runs ``x`` (native), or None
        when the model cannot tell (a subclassed ``call``). Used to find a NaN's source."""
        return None

    # ------------------------------------------------------- manual backpropagation
    def prepare_backward(self):
        """Check, before a 'manual' train step, that every derivative needed exists.

        A subclassed model is one block: it needs its own ``backward``.
        """
        if not self.has_backward():
            raise missing_backward_error(self)

    # ------------------------------------------------------------------ weights
    def require_built(self, action):
        if not self.built:
            raise NotBuiltError(
                f"the model has no weights yet: they are created at its first input. "
                f"Call model.build((None, features)) or fit it before {action}."
            )

    _require_built = require_built

    def summary(self, print_fn=print):
        """Print a table of the layers, their output shapes and numbers of weights."""
        from dlcourse.nn.summary import summary_text

        print_fn(summary_text(self))

    # ----------------------------------------------------------------- training
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None):
        """Choose how to learn: the optimizer, the loss to minimise, metrics to report.

        Strings pick the defaults (``optimizer="adam"``, ``loss="mse"``,
        ``metrics=["accuracy"]``); objects give control
        (``optimizers.SGD(learning_rate=0.1, momentum=0.9)``).

        A model with several outputs takes, as Keras does, one loss for all, a
        list (outputs' order) or a dict by output name, ``loss_weights`` in the
        same forms, and ``metrics`` per output (``{"out_b": ["accuracy"]}``);
        see ``dlcourse.nn.multi_output``.
        """
        if loss is None:
            raise ValueError(
                "compile: give a loss, e.g. loss='sparse_categorical_crossentropy' for "
                "integer class labels or loss='mse' for numbers to predict."
            )
        self.optimizer = optimizers_module.get(optimizer)
        self._train_step = None
        if isinstance(self.output_shape, list):
            self.loss, self.metrics = compile_outputs(
                self.output_names, loss, loss_weights, metrics
            )
            return
        if isinstance(loss, (list, dict)) or loss_weights is not None:
            raise ValueError(
                f"compile: model {self.name!r} has one output, so it takes one loss (no list, "
                "dict or loss_weights); those are for models with several outputs."
            )
        self.loss = losses_module.get(loss)
        if isinstance(metrics, str):
            metrics = [metrics]
        self.metrics = [metrics_module.get(m, self.loss) for m in metrics or []]

    @property
    def compiled(self):
        return self.loss is not None

    def require_compiled(self, action):
        if not self.compiled:
            raise not_compiled_error(action)

    _require_compiled = require_compiled

    def train_step(self):
        """The backend's compiled-once step ``step(x, y) -> (loss, y_pred)``, cached."""
        if self._train_step is None:
            self._train_step = self.backend.make_train_step(self, self.loss, self.optimizer)
        return self._train_step

    def fit(
        self,
        x,
        y,
        epochs=1,
        batch_size=32,
        validation_data=None,
        validation_split=0.0,
        shuffle=True,
        callbacks=None,
        verbose=1,
        distribute=None,
    ):
        """Train; returns a ``History``. See ``dlcourse.nn.training.fit``.

        ``distribute=dlcourse.distributed.DataParallel("torch", nproc=2)`` trains the
        same way on several processes (see ``dlcourse.distributed.data_parallel``).
        """
        if distribute is not None:
            return distribute.fit(
                self,
                x,
                y,
                epochs=epochs,
                batch_size=batch_size,
                shuffle=shuffle,
                verbose=verbose,
                validation_data=validation_data,
                validation_split=validation_split,
                callbacks=callbacks,
            )
        return training_loop.fit(
            self,
            x,
            y,
            epochs=epochs,
            batch_size=batch_size,
            validation_data=validation_data,
            validation_split=validation_split,
            shuffle=shuffle,
            callbacks=callbacks,
            verbose=verbose,
        )

    def evaluate(self, x, y, batch_size=32, return_dict=False, verbose=0):
        """Loss (and metrics) on (x, y): a number, a list [loss, metric...], or a dict.

        ``verbose`` is accepted so that Keras code runs unchanged; nothing is printed.
        """
        return training_loop.evaluate(self, x, y, batch_size=batch_size, return_dict=return_dict)

    def predict(self, x, batch_size=256, verbose=0):
        """The model's outputs for ``x``, as a NumPy array (``verbose`` as in ``evaluate``)."""
        return training_loop.predict(self, x, batch_size=batch_size)

    def loss_and_gradients(self, x, y, training=True):
        """``(loss, grads)`` on one batch: the loss as a float, and dL/dw for every
        trainable weight as NumPy (order of ``trainable_weights``). Trainable weights
        stay as they are; with ``training=True`` the forward pass is a training one,
        so batch-norm moving statistics and dropout generators advance as in ``fit``.
        """
        self.require_compiled("loss_and_gradients")
        x = self.prepare_inputs(x)
        y = training_loop.prepare_targets(self, y)
        with backends.running(self.backend):
            xs, ys = self.native_inputs(x), map_arrays(self.backend.asarray, y)
            value, grads = self.backend.loss_and_gradients(self, self.loss, xs, ys, training)
        return float(value), [np.array(self.backend.to_numpy(g), copy=True) for g in grads]

    def to_keras(self):
        """This model as a Keras 3 model with the same weights (``dlcourse.interop.to_keras``)."""
        from dlcourse.interop import to_keras

        return to_keras(self)

    # ------------------------------------------------------------------ storage
    def get_config(self):
        """A subclassed model's constructor arguments (override to add your own)."""
        return {"name": self.name, "dtype": self.dtype, "seed": self.seed}

    def file_config(self):
        """What a saved file needs to rebuild this model's architecture (see ``save``)."""
        return {
            "format": model_file.SUBCLASSED,
            **class_reference(type(self)),
            "model": self.get_config(),
            "input_shape": list(self.input_shape[1:]),
        }

    def save(self, path):
        """Write architecture, weights and compile settings to one ``.npz`` file (no pickle).

        Returns the path written (".npz" is added when missing).
        """
        self.require_built("save")
        config = {
            **self.file_config(),
            "weight_names": self.weight_names,
            "compile": model_file.compile_config(self),
        }
        return model_file.write(path, config, self.get_weights())

    @staticmethod
    def load(path, custom_objects=None):
        """A model read back from ``save``'s file, on the backend chosen now."""
        from dlcourse.nn.saving import load_model  # the loader builds models: imported late

        return load_model(path, custom_objects=custom_objects)


def _user_data(x):
    """True for NumPy data (an array, nested lists of numbers, or a list or dict holding
    NumPy); False for the backend's own arrays, which a layer's ``call`` hands on as they
    are so that their gradients still flow."""
    if isinstance(x, dict):
        return True
    if isinstance(x, (list, tuple)):
        return any(isinstance(a, (np.ndarray, list, tuple, int, float)) for a in x)
    return isinstance(x, np.ndarray)
