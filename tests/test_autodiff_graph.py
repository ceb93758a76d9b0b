"""Drawing expression graphs: text, matplotlib, graphviz (real if installed, else a stand-in)."""

import html
import importlib.machinery
import importlib.util
import io
import shutil
import sys
import types

import numpy as np
import pytest

from dlcourse.autodiff import Tensor, Value, draw_graph
from dlcourse.autodiff import graph as graph_module


def small_value_graph():
    a, b = Value(2.0, label="a"), Value(-3.0, label="b")
    c = a * b
    c.label = "c"
    d = c + a  # a is used twice: drawn once, referred to again
    d.label = "d"
    d.backward()
    return d


def test_text_drawing_shows_every_node_once_with_data_grad_and_op():
    text = draw_graph(small_value_graph(), renderer="text")
    lines = text.splitlines()
    assert lines[0] == "#1 d  data -4  grad 1  <- +"
    assert lines[1] == "├── #2 c  data -6  grad 1  <- *"
    assert lines[2] == "│   ├── #3 a  data 2  grad -2"
    assert lines[3] == "│   └── #4 b  data -3  grad 2"
    assert lines[4] == "└── #3 (shown above)"
    assert len(lines) == 5


def test_text_drawing_is_shown_as_text_in_a_notebook():
    text = draw_graph(small_value_graph(), renderer="text")
    assert repr(text) == str(text)  # no quotes, real line breaks


def test_text_drawing_of_a_tensor_graph_names_functions_and_shapes():
    w = Tensor(np.ones((3, 2)), requires_grad=True, name="w")
    x = Tensor(np.ones((4, 3)), name="x")
    loss = (x @ w).relu().sum()
    text = draw_graph(loss, renderer="text")
    assert text.splitlines()[0].endswith("<- Sum")
    assert "<- ReLU" in text and "<- MatMul" in text
    assert "x  shape (4, 3) float64" in text
    assert "w  shape (3, 2) float64  requires grad" in text


def test_text_drawing_of_a_deep_graph_is_cut_without_recursion():
    x = Value(1.0)
    y = x
    for _ in range(10_000):
        y = y + 1.0
    text = draw_graph(y, renderer="text", max_nodes=50)
    lines = text.splitlines()
    assert len(lines) == 51
    assert lines[-1].startswith("... (drawing cut at 50 lines")


def _boxes(fig):
    """The text artists that are boxes or operation nodes (arrows are text artists too)."""
    return [t for t in fig.axes[0].texts if type(t).__name__ != "Annotation"]


def _arrows(fig):
    return [t for t in fig.axes[0].texts if type(t).__name__ == "Annotation"]


def _texts(fig):
    return [t.get_text() for t in _boxes(fig)]


def test_matplotlib_drawing_has_a_box_per_value_and_a_node_per_operation():
    pytest.importorskip("matplotlib", reason="the matplotlib renderer needs matplotlib")
    from matplotlib.figure import Figure

    fig = draw_graph(small_value_graph(), renderer="matplotlib")
    assert isinstance(fig, Figure)
    texts = _texts(fig)
    # four values (a, b, c, d) and two operations (*, +)
    assert sorted(texts) == sorted(
        ["a\ndata 2\ngrad -2", "b\ndata -3\ngrad 2", "c\ndata -6\ngrad 1", "d\ndata -4\ngrad 1"]
        + ["*", "+"]
    )
    # arrows: op -> its value (2), inputs -> op (a, b into *; c, a into +)
    assert len(_arrows(fig)) == 2 + 4
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    assert buffer.getvalue().startswith(b"\x89PNG")


def test_matplotlib_drawing_places_inputs_left_of_results():
    pytest.importorskip("matplotlib", reason="the matplotlib renderer needs matplotlib")
    fig = draw_graph(small_value_graph(), renderer="matplotlib")
    x_of = {t.get_text().split("\n")[0]: t.get_position()[0] for t in _boxes(fig)}
    assert x_of["a"] == x_of["b"] < x_of["*"] < x_of["c"] < x_of["+"] < x_of["d"]


