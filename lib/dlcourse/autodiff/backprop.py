"""The backward pass over a graph of Tensors: the chain rule, applied in reverse order.

Same algorithm as ``Value.backward`` (see ``value.py``), with arrays:

1. sort the graph so that every tensor comes after the tensors it was computed from;
2. walk it from the output back, handing each recorded operation the gradient of
   its output and collecting the gradients it returns for its inputs (a tensor
   used several times receives the sum of its gradients);
3. store the gradient of every leaf that requires one in its ``.grad``.

Gradients of intermediate tensors live only in a dictionary during the pass
(unless ``retain_grad()`` asked to keep one), as in PyTorch.
"""

__all__ = ["run_backward", "topological_order"]


def topological_order(root):
    """Every tensor that requires grad and leads to ``root``, inputs before outputs.

    Iterative depth-first search (an explicit stack, no recursion), so graphs
    tens of thousands of operations deep work.
    """
    order, seen = [], set()
    stack = [(root, False)]
    while stack:
        node, inputs_done = stack.pop()
        if inputs_done:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        ctx = node._ctx
        if ctx is not None:
            for parent in ctx.parents:
                # constants (numbers, plain arrays) have no requires_grad: skipped
                if getattr(parent, "requires_grad", False) and id(parent) not in seen:
                    stack.append((parent, False))
    return order


def _check_gradient(ctx, i, parent, grad):
    """A gradient must match its input's shape; a wrong one names the guilty Function."""
    if grad.shape != parent.data.shape:
        raise ValueError(
            f"{ctx.function.__name__}.backward returned a gradient of shape {tuple(grad.shape)} "
            f"for input {i}, whose shape is {tuple(parent.data.shape)}. Each gradient must "
            "have the shape of its input (sum over the axes that broadcasting added)."
        )
    if grad.dtype != parent.data.dtype:  # e.g. float32 input, float64 constant
        grad = parent._xp.astype(grad, parent.data.dtype)
    return grad


def run_backward(root, grad, retain_graph=False):
    """Propagate ``grad`` (dL/d root, an array shaped like root) back through the graph."""
    order = topological_order(root)
    grads = {id(root): grad}  # id(tensor) -> dL/d tensor, complete once its turn comes
    for node in reversed(order):
        g = grads.pop(id(node), None)
        if g is None:  # no path from this node to root carried a gradient
            continue
        ctx = node._ctx
        if ctx is not None and ctx.released:
            raise RuntimeError(
                "backward() went through this graph a second time, but its saved arrays "
                "were freed after the first pass. Call backward(retain_graph=True) the "
                "first time if you need to go through the graph again."
            )
        if ctx is None or node._retains_grad:
            # Accumulate out of place: g may be shared (both inputs of an addition
            # receive the same array), so it is never written into.
            node.grad = g if node.grad is None else node.grad + g
        if ctx is None:
            continue
        input_grads = ctx.function.backward(ctx, g)
        if type(input_grads) is not tuple:
            input_grads = (input_grads,)
        if len(input_grads) != len(ctx.parents):
            raise ValueError(
                f"{ctx.function.__name__}.backward returned {len(input_grads)} gradient(s) "
                f"for {len(ctx.parents)} input(s); return one per input (None for those "
                "that need none)."
            )
        for i, (parent, pg) in enumerate(zip(ctx.parents, input_grads)):
            if pg is None or not ctx.needs_input_grad[i]:
                continue
            pg = _check_gradient(ctx, i, parent, pg)
            key = id(parent)
            if key in grads:
                grads[key] = grads[key] + pg  # a tensor used twice: the gradients add
            else:
                grads[key] = pg
        if not retain_graph:
            ctx.release()
