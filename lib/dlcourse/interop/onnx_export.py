"""Export a model to ONNX, the exchange format that runtimes and other frameworks read.

An ONNX file is a graph: named tensors (the input, the weights, every
intermediate result) joined by nodes, each a standard operator (``Gemm``,
``Relu``, ``Conv``...) whose meaning the ONNX specification fixes. This module
writes that graph by hand with ``onnx.helper``, one layer at a time, so the
mapping is there to read:

==============  ============================================================
dlcourse        ONNX operators
==============  ============================================================
Dense           ``Gemm`` (x @ kernel + bias), or ``MatMul`` without a bias
activations     ``Relu``, ``Sigmoid``, ``Tanh``, ``Softmax`` (last axis)
Conv2D          ``Conv`` (NCHW and (F, C, kh, kw) kernels, as ours)
MaxPool2D       ``MaxPool``
Flatten         ``Flatten`` (axis 1)
BatchNorm       ``BatchNormalization`` in inference form (moving statistics)
Dropout         ``Identity`` (dropout does nothing at prediction time)
==============  ============================================================

The sequence layers (Embedding, recurrent layers, attention, layer norm) and
the merges are in ``onnx_sequence_layers``. A Functional model's graph is
written node by node (a layer used twice: its weights stored once), with its
inputs and outputs named as in the model (one output: ``"output"``); models
used as layers are drawn inline (``onnx_steps``).

The exported graph is what ``model.predict`` computes (inference mode), with
a free batch size. It is checked with ``onnx.checker`` before it is written.
"""

import importlib.util
import os

import numpy as np

from dlcourse.interop import onnx_steps
from dlcourse.interop.errors import require_built, require_graph, unsupported_layer
from dlcourse.interop.onnx_sequence_layers import SEQUENCE_EXPORTERS
from dlcourse.interop.onnx_steps import boundary
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

__all__ = ["OPSET", "export_onnx"]

#: The ONNX operator-set version written; every operator used here has kept its
#: meaning since, and onnxruntime versions of the last years all read it.
OPSET = 17

_ONNX_ACTIVATIONS = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "softmax": "Softmax"}


class _Graph:
    """Nodes and weights (initializers) collected node by node."""

    def __init__(self, onnx, dtype):
        self.onnx, self.helper = onnx, onnx.helper
        self.dtype = np.dtype(dtype)
        self.nodes, self.initializers = [], []
        self._stored = set()
        self.scope = ""  # the nested model a layer belongs to ("block/"): its weights' prefix

    def _store(self, name, array):
        if name not in self._stored:  # a shared layer's weights are stored once
            self._stored.add(name)
            self.initializers.append(self.onnx.numpy_helper.from_array(array, name))
        return name

    def weight(self, name, value):
        """Store a float array in the file under ``name`` (in the scope); returns the name."""
        return self._store(self.scope + name, np.ascontiguousarray(value, dtype=self.dtype))

    def ints(self, name, values):
        """An int64 constant (shapes, axes)."""
        return self._store(name, np.asarray(values, dtype=np.int64))

    def bools(self, name, values):
        return self._store(name, np.asarray(values, dtype=bool))

    def node(self, op, inputs, name, output=None, outputs=None, **attributes):
        """Append one operator reading ``inputs``; returns its (first) output's name."""
        outputs = outputs or [output or f"{name}/out"]
        self.nodes.append(self.helper.make_node(op, inputs, outputs, name=name, **attributes))
        return outputs[0]


def _activation(graph, activation, x, name):
    if activation is None:
        return x
    op = _ONNX_ACTIVATIONS[activation]
    attributes = {"axis": -1} if op == "Softmax" else {}
    return graph.node(op, [x], name, **attributes)


