"""Reverse-mode autodiff on single numbers: the whole idea in one small class.

Every arithmetic operation on a :class:`Value` creates a new ``Value`` that
remembers where it came from (its ``_prev`` inputs and the ``_op`` that made
it) and how to send a gradient back to those inputs (its ``_backward``
function, written right next to the forward computation). ``backward()``
then visits the graph from the output back to the inputs and applies the
chain rule once per node::

    >>> a, b = Value(2.0, label="a"), Value(-3.0, label="b")
    >>> c = a * b + a          # c = a*b + a
    >>> c.backward()
    >>> a.grad, b.grad         # dc/da = b + 1, dc/db = a
    (-2.0, 2.0)

Each ``_backward(grad)`` receives ``grad = dL/d(out)`` and *adds* its share
to the ``.grad`` of each input: a value used twice (``a`` above) collects one
contribution per use. That ``+=`` is the multivariable chain rule.
"""

import math
import numbers

__all__ = ["Value"]


def _as_value(x):
    if isinstance(x, Value):
        return x
    if isinstance(x, numbers.Real) and not isinstance(x, bool):
        return Value(x)
    raise TypeError(f"cannot combine a Value with {type(x).__name__}; use a number or a Value.")


class Value:
    """A scalar that records the operations applied to it, so it can be differentiated.

    Attributes
    ----------
    data : float
        The number itself.
    grad : float
        dL/d(this value) after ``L.backward()``; 0.0 before.
    label : str
        A name shown by :meth:`draw` (optional).
    """

    __slots__ = ("data", "grad", "label", "_prev", "_op", "_backward")

    def __init__(self, data, label="", _children=(), _op=""):
        if not isinstance(data, numbers.Real) or isinstance(data, bool):
            raise TypeError(f"data: expected a real number, got {type(data).__name__}.")
        self.data = float(data)
        self.grad = 0.0
        self.label = label
        self._prev = tuple(_children)  # the Values this one was computed from
        self._op = _op  # the operation that produced it ("" for inputs)
        self._backward = None  # grad -> adds this node's contribution to its inputs

    def __repr__(self):
        name = f"{self.label}: " if self.label else ""
        return f"Value({name}data={self.data:.6g}, grad={self.grad:.6g})"

    # ----- operations: forward value, then the backward rule right under it -----

    def __add__(self, other):
        other = _as_value(other)
        out = Value(self.data + other.data, _children=(self, other), _op="+")

        def _backward(grad):  # d(a + b)/da = 1, d(a + b)/db = 1
            self.grad += grad
            other.grad += grad

        out._backward = _backward
        return out

    def __mul__(self, other):
        other = _as_value(other)
        out = Value(self.data * other.data, _children=(self, other), _op="*")

        def _backward(grad):  # d(a * b)/da = b, d(a * b)/db = a
            self.grad += other.data * grad
            other.grad += self.data * grad

        out._backward = _backward
        return out

    def __sub__(self, other):
        other = _as_value(other)
        out = Value(self.data - other.data, _children=(self, other), _op="-")

        def _backward(grad):  # d(a - b)/da = 1, d(a - b)/db = -1
            self.grad += grad
            other.grad -= grad

        out._backward = _backward
        return out

    def __truediv__(self, other):
        other = _as_value(other)
        out = Value(self.data / other.data, _children=(self, other), _op="/")

        def _backward(grad):  # d(a / b)/da = 1/b, d(a / b)/db = -a/b**2
            self.grad += grad / other.data
            other.grad -= grad * self.data / (other.data * other.data)

        out._backward = _backward
        return out

    def __pow__(self, exponent):
        if isinstance(exponent, Value):
            raise TypeError(
                "Value ** Value is not supported: the exponent must be a number. "
                "For a variable exponent write (b * a.log()).exp()."
            )
        if not isinstance(exponent, numbers.Real) or isinstance(exponent, bool):
            raise TypeError(f"exponent: expected a number, got {type(exponent).__name__}.")
        if self.data < 0 and not float(exponent).is_integer():
            raise ValueError(
                f"a negative number ({self.data:g}) to the fractional power {exponent} "
                "is not a real number."
            )
        n = exponent
        out = Value(self.data**n, _children=(self,), _op=f"**{n:g}")

        def _backward(grad):  # d(a**n)/da = n * a**(n-1)
            self.grad += n * self.data ** (n - 1) * grad

        out._backward = _backward
        return out

    def __neg__(self):
        out = Value(-self.data, _children=(self,), _op="neg")

        def _backward(grad):
            self.grad -= grad

        out._backward = _backward
        return out

    def exp(self):
        e = math.exp(self.data)  # raises OverflowError beyond about exp(709)
        out = Value(e, _children=(self,), _op="exp")

        def _backward(grad):  # d exp(a)/da = exp(a): reuse the forward result
            self.grad += e * grad

        out._backward = _backward
        return out

    def log(self):
        if self.data <= 0:
            raise ValueError(f"log is only defined for positive numbers, got {self.data:g}.")
        out = Value(math.log(self.data), _children=(self,), _op="log")

        def _backward(grad):  # d log(a)/da = 1/a
            self.grad += grad / self.data

        out._backward = _backward
        return out

    def tanh(self):
        t = math.tanh(self.data)
        out = Value(t, _children=(self,), _op="tanh")

        def _backward(grad):  # d tanh(a)/da = 1 - tanh(a)**2
            self.grad += (1.0 - t * t) * grad

        out._backward = _backward
        return out

    def relu(self):
        out = Value(self.data if self.data > 0 else 0.0, _children=(self,), _op="relu")

        def _backward(grad):  # slope 1 for a > 0, else 0 (0 at the kink too, like PyTorch)
            if self.data > 0:
                self.grad += grad

        out._backward = _backward
        return out

    def sigmoid(self):
        # exp of a negative number only, so large |a| cannot overflow
        if self.data >= 0:
            s = 1.0 / (1.0 + math.exp(-self.data))
        else:
            e = math.exp(self.data)
            s = e / (1.0 + e)
        out = Value(s, _children=(self,), _op="sigmoid")

        def _backward(grad):  # d sigmoid(a)/da = s * (1 - s)
            self.grad += s * (1.0 - s) * grad

        out._backward = _backward
        return out

    # ----- a number on the left: 2 * v, 1 - v, 1 / v -----

    def __radd__(self, other):
        return _as_value(other) + self

    def __rsub__(self, other):
        return _as_value(other) - self

    def __rmul__(self, other):
        return _as_value(other) * self

    def __rtruediv__(self, other):
        return _as_value(other) / self

    # ----- reverse mode -----

    def backward(self):
        """Fill ``.grad`` of every value this one depends on with d(self)/d(value).

        Nodes are visited in reverse topological order, so a node's gradient
        is complete (every use has sent its share) before it is passed on.

        Calling ``backward()`` again adds the new gradients to the inputs'
        ``.grad`` (the graph's leaves), as PyTorch does with ``.grad`` of
        leaf tensors; reset them with ``v.grad = 0.0`` between passes when
        that is not wanted. Intermediate nodes restart from zero on every
        call, so their ``.grad`` always shows the latest pass.
        """
        order = topological_order(self)
        for node in order:
            if node._prev:
                node.grad = 0.0
        self.grad += 1.0  # dL/dL = 1
        for node in reversed(order):
            if node._backward is not None:
                node._backward(node.grad)

    def draw(self, **options):
        """Draw the expression graph that produced this value; see :func:`draw_graph`."""
        from dlcourse.autodiff.graph import draw_graph

        return draw_graph(self, **options)


def topological_order(root):
    """Every Value ``root`` depends on, each one after all of its inputs (root last).

    Iterative depth-first search with an explicit stack rather than recursion,
    so graphs thousands of operations deep do not hit Python's recursion limit.
    """
    order, seen = [], set()
    stack = [(root, False)]
    while stack:
        node, inputs_done = stack.pop()
        if inputs_done:
            order.append(node)  # all of its inputs are already in ``order``
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        stack.extend((child, False) for child in node._prev if id(child) not in seen)
    return order
