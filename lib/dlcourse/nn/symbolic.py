"""``Input`` and the symbolic tensors that a Functional model is drawn with.

::

    a = Input((4,), name="a")         # a placeholder: no numbers, only a shape
    h = Dense(8, activation="relu")(a)
    out = Add()([h, Dense(8)(a)])     # each call records a Node: layer, inputs, output
    model = Model(a, out)             # reads the graph back from ``out`` to ``a``

Calling a layer on a ``SymbolicTensor`` computes nothing and creates no
weight: it only records which layer was applied to which tensors (a ``Node``).
The model made from the graph creates the weights, from its own seed, and
works out every shape by running a small batch of zeros through the nodes.
"""

import numpy as np

__all__ = ["Input", "Node", "SymbolicTensor", "is_symbolic"]

_counter = {"input": 0}


class SymbolicTensor:
    """A placeholder for a batch of arrays in a graph under construction.

    ``node`` is the ``Node`` that produces it (None for an ``Input``); ``shape``
    is known for inputs (batch axis first, as None) and None otherwise.
    """

    def __init__(self, name, shape=None, dtype=None, node=None):
        self.name, self.shape, self.dtype, self.node = name, shape, dtype, node

    def __repr__(self):
        shape = "?" if self.shape is None else str(tuple(self.shape))
        origin = "Input" if self.node is None else f"output of {self.node.layer.name!r}"
        return f"<SymbolicTensor {self.name!r} shape={shape} ({origin})>"

    def __array__(self, *args, **kwargs):
        raise TypeError(
            f"{self!r} is a placeholder of a model under construction, not numbers: pass "
            "it to layers, then make the model with Model(inputs, outputs) and call that."
        )


class Node:
    """One application of ``layer`` to ``inputs`` (a tensor, or a list of tensors).

    A layer with several outputs (a recurrent layer with ``return_state=True``)
    makes ``count`` tensors, ``outputs``; ``output`` is the first.
    """

    def __init__(self, layer, inputs, count=1):
        self.layer, self.inputs = layer, inputs
        if count == 1:
            self.outputs = [SymbolicTensor(f"{layer.name}/out", node=self)]
        else:
            self.outputs = [SymbolicTensor(f"{layer.name}/out{j}", node=self) for j in range(count)]
        self.output = self.outputs[0]

    @property
    def input_list(self):
        return list(self.inputs) if isinstance(self.inputs, (list, tuple)) else [self.inputs]


def is_symbolic(x):
    """True for a SymbolicTensor, or a list/tuple holding one."""
    if isinstance(x, SymbolicTensor):
        return True
    return isinstance(x, (list, tuple)) and any(isinstance(t, SymbolicTensor) for t in x)


def check_all_symbolic(layer, x):
    """A ValueError when symbolic and real arrays are mixed in one call."""
    items = x if isinstance(x, (list, tuple)) else [x]
    if not all(isinstance(t, SymbolicTensor) for t in items):
        raise ValueError(
            f"layer {layer.name!r} was called on a mix of Input placeholders and real arrays; "
            "in a Functional model every input of a layer comes from Input(...) or another "
            "layer's output."
        )


def Input(shape, dtype=None, name=None):  # noqa: N802 (Keras's name)
    """A model input: the shape of one example (no batch axis), e.g. ``Input((64,))``.

    ``dtype``: "float32" or "float64" (None: the model's float type), or an
    integer type for inputs that hold indices. ``name`` names the input; a dict
    passed to ``fit``/``predict`` maps these names to arrays.
    """
    if isinstance(shape, int):
        shape = (shape,)
    try:
        shape = tuple(int(s) for s in shape)
    except TypeError:
        raise ValueError(
            f"Input: shape must be a tuple of ints for one example, e.g. (64,), got {shape!r}."
        ) from None
    if any(s < 1 for s in shape):
        raise ValueError(f"Input: every size in shape must be positive, got {shape}.")
    if dtype is not None:
        dtype = np.dtype(dtype).name
        if np.dtype(dtype).kind not in "fiu":
            raise ValueError(f"Input: dtype must be a float or integer type, got {dtype!r}.")
    if name is None:
        _counter["input"] += 1
        name = "input" if _counter["input"] == 1 else f"input_{_counter['input'] - 1}"
    return SymbolicTensor(str(name), shape=(None, *shape), dtype=dtype)