def _dense(graph, layer, inputs, shapes, name):
    weights = layer.get_weights()
    kernel = graph.weight(f"{layer.name}/kernel", weights[0])  # (in, out): B of Gemm as it is
    x = inputs[0]
    if layer.use_bias and len(shapes[0]) == 2:
        x = graph.node("Gemm", [x, kernel, graph.weight(f"{layer.name}/bias", weights[1])], name)
    else:  # Gemm takes matrices only: sequences (batch, steps, features) need MatMul
        x = graph.node("MatMul", [x, kernel], name)
        if layer.use_bias:
            bias = graph.weight(f"{layer.name}/bias", weights[1])
            x = graph.node("Add", [x, bias], f"{name}/bias")
    return _activation(graph, layer.activation, x, f"{name}/{layer.activation}")


def _conv(graph, layer, inputs, shapes, name):
    weights = layer.get_weights()
    names = [inputs[0], graph.weight(f"{layer.name}/kernel", weights[0])]
    if layer.use_bias:
        names.append(graph.weight(f"{layer.name}/bias", weights[1]))
    k, s, p = layer.kernel_size, layer.strides, layer.padding
    # pads: [top, left, bottom, right]
    x = graph.node("Conv", names, name, kernel_shape=[k, k], strides=[s, s], pads=[p] * 4)
    return _activation(graph, layer.activation, x, f"{name}/{layer.activation}")


def _maxpool(graph, layer, inputs, shapes, name):
    k = layer.pool_size
    s = layer.strides or k
    return graph.node("MaxPool", inputs, name, kernel_shape=[k, k], strides=[s, s])


def _batchnorm(graph, layer, inputs, shapes, name):
    # get_weights order: gamma, beta, moving_mean, moving_variance, which is also
    # the order of BatchNormalization's inputs (scale, B, input_mean, input_var)
    names = [
        graph.weight(f"{layer.name}/{what}", value)
        for what, value in zip(layer.weight_names, layer.get_weights())
    ]
    # inference form: gamma * (x - moving_mean) / sqrt(moving_variance + epsilon) + beta
    return graph.node("BatchNormalization", [inputs[0], *names], name, epsilon=layer.epsilon)


def _flatten(graph, layer, inputs, shapes, name):
    return graph.node("Flatten", inputs, name, axis=1)  # C-order, as our Flatten


def _dropout(graph, layer, inputs, shapes, name):
    return graph.node("Identity", inputs, name)


def _activation_layer(graph, layer, inputs, shapes, name):
    if layer.activation is None:
        return graph.node("Identity", inputs, name)
    return _activation(graph, layer.activation, inputs[0], name)


# Exact classes only: a subclass may change what the layer computes.
_EXPORTERS = {
    Dense: _dense,
    Conv2D: _conv,
    MaxPool2D: _maxpool,
    BatchNorm: _batchnorm,
    Flatten: _flatten,
    Dropout: _dropout,
    Activation: _activation_layer,
    ReLU: _activation_layer,
    Sigmoid: _activation_layer,
    Tanh: _activation_layer,
    Softmax: _activation_layer,
    **SEQUENCE_EXPORTERS,
}


def _signature(model):
    """The inputs as ``[(name, key, shape, dtype)]``, the outputs as ``[(name, key, shape)]``."""
    from dlcourse.nn.models import Sequential

    ins, outs = ([((), k) for k in keys] for keys in boundary(model))
    if isinstance(model, Sequential):
        return [("input", ins[0], model.input_shape, model.input_dtype())], [
            ("output", outs[0], model.output_shape)
        ]
    inputs = [
        (name, key, shape, dtype)
        for key, name, (shape, dtype) in zip(ins, model.input_names, model.input_signature)
    ]
    names = (
        ["output"] if model._single_output else [f"output_{i}" for i in range(len(model.outputs))]
    )
    outputs = [(n, key, t.shape) for n, key, t in zip(names, outs, model.outputs)]
    return inputs, outputs


def _import_onnx():
    if importlib.util.find_spec("onnx") is None:
        raise ImportError('export_onnx needs the onnx package; pip install "dlcourse[onnx]"')
    import onnx
    import onnx.numpy_helper  # noqa: F401  (a submodule the package does not always load)

    return onnx


