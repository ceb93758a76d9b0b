"""``Model(inputs, outputs)``: any directed acyclic graph of layers (the Functional API).

::

    a, b = Input((4,), name="a"), Input((3,), name="b")
    shared = Dense(8, activation="relu")          # one layer used twice: shared weights
    h = Concatenate()([shared(a), Dense(8)(b)])
    out = Add()([Dense(5)(h), Dense(5)(shared(a))])
    model = Model(inputs=[a, b], outputs=out)     # or inputs={"a": a, "b": b}
    model.fit([xa, xb], y)                        # or {"a": xa, "b": xb}

The model is built at once (every ``Input`` knows its shape): a batch of zeros
runs through the nodes in topological order, which creates each layer's
weights from the model's seed and checks every shape on the way.

On the ``manual`` backend the gradient runs through the graph in reverse
topological order: each node calls its layer's ``backward``, and a tensor
used by several nodes gets the sum of their gradients. A layer used in
several nodes keeps what each call's ``forward`` saved (its attributes are
put back before each of its ``backward`` calls) and gets the sum of its
weight gradients.
"""

import numpy as np

from dlcourse import backends
from dlcourse.nn import model_file
from dlcourse.nn.errors import missing_backward_error
from dlcourse.nn.layers.base import _STRUCTURE, check_joinable, class_reference
from dlcourse.nn.models.graph import as_tensor_list, topological_nodes
from dlcourse.nn.models.model import Model, check_float_dtype
from dlcourse.nn.models.sequential import unique_name

__all__ = ["Functional"]


