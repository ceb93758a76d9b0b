"""Reading Keras image layers: Keras keeps images channels-last (NHWC), we keep them NCHW.

Every Keras tensor that ``from_keras`` reads gets a *layout*, which says how
its axes map to those of our tensor (always NCHW for an image):

- ``NHWC``: a channels-last image, the Keras default (``data_format=
  "channels_last"``). Our model takes the same images as NCHW
  (``x.transpose(0, 3, 1, 2)``);
- ``NCHW``: an image in our order (a model made by ``to_keras``, which turns
  NCHW inputs channels-last with a ``Permute`` before each convolution, or a
  layer with ``data_format="channels_first"``);
- ``Flat(order)``: a flattened image whose features Keras lays out in its
  order (row, column, channel) while ours are (channel, row, column); the
  next ``Dense`` gets its kernel rows reordered, so it computes the same;
- ``None``: anything that is not an image.

A ``Permute`` between the two image layouts is then no layer of ours, and a
``ZeroPadding2D`` right before a "valid" ``Conv2D`` becomes that convolution's
padding (``to_keras`` writes both).
"""

import numpy as np

from dlcourse.interop.errors import UnsupportedLayerError
from dlcourse.nn.layers import BatchNorm, Concatenate, Conv2D, Dense, Flatten, MaxPool2D

__all__ = [
    "NCHW",
    "NHWC",
    "Flat",
    "Read",
    "check_output_layout",
    "input_layout",
    "our_image_shape",
    "read_image_layer",
]

NCHW, NHWC = "nchw", "nhwc"
_TO_NHWC, _TO_NCHW = (2, 3, 1), (3, 1, 2)  # Permute's dims (1-based, batch axis left out)
_PASS_THROUGH = ("Dropout", "Activation", "ReLU")  # elementwise: any layout stays as it is
_ACTIVATIONS = ("relu", "sigmoid", "tanh", "softmax", "linear")


class Flat:
    """A flattened NHWC image: ``order[j]`` is our feature index of Keras's feature ``j``."""

    def __init__(self, height, width, channels):
        ours = np.arange(channels * height * width).reshape(channels, height, width)
        self.order = ours.transpose(1, 2, 0).reshape(-1)


class Read:
    """What one Keras layer becomes: ``layer`` (None: nothing, the tensor passes as it
    is), its ``weights``, the ``layout`` of its output, and ``padding``: zeros still to
    add, by the convolution that comes next (a ``ZeroPadding2D``)."""

    def __init__(self, layer, weights=(), layout=None, padding=0):
        self.layer, self.weights, self.layout, self.padding = layer, list(weights), layout, padding


def input_layout(rank, first_layers):
    """The layout of a Keras model input: NCHW when every layer that reads it first turns
    it channels-last (``to_keras``'s Permute), NHWC for any other image, else None."""
    if rank != 4:
        return None
    permutes = [_permute_dims(layer) == _TO_NHWC for layer in first_layers]
    return NCHW if permutes and all(permutes) else NHWC


def our_image_shape(shape, layout):
    """One example's shape as our model takes it (NHWC images as NCHW)."""
    shape = tuple(shape)
    return (shape[2], shape[0], shape[1]) if layout == NHWC else shape


def _permute_dims(keras_layer):
    if type(keras_layer).__name__ != "Permute":
        return None
    return tuple(keras_layer.get_config()["dims"])


def _square(value, what, refuse):
    values = (value, value) if isinstance(value, int) else tuple(value)
    if len(set(values)) != 1:
        raise refuse(f"{what}={values} is not square; dlcourse's image layers take one size")
    return values[0]


def _data_format(config, layout, refuse):
    """Check the layer reads the image the way its layout says."""
    expected = "channels_last" if layout == NHWC else "channels_first"
    found = config.get("data_format") or "channels_last"
    if found != expected:
        raise refuse(
            f"data_format={found!r} on a {layout.upper()} image reads the wrong axis as the "
            "channels"
        )


def _activation(config, refuse):
    name = config.get("activation", "linear")
    if name not in _ACTIVATIONS:
        raise refuse(f"activation {name!r} has no dlcourse counterpart")
    return None if name == "linear" else name


def _conv(config, weights, layout, padding, refuse):
    _data_format(config, layout, refuse)
    if _square(config.get("dilation_rate", 1), "dilation_rate", refuse) != 1:
        raise refuse("dilated convolutions are not supported")
    if config.get("groups", 1) != 1:
        raise refuse("grouped convolutions (groups > 1) are not supported")
    k = _square(config["kernel_size"], "kernel_size", refuse)
    stride = _square(config["strides"], "strides", refuse)
    if config["padding"] == "same":
        if padding or k % 2 == 0 or stride != 1:
            # Keras pads unevenly then (one more zero after than before)
            raise refuse("padding='same' is supported with an odd kernel and strides 1 only")
        ours = "same"
    else:
        ours = padding  # "valid", after the zeros of a ZeroPadding2D if one came first
    layer = Conv2D(
        config["filters"],
        k,
        strides=stride,
        padding=ours if ours else "valid",
        activation=_activation(config, refuse),
        use_bias=config["use_bias"],
        name=config["name"],
    )
    weights = list(weights)
    weights[0] = np.transpose(weights[0], (3, 2, 0, 1))  # (kh, kw, C, F) -> (F, C, kh, kw)
    return Read(layer, weights, layout)


def _zero_padding(config, layout, refuse):
    _data_format(config, layout, refuse)
    sides = np.asarray(config["padding"]).reshape(-1)
    if len(set(sides.tolist())) != 1:
        raise refuse("only the same number of zeros on every side is supported")
    return Read(None, (), layout, padding=int(sides[0]))


