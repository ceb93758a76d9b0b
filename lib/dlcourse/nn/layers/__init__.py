"""The layers of ``dlcourse.nn``, one family per module, and the ``Layer`` base class."""

from dlcourse.nn.layers.activations import Activation, ReLU, Sigmoid, Softmax, Tanh
from dlcourse.nn.layers.base import Layer
from dlcourse.nn.layers.conv import Conv2D, Flatten, MaxPool2D, MaxPooling2D
from dlcourse.nn.layers.core import Dense
from dlcourse.nn.layers.dropout import Dropout
from dlcourse.nn.layers.normalization import BatchNorm, BatchNormalization

__all__ = [
    "Activation",
    "BatchNorm",
    "BatchNormalization",
    "Conv2D",
    "Dense",
    "Dropout",
    "Flatten",
    "Layer",
    "MaxPool2D",
    "MaxPooling2D",
    "ReLU",
    "Sigmoid",
    "Softmax",
    "Tanh",
]
