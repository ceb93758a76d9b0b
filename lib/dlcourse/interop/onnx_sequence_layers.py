"""The sequence and merging layers as ONNX operators.

==========================  ==================================================
dlcourse                    ONNX operators
==========================  ==================================================
Embedding                   ``Gather`` (rows of the table, by id)
PositionEmbedding           ``Add`` of the table's first ``steps`` rows
LayerNormalization          ``LayerNormalization`` (last axis); float64:
                            ``ReduceMean``, ``Sub``, ``Sqrt``... written out
GlobalAveragePooling1D      ``ReduceMean`` over the steps
SimpleRNN / LSTM / GRU      ``RNN`` / ``LSTM`` / ``GRU`` (time first, so a
                            ``Transpose`` before and after); GRU with
                            ``linear_before_reset=1``, Keras's reset_after;
                            return_state: the ``Y_h`` (and ``Y_c``) outputs
MultiHeadAttention          ``MatMul`` projections, ``Reshape``/``Transpose``
                            into heads, scaled ``MatMul``, the causal mask as
                            ``Where``, an ``attention_mask`` input added as
                            (mask - 1) * 1e9, ``Softmax`` (with
                            return_attention_scores, its result is the
                            second output), and the output projection
Add / Multiply              ``Add`` / ``Mul``, one per extra input
Concatenate                 ``Concat``
==========================  ==================================================

Weights are rearranged here, not in our layers: ONNX keeps recurrent kernels
as (gates*units, features), one matrix per direction, LSTM gates in the order
i, o, f, c (ours: i, f, g, o), and the input and recurrent biases side by side.
"""

import math

import numpy as np

from dlcourse.nn.layers import (
    GRU,
    LSTM,
    Add,
    Concatenate,
    Embedding,
    GlobalAveragePooling1D,
    LayerNormalization,
    MultiHeadAttention,
    Multiply,
    PositionEmbedding,
    SimpleRNN,
)
from dlcourse.nn.layers.attention import HIDDEN

__all__ = ["SEQUENCE_EXPORTERS"]


def _embedding(graph, layer, inputs, shapes, name):
    table = graph.weight(f"{layer.name}/embeddings", layer.get_weights()[0])
    return graph.node("Gather", [table, inputs[0]], name, axis=0)


def _position_embedding(graph, layer, inputs, shapes, name):
    steps = shapes[0][1]
    rows = graph.weight(f"{layer.name}/embeddings", layer.get_weights()[0][:steps])
    return graph.node("Add", [inputs[0], rows], name)


def _layer_normalization(graph, layer, inputs, shapes, name):
    weights = dict(zip(layer.weight_names, layer.get_weights()))
    if graph.dtype == np.float32:
        features = shapes[0][-1]
        scale = graph.weight(f"{layer.name}/gamma", weights.get("gamma", np.ones(features)))
        names = [inputs[0], scale]
        if "beta" in weights:
            names.append(graph.weight(f"{layer.name}/beta", weights["beta"]))
        return graph.node("LayerNormalization", names, name, axis=-1, epsilon=layer.epsilon)
    # float64: written out, since onnxruntime and onnx's reference evaluator compute
    # the operator's mean and variance in float32 whatever the stash_type
    x = inputs[0]
    mean = graph.node("ReduceMean", [x], f"{name}/mean", axes=[-1], keepdims=1)
    centred = graph.node("Sub", [x, mean], f"{name}/centred")
    square = graph.node("Mul", [centred, centred], f"{name}/square")
    var = graph.node("ReduceMean", [square], f"{name}/variance", axes=[-1], keepdims=1)
    eps = graph.weight(f"{name}/epsilon", np.array(layer.epsilon))
    std = graph.node("Sqrt", [graph.node("Add", [var, eps], f"{name}/var_eps")], f"{name}/std")
    out = graph.node("Div", [centred, std], f"{name}/normalized")
    if "gamma" in weights:
        gamma = graph.weight(f"{layer.name}/gamma", weights["gamma"])
        out = graph.node("Mul", [out, gamma], f"{name}/scaled")
    if "beta" in weights:
        beta = graph.weight(f"{layer.name}/beta", weights["beta"])
        out = graph.node("Add", [out, beta], f"{name}/shifted")
    return out


