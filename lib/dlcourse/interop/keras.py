"""Our models as real Keras 3 models, and Keras Dense stacks as our models.

``to_keras(model)`` builds a ``keras.Sequential`` with the same layers and the
very same weights, so ``keras_model.predict(x)`` gives ``model.predict(x)``
whichever backend Keras runs on (TensorFlow, JAX or PyTorch: Keras picks it
from ``KERAS_BACKEND`` when it is first imported).

Two things differ between the libraries, and the conversion takes care of them:

- **Image layout.** Our images are NCHW (channels first) and our kernels
  (filters, channels, kh, kw). TensorFlow runs convolutions on the CPU only
  channels-last, so the Keras model keeps our NCHW input but turns it into NHWC
  with a ``Permute`` layer before the first convolution, and back to NCHW before
  ``Flatten``. That way ``Flatten`` lays the numbers out in our order (channel,
  row, column) and the next ``Dense`` kernel needs no reshuffling. Kernels are
  transposed to Keras's (kh, kw, channels, filters).
- **Padding.** Our ``Conv2D`` pads a number of zeros on every side; Keras knows
  "valid" and "same". Where "same" means the same thing (stride 1, odd kernel,
  ``(k - 1) / 2`` zeros) it is used; otherwise a ``ZeroPadding2D`` layer comes first.

Predictions match to float32 precision (about 1e-7 relative), also for a
float64 model: Keras computes parts of it in float32 whatever the weights'
dtype (its type promotion turns 64-bit results into 32-bit ones, as JAX does by
default, and ``predict`` casts float64 NumPy inputs to ``keras.config.floatx()``).
The weights themselves are copied exactly.

Training the converted model is Keras's training. One difference there: Keras
updates batch norm's moving variance with the batch's biased variance, we (and
PyTorch) with the unbiased one.
"""

import importlib.util
import warnings

import numpy as np

from dlcourse.interop.errors import require_built, require_sequential, unsupported_layer
from dlcourse.nn.layers import (
    Activation,
    BatchNorm,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    MaxPool2D,
    ReLU,
    Sigmoid,
    Softmax,
    Tanh,
)

__all__ = ["from_keras", "to_keras"]

_TO_NHWC, _TO_NCHW = (2, 3, 1), (3, 1, 2)  # Permute's dims (1-based, batch axis left out)


def _import_keras():
    if importlib.util.find_spec("keras") is None:
        raise ImportError(
            'Keras 3 is not installed; install it with: pip install "dlcourse[keras]" '
            "(and one of tensorflow, jax or torch for it to run on)."
        )
    import keras

    if not keras.__version__.startswith("3"):
        raise ImportError(f"dlcourse.interop needs Keras 3, found keras {keras.__version__}.")
    return keras


def _warn_if_float64_is_truncated(keras, dtype):
    """Keras on JAX quietly computes in float32 unless JAX is told to allow float64."""
    if dtype != "float64" or keras.backend.backend() != "jax":
        return
    import jax

    if not jax.config.jax_enable_x64:
        warnings.warn(
            "the model is float64 but JAX runs in float32 unless told otherwise: "
            "set JAX_ENABLE_X64=1 (or jax.config.update('jax_enable_x64', True)) "
            "before Keras is imported, or the Keras model will round to float32.",
            stacklevel=3,
        )


# ------------------------------------------------------------------- to Keras
class _KerasStack:
    """The Keras layers under construction, and the image layout they are in now.

    ``layout`` is "nchw" (ours), "nhwc" (Keras's convolutions) or "flat" (anything
    that is not an image batch). Weights are set once the model is built.
    """

    def __init__(self, keras, dtype, input_rank):
        self.keras, self.dtype = keras, dtype
        self.layout = "nchw" if input_rank == 4 else "flat"
        self.layers, self.weights = [], []

    def add(self, layer, weights=None):
        self.layers.append(layer)
        if weights is not None:
            self.weights.append((layer, weights))

    def channels_last(self, name):
        if self.layout == "nchw":
            self.add(self.keras.layers.Permute(_TO_NHWC, name=f"{name}_to_nhwc", dtype=self.dtype))
            self.layout = "nhwc"

    def channels_first(self, name):
        if self.layout == "nhwc":
            self.add(self.keras.layers.Permute(_TO_NCHW, name=f"{name}_to_nchw", dtype=self.dtype))
            self.layout = "nchw"


def _activation_to_keras(stack, activation, name):
    """A separate Keras Activation layer; softmax runs over the last axis of *our* layout."""
    if activation == "softmax":
        stack.channels_first(name)
    stack.add(stack.keras.layers.Activation(activation or "linear", name=name, dtype=stack.dtype))


# Our weights replace whatever Keras draws; "zeros" draws nothing, which spares JAX
# the compilation of a random generator for every weight shape.
_NO_DRAW = {"kernel_initializer": "zeros", "bias_initializer": "zeros"}


def _dense_to_keras(stack, layer):
    keras_layer = stack.keras.layers.Dense(
        layer.units,
        activation=layer.activation,
        use_bias=layer.use_bias,
        name=layer.name,
        dtype=stack.dtype,
        **_NO_DRAW,
    )
    stack.add(keras_layer, layer.get_weights())  # kernel (in, out) in both libraries