class Functional(Model):
    """A model made from a graph: ``Model(inputs, outputs)`` returns one of these."""

    def __init__(self, inputs, outputs, name="functional", seed=None, dtype=None):
        inputs, keys = as_tensor_list(inputs, "inputs")
        self._single_output = not isinstance(outputs, (list, tuple, dict))
        outputs, self._output_keys = as_tensor_list(outputs, "outputs")
        for t in inputs:
            if t.node is not None:
                raise ValueError(
                    f"inputs: {t.name!r} is the output of layer {t.node.layer.name!r}, not an "
                    "Input; a model's inputs are made with Input(shape)."
                )
        names = keys or [t.name for t in inputs]
        if len(set(names)) != len(names):
            raise ValueError(
                f"inputs: two inputs are called the same ({', '.join(names)}); give each "
                "Input(..., name=...) a name of its own."
            )
        nodes = topological_nodes(inputs, outputs)
        self._nodes = []
        self._graph_layers = []
        super().__init__(name=name, seed=seed, dtype=_model_dtype(dtype, inputs))
        self.inputs, self.outputs, self._input_names = inputs, outputs, names
        self._nodes = nodes
        taken = set()
        for node in nodes:
            if not any(node.layer is layer for layer in self._graph_layers):
                unique_name(node.layer, taken)
                taken.add(node.layer.name)
                self._graph_layers.append(node.layer)
        self._uses = {}
        for node in nodes:
            self._uses[id(node.layer)] = self._uses.get(id(node.layer), 0) + 1
        self._backward_nodes = None
        _STRUCTURE[0] += 1
        self._build_graph()

    # ----------------------------------------------------------------- structure
    @property
    def layers(self):
        return list(self._graph_layers)

    def _named_sublayers(self):
        return [(layer.name, layer) for layer in self._graph_layers]

    @property
    def nodes(self):
        """The graph's nodes in the order they run (each: ``layer``, ``inputs``, ``output``)."""
        return list(self._nodes)

    @property
    def output_names(self):
        """The outputs' names, as Keras gives them: the dict's keys when the outputs were
        a dict, else the name of the layer that makes each output."""
        if self._output_keys is not None:
            return list(self._output_keys)
        names = [t.node.layer.name if t.node is not None else t.name for t in self.outputs]
        if len(set(names)) == len(names):
            return names
        return [f"{name}_{i}" for i, name in enumerate(names)]  # one layer made two outputs

    @property
    def input_names(self):
        return list(self._input_names)

    def output_count(self):
        """How many tensors a call makes, as a layer of a larger graph."""
        return 1 if self._single_output else len(self.outputs)

    @property
    def input_signature(self):
        # float inputs take the model's float type; integer inputs (indices) keep theirs
        return [(t.shape, self._input_dtype_of(t)) for t in self.inputs]

    def input_dtype(self):
        return self.input_signature[0][1]

    def _input_dtype_of(self, tensor):
        if tensor.dtype is None and any(
            node.layer.integer_inputs and any(t is tensor for t in node.input_list)
            for node in self._nodes
        ):
            return "int64"  # Input(shape) straight into an Embedding: ids, as in Keras
        return _input_dtype(tensor, self.dtype)

    def _build_graph(self):
        """Run zeros through the nodes: every layer builds, and every shape is known."""
        for layer in self._graph_layers:
            if not layer.built:
                layer._setup(self.backend, self.dtype, self._init_rng)
            else:
                check_joinable(layer, self.backend, self.dtype, "this model")
        sample = tuple(
            self.backend.asarray(np.zeros((2, *shape[1:]), dtype=dtype), dtype)
            for shape, dtype in self.input_signature
        )
        with self.backend.no_grad(), backends.running(self.backend):
            values = self._run(sample, False, "build")
        self.input_shape = [shape for shape, _ in self.input_signature]
        if len(self.inputs) == 1:
            self.input_shape = self.input_shape[0]
        shapes = [(None, *tuple(values[id(t)].shape)[1:]) for t in self.outputs]
        self.output_shape = shapes[0] if self._single_output else shapes
        for t, shape in zip(self.outputs, shapes):
            t.shape = shape
        self.built = True

    # ------------------------------------------------------------- forward pass
    def _run(self, x, training, how):
        """Every tensor's value (by id) for the native inputs ``x``.

        ``how``: "call", "forward" (manual: keep caches), or "build".
        """
        arrays = x if isinstance(x, (tuple, list)) else (x,)
        values = {id(t): a for t, a in zip(self.inputs, arrays)}
        shared_saves = self._saves = {}
        self._multi_outputs = {}
        for node in self._nodes:
            layer = node.layer
            args = [values[id(t)] for t in node.input_list]
            arg = args if isinstance(node.inputs, list) else args[0]
            if how == "call":
                out = layer.call(arg, training)
            elif how == "forward":
                out = layer.forward(arg, training)
                if self._uses[id(layer)] > 1:
                    shared_saves[id(node)] = _snapshot(layer)
            else:
                out = layer._build_and_call(arg, training=False)
                for t, o in zip(node.outputs, _several(node, out)):
                    t.shape = (None, *tuple(o.shape)[1:])
            if how == "forward" and len(node.outputs) > 1:
                self._multi_outputs[id(node)] = out  # zeros for an output the loss ignores
            for t, o in zip(node.outputs, _several(node, out)):
                values[id(t)] = o
        return values

    def _outputs_of(self, values):
        outs = [values[id(t)] for t in self.outputs]
        return outs[0] if self._single_output else outs

    def call(self, x, training=False):
        """The forward pass on native arrays: one array, or a tuple in ``inputs`` order."""
        return self._outputs_of(self._run(x, training, "call"))

    def forward(self, x, training=False):
        """The 'manual' forward pass: each node's layer keeps what its backward needs."""
        values = self._run(x, training, "forward")
        self._after_forward = {id(layer): _snapshot(layer) for layer in self._shared_layers()}
        return self._outputs_of(values)

    def layer_outputs(self, x, training=True):
        arrays = x if isinstance(x, (tuple, list)) else (x,)
        values = {id(t): a for t, a in zip(self.inputs, arrays)}
        for node in self._nodes:
            args = [values[id(t)] for t in node.input_list]
            out = node.layer.call(args if isinstance(node.inputs, list) else args[0], training)
            for t, o in zip(node.outputs, _several(node, out)):
                values[id(t)] = o
            yield node.layer, out

    # ------------------------------------------------------- manual backpropagation
    def _shared_layers(self):
        return [layer for layer in self._graph_layers if self._uses[id(layer)] > 1]

    def has_backward(self):
        return True

    def prepare_backward(self):
        """Work out which nodes need a backward, and check their layers have one.

        A tensor needs a gradient when a trainable weight lies upstream of it
        (or the model's own inputs need one: a model inside a model). Nodes
        whose output needs none are skipped; a layer none of whose inputs
        needs a gradient is told so (``needs_input_grad = False``).
        """
        needs = {id(t): self.needs_input_grad for t in self.inputs}
        wants_input = {}
        chosen = []
        for node in self._nodes:
            layer = node.layer
            upstream = any(needs[id(t)] for t in node.input_list)
            for t in node.outputs:
                needs[id(t)] = upstream or bool(layer.trainable_weights)
            wants_input[id(layer)] = wants_input.get(id(layer), False) or upstream
            if needs[id(node.output)]:
                if not layer.has_backward():
                    raise missing_backward_error(layer)
                chosen.append(node)
        for layer in self._graph_layers:
            layer.needs_input_grad = wants_input[id(layer)]
            if isinstance(layer, Model) and any(n.layer is layer for n in chosen):
                layer.prepare_backward()
        self._needs = needs
        self._backward_nodes = chosen

    def backward(self, dout):
        """Gradients from the outputs back to the inputs, in reverse topological order."""
        if self._backward_nodes is None:
            self.prepare_backward()
        douts = dout if not self._single_output else [dout]
        grads = {}
        for t, g in zip(self.outputs, douts):
            _accumulate(grads, id(t), g)
        weight_grads = {}
        for node in reversed(self._backward_nodes):
            g = _output_grads(node, grads, self._multi_outputs)
            if g is None:
                continue  # nothing downstream of this node reaches the loss
            layer = node.layer
            shared = self._uses[id(layer)] > 1
            if shared:
                _restore(self._saves[id(node)])
            dx = layer.backward(g)
            if shared:
                for owner, name in layer.weight_slots():
                    key = (id(owner), name)
                    grad = owner.grads.get(name)
                    if grad is not None:
                        # a copy: built-in layers write every gradient into one buffer
                        previous = weight_grads.get(key)
                        total = grad + 0 if previous is None else previous[2] + grad
                        weight_grads[key] = (owner, name, total)
            dxs = dx if isinstance(node.inputs, list) else [dx]
            for t, g_in in zip(node.input_list, dxs):
                if g_in is not None and self._needs[id(t)]:
                    _accumulate(grads, id(t), g_in)
        for layer in self._shared_layers():
            _restore(self._after_forward[id(layer)])
        for owner, name, grad in weight_grads.values():
            owner.grads = {**owner.grads, name: grad}
        dx = [grads.get(id(t)) for t in self.inputs]
        return dx[0] if len(dx) == 1 else dx

    # ------------------------------------------------------------------ storage
    def get_config(self):
        tensor_names = {id(t): [name] for t, name in zip(self.inputs, self._input_names)}
        nodes = []
        for i, node in enumerate(self._nodes):
            if len(node.outputs) == 1:
                tensor_names[id(node.output)] = [node.layer.name, i]
            for j, t in enumerate(node.outputs if len(node.outputs) > 1 else []):
                tensor_names[id(t)] = [node.layer.name, i, j]
            refs = [tensor_names[id(t)] for t in node.input_list]
            nodes.append(
                {"layer": node.layer.name, "inputs": refs, "list": isinstance(node.inputs, list)}
            )
        return {
            "name": self.name,
            "dtype": self.dtype,
            "seed": self.seed,
            "inputs": [
                {"name": name, "shape": list(t.shape[1:]), "dtype": t.dtype}
                for t, name in zip(self.inputs, self._input_names)
            ],
            "layers": [
                {**class_reference(type(layer)), "config": layer.get_config()}
                for layer in self._graph_layers
            ],
            "nodes": nodes,
            "outputs": [tensor_names[id(t)] for t in self.outputs],
            "single_output": self._single_output,
        }

    def file_config(self):
        return {"format": model_file.FUNCTIONAL, "model": self.get_config()}


