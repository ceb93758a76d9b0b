"""Our models as real Keras 3 models, and Keras models as ours.

``to_keras(model)`` builds a ``keras.Sequential`` (from a ``Sequential``) or a
Functional ``keras.Model`` (from ``Model(inputs, outputs)``: several inputs
and outputs, layers with several outputs, shared layers, merges, attention
masks that are inputs, models used as layers) with the same layers and the
very same weights, so ``keras_model.predict(x)`` gives ``model.predict(x)`` whichever
backend Keras runs on (TensorFlow, JAX or PyTorch: Keras picks it from
``KERAS_BACKEND`` when it is first imported). ``from_keras`` goes the other way.

Two things differ between the libraries, and the conversion takes care of them:

- **Image layout.** Our images are NCHW (channels first) and our kernels
  (filters, channels, kh, kw). TensorFlow runs convolutions on the CPU only
  channels-last, so the Keras model keeps our NCHW input but turns it into NHWC
  with a ``Permute`` layer before a convolution, and back to NCHW before
  ``Flatten`` (in a graph: after each convolution or pooling). That way
  ``Flatten`` lays the numbers out in our order (channel, row, column) and the
  next ``Dense`` kernel needs no reshuffling. Kernels are transposed to Keras's
  (kh, kw, channels, filters).
- **Padding.** Our ``Conv2D`` pads a number of zeros on every side; Keras knows
  "valid" and "same". Where "same" means the same thing (stride 1, odd kernel,
  ``(k - 1) / 2`` zeros) it is used; otherwise a ``ZeroPadding2D`` layer comes first.

From Keras, images go the other way (``keras_image_import``): a Keras model
that takes channels-last images (Keras's default) becomes one that takes the
same images NCHW (``x.transpose(0, 3, 1, 2)``), its kernels transposed to
ours, the ``Dense`` after ``Flatten`` with its rows reordered (Keras flattens
row, column, channel; we flatten channel, row, column), a ``ZeroPadding2D``
before a convolution folded into its padding, and ``to_keras``'s own
``Permute`` layers read as the changes of layout they are.

The sequence layers (Embedding, LayerNormalization, GlobalAveragePooling1D,
SimpleRNN, LSTM, GRU, MultiHeadAttention) and the merges (Add, Multiply,
Concatenate) are Keras's own, with Keras's weight layouts, so they copy as
they are; ``PositionEmbedding``, which Keras 3 lacks, becomes a small Keras
layer (``keras_position_embedding``).

Predictions match to float32 precision (about 1e-7 relative). A float64 model
matches to float64 precision (about 1e-16) on Keras's TensorFlow backend when
called directly (``keras_model(x)``); on its JAX and PyTorch backends Keras
3.15 computes float64 in float32 whatever the weights' dtype (its type
promotion turns every 64-bit result into a 32-bit one there, as JAX does by
default), and ``predict`` casts float64 NumPy inputs to
``keras.config.floatx()`` on every backend. The weights are copied exactly.

Training the converted model is Keras's training. One difference there: Keras
updates batch norm's moving variance with the batch's biased variance, we (and
PyTorch) with the unbiased one.
"""

import importlib.util
import warnings

import numpy as np

from dlcourse.interop.errors import require_built, require_graph, unsupported_layer
from dlcourse.interop.keras_export import TO_KERAS, KerasStack
from dlcourse.interop.keras_graph import functional_from_keras, functional_to_keras
from dlcourse.interop.keras_image_import import check_output_layout, input_layout, our_image_shape
from dlcourse.interop.keras_import import read_layer

__all__ = ["from_keras", "to_keras"]


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


def _converter(layer, table, target):
    """The converter of ``layer``, or an error saying why it has none."""
    from dlcourse.nn.models import Model

    supported = sorted({cls.__name__ for cls in table})
    convert = table.get(type(layer))
    if convert is None:
        why = "it is not one of dlcourse's built-in layers (a layer of your own?)"
        if isinstance(layer, Model):
            why = "it is a subclassed model used as a layer: its call() is code, not a graph"
        raise unsupported_layer(layer, target, supported, why)
    return convert