def _conv_to_keras(stack, layer):
    keras = stack.keras
    stack.channels_last(layer.name)
    k, stride, pad = layer.kernel_size, layer.strides, layer.padding
    if pad == 0:
        padding = "valid"
    elif stride == 1 and 2 * pad == k - 1:
        padding = "same"  # Keras's "same" is exactly (k - 1) / 2 zeros on each side here
    else:
        stack.add(keras.layers.ZeroPadding2D(pad, name=f"{layer.name}_padding", dtype=stack.dtype))
        padding = "valid"
    # softmax over our last axis (width) is not elementwise: apply it after going back to NCHW
    inline = layer.activation if layer.activation != "softmax" else None
    weights = layer.get_weights()
    weights[0] = np.transpose(weights[0], (2, 3, 1, 0))  # (F, C, kh, kw) -> (kh, kw, C, F)
    keras_layer = keras.layers.Conv2D(
        layer.filters,
        k,
        strides=stride,
        padding=padding,
        activation=inline,
        use_bias=layer.use_bias,
        name=layer.name,
        dtype=stack.dtype,
        **_NO_DRAW,
    )
    stack.add(keras_layer, weights)
    if layer.activation == "softmax":
        _activation_to_keras(stack, "softmax", f"{layer.name}_softmax")


def _maxpool_to_keras(stack, layer):
    stack.channels_last(layer.name)
    keras_layer = stack.keras.layers.MaxPooling2D(
        layer.pool_size,
        strides=layer.strides or layer.pool_size,
        padding="valid",  # ours drops the rows and columns that do not fill a window, as "valid"
        name=layer.name,
        dtype=stack.dtype,
    )
    stack.add(keras_layer)


def _batchnorm_to_keras(stack, layer):
    keras_layer = stack.keras.layers.BatchNormalization(
        axis=-1 if stack.layout == "nhwc" else 1,  # the channel (or feature) axis
        momentum=layer.momentum,  # both: moving = momentum * moving + (1 - momentum) * batch
        epsilon=layer.epsilon,
        name=layer.name,
        dtype=stack.dtype,
    )
    stack.add(keras_layer, layer.get_weights())  # gamma, beta, moving mean, moving variance


def _flatten_to_keras(stack, layer):
    stack.channels_first(layer.name)  # our order: channel, then row, then column
    # data_format="channels_last" makes Keras's Flatten a plain reshape (with
    # "channels_first" it would move the channels last before flattening)
    stack.add(
        stack.keras.layers.Flatten(data_format="channels_last", name=layer.name, dtype=stack.dtype)
    )
    stack.layout = "flat"


def _dropout_to_keras(stack, layer):
    stack.add(stack.keras.layers.Dropout(layer.rate, name=layer.name, dtype=stack.dtype))


def _activation_layer_to_keras(stack, layer):
    _activation_to_keras(stack, layer.activation, layer.name)


# Exact classes only: a subclass may change what the layer computes.
_TO_KERAS = {
    Dense: _dense_to_keras,
    Conv2D: _conv_to_keras,
    MaxPool2D: _maxpool_to_keras,
    BatchNorm: _batchnorm_to_keras,
    Flatten: _flatten_to_keras,
    Dropout: _dropout_to_keras,
    Activation: _activation_layer_to_keras,
    ReLU: _activation_layer_to_keras,
    Sigmoid: _activation_layer_to_keras,
    Tanh: _activation_layer_to_keras,
    Softmax: _activation_layer_to_keras,
}


def _converter(layer, table, target):
    convert = table.get(type(layer))
    if convert is None:
        supported = sorted({cls.__name__ for cls in table})
        why = "it is not one of dlcourse's built-in layers (a layer of your own?)"
        raise unsupported_layer(layer, target, supported, why)
    return convert


def to_keras(model):
    """A ``keras.Sequential`` that computes what ``model`` computes, with its weights.

    The Keras model takes the same inputs as ``model`` (NCHW images, or rows of
    features) and predicts the same outputs, on the Keras backend in use. Weights
    are copied, not shared: training one model leaves the other as it was.

    Raises ``UnsupportedLayerError`` (naming the layer) for a layer that has no
    Keras counterpart, before Keras is even imported.
    """
    require_sequential(model, "to_keras")
    require_built(model, "to_keras")
    converters = [_converter(layer, _TO_KERAS, "Keras") for layer in model.layers]
    keras = _import_keras()
    _warn_if_float64_is_truncated(keras, model.dtype)
    input_shape = tuple(model.input_shape[1:])
    stack = _KerasStack(keras, model.dtype, len(model.input_shape))
    for layer, convert in zip(model.layers, converters):
        convert(stack, layer)
    stack.channels_first("output")  # images come out in our layout too
    inputs = keras.Input(shape=input_shape, dtype=model.dtype, name="input")
    keras_model = keras.Sequential([inputs, *stack.layers], name=model.name)
    for keras_layer, values in stack.weights:
        keras_layer.set_weights([np.asarray(v, dtype=model.dtype) for v in values])
    return keras_model


