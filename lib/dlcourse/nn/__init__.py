"""A Keras-style front end that runs one model on several backends.

::

    import dlcourse
    from dlcourse.nn import Sequential, Dense, Flatten

    dlcourse.set_backend("torch")          # or "manual" (hand-written gradients), ...
    model = Sequential([Dense(64, activation="relu"), Dense(10)], seed=0)
    model.compile(optimizer="adam",
                  loss=SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    history = model.fit(x, y, epochs=10, validation_split=0.2)
    history.plot()

Three ways to make a model, as in Keras:

- ``Sequential([...])``, a chain of layers;
- the Functional API, any graph of layers: several inputs and outputs, a layer
  used twice (shared weights), ``Add``/``Multiply``/``Concatenate``::

      a, b = Input((12,), name="a"), Input((4,), name="b")
      h = Concatenate()([Dense(16, activation="relu")(a), b])
      model = Model(inputs=[a, b], outputs=Dense(5)(h))
      model.fit([xa, xb], y)             # or fit({"a": xa, "b": xb}, y)

- subclassing ``Model`` (or ``Layer``, for a block): layers assigned in
  ``__init__`` and used in ``call`` are tracked, with their weights, at any depth.

Layers are written once against ``dlcourse.ops`` and run on every backend; on
the ``manual`` backend they also need ``backward`` (see ``Layer``). How the
pieces fit together, and how to add a backend: ``dlcourse.backends``.

Layout: ``layers/`` (one family per module), ``models/`` (``Model``,
``Sequential``, Functional graphs), ``symbolic.py`` (``Input``), ``training.py``
(the fit loop, which uses only a model's public methods), ``model_file.py`` and
``saving.py`` (one ``.npz`` per model, no pickle), ``summary.py``, losses,
metrics, optimizers, callbacks.
"""

from dlcourse.nn import callbacks, initializers, losses, metrics, optimizers
from dlcourse.nn.callbacks import (
    Callback,
    EarlyStopping,
    LearningRateScheduler,
    ModelCheckpoint,
    OneCycle,
    ProgressBar,
    one_cycle,
)
from dlcourse.nn.config import floatx, get_seed, set_floatx, set_seed
from dlcourse.nn.errors import (
    MissingBackwardError,
    NonFiniteLossError,
    NotBuiltError,
    NotCompiledError,
)
from dlcourse.nn.history import History
from dlcourse.nn.layers import (
    GRU,
    LSTM,
    Activation,
    Add,
    BatchNorm,
    BatchNormalization,
    Concatenate,
    Conv2D,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    GlobalAveragePooling1D,
    Layer,
    LayerNormalization,
    MaxPool2D,
    MaxPooling2D,
    MultiHeadAttention,
    Multiply,
    PositionEmbedding,
    ReLU,
    Sigmoid,
    SimpleRNN,
    Softmax,
    Tanh,
)
from dlcourse.nn.losses import (
    BinaryCrossentropy,
    CategoricalCrossentropy,
    MeanSquaredError,
    SparseCategoricalCrossentropy,
)
from dlcourse.nn.lr_find import LRFinderResult, lr_find
from dlcourse.nn.models import Functional, Input, Model, Sequential
from dlcourse.nn.optimizers import SGD, Adam, RMSprop
from dlcourse.nn.saving import load_model, save_model

__all__ = [
    "SGD",
    "Activation",
    "Adam",
    "Add",
    "BatchNorm",
    "BatchNormalization",
    "BinaryCrossentropy",
    "Callback",
    "CategoricalCrossentropy",
    "Concatenate",
    "Conv2D",
    "Dense",
    "Dropout",
    "EarlyStopping",
    "Embedding",
    "Flatten",
    "Functional",
    "GRU",
    "GlobalAveragePooling1D",
    "History",
    "Input",
    "LRFinderResult",
    "LSTM",
    "Layer",
    "LayerNormalization",
    "LearningRateScheduler",
    "MaxPool2D",
    "MaxPooling2D",
    "MeanSquaredError",
    "MissingBackwardError",
    "Model",
    "ModelCheckpoint",
    "MultiHeadAttention",
    "Multiply",
    "NonFiniteLossError",
    "NotBuiltError",
    "NotCompiledError",
    "OneCycle",
    "PositionEmbedding",
    "ProgressBar",
    "RMSprop",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "SimpleRNN",
    "Softmax",
    "SparseCategoricalCrossentropy",
    "Tanh",
    "callbacks",
    "floatx",
    "get_seed",
    "initializers",
    "load_model",
    "losses",
    "lr_find",
    "metrics",
    "optimizers",
    "one_cycle",
    "save_model",
    "set_floatx",
    "set_seed",
]