def to_keras(model):
    """A Keras model that computes what ``model`` computes, with its weights.

    A ``Sequential`` becomes a ``keras.Sequential``; a Functional model
    (``Model(inputs, outputs)``) a Functional ``keras.Model`` with the same
    inputs (same names, same order), outputs and shared layers. The Keras
    model takes the same inputs as ``model`` (NCHW images, rows of features,
    integer token ids) and predicts the same outputs, on the Keras backend in
    use. Weights are copied, not shared: training one model leaves the other
    as it was.

    Raises ``UnsupportedLayerError`` (naming the layer) for a layer that has no
    Keras counterpart, and ``NotImplementedError`` for a subclassed model
    (its ``call`` is code, not a graph), before Keras is even imported.
    """
    from dlcourse.nn.models import Sequential

    require_graph(model, "to_keras")
    require_built(model, "to_keras")
    converters = {id(layer): _converter(layer, TO_KERAS, "Keras") for layer in model.layers}
    keras = _import_keras()
    _warn_if_float64_is_truncated(keras, model.dtype)
    if not isinstance(model, Sequential):
        return functional_to_keras(keras, model, converters)
    stack = KerasStack(keras, model.dtype, len(model.input_shape))
    for layer in model.layers:
        converters[id(layer)](stack, layer)
    stack.channels_first("output")  # images come out in our layout too
    inputs = keras.Input(
        shape=tuple(model.input_shape[1:]), dtype=model.input_dtype(), name="input"
    )
    keras_model = keras.Sequential([inputs, *stack.layers], name=model.name)
    stack.set_weights()
    return keras_model


def _keras_dtype(keras_model):
    floats = [w for w in keras_model.get_weights() if np.asarray(w).dtype.kind == "f"]
    dtype = str(np.asarray(floats[0]).dtype) if floats else None
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
    """A dlcourse model equivalent to a Keras model, with its weights.

    A ``keras.Sequential`` becomes a ``Sequential``, a Functional ``keras.Model``
    (several inputs and outputs, shared layers, merges) a Functional model
    with the same input names. Supported Keras layers: Dense (activation relu,
    sigmoid, tanh, softmax or linear), Activation, ReLU, Softmax, Dropout,
    Flatten, BatchNormalization (features, or an image's channels), Conv2D
    (square kernels and strides, "valid", or "same" with stride 1),
    MaxPooling2D ("valid"), ZeroPadding2D before a Conv2D, Embedding,
    LayerNormalization, GlobalAveragePooling1D, SimpleRNN, LSTM, GRU,
    MultiHeadAttention, Add, Multiply, Concatenate, and the PositionEmbedding
    that ``to_keras`` writes; recurrent layers with ``return_state``, attention
    called with an ``attention_mask`` tensor or ``return_attention_scores``, and
    Keras models used as layers (each becomes one of ours). The model is built
    on the dlcourse backend chosen now (``dlcourse.set_backend``) with the Keras
    weights; ``seed`` fixes its dropout masks and shuffling. The Keras model
    must be built (give it a ``keras.Input``), so that its input shape is known.
    Images: a channels-last model becomes one that takes NCHW images
    (``x.transpose(0, 3, 1, 2)``), and gives image outputs NCHW.
    """
    keras = _import_keras()
    from dlcourse.nn.models import Sequential

    if not keras_model.built or not keras_model.layers:
        raise ValueError(
            "from_keras: the Keras model is not built, so its input shape is unknown; "
            "start it with keras.Input(shape=...) or call keras_model.build((None, ...))."
        )
    if not isinstance(keras_model, keras.Sequential):
        return functional_from_keras(keras_model, _keras_dtype(keras_model), seed)
    shape = tuple(keras_model.input_shape)[1:]
    layout = input_layout(len(shape) + 1, keras_model.layers[:1])
    input_shape, padding = our_image_shape(shape, layout), 0
    layers, weights = [], []
    for keras_layer in keras_model.layers:
        read = read_layer(keras_layer, len(shape) + 1, layout, shape, padding)
        if read.layer is not None:  # None: a change of layout, or zeros for the next conv
            layers.append(read.layer)
            weights.append(read.weights)
        layout, padding = read.layout, read.padding
        shape = tuple(keras_layer.output.shape)[1:]
    check_output_layout(keras_model.layers[-1], layout, padding)
    model = Sequential(
        layers,
        name=keras_model.name,
        seed=seed,
        dtype=_keras_dtype(keras_model),
        input_shape=input_shape,
    )
    for layer, values in zip(model.layers, weights):
        layer.set_weights(values)
    return model