def _pooling(kind, config, layout, refuse):
    if kind != "MaxPooling2D":
        raise refuse(f"{kind} has no dlcourse counterpart (dlcourse pools with MaxPool2D only)")
    _data_format(config, layout, refuse)
    if config["padding"] != "valid":
        raise refuse("only padding='valid' pooling is supported (ours drops what does not fit)")
    size = _square(config["pool_size"], "pool_size", refuse)
    strides = config.get("strides")
    strides = None if strides is None else _square(strides, "strides", refuse)
    return Read(MaxPool2D(size, strides=strides, name=config["name"]), (), layout)


def _batch_norm(config, weights, layout, refuse):
    axis = config["axis"]
    axis = axis[0] if isinstance(axis, (list, tuple)) and len(axis) == 1 else axis
    channel_axes = (-1, 3) if layout == NHWC else (1,)
    if axis not in channel_axes:
        raise refuse(f"batch norm over axis {axis} of a {layout.upper()} image: only the channels")
    if not (config["center"] and config["scale"]):
        raise refuse("center=False or scale=False is not supported")
    layer = BatchNorm(momentum=config["momentum"], epsilon=config["epsilon"], name=config["name"])
    return Read(layer, weights, layout)  # gamma, beta, moving mean and variance: per channel


def _flatten(config, layout, shape, refuse):
    found = config.get("data_format") or "channels_last"
    layer = Flatten(name=config["name"])
    if layout == NHWC and found == "channels_last":  # a plain reshape: row, column, channel
        height, width, channels = shape
        return Read(layer, (), Flat(height, width, channels))
    if layout == NCHW and found == "channels_last":  # our order already
        return Read(layer, (), None)
    if layout == NCHW:  # Keras's "channels_first" Flatten moves the channels last first
        channels, height, width = shape
        return Read(layer, (), Flat(height, width, channels))
    raise refuse("data_format='channels_first' on a channels-last image mixes the axes")


def _merge_axis(config, layout, refuse):
    """Our axis for a Concatenate along Keras's ``axis`` of an image."""
    axis = config["axis"] % 4
    if axis == 0:
        raise refuse("concatenating along the batch axis is not supported")
    return {1: 2, 2: 3, 3: 1}[axis] if layout == NHWC else axis


def _dense_after_flatten(config, weights, flat, refuse):
    name = _activation(config, refuse)
    layer = Dense(config["units"], name, use_bias=config["use_bias"], name=config["name"])
    kernel = np.empty_like(weights[0])
    kernel[flat.order] = weights[0]  # Keras's row j multiplies our feature order[j]
    return Read(layer, [kernel, *weights[1:]], None)


def read_image_layer(keras_layer, layout, shape, padding, refuse):
    """``Read`` for a Keras layer whose input has an image layout (NCHW, NHWC or Flat);
    ``shape`` is the input's, one example, as Keras has it; ``padding`` the zeros a
    ZeroPadding2D left for this layer. Raises ``refuse(why)`` for anything else."""
    kind = type(keras_layer).__name__
    config = keras_layer.get_config()
    weights = [np.asarray(w) for w in keras_layer.get_weights()]
    if padding and kind != "Conv2D":
        raise refuse("it follows a ZeroPadding2D, which only a Conv2D can take as its padding")
    elementwise = kind in _PASS_THROUGH and config.get("activation") != "softmax"
    if isinstance(layout, Flat):
        if kind == "Dense":
            return _dense_after_flatten(config, weights, layout, refuse)
        if elementwise:
            return None  # the caller converts it as usual; the order stays Keras's
        raise refuse(
            f"it reads a flattened channels-last image, whose features are in another order "
            f"than ours; only Dense (and {', '.join(_PASS_THROUGH)}) may come between"
        )
    dims = _permute_dims(keras_layer)
    if dims is not None:
        if (dims, layout) == (_TO_NHWC, NCHW):
            return Read(None, (), NHWC)
        if (dims, layout) == (_TO_NCHW, NHWC):
            return Read(None, (), NCHW)
        raise refuse(f"Permute{dims} on a {layout.upper()} image is not a change of layout")
    if kind == "Conv2D":
        return _conv(config, weights, layout, padding, refuse)
    if kind == "ZeroPadding2D":
        return _zero_padding(config, layout, refuse)
    if kind.endswith("Pooling2D"):
        return _pooling(kind, config, layout, refuse)
    if kind == "BatchNormalization":
        return _batch_norm(config, weights, layout, refuse)
    if kind == "Flatten":
        return _flatten(config, layout, shape, refuse)
    if kind == "Concatenate":
        axis = _merge_axis(config, layout, refuse)
        return Read(Concatenate(axis=axis, name=config["name"]), (), layout)
    if kind in ("Add", "Multiply") or elementwise:
        return None  # elementwise: converted as usual, the layout stays
    raise refuse(f"{kind} on an image (batch, height, width, channels) is not supported")


def check_output_layout(keras_layer, layout, padding):
    """Refuse a model output that ours cannot give as Keras does: a flattened
    channels-last image (its features in another order) or zeros for no convolution.
    An image output is fine: it comes out NCHW, like every image of ours."""
    why = None
    if isinstance(layout, Flat):
        why = "its output is a flattened channels-last image, whose features ours orders otherwise"
    elif padding:
        why = "a ZeroPadding2D ends the model, with no Conv2D to take its zeros"
    if why:
        name = keras_layer.name
        raise UnsupportedLayerError(f"from_keras: layer {name!r} cannot be converted: {why}.", name)
