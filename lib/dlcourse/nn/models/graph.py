"""Reading a graph of layers back from its outputs: which nodes, in which order.

The nodes come out in a topological order (every node after the nodes that
make its inputs), found by a depth-first walk from the outputs, in the order
outputs and inputs are listed; so the same code always gives the same order,
which is the order the model runs its layers and stores its weights.
"""

from dlcourse.nn.symbolic import SymbolicTensor

__all__ = ["as_tensor_list", "topological_nodes"]


def as_tensor_list(tensors, what):
    """``(list of SymbolicTensor, dict keys or None)`` from one tensor, a list or a dict."""
    keys = None
    if isinstance(tensors, dict):
        keys = [str(k) for k in tensors]
        tensors = list(tensors.values())
    elif isinstance(tensors, SymbolicTensor):
        tensors = [tensors]
    elif isinstance(tensors, (list, tuple)):
        tensors = list(tensors)
    else:
        raise TypeError(
            f"{what}: expected an Input/layer output, or a list or dict of them, "
            f"got {type(tensors).__name__}."
        )
    for t in tensors:
        if not isinstance(t, SymbolicTensor):
            raise TypeError(
                f"{what}: expected tensors made with Input(...) and layers called on them, "
                f"got {type(t).__name__}."
            )
    if not tensors:
        raise ValueError(f"{what}: the model needs at least one.")
    return tensors, keys


def topological_nodes(inputs, outputs):
    """The nodes between ``inputs`` and ``outputs``, each after those it depends on.

    Raises a ValueError naming the problem when an output needs an ``Input``
    that is not among ``inputs``.
    """
    known = {id(t) for t in inputs}
    order, done = [], set()

    def visit(tensor, path):
        node = tensor.node
        if node is None:
            if id(tensor) not in known:
                listed = ", ".join(repr(t.name) for t in inputs)
                raise ValueError(
                    f"output {path[0].name!r} is not reachable from the model's inputs "
                    f"({listed}): it depends on Input {tensor.name!r}, which is not among them. "
                    f"Add {tensor.name!r} to Model(inputs=...), or build the output from the "
                    "listed inputs."
                )
            return
        if id(node) in done:
            return
        for t in node.input_list:
            visit(t, path)
        done.add(id(node))
        order.append(node)

    for output in outputs:
        visit(output, [output])
    return order
