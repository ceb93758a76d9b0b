"""The calls an ONNX file is written from, with models used as layers drawn inline.

ONNX has no "model as a layer": a nested Sequential or Functional model becomes
its own layers, joined to the outer graph by aliases (its inputs are the outer
tensors it was called on, its outputs the outer tensors it gave). Each call of
a nested model has keys of its own, so a block called twice runs twice; its
weights are stored once, under a scope named after the model
(``block/dense/kernel``), which also keeps them apart from an outer layer of
the same name.
"""

import itertools
from dataclasses import dataclass


@dataclass(frozen=True)
class Step:
    """One layer call (``layer`` None: an alias, ``outputs[0]`` is ``inputs[0]``).

    Keys identify tensors; ``shapes`` are the inputs' shapes; ``scope`` prefixes
    the names of what the call stores (``""`` in the outer model).
    """

    layer: object
    inputs: list
    outputs: list
    shapes: list
    scope: str


def _own_calls(model):
    """``(layer, input keys, output keys, input shapes)`` of ``model``'s own graph.

    Keys: a Sequential's are positions in the chain, a Functional model's its
    symbolic tensors. A layer with several outputs (``return_state``,
    ``return_attention_scores``) has one key for each.
    """
    from dlcourse.nn.models import Sequential

    if isinstance(model, Sequential):
        for i, layer in enumerate(model.layers):
            yield layer, [i], [i + 1], [tuple(layer.input_shape)]
        return
    for node in model.nodes:
        keys = [id(t) for t in node.input_list]
        outs = [id(t) for t in node.outputs]
        yield node.layer, keys, outs, [tuple(t.shape) for t in node.input_list]


def boundary(model):
    """The keys of ``model``'s inputs and outputs, in order."""
    from dlcourse.nn.models import Sequential

    if isinstance(model, Sequential):
        return [0], [len(model.layers)]
    return [id(t) for t in model.inputs], [id(t) for t in model.outputs]


def steps(model):
    """Every :class:`Step` of ``model`` in running order, nested models inlined.

    Outer keys are ``((), key)``; a nested call's are ``(call path, key)``.
    """
    from dlcourse.nn.models import Functional, Sequential

    calls, scopes = itertools.count(1), {}

    def scope_of(inner, outer_scope):
        if id(inner) not in scopes:  # two models of one name still store apart
            taken, suffix = set(scopes.values()), ""
            for n in itertools.count(2):
                if f"{outer_scope}{inner.name}{suffix}/" not in taken:
                    break
                suffix = f"_{n}"
            scopes[id(inner)] = f"{outer_scope}{inner.name}{suffix}/"
        return scopes[id(inner)]

    def walk(current, path, scope):
        for layer, keys, outs, shapes in _own_calls(current):
            keys, outs = [(path, k) for k in keys], [(path, k) for k in outs]
            if not isinstance(layer, (Sequential, Functional)):
                yield Step(layer, keys, outs, shapes, scope)
                continue
            inner_path = (*path, next(calls))
            ins, results = boundary(layer)
            for outer, key in zip(keys, ins):
                yield Step(None, [outer], [(inner_path, key)], [], scope)
            yield from walk(layer, inner_path, scope_of(layer, scope))
            for outer, key in zip(outs, results):
                yield Step(None, [(inner_path, key)], [outer], [], scope)

    yield from walk(model, (), "")
