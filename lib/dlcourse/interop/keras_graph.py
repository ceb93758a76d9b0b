"""Functional graphs across: our ``Model(inputs, outputs)`` as a Keras Functional model, and back.

To Keras, each node of our graph (a layer applied to tensors) becomes the
same call on Keras tensors, in the order our model runs them: a layer used
twice becomes one Keras layer called twice, so the weights stay shared.
Images stay NCHW between layers: a convolution or pooling turns them NHWC
for itself and back (``Permute`` layers around it).

From Keras, the graph is read from the model's config, the documented form
Keras saves models in: each layer lists its calls (``inbound_nodes``), each
naming the tensors it read by ``[layer, call, output]``.
"""

from dlcourse.interop.keras_export import KerasStack
from dlcourse.interop.keras_image_import import (
    check_output_layout,
    input_layout,
    our_image_shape,
)
from dlcourse.interop.keras_import import read_layer
from dlcourse.nn.layers import MultiHeadAttention

__all__ = ["functional_from_keras", "functional_to_keras"]


# ------------------------------------------------------------------- to Keras
def _call(stack, layer, node, args):
    """Apply the Keras layers of ``stack`` to the Keras tensors ``args`` of one node.

    Returns one Keras tensor, or a list of them for a layer with several outputs
    (``return_state``, ``return_attention_scores``): the same list, in the same
    order, in both libraries.
    """
    if isinstance(layer, MultiHeadAttention):  # inputs: query, value (, key (, mask))
        out = stack.layers[0](
            args[0],
            args[1],
            key=args[2] if len(args) > 2 else None,
            attention_mask=args[3] if len(args) > 3 else None,
            use_causal_mask=layer.use_causal_mask,
            return_attention_scores=layer.return_attention_scores,
        )
        return list(out) if layer.return_attention_scores else out
    if isinstance(node.inputs, list):  # a merge: Add()([a, b])
        return stack.layers[0](args)
    x = args[0]
    for keras_layer in stack.layers:
        x = keras_layer(x)
    return x


def functional_to_keras(keras, model, converters):
    """A Functional ``keras.Model`` for our Functional ``model`` (``converters``: by layer id)."""
    tensors, keras_inputs = {}, []
    for t, name, (shape, dtype) in zip(model.inputs, model.input_names, model.input_signature):
        keras_inputs.append(keras.Input(shape=tuple(shape[1:]), dtype=dtype, name=name))
        tensors[id(t)] = keras_inputs[-1]
    stacks = {}
    for node in model.nodes:
        layer = node.layer
        if id(layer) not in stacks:  # a shared layer: the Keras layers made at its first call
            stack = KerasStack(keras, model.dtype, len(node.input_list[0].shape))
            converters[id(layer)](stack, layer)
            stack.channels_first(layer.name)  # images leave each layer in our layout
            stacks[id(layer)] = stack
        args = [tensors[id(t)] for t in node.input_list]
        out = _call(stacks[id(layer)], layer, node, args)
        for t, keras_tensor in zip(node.outputs, out if len(node.outputs) > 1 else [out]):
            tensors[id(t)] = keras_tensor
    outputs = [tensors[id(t)] for t in model.outputs]
    keras_model = keras.Model(
        inputs=keras_inputs[0] if len(keras_inputs) == 1 else keras_inputs,
        outputs=outputs[0] if model._single_output else outputs,
        name=model.name,
    )
    for stack in stacks.values():
        stack.set_weights()
    return keras_model


# ----------------------------------------------------------------- from Keras
def _refs(spec):
    """``[layer, call, output]`` triples from a config's input_layers/output_layers."""
    if spec and isinstance(spec[0], str):
        return [tuple(spec)], True
    return [tuple(ref) for ref in spec], False


def _tensor_ref(value):
    """The ``(layer, call, output)`` a serialized Keras tensor names, or None."""
    if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
        return tuple(value["config"]["keras_history"])
    return None


def _graph_error(message):
    return ValueError(f"from_keras: {message}")


class _Reader:
    """Our tensors by their Keras name ``(layer, call, output)``, filled call by call."""

    def __init__(self):
        self.tensors = {}
        self.layouts = {}  # ref -> (image layout, zeros left for a conv): keras_image_import
        self.refs = []  # the refs the last call of arguments() read, in order

    def tensor(self, value, layer_name):
        ref = _tensor_ref(value)
        if ref is None:
            raise _graph_error(
                f"layer {layer_name!r} is called on {value!r}, not on a tensor of the model; "
                "only calls on the outputs of other layers can be converted."
            )
        if ref not in self.tensors:
            raise _graph_error(
                f"layer {layer_name!r} reads the output {list(ref)} before it is made; "
                "the model's config does not list its layers in the order they run."
            )
        self.refs.append(ref)
        return self.tensors[ref]

    def layout(self, layer_name):
        """``(layout, padding)`` of the tensors the last call read; they must agree."""
        found = {self.layouts.get(ref, (None, 0)) for ref in self.refs}
        if len(found) > 1:
            raise _graph_error(
                f"layer {layer_name!r} merges images in different layouts (channels first "
                "and last); give them the same data_format."
            )
        layout, padding = found.pop()
        return layout, padding

    def arguments(self, call, layer_name):
        """Our tensors for one Keras call: one tensor, a list of them, or MHA's inputs."""
        self.refs = []
        args, kwargs = call.get("args", []), dict(call.get("kwargs", {}))
        kwargs.pop("training", None)
        # Keras writes the masks it passes along (None when there are none)
        kwargs = {k: v for k, v in kwargs.items() if not (k.endswith("mask") and v is None)}
        if len(args) == 1 and isinstance(args[0], list):
            inputs = [self.tensor(a, layer_name) for a in args[0]]
        else:
            inputs = [self.tensor(a, layer_name) for a in args]
        options = {}
        if "key" in kwargs:
            key = kwargs.pop("key")
            if key is not None:
                inputs.append(self.tensor(key, layer_name))
        for flag in ("use_causal_mask", "return_attention_scores"):
            if flag in kwargs:
                options[flag] = bool(kwargs.pop(flag))
        if "value" in kwargs:  # mha(query, value=v)
            inputs.insert(1, self.tensor(kwargs.pop("value"), layer_name))
        if "attention_mask" in kwargs:  # a tensor of the model: our MHA's fourth input
            options["attention_mask"] = self.tensor(kwargs.pop("attention_mask"), layer_name)
        if kwargs:
            raise _graph_error(
                f"layer {layer_name!r} is called with {', '.join(sorted(kwargs))}, which "
                "dlcourse's layers do not take (masks, for one, are not carried); call it "
                "without them to convert it."
            )
        return inputs, options