def test_matplotlib_drawing_of_a_tensor_graph():
    pytest.importorskip("matplotlib", reason="the matplotlib renderer needs matplotlib")
    w = Tensor(np.ones((3, 2)), requires_grad=True, name="w")
    loss = (Tensor(np.ones((4, 3))) @ w).tanh().sum()
    texts = _texts(draw_graph(loss, renderer="matplotlib"))
    assert {"MatMul", "Tanh", "Sum"} <= set(texts)
    assert "w\nshape (3, 2) float64\nrequires grad" in texts


def test_auto_uses_matplotlib_when_graphviz_is_missing(monkeypatch):
    pytest.importorskip("matplotlib", reason="the matplotlib renderer needs matplotlib")
    from matplotlib.figure import Figure

    monkeypatch.setattr(shutil, "which", lambda name: None)  # no `dot` program
    assert isinstance(draw_graph(small_value_graph()), Figure)
    assert isinstance(small_value_graph().draw(), Figure)


def test_auto_draws_a_big_graph_as_text(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    y = Value(1.0)
    for _ in range(30):
        y = y * 1.5
    drawing = draw_graph(y, max_nodes=10)
    assert isinstance(drawing, str) and "<- *" in drawing


class _FakeDigraph:
    """Stands in for graphviz.Digraph: records nodes and edges."""

    def __init__(self, graph_attr=None):
        self.graph_attr = graph_attr
        self.nodes, self.edges = {}, []

    def node(self, name, label, shape):
        self.nodes[name] = (label, shape)

    def edge(self, tail, head):
        self.edges.append((tail, head))


def test_graphviz_drawing_builds_records_and_edges(monkeypatch):
    fake = types.ModuleType("graphviz")
    fake.__spec__ = importlib.machinery.ModuleSpec("graphviz", None)
    fake.Digraph = _FakeDigraph
    monkeypatch.setitem(sys.modules, "graphviz", fake)
    monkeypatch.setattr(shutil, "which", lambda name: "/usr/bin/dot")

    d = small_value_graph()
    dot = draw_graph(d)  # auto prefers graphviz when it is there
    assert isinstance(dot, _FakeDigraph) and dot.graph_attr == {"rankdir": "LR"}
    records = [label for label, shape in dot.nodes.values() if shape == "record"]
    ops = [label for label, shape in dot.nodes.values() if shape == "ellipse"]
    assert sorted(records) == sorted(
        ["{a|data 2|grad -2}", "{b|data -3|grad 2}", "{c|data -6|grad 1}", "{d|data -4|grad 1}"]
    )
    assert sorted(ops) == ["*", "+"]
    assert len(dot.edges) == 2 + 4
    assert (str(id(d)) + "op", str(id(d))) in dot.edges


def test_graphviz_labels_escape_record_syntax():
    assert graph_module._escape_record("{a|b}<c>") == r"\{a\|b\}\<c\>"


@pytest.mark.skipif(
    shutil.which("dot") is None or importlib.util.find_spec("graphviz") is None,
    reason="needs the graphviz Python package and Graphviz's `dot` program",
)
def test_graphviz_drawing_renders_with_dot():
    svg = draw_graph(small_value_graph(), renderer="graphviz").pipe(format="svg").decode()
    svg = html.unescape(svg)  # dot writes a minus sign as &#45;
    assert "data -4" in svg and "grad -2" in svg


def test_unavailable_renderer_says_what_to_install(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(ValueError, match="pip install graphviz"):
        draw_graph(small_value_graph(), renderer="graphviz")


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="renderer: expected one of auto, graphviz"):
        draw_graph(small_value_graph(), renderer="svg")
    with pytest.raises(ValueError, match="root: expected a Value or a Tensor, got float"):
        draw_graph(1.0)
