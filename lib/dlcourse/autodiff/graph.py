"""Pictures of expression graphs: which values were computed from which, by what.

``draw_graph(root)`` works for a :class:`Value` or a :class:`Tensor` and
picks the best renderer available:

- ``"graphviz"`` (the ``graphviz`` Python package and its ``dot`` program):
  returns a ``graphviz.Digraph``, which a notebook shows as an image;
- ``"matplotlib"``: returns a ``matplotlib.figure.Figure`` with a simple
  layered layout, inputs on the left and the result on the right;
- ``"text"``: returns an indented tree as a string, result on top.

Each value is drawn as a box (label, data, grad; shape and dtype for a
Tensor) and each operation as a small node feeding the box it produced.
"""

import importlib.util
import shutil

from dlcourse.autodiff.tensor import Tensor
from dlcourse.autodiff.value import Value

__all__ = ["draw_graph", "GraphText"]

RENDERERS = ("auto", "graphviz", "matplotlib", "text")


class GraphText(str):
    """The text drawing: a str that a notebook displays as text, not as a quoted string."""

    def __repr__(self):
        return str(self)


def _inputs(node):
    """The nodes ``node`` was computed from, each once, in order."""
    if isinstance(node, Value):
        parents = node._prev
    elif node._ctx is not None:
        parents = [p for p in node._ctx.parents if isinstance(p, Tensor)]
    else:
        parents = ()
    unique, seen = [], set()
    for p in parents:
        if id(p) not in seen:
            seen.add(id(p))
            unique.append(p)
    return unique


def _op(node):
    if isinstance(node, Value):
        return node._op
    return "" if node._ctx is None else node._ctx.function.__name__


def _lines(node):
    """The text inside a node's box, one entry per line."""
    if isinstance(node, Value):
        lines = [node.label] if node.label else []
        return lines + [f"data {node.data:.4g}", f"grad {node.grad:.4g}"]
    lines = [node.name] if node.name else []
    lines.append(f"shape {node.shape} {node.dtype}")
    if node.grad is not None:
        lines.append("grad set")
    elif node.requires_grad:
        lines.append("requires grad")
    return lines


