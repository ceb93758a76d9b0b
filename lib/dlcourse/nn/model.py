"""``Sequential``: layers applied one after the other, with Keras's compile/fit/predict.

The model is tied to the backend chosen when it is made (``dlcourse.set_backend``):
its weights are that backend's arrays, and ``fit`` runs that backend's train step.
Building (creating the weights) happens at the first input, or with ``build`` or
``input_shape=``; the weights are drawn in NumPy from ``seed``, so the same seed
gives the same model on every backend.
"""

import numpy as np

from dlcourse import backends
from dlcourse.nn import config
from dlcourse.nn import losses as losses_module
from dlcourse.nn import metrics as metrics_module
from dlcourse.nn import optimizers as optimizers_module
from dlcourse.nn.errors import NotBuiltError, not_compiled_error
from dlcourse.nn.layers.base import Layer

__all__ = ["Sequential"]

_FLOATS = ("float32", "float64")


def as_numpy(name, x):
    """User data as a NumPy array (lists, NumPy, CPU or GPU tensors)."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # a torch tensor
        return x.detach().cpu().numpy()
    try:
        return np.asarray(x)
    except Exception as err:
        raise ValueError(f"{name}: expected an array, got {type(x).__name__} ({err}).") from None


class Sequential:
    """A stack of layers: the output of each is the input of the next.

    Parameters
    ----------
    layers : list of Layer instances (more can be added with ``add``).
    seed : int fixing the initial weights, dropout masks and shuffling; None uses
        ``dlcourse.nn.set_seed``'s seed, or fresh randomness if none was set.
    dtype : "float32" (default, see ``set_floatx``) or "float64".
    input_shape : shape of one example, without the batch axis, e.g. ``(64,)``;
        builds the model at once (otherwise it builds at its first input).
    """

    def __init__(self, layers=None, name="sequential", seed=None, dtype=None, input_shape=None):
        self.name = name
        self.backend = backends.load()
        self.dtype = str(dtype or config.floatx())
        if self.dtype not in _FLOATS:
            raise ValueError(f"dtype: expected one of {_FLOATS}, got {dtype!r}.")
        self.seed = config.get_seed() if seed is None else seed
        weights_seq, shuffle_seq = np.random.SeedSequence(self.seed).spawn(2)
        self._init_rng = np.random.default_rng(weights_seq)
        self.shuffle_rng = np.random.default_rng(shuffle_seq)
        self.layers = []
        self.input_shape = self.output_shape = None
        self.optimizer = self.loss = None
        self.metrics = []
        self.stop_training = False
        self.history = None
        self._train_step = None
        for layer in layers or []:
            self.add(layer)
        if input_shape is not None:
            self.build((None, *tuple(input_shape)))

    def __repr__(self):
        return f"<Sequential {self.name!r}: {len(self.layers)} layers on {self.backend.describe()}>"

    # ----------------------------------------------------------------- structure
    def add(self, layer):
        """Append a layer."""
        if isinstance(layer, type) and issubclass(layer, Layer):
            raise TypeError(
                f"add: got the class {layer.__name__}; pass a layer object, "
                f"e.g. {layer.__name__}(...) with its arguments."
            )
        if not isinstance(layer, Layer):
            raise TypeError(f"add: expected a Layer, got {type(layer).__name__}.")
        if any(existing is layer for existing in self.layers):
            raise ValueError(f"layer {layer.name!r} is already in this model.")
        if layer.built and layer._backend is not self.backend:
            raise ValueError(
                f"layer {layer.name!r} was built on {layer._backend.describe()}, but this model "
                f"runs on {self.backend.describe()}: make a fresh layer for it."
            )
        taken = {existing.name for existing in self.layers}
        if layer.name in taken:
            if not layer._auto_name:
                raise ValueError(f"two layers are called {layer.name!r}; names must be unique.")
            base, k = layer.name, 1
            while f"{base}_{k}" in taken:
                k += 1
            layer.name = f"{base}_{k}"
        self.layers.append(layer)
        self.output_shape = None
        self._train_step = None

    @property
    def built(self):
        return (
            bool(self.layers)
            and all(layer.built for layer in self.layers)
            and (self.output_shape is not None)
        )

    def build(self, input_shape):
        """Create every weight for inputs of ``input_shape`` (batch axis first, e.g. (None, 64))."""
        shape = tuple(input_shape)
        sample = np.zeros((2, *shape[1:]), dtype=self.dtype)
        with backends.running(self.backend):
            self._build_with(self.backend.asarray(sample, self.dtype))

    def _build_with(self, x):
        """Run ``x`` (native) through the layers, building those not built yet."""
        if not self.layers:
            raise ValueError("this model has no layers yet: add some with model.add(...).")
        self.input_shape = (None, *tuple(x.shape)[1:])
        with self.backend.no_grad():
            for layer in self.layers:
                if not layer.built:
                    layer._setup(self.backend, self.dtype, self._init_rng)
                x = layer._build_and_call(x, training=False)
        self.output_shape = (None, *tuple(x.shape)[1:])

    def _prepare_inputs(self, x, name="x"):
        """``x`` as NumPy of the model's dtype, checked against (or building) the model."""
        x = as_numpy(name, x)
        if x.ndim == 0:
            raise ValueError(f"{name}: expected a batch of examples, got a single number.")
        if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
            raise ValueError(f"{name}: expected numbers, got an array of {x.dtype}.")
        x = x.astype(self.dtype, copy=False)
        if not self.built:
            sample = self.backend.asarray(x[:2], self.dtype)
            with backends.running(self.backend):
                self._build_with(sample)
        elif tuple(x.shape[1:]) != tuple(self.input_shape[1:]):
            raise ValueError(
                f"{name}: the model was built for inputs of shape {self.input_shape}, "
                f"got {x.shape}; every example must have the shape {self.input_shape[1:]}."
            )
        return x

    # ------------------------------------------------------------- forward pass
    def call(self, x, training=False):
        """The forward pass on native arrays (the backend's); no checks, no conversion."""
        for layer in self.layers:
            x = layer.call(x, training)
        return x

    def __call__(self, x, training=False):
        """Run the model; NumPy input is converted, the result is a native array."""
        if isinstance(x, (np.ndarray, list)):
            x = self._prepare_inputs(x)
            x = self.backend.asarray(x, self.dtype)
        elif not self.built:
            with backends.running(self.backend):
                self._build_with(x)
        with backends.running(self.backend):
            return self.call(x, training)

    def bind(self, params, state):
        """Put native values into the layers' weight attributes (no copy, no conversion).

        ``params`` follows ``trainable_weights``, ``state`` follows ``state_variables``.
        """
        params, state = list(params), list(state)
        for layer in self.layers:
            n_params, n_state = len(layer.trainable_weights), len(layer.state_variables)
            layer._set_values(params[:n_params], "trainable")
            layer._set_values(state[:n_state], "state", "seed")
            params, state = params[n_params:], state[n_state:]

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

    # ------------------------------------------------------------------ weights
    def _require_built(self, action):
        if not self.built:
            raise NotBuiltError(
                f"the model has no weights yet: they are created at its first input. "
                f"Call model.build((None, features)) or fit it before {action}."
            )

    @property
    def trainable_weights(self):
        return [w for layer in self.layers for w in layer.trainable_weights]

    @property
    def state_variables(self):
        """Non-trainable weights and random states, in layer order (see ``stateless_call``)."""
        return [v for layer in self.layers for v in layer.state_variables]

    @property
    def weights(self):
        return [w for layer in self.layers for w in layer.weights]

    def get_weights(self):
        """Every weight as a NumPy copy, layer by layer (trainable, then non-trainable)."""
        self._require_built("get_weights")
        return [w for layer in self.layers for w in layer.get_weights()]

    def set_weights(self, values):
        """Overwrite every weight from NumPy arrays in the order of ``get_weights``."""
        self._require_built("set_weights")
        values = list(values)
        expected = sum(len(layer.weights) for layer in self.layers)
        if len(values) != expected:
            raise ValueError(
                f"set_weights: the model has {expected} weight arrays, got {len(values)}."
            )
        for layer in self.layers:
            n = len(layer.weights)
            layer.set_weights(values[:n])
            values = values[n:]

    def count_params(self):
        return sum(layer.count_params() for layer in self.layers)

    def summary(self, print_fn=print):
        """Print a table of the layers, their output shapes and numbers of weights."""
        from dlcourse.nn.summary import summary_text

        print_fn(summary_text(self))

    # ----------------------------------------------------------------- training
    def compile(self, optimizer="rmsprop", loss=None, metrics=None):
        """Choose how to learn: the optimizer, the loss to minimise, metrics to report.

        Strings pick the defaults (``optimizer="adam"``, ``loss="mse"``,
        ``metrics=["accuracy"]``); objects give control
        (``optimizers.SGD(learning_rate=0.1, momentum=0.9)``).
        """
        if loss is None:
            raise ValueError(
                "compile: give a loss, e.g. loss='sparse_categorical_crossentropy' for "
                "integer class labels or loss='mse' for numbers to predict."
            )
        self.optimizer = optimizers_module.get(optimizer)
        self.loss = losses_module.get(loss)
        if isinstance(metrics, str):
            metrics = [metrics]
        self.metrics = [metrics_module.get(m, self.loss) for m in metrics or []]
        self._train_step = None

    @property
    def compiled(self):
        return self.loss is not None

    def _require_compiled(self, action):
        if not self.compiled:
            raise not_compiled_error(action)

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
    ):
        """Train; returns a ``History``. See ``dlcourse.nn.training.fit``."""
        from dlcourse.nn.training import fit

        return fit(
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
        from dlcourse.nn.training import evaluate

        return evaluate(self, x, y, batch_size=batch_size, return_dict=return_dict)

    def predict(self, x, batch_size=256, verbose=0):
        """The model's outputs for ``x``, as a NumPy array (``verbose`` as in ``evaluate``)."""
        from dlcourse.nn.training import predict

        return predict(self, x, batch_size=batch_size)

    def loss_and_gradients(self, x, y, training=True):
        """``(loss, grads)`` on one batch: the loss as a float, and dL/dw for every
        trainable weight as NumPy (order of ``trainable_weights``). Trainable weights
        stay as they are; with ``training=True`` the forward pass is a training one,
        so batch-norm moving statistics and dropout generators advance as in ``fit``.
        """
        from dlcourse.nn.training import prepare_targets

        self._require_compiled("loss_and_gradients")
        x = self._prepare_inputs(x)
        y = prepare_targets(self, y)
        with backends.running(self.backend):
            xs, ys = self.backend.asarray(x, self.dtype), self.backend.asarray(y)
            value, grads = self.backend.loss_and_gradients(self, self.loss, xs, ys, training)
        return float(value), [np.array(self.backend.to_numpy(g), copy=True) for g in grads]

    def to_keras(self):
        """This model as a Keras 3 model with the same weights (``dlcourse.interop.to_keras``)."""
        from dlcourse.interop import to_keras

        return to_keras(self)

    # ------------------------------------------------------------------ storage
    def get_config(self):
        return {
            "name": self.name,
            "dtype": self.dtype,
            "seed": self.seed,
            "layers": [
                {"class": type(layer).__name__, "config": layer.get_config()}
                for layer in self.layers
            ],
        }

    def save(self, path):
        """Write architecture, weights and compile settings to one ``.npz`` file (no pickle).

        Returns the path written (".npz" is added when missing).
        """
        from dlcourse.nn.saving import save_model

        return save_model(self, path)

    @staticmethod
    def load(path, custom_objects=None):
        """A model read back from ``save``'s file, on the backend chosen now."""
        from dlcourse.nn.saving import load_model

        return load_model(path, custom_objects=custom_objects)