def _input_of(entry, layout):
    from dlcourse.nn import Input

    config = entry["config"]
    dtype = config.get("dtype")
    dtype = dtype.get("config", {}).get("name") if isinstance(dtype, dict) else dtype
    integer = dtype is not None and ("int" in str(dtype))
    shape = our_image_shape(config["batch_shape"][1:], layout)  # NHWC images as NCHW
    return Input(shape, dtype=dtype if integer else None, name=entry["name"])


def _readers_of(config, keras_model):
    """For each input layer's name, the Keras layers that read it."""
    readers = {}
    for entry in config["layers"]:
        for call in entry.get("inbound_nodes", []):
            refs = [_tensor_ref(a) for a in _flat(call.get("args", []))]
            for ref in filter(None, refs):
                readers.setdefault(ref[0], []).append(keras_model.get_layer(entry["name"]))
    return readers


def _flat(values):
    for value in values:
        if isinstance(value, list):
            yield from _flat(value)
        else:
            yield value


def _record(reader, read, name, index, args, options):
    """Call our layer of ``read`` on ``args`` (or pass them on) and note the outputs."""
    layer = read.layer
    if layer is None:  # a change of layout, or zeros for the next convolution
        out = args[0]
    elif isinstance(layer, MultiHeadAttention):
        out = layer(*args[:2], key=args[2] if len(args) > 2 else None, **options)
    else:
        out = layer(args if len(args) > 1 else args[0])
    for j, tensor in enumerate(out if isinstance(out, list) else [out]):
        reader.tensors[(name, index, j)] = tensor  # return_state: [output, h, ...]
        reader.layouts[(name, index, j)] = (read.layout, read.padding)


def functional_from_keras(keras_model, dtype, seed):
    """Our Functional model for a Functional ``keras.Model``: same inputs, graph, weights."""
    from dlcourse.nn import Model

    config = keras_model.get_config()
    if not isinstance(config, dict) or "input_layers" not in config:
        raise TypeError(
            f"from_keras: {type(keras_model).__name__} is a subclassed Keras model: its "
            "call() is code, not a graph of layers, so it cannot be read. Draw it with the "
            "Functional API (keras.Model(inputs, outputs)) or as a keras.Sequential, then "
            "convert that."
        )
    reader, inputs, weights = _Reader(), {}, []
    readers = _readers_of(config, keras_model)
    for entry in config["layers"]:
        name = entry["name"]
        if entry["class_name"] == "InputLayer":
            rank = len(entry["config"]["batch_shape"])
            layout = input_layout(rank, readers.get(name, []))
            inputs[name] = reader.tensors[(name, 0, 0)] = _input_of(entry, layout)
            reader.layouts[(name, 0, 0)] = (layout, 0)
            continue
        keras_layer = keras_model.get_layer(name)
        calls = entry.get("inbound_nodes", [])
        if not calls:
            continue  # a layer the graph never calls
        first = calls[0]["args"][0]
        first = first[0] if isinstance(first, list) else first
        shape = tuple(first["config"]["shape"][1:]) if _tensor_ref(first) else None
        read = None
        for index, call in enumerate(calls):
            args, options = reader.arguments(call, name)
            layout, padding = reader.layout(name)
            if read is None:  # the first call makes the layer; later calls share it
                rank = None if shape is None else len(shape) + 1
                read = read_layer(keras_layer, rank, layout, shape, padding)
                if read.layer is not None:
                    weights.append((read.layer, read.weights))
                first_layout = (layout, padding)
            elif (layout, padding) != first_layout:
                raise _graph_error(f"layer {name!r} is called on images of different layouts.")
            _record(reader, read, name, index, args, options)
    input_refs, _ = _refs(config["input_layers"])
    output_refs, single = _refs(config["output_layers"])
    for ref in output_refs:
        layout, padding = reader.layouts.get(ref, (None, 0))
        check_output_layout(keras_model.get_layer(ref[0]), layout, padding)
    model_inputs = [inputs[ref[0]] for ref in input_refs]
    outputs = [reader.tensors[ref] for ref in output_refs]
    model = Model(
        model_inputs if len(model_inputs) > 1 else model_inputs[0],
        outputs[0] if single else outputs,
        name=keras_model.name,
        seed=seed,
        dtype=dtype,
    )
    for layer, values in weights:
        layer.set_weights(values)
    return model