def _collect(root):
    """All nodes under ``root``, each after its inputs (iterative, for deep graphs)."""
    order, seen, stack = [], set(), [(root, False)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
        elif id(node) not in seen:
            seen.add(id(node))
            stack.append((node, True))
            # reversed: the first input is popped, and so placed, first
            stack.extend((p, False) for p in reversed(_inputs(node)) if id(p) not in seen)
    return order


def _available(renderer):
    if renderer == "graphviz":
        return importlib.util.find_spec("graphviz") is not None and shutil.which("dot") is not None
    if renderer == "matplotlib":
        return importlib.util.find_spec("matplotlib") is not None
    return True


def draw_graph(root, renderer="auto", max_nodes=200):
    """Draw the graph that computed ``root`` (a Value or a Tensor).

    ``renderer`` is ``"auto"`` (graphviz, else matplotlib, else text),
    ``"graphviz"``, ``"matplotlib"`` or ``"text"``. In ``"auto"`` mode a
    graph of more than ``max_nodes`` nodes is drawn as text, which stays
    readable; the text drawing itself shows at most ``max_nodes`` lines.
    """
    if not isinstance(root, (Value, Tensor)):
        raise ValueError(f"root: expected a Value or a Tensor, got {type(root).__name__}.")
    if renderer not in RENDERERS:
        raise ValueError(f"renderer: expected one of {', '.join(RENDERERS)}, got {renderer!r}.")
    nodes = _collect(root)
    if renderer == "auto":
        fits = len(nodes) <= max_nodes
        renderer = next(
            r for r in ("graphviz", "matplotlib", "text") if _available(r) and (fits or r == "text")
        )
    elif not _available(renderer):
        raise ValueError(
            f"renderer {renderer!r} is not available: "
            + (
                "it needs `pip install graphviz` and Graphviz's `dot` program "
                "(e.g. `apt install graphviz` or `conda install graphviz`)."
                if renderer == "graphviz"
                else "it needs `pip install matplotlib`."
            )
        )
    if renderer == "graphviz":
        return _draw_graphviz(nodes)
    if renderer == "matplotlib":
        return _draw_matplotlib(nodes)
    return _draw_text(root, max_nodes)


def _draw_text(root, max_lines):
    """An indented tree, root first; a node reached again is named, not repeated."""
    out, number = [], {}
    stack = [(root, "", "")]  # node, prefix of its own line, prefix of its inputs' lines
    while stack and len(out) < max_lines:
        node, head, tail = stack.pop()
        if id(node) in number:
            out.append(f"{head}#{number[id(node)]} (shown above)")
            continue
        number[id(node)] = len(number) + 1
        op = _op(node)
        out.append(
            f"{head}#{number[id(node)]} " + "  ".join(_lines(node)) + (f"  <- {op}" if op else "")
        )
        inputs = _inputs(node)
        for k in reversed(range(len(inputs))):  # pushed in reverse: popped in order
            last = k == len(inputs) - 1
            branch, rest = ("└── ", "    ") if last else ("├── ", "│   ")
            stack.append((inputs[k], tail + branch, tail + rest))
    if stack:
        out.append(f"... (drawing cut at {max_lines} lines; pass max_nodes= to see more)")
    return GraphText("\n".join(out))


def _layers(nodes):
    """Layer of each node: 0 for inputs, else one more than its deepest input."""
    layer = {}
    for node in nodes:  # inputs come first, so their layers are known
        layer[id(node)] = 1 + max((layer[id(p)] for p in _inputs(node)), default=-1)
    return layer


def _draw_matplotlib(nodes):
    from matplotlib.figure import Figure

    layer = _layers(nodes)
    rows = {}  # layer -> number of nodes placed in it so far
    position = {}
    for node in nodes:
        lay = layer[id(node)]
        position[id(node)] = (3.0 * lay, -1.6 * rows.get(lay, 0))
        rows[lay] = rows.get(lay, 0) + 1
    width = 3.0 * max(layer.values()) + 3.0
    height = 1.6 * (max(rows.values()) - 1) + 1.8
    fig = Figure(figsize=(width, height))  # one unit of the layout is one inch
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(-1.5, width - 1.5)
    ax.set_ylim(0.9 - height, 0.9)
    ax.set_axis_off()

    boxes = {}
    for node in nodes:
        x, y = position[id(node)]
        boxes[id(node)] = ax.text(
            x,
            y,
            "\n".join(_lines(node)),
            ha="center",
            va="center",
            fontsize=8,
            family="monospace",
            bbox={"boxstyle": "round,pad=0.4", "fc": "#e8f0fe", "ec": "#3b6fb6"},
        )
    arrow = {"arrowstyle": "->", "color": "#555555", "shrinkA": 6, "shrinkB": 6}
    for node in nodes:
        op = _op(node)
        if not op:
            continue
        x, y = position[id(node)]
        op_box = ax.text(
            x - 1.5,
            y,
            op,
            ha="center",
            va="center",
            fontsize=8,
            bbox={"boxstyle": "circle,pad=0.3", "fc": "#fff4d6", "ec": "#b8860b"},
        )
        ax.annotate(
            "", xy=(0, 0.5), xycoords=boxes[id(node)], xytext=(1, 0.5), textcoords=op_box,
            arrowprops=arrow,
        )  # fmt: skip
        for parent in _inputs(node):
            ax.annotate(
                "", xy=(0, 0.5), xycoords=op_box, xytext=(1, 0.5), textcoords=boxes[id(parent)],
                arrowprops=arrow,
            )  # fmt: skip
    return fig


def _draw_graphviz(nodes):
    import graphviz

    dot = graphviz.Digraph(graph_attr={"rankdir": "LR"})
    for node in nodes:
        name = str(id(node))
        fields = "|".join(_escape_record(line) for line in _lines(node))
        dot.node(name, label="{" + fields + "}", shape="record")
        op = _op(node)
        if op:
            dot.node(name + "op", label=op, shape="ellipse")
            dot.edge(name + "op", name)
            for parent in _inputs(node):
                dot.edge(str(id(parent)), name + "op")
    return dot


def _escape_record(text):
    """Graphviz record labels give | { } < > a meaning: escape them."""
    for ch in "\\|{}<>":
        text = text.replace(ch, "\\" + ch)
    return text
