"""Reverse-mode automatic differentiation, built to be read.

Two engines, the same idea at two sizes:

- :class:`Value` (``value.py``): one number per node. Each operation's
  backward rule sits right under its forward computation; ``backward()``
  applies them in reverse topological order. Draw the graph with
  ``v.draw()`` (:func:`draw_graph`, ``graph.py``).
- :class:`Tensor` (``tensor.py``): one array per node, NumPy or PyTorch,
  float32 or float64, CPU or GPU. Each operation is a :class:`Function`
  (``function.py``) with ``forward(ctx, *arrays)`` and ``backward(ctx,
  grad)``; the operations live in ``ops/``, the backward pass in
  ``backprop.py``. Subclass ``Function`` to add your own operation.

``no_grad()`` switches recording off (``grad_mode.py``). Gradients
accumulate in ``.grad`` across backward passes as in PyTorch; see
:meth:`Tensor.backward`.
"""

from dlcourse.autodiff.function import Context, Function
from dlcourse.autodiff.grad_mode import enable_grad, is_grad_enabled, no_grad
from dlcourse.autodiff.graph import draw_graph
from dlcourse.autodiff.ops.layers import conv2d, max_pool2d
from dlcourse.autodiff.ops.losses import cross_entropy, log_softmax, softmax
from dlcourse.autodiff.ops.selection import maximum, minimum, take_along_axis, where
from dlcourse.autodiff.tensor import Tensor
from dlcourse.autodiff.value import Value

__all__ = [
    "Context",
    "Function",
    "Tensor",
    "Value",
    "conv2d",
    "cross_entropy",
    "draw_graph",
    "enable_grad",
    "is_grad_enabled",
    "log_softmax",
    "max_pool2d",
    "maximum",
    "minimum",
    "no_grad",
    "softmax",
    "take_along_axis",
    "where",
]