# ----------------------------------------------------------------- from Keras
_ACTIVATIONS = ("relu", "sigmoid", "tanh", "softmax", "linear")
_FROM_KERAS_SUPPORTED = (
    "Dense",
    "Activation",
    "ReLU",
    "Softmax",
    "Dropout",
    "Flatten",
    "BatchNormalization (on (batch, features) inputs)",
)


def _activation_name(keras_layer):
    """The activation of a Keras layer as one of our names, or an error naming the layer."""
    name = getattr(keras_layer.activation, "__name__", None)
    if name not in _ACTIVATIONS:
        why = f"activation {name!r} has no dlcourse counterpart (we have {', '.join(_ACTIVATIONS)})"
        raise unsupported_layer(keras_layer, "dlcourse", _FROM_KERAS_SUPPORTED, why)
    return None if name == "linear" else name


def _layer_from_keras(keras_layer, input_rank):
    """``(our layer, its weights as NumPy)`` for one Keras layer."""
    kind, name = type(keras_layer).__name__, keras_layer.name
    config = keras_layer.get_config()
    weights = [np.asarray(w) for w in keras_layer.get_weights()]

    def refuse(why):
        return unsupported_layer(keras_layer, "dlcourse", _FROM_KERAS_SUPPORTED, why)

    if kind == "Dense":
        activation = _activation_name(keras_layer)
        layer = Dense(config["units"], activation, use_bias=config["use_bias"], name=name)
        return layer, weights
    if kind == "Activation":
        return Activation(_activation_name(keras_layer), name=name), []
    if kind == "ReLU":
        if (
            config.get("max_value") is not None
            or config.get("negative_slope")
            or (config.get("threshold"))
        ):
            raise refuse("only the plain max(x, 0) form is supported")
        return ReLU(name=name), []
    if kind == "Softmax":
        if config.get("axis", -1) not in (-1, input_rank - 1):
            raise refuse("only softmax over the last axis is supported")
        return Softmax(name=name), []
    if kind == "Dropout":
        if config.get("noise_shape") is not None:
            raise refuse("noise_shape is not supported")
        return Dropout(config["rate"], name=name), []
    if kind == "Flatten":
        if input_rank > 2 and config.get("data_format") == "channels_first":
            raise refuse("data_format='channels_first' reorders the values before flattening")
        return Flatten(name=name), []
    if kind == "BatchNormalization":
        if input_rank != 2 or config["axis"] not in (-1, 1, [-1], [1]):
            raise refuse("only batch norm over the features of (batch, features) inputs")
        if not (config["center"] and config["scale"]):
            raise refuse("center=False or scale=False is not supported")
        return BatchNorm(momentum=config["momentum"], epsilon=config["epsilon"], name=name), weights
    raise refuse(f"{kind} layers are not supported")


def _keras_dtype(keras_model):
    weights = keras_model.get_weights()
    dtype = str(np.asarray(weights[0]).dtype) if weights else None
    if dtype is None:
        import keras

        dtype = keras.config.floatx()
    if dtype not in ("float32", "float64"):
        raise ValueError(
            f"from_keras: the Keras model computes in {dtype}; dlcourse models are float32 "
            "or float64 (cast the Keras model first)."
        )
    return dtype


def from_keras(keras_model, seed=None):
    """A dlcourse ``Sequential`` equivalent to a Keras ``Sequential`` of Dense/activation layers.

    Supported Keras layers: Dense (activation relu, sigmoid, tanh, softmax or
    linear), Activation, ReLU, Softmax, Dropout, Flatten, and BatchNormalization
    on (batch, features) inputs. The model is built on the dlcourse backend chosen
    now (``dlcourse.set_backend``) with the Keras weights; ``seed`` fixes its
    dropout masks and shuffling. The Keras model must be built (give it a
    ``keras.Input``), so that its input shape is known.
    """
    keras = _import_keras()
    from dlcourse.nn.models import Sequential

    if not isinstance(keras_model, keras.Sequential):
        raise TypeError(
            f"from_keras: expected a keras.Sequential model, got {type(keras_model).__name__}; "
            "functional models with branches have no Sequential equivalent."
        )
    if not keras_model.built or not keras_model.layers:
        raise ValueError(
            "from_keras: the Keras model is not built, so its input shape is unknown; "
            "start it with keras.Input(shape=...) or call keras_model.build((None, ...))."
        )
    input_shape = tuple(keras_model.input_shape)
    rank = len(input_shape)
    layers, weights = [], []
    for keras_layer in keras_model.layers:
        layer, values = _layer_from_keras(keras_layer, rank)
        layers.append(layer)
        weights.append(values)
        if type(keras_layer).__name__ == "Flatten":
            rank = 2  # the other supported layers keep the rank of their input
    model = Sequential(
        layers,
        name=keras_model.name,
        seed=seed,
        dtype=_keras_dtype(keras_model),
        input_shape=input_shape[1:],
    )
    for layer, values in zip(model.layers, weights):
        layer.set_weights(values)
    return model
