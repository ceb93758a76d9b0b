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

The exported graph is what ``model.predict`` computes (inference mode), with
a free batch size. It is checked with ``onnx.checker`` before it is written.
"""

import importlib.util
import os

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

__all__ = ["OPSET", "export_onnx"]

#: The ONNX operator-set version written; every operator used here has kept its
#: meaning since, and onnxruntime versions of the last years all read it.
OPSET = 17

_ONNX_ACTIVATIONS = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "softmax": "Softmax"}


class _Graph:
    """Nodes and weights (initializers) collected layer by layer; ``x`` is the current tensor."""

    def __init__(self, onnx, dtype):
        self.onnx, self.helper = onnx, onnx.helper
        self.dtype = np.dtype(dtype)
        self.nodes, self.initializers = [], []
        self.x = "input"

    def weight(self, name, value):
        """Store a NumPy array in the file under ``name``; returns the name."""
        array = np.ascontiguousarray(value, dtype=self.dtype)
        self.initializers.append(self.onnx.numpy_helper.from_array(array, name))
        return name

    def node(self, op, inputs, name, output=None, **attributes):
        """Append one operator reading ``inputs``; its output becomes the current tensor."""
        output = output or f"{name}/out"
        self.nodes.append(self.helper.make_node(op, inputs, [output], name=name, **attributes))
        self.x = output
        return output


def _activation(graph, activation, name):
    if activation is None:
        return
    op = _ONNX_ACTIVATIONS[activation]
    attributes = {"axis": -1} if op == "Softmax" else {}
    graph.node(op, [graph.x], name, **attributes)


def _dense(graph, layer):
    weights = layer.get_weights()
    kernel = graph.weight(f"{layer.name}/kernel", weights[0])  # (in, out): B of Gemm as it is
    if layer.use_bias:
        bias = graph.weight(f"{layer.name}/bias", weights[1])
        graph.node("Gemm", [graph.x, kernel, bias], layer.name)  # x @ kernel + bias
    else:
        graph.node("MatMul", [graph.x, kernel], layer.name)
    _activation(graph, layer.activation, f"{layer.name}/{layer.activation}")


def _conv(graph, layer):
    weights = layer.get_weights()
    inputs = [graph.x, graph.weight(f"{layer.name}/kernel", weights[0])]
    if layer.use_bias:
        inputs.append(graph.weight(f"{layer.name}/bias", weights[1]))
    k, s, p = layer.kernel_size, layer.strides, layer.padding
    # pads: [top, left, bottom, right]
    graph.node("Conv", inputs, layer.name, kernel_shape=[k, k], strides=[s, s], pads=[p] * 4)
    _activation(graph, layer.activation, f"{layer.name}/{layer.activation}")


def _maxpool(graph, layer):
    k = layer.pool_size
    s = layer.strides or k
    graph.node("MaxPool", [graph.x], layer.name, kernel_shape=[k, k], strides=[s, s])


def _batchnorm(graph, layer):
    # get_weights order: gamma, beta, moving_mean, moving_variance, which is also
    # the order of BatchNormalization's inputs (scale, B, input_mean, input_var)
    names = [
        graph.weight(f"{layer.name}/{what}", value)
        for what, value in zip(layer.weight_names, layer.get_weights())
    ]
    # inference form: gamma * (x - moving_mean) / sqrt(moving_variance + epsilon) + beta
    graph.node("BatchNormalization", [graph.x, *names], layer.name, epsilon=layer.epsilon)


def _flatten(graph, layer):
    graph.node("Flatten", [graph.x], layer.name, axis=1)  # C-order, as our Flatten


def _dropout(graph, layer):
    graph.node("Identity", [graph.x], layer.name)


def _activation_layer(graph, layer):
    if layer.activation is None:
        graph.node("Identity", [graph.x], layer.name)
    else:
        _activation(graph, layer.activation, layer.name)


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
}


def _import_onnx():
    if importlib.util.find_spec("onnx") is None:
        raise ImportError('export_onnx needs the onnx package; pip install "dlcourse[onnx]"')
    import onnx
    import onnx.numpy_helper  # noqa: F401  (a submodule the package does not always load)

    return onnx


def export_onnx(model, path, dtype="float32"):
    """Write ``model`` (built) as an ONNX file at ``path``; returns the path.

    The graph has one input, ``"input"``, shaped like the model's inputs with a
    free batch size, and one output, ``"output"``. Numbers are stored as
    ``dtype``: float32, what runtimes are built for, by default; "float64" keeps
    a float64 model's precision, but onnxruntime's CPU provider has no float64
    convolution, so only dense models run that way there. Run it with onnxruntime::

        import onnxruntime
        session = onnxruntime.InferenceSession(path)
        y = session.run(None, {"input": x.astype("float32")})[0]

    A layer with no ONNX counterpart (one you wrote yourself) raises an
    ``UnsupportedLayerError`` naming it, and nothing is written.
    """
    require_sequential(model, "export_onnx")
    require_built(model, "export_onnx")
    dtype = str(dtype)
    if dtype not in ("float32", "float64"):
        raise ValueError(f"dtype: expected 'float32' or 'float64', got {dtype!r}.")
    exporters = []
    for layer in model.layers:
        exporter = _EXPORTERS.get(type(layer))
        if exporter is None:
            supported = sorted({cls.__name__ for cls in _EXPORTERS})
            why = "it is not one of dlcourse's built-in layers (a layer of your own?)"
            raise unsupported_layer(layer, "ONNX", supported, why)
        exporters.append(exporter)

    onnx = _import_onnx()
    helper = onnx.helper
    graph = _Graph(onnx, dtype)
    for layer, exporter in zip(model.layers, exporters):
        exporter(graph, layer)
    graph.node("Identity", [graph.x], "output", output="output")  # a plain name for users

    element = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    inputs = [helper.make_tensor_value_info("input", element, ["batch", *model.input_shape[1:]])]
    outputs = [helper.make_tensor_value_info("output", element, ["batch", *model.output_shape[1:]])]
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