def _global_average_pooling(graph, layer, inputs, shapes, name):
    keepdims = int(layer.keepdims)
    return graph.node("ReduceMean", [inputs[0]], name, axes=[1], keepdims=keepdims)


def _onnx_weights(layer):
    """``(W, R, B)`` in ONNX's layout, with the direction axis (of size 1) first."""
    kernel, recurrent, bias = layer.get_weights()
    units = layer.units
    if isinstance(layer, LSTM):  # ours i, f, g, o -> ONNX's i, o, f, c
        order = np.concatenate([np.arange(units) + k * units for k in (0, 3, 1, 2)])
        kernel, recurrent, bias = kernel[:, order], recurrent[:, order], bias[order]
    if isinstance(layer, GRU):  # bias rows: input, recurrent (both z, r, h, as ONNX)
        both = np.concatenate([bias[0], bias[1]])
    else:
        both = np.concatenate([bias, np.zeros_like(bias)])
    return kernel.T[None], recurrent.T[None], both[None]


_RECURRENT_OPS = {SimpleRNN: "RNN", LSTM: "LSTM", GRU: "GRU"}


def _recurrent(graph, layer, inputs, shapes, name):
    w, r, b = _onnx_weights(layer)
    names = [graph.weight(f"{layer.name}/{what}", value) for what, value in zip("WRB", (w, r, b))]
    time_first = graph.node("Transpose", [inputs[0]], f"{name}/time_first", perm=[1, 0, 2])
    extra = {"linear_before_reset": 1} if isinstance(layer, GRU) else {}
    op = _RECURRENT_OPS[type(layer)]
    outputs = [f"{name}/Y", f"{name}/Y_h"] + ([f"{name}/Y_c"] if isinstance(layer, LSTM) else [])
    graph.node(op, [time_first, *names], name, outputs=outputs, hidden_size=layer.units, **extra)
    # Y_h and Y_c: (directions=1, batch, units)
    axis0 = graph.ints(f"{name}/axis0", [0])
    h = graph.node("Squeeze", [outputs[1], axis0], f"{name}/h")
    if layer.return_sequences:  # Y: (steps, directions=1, batch, units)
        steps = graph.node("Squeeze", [outputs[0], graph.ints(f"{name}/axis1", [1])], f"{name}/hs")
        out = graph.node("Transpose", [steps], f"{name}/batch_first", perm=[1, 0, 2])
    else:
        out = h
    if not layer.return_state:
        return out
    if isinstance(layer, LSTM):  # [output, h, c], as the layer returns them
        return [out, h, graph.node("Squeeze", [outputs[2], axis0], f"{name}/c")]
    return [out, h]


def _heads(graph, layer, source, what, dim, name, key=False):
    """(batch, steps, features) -> (batch, heads, steps, dim), or (batch, heads, dim, steps)."""
    weights = dict(zip(layer.weight_names, layer.get_weights()))
    kernel = weights[f"{what}_kernel"]
    flat = graph.weight(f"{layer.name}/{what}_kernel", kernel.reshape(kernel.shape[0], -1))
    y = graph.node("MatMul", [source, flat], f"{name}/{what}")
    if layer.use_bias:
        bias = graph.weight(f"{layer.name}/{what}_bias", weights[f"{what}_bias"].reshape(-1))
        y = graph.node("Add", [y, bias], f"{name}/{what}_bias")
    shape = graph.ints(f"{name}/{what}_heads_shape", [0, 0, layer.num_heads, dim])
    y = graph.node("Reshape", [y, shape], f"{name}/{what}_heads")
    perm = [0, 2, 3, 1] if key else [0, 2, 1, 3]
    return graph.node("Transpose", [y], f"{name}/{what}_by_head", perm=perm)