def _model_dtype(dtype, inputs):
    """The model's float type: ``dtype``, else that of its float inputs, else floatx."""
    if dtype is not None:
        return check_float_dtype(dtype)
    floats = {t.dtype for t in inputs if t.dtype is not None and np.dtype(t.dtype).kind == "f"}
    if len(floats) > 1:
        raise ValueError(
            f"inputs: the float inputs have different dtypes ({', '.join(sorted(floats))}); "
            "a model computes in one: give them the same, or pass Model(..., dtype=...)."
        )
    return check_float_dtype(floats.pop() if floats else None)


def _input_dtype(tensor, model_dtype):
    if tensor.dtype is None or np.dtype(tensor.dtype).kind == "f":
        return model_dtype
    return tensor.dtype


def _snapshot(layer):
    """What ``layer`` and its sublayers hold now (what their backward reads)."""
    return [(sub, dict(vars(sub))) for _, sub in layer._walk()]


def _restore(snapshot):
    for layer, attributes in snapshot:
        vars(layer).update(attributes)


def _several(node, out):
    """A node's outputs as a list (a layer with one output gives one array)."""
    return list(out) if len(node.outputs) > 1 else [out]


def _output_grads(node, grads, forward_outputs):
    """The gradient for the node's output; for several outputs a list, with zeros for
    those nothing downstream uses; None when none of them reaches the loss."""
    found = [grads.pop(id(t), None) for t in node.outputs]
    if len(found) == 1 or all(g is None for g in found):
        return found[0] if len(found) == 1 else None
    outs = forward_outputs[id(node)]
    return [o * 0 if g is None else g for g, o in zip(found, outs)]


def _accumulate(grads, key, g):
    grads[key] = g if key not in grads else grads[key] + g


Model._graph_class = Functional
