"""The layers of ``dlcourse.nn``, one family per module, and the ``Layer`` base class.

``base`` (Layer), ``core`` (Dense), ``activations``, ``conv`` (Conv2D, pooling,
Flatten), ``normalization``, ``dropout`` (regularization) and ``merging``
(Add, Multiply, Concatenate: several inputs, one output).
"""

from dlcourse.nn.layers.activations import Activation, ReLU, Sigmoid, Softmax, Tanh
from dlcourse.nn.layers.base import Layer
from dlcourse.nn.layers.conv import Conv2D, Flatten, MaxPool2D, MaxPooling2D
from dlcourse.nn.layers.core import Dense
from dlcourse.nn.layers.dropout import Dropout
from dlcourse.nn.layers.merging import Add, Concatenate, Multiply
from dlcourse.nn.layers.normalization import BatchNorm, BatchNormalization

__all__ = [
    "Activation",
    "Add",
    "BatchNorm",
    "BatchNormalization",
    "Concatenate",
    "Conv2D",
    "Dense",
    "Dropout",
    "Flatten",
    "Layer",
    "MaxPool2D",
    "MaxPooling2D",
    "Multiply",
    "ReLU",
    "Sigmoid",
    "Softmax",
    "Tanh",
]
