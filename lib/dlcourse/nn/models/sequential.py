"""``Sequential``: layers applied one after the other, the simplest graph (a chain).

Building (creating the weights) happens at the first input, or with ``build``
or ``input_shape=``. On the ``manual`` backend the gradient travels back
through each layer's ``backward``, last layer first.
"""

from dlcourse import backends
from dlcourse.nn.errors import missing_backward_error
from dlcourse.nn.layers.base import _STRUCTURE, Layer, check_joinable, class_reference
from dlcourse.nn.models.model import Model

__all__ = ["Sequential"]


class Sequential(Model):
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
        self._chain = []
        super().__init__(name=name, seed=seed, dtype=dtype)
        self.input_shape = self.output_shape = None
        self._first_weighted = 0  # where backward stops (see prepare_backward)
        for layer in layers or []:
            self.add(layer)
        if input_shape is not None:
            self.build((None, *tuple(input_shape)))

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
        if any(existing is layer for existing in self._chain):
            raise ValueError(f"layer {layer.name!r} is already in this model.")
        if layer.built:  # the float type is checked at build when a holder may choose it
            dtype = self.dtype if self._dtype_given else None
            check_joinable(layer, self.backend, dtype, "this model")
        unique_name(layer, {existing.name for existing in self._chain})
        self._chain.append(layer)
        _STRUCTURE[0] += 1
        self.output_shape = None
        self._train_step = None

    @property
    def layers(self):
        return list(self._chain)

    def _named_sublayers(self):
        # layer names are unique within a model: they name the weights (dense/kernel)
        return [(layer.name, layer) for layer in self._chain]

    @property
    def built(self):
        return (
            bool(self._chain)
            and all(layer.built for layer in self._chain)
            and (self.output_shape is not None)
        )

    @built.setter
    def built(self, value):
        pass  # worked out from the layers (see the getter)

    def _build_with(self, x):
        """Run ``x`` (native) through the layers, building those not built yet."""
        if not self._chain:
            raise ValueError("this model has no layers yet: add some with model.add(...).")
        self.input_shape = (None, *tuple(x.shape)[1:])
        with self.backend.no_grad(), backends.running(self.backend):
            for layer in self._chain:
                if not layer.built:
                    layer._setup(self.backend, self.dtype, self._init_rng)
                else:
                    check_joinable(layer, self.backend, self.dtype, f"model {self.name!r}")
                x = layer._build_and_call(x, training=False)
        self.output_shape = (None, *tuple(x.shape)[1:])
        self._train_step = None

    def input_dtype(self):
        if self._chain and self._chain[0].integer_inputs:
            return "int64"
        return self.dtype

    # ------------------------------------------------------------- forward pass
    def call(self, x, training=False):
        """The forward pass on native arrays (the backend's); no checks, no conversion."""
        for layer in self._chain:
            x = layer.call(x, training)
        return x

    def forward(self, x, training=False):
        """The forward pass of the 'manual' backend: each layer keeps what its backward needs."""
        for layer in self._chain:
            x = layer.forward(x, training)
        return x

    def layer_outputs(self, x, training=True):
        for layer in self._chain:
            x = layer.call(x, training)
            yield layer, x

    # ------------------------------------------------------- manual backpropagation
    def prepare_backward(self):
        """Find where backward can stop, and check every layer after it has a backward.

        Layers before the first one with trainable weights need no gradient
        (nothing upstream of them learns) unless the model's own input needs
        one (a model inside a model); that first weighted layer is told so
        (``needs_input_grad = False``) and may skip computing its dx.
        """
        weighted = [i for i, layer in enumerate(self._chain) if layer.trainable_weights]
        first = weighted[0] if weighted else len(self._chain)
        if self.needs_input_grad:
            first = 0
        for i, layer in enumerate(self._chain):
            if i >= first and not layer.has_backward():
                raise missing_backward_error(layer)
            layer.needs_input_grad = i != first or self.needs_input_grad
            if i >= first and isinstance(layer, Model):
                layer.prepare_backward()
        self._first_weighted = first

    def has_backward(self):
        return True

    def backward(self, dout):
        for layer in reversed(self._chain[self._first_weighted :]):
            dout = layer.backward(dout)
        return dout

    # ------------------------------------------------------------------ storage
    def get_config(self):
        return {
            "name": self.name,
            "dtype": self.dtype,
            "seed": self.seed,
            "layers": [
                {**class_reference(type(layer)), "config": layer.get_config()}
                for layer in self._chain
            ],
        }

    def file_config(self):
        from dlcourse.nn import model_file

        return {
            "format": model_file.SEQUENTIAL,
            "model": self.get_config(),
            "input_shape": list(self.input_shape[1:]),
        }


def unique_name(layer, taken):
    """Rename an automatically named ``layer`` whose name is ``taken`` (dense -> dense_1)."""
    if layer.name not in taken:
        return
    if not layer._auto_name:
        raise ValueError(f"two layers are called {layer.name!r}; names must be unique.")
    base, k = layer.name, 1
    while f"{base}_{k}" in taken:
        k += 1
    layer.name = f"{base}_{k}"