def export_onnx(model, path, dtype="float32"):
    """Write ``model`` (built) as an ONNX file at ``path``; returns the path.

    A Sequential's graph has one input, ``"input"``, shaped like the model's
    inputs with a free batch size, and one output, ``"output"``; a Functional
    model's inputs keep their names (``model.input_names``), and its outputs
    are ``"output"`` (one) or ``"output_0"``, ``"output_1"``... Token ids stay
    integers (int64, or the ``Input``'s integer type). Numbers are stored as
    ``dtype``: float32, what runtimes are built for, by default; "float64" keeps
    a float64 model's precision, but onnxruntime's CPU provider has no float64
    convolution, so only dense models run that way there. Run it with onnxruntime::

        import onnxruntime
        session = onnxruntime.InferenceSession(path)
        y = session.run(None, {"input": x.astype("float32")})[0]

    A Sequential or Functional model used as a layer is drawn inline, its
    weights stored under its name (``block/dense/kernel``). A layer with no
    ONNX counterpart (one you wrote yourself, or a subclassed model used as a
    layer) raises an ``UnsupportedLayerError`` naming it and saying why, and
    nothing is written.
    """
    from dlcourse.nn.models import Model

    require_graph(model, "export_onnx")
    require_built(model, "export_onnx")
    dtype = str(dtype)
    if dtype not in ("float32", "float64"):
        raise ValueError(f"dtype: expected 'float32' or 'float64', got {dtype!r}.")
    steps = list(onnx_steps.steps(model))
    for layer in (step.layer for step in steps if step.layer is not None):
        supported = sorted({cls.__name__ for cls in _EXPORTERS})
        if isinstance(layer, Model):
            why = (
                "it is a subclassed model used as a layer: its call() is Python code, not a "
                "graph of layers; draw it with the Functional API or as a Sequential"
            )
            raise unsupported_layer(layer, "ONNX", supported, why)
        if type(layer) not in _EXPORTERS:
            why = "it is not one of dlcourse's built-in layers (a layer of your own?)"
            raise unsupported_layer(layer, "ONNX", supported, why)

    onnx = _import_onnx()
    helper = onnx.helper
    graph = _Graph(onnx, dtype)
    model_inputs, model_outputs = _signature(model)
    names = {key: name for name, key, _, _ in model_inputs}
    calls = {}
    for step in steps:
        if step.layer is None:  # a nested model's edge: the same tensor, another key
            names[step.outputs[0]] = names[step.inputs[0]]
            continue
        layer = step.layer
        count = calls[id(layer)] = calls.get(id(layer), 0) + 1
        prefix = step.scope + (layer.name if count == 1 else f"{layer.name}/call_{count}")
        graph.scope = step.scope
        out = _EXPORTERS[type(layer)](
            graph, layer, [names[k] for k in step.inputs], step.shapes, prefix
        )
        # an exporter gives one tensor name, or a list for a layer with several outputs
        for key, name in zip(step.outputs, out if len(step.outputs) > 1 else [out]):
            names[key] = name
    for name, key, _ in model_outputs:
        graph.node("Identity", [names[key]], name, output=name)  # plain names for users

    element = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))

    def tensor_type(input_dtype):
        kind = np.dtype(input_dtype).kind
        return element if kind == "f" else helper.np_dtype_to_tensor_dtype(np.dtype(input_dtype))

    inputs = [
        helper.make_tensor_value_info(name, tensor_type(d), ["batch", *shape[1:]])
        for name, _, shape, d in model_inputs
    ]
    outputs = [
        helper.make_tensor_value_info(name, element, ["batch", *shape[1:]])
        for name, _, shape in model_outputs
    ]
    onnx_graph = helper.make_graph(graph.nodes, model.name, inputs, outputs, graph.initializers)
    opsets = [helper.make_opsetid("", OPSET)]
    from dlcourse import __version__

    proto = helper.make_model(
        onnx_graph, opset_imports=opsets, producer_name="dlcourse", producer_version=__version__
    )
    # the oldest file format that knows this opset, so that older runtimes read it too
    proto.ir_version = helper.find_min_ir_version_for(opsets)
    onnx.checker.check_model(proto, full_check=True)  # also infers and checks every shape
    path = os.fspath(path)
    onnx.save(proto, path)
    return path
