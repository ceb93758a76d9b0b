"""The layers of ``dlcourse.nn``, one family per module, and the ``Layer`` base class.

``base`` (Layer), ``core`` (Dense), ``activations``, ``conv`` (Conv2D, pooling,
Flatten), ``pooling1d`` (GlobalAveragePooling1D), ``embedding`` (Embedding,
PositionEmbedding), ``normalization`` (BatchNorm, LayerNormalization),
``recurrent`` (SimpleRNN, LSTM, GRU), ``attention`` (MultiHeadAttention),
``dropout`` (regularization) and ``merging`` (Add, Multiply, Concatenate:
several inputs, one output).
"""

from dlcourse.nn.layers.activations import Activation, ReLU, Sigmoid, Softmax, Tanh
from dlcourse.nn.layers.attention import MultiHeadAttention
from dlcourse.nn.layers.base import Layer
from dlcourse.nn.layers.conv import Conv2D, Flatten, MaxPool2D, MaxPooling2D
from dlcourse.nn.layers.core import Dense
from dlcourse.nn.layers.dropout import Dropout
from dlcourse.nn.layers.embedding import Embedding, PositionEmbedding
from dlcourse.nn.layers.merging import Add, Concatenate, Multiply
from dlcourse.nn.layers.normalization import BatchNorm, BatchNormalization, LayerNormalization
from dlcourse.nn.layers.pooling1d import GlobalAveragePooling1D
from dlcourse.nn.layers.recurrent import GRU, LSTM, SimpleRNN

__all__ = [
    "GRU",
    "LSTM",
    "Activation",
    "Add",
    "BatchNorm",
    "BatchNormalization",
    "Concatenate",
    "Conv2D",
    "Dense",
    "Dropout",
    "Embedding",
    "Flatten",
    "GlobalAveragePooling1D",
    "Layer",
    "LayerNormalization",
    "MaxPool2D",
    "MaxPooling2D",
    "MultiHeadAttention",
    "Multiply",
    "PositionEmbedding",
    "ReLU",
    "Sigmoid",
    "SimpleRNN",
    "Softmax",
    "Tanh",
]