def _multi_head_attention(graph, layer, inputs, shapes, name):
    query, value = inputs[0], inputs[1]
    key = inputs[2] if len(inputs) > 2 else value
    steps_q, steps_k = shapes[0][1], shapes[1][1]
    q = _heads(graph, layer, query, "query", layer.key_dim, name)
    k = _heads(graph, layer, key, "key", layer.key_dim, name, key=True)
    v = _heads(graph, layer, value, "value", layer.value_dim, name)
    scores = graph.node("MatMul", [q, k], f"{name}/scores")
    scale = graph.weight(f"{name}/scale", np.array(1.0 / math.sqrt(layer.key_dim)))
    scores = graph.node("Mul", [scores, scale], f"{name}/scaled")
    if layer.use_causal_mask:  # step t sees steps <= t; the others weigh exp(-inf) = 0
        mask = graph.bools(f"{name}/causal_mask", np.tril(np.ones((steps_q, steps_k), bool)))
        hidden = graph.weight(f"{name}/hidden", np.array(-np.inf))
        scores = graph.node("Where", [mask, scores, hidden], f"{name}/masked")
    if len(inputs) > 3:  # attention_mask (batch, Tq, Tk), an input: -1e9 where it is 0
        scores = _add_attention_mask(graph, inputs[3], scores, name)
    weights = graph.node("Softmax", [scores], f"{name}/softmax", axis=-1)
    attended = graph.node("MatMul", [weights, v], f"{name}/attended")
    attended = graph.node("Transpose", [attended], f"{name}/by_step", perm=[0, 2, 1, 3])
    merged_shape = graph.ints(f"{name}/merged_shape", [0, 0, layer.num_heads * layer.value_dim])
    merged = graph.node("Reshape", [attended, merged_shape], f"{name}/merged")
    out_kernel = dict(zip(layer.weight_names, layer.get_weights()))["output_kernel"]
    flat = graph.weight(f"{layer.name}/output_kernel", out_kernel.reshape(-1, out_kernel.shape[-1]))
    out = graph.node("MatMul", [merged, flat], f"{name}/output")
    if layer.use_bias:
        bias = graph.weight(f"{layer.name}/output_bias", layer.get_weights()[-1])
        out = graph.node("Add", [out, bias], f"{name}/output_bias")
    return [out, weights] if layer.return_attention_scores else out


def _add_attention_mask(graph, mask, scores, name):
    """scores + (mask - 1) * 1e9, the mask broadcast over the heads (as the layer does)."""
    to = graph.helper.np_dtype_to_tensor_dtype(graph.dtype)
    mask = graph.node("Cast", [mask], f"{name}/mask_float", to=to)  # an integer or float input
    mask = graph.node("Unsqueeze", [mask, graph.ints(f"{name}/heads_axis", [1])], f"{name}/mask")
    one = graph.weight(f"{name}/one", np.array(1.0))
    hidden = graph.weight(f"{name}/mask_hidden", np.array(HIDDEN))
    shift = graph.node(
        "Mul",
        [graph.node("Sub", [mask, one], f"{name}/mask_minus_one"), hidden],
        f"{name}/mask_shift",
    )
    return graph.node("Add", [scores, shift], f"{name}/mask_added")


def _elementwise(op):
    def export(graph, layer, inputs, shapes, name):
        out = inputs[0]
        for k, other in enumerate(inputs[1:], start=1):
            out = graph.node(op, [out, other], name if k == len(inputs) - 1 else f"{name}/{k}")
        return out

    return export


def _concatenate(graph, layer, inputs, shapes, name):
    return graph.node("Concat", list(inputs), name, axis=layer.axis)


SEQUENCE_EXPORTERS = {
    Embedding: _embedding,
    PositionEmbedding: _position_embedding,
    LayerNormalization: _layer_normalization,
    GlobalAveragePooling1D: _global_average_pooling,
    SimpleRNN: _recurrent,
    LSTM: _recurrent,
    GRU: _recurrent,
    MultiHeadAttention: _multi_head_attention,
    Add: _elementwise("Add"),
    Multiply: _elementwise("Mul"),
    Concatenate: _concatenate,
}
