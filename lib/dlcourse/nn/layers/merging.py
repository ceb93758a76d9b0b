"""Layers that merge several tensors into one: ``Add``, ``Multiply``, ``Concatenate``.

Each takes a list of tensors (``Add()([a, b])``) and has no weights. Their
derivatives are short enough to write here, next to the forward pass:

- ``Add``:  out = x1 + x2 + ...    so  dL/dxi = dout for every input;
- ``Multiply``: out = x1 * x2 * ...  so  dL/dxi = dout * (product of the others);
- ``Concatenate``: the inputs side by side along ``axis``, so dL/dxi is the
  slice of dout where xi was put.

Shapes are checked when the layer builds: no broadcasting, so a mismatch is
reported rather than silently stretched.
"""

from dlcourse import ops
from dlcourse.nn.layers.base import Layer

__all__ = ["Add", "Concatenate", "Multiply"]


def _check_list(layer, input_shape):
    if not isinstance(input_shape, list) or len(input_shape) < 2:
        raise ValueError(
            f"{type(layer).__name__} layer {layer.name!r} merges several tensors: call it on a "
            f"list of at least two, e.g. {type(layer).__name__}()([a, b])."
        )


def _shapes(input_shape):
    return ", ".join(str((None, *tuple(s)[1:])) for s in input_shape)


class _Elementwise(Layer):
    """Add and Multiply: every input has the same shape."""

    def build(self, input_shape):
        _check_list(self, input_shape)
        if len({tuple(s)[1:] for s in input_shape}) > 1:
            raise ValueError(
                f"{type(self).__name__} layer {self.name!r}: its inputs have the shapes "
                f"{_shapes(input_shape)}, but every input must have the same shape; "
                "add a Dense (or reshape) in front of one of them so that the sizes match."
            )


class Add(_Elementwise):
    """The sum of its inputs (all of the same shape), e.g. a residual ``Add()([x, f(x)])``."""

    _count = 0

    def call(self, x, training=False):
        out = x[0]
        for term in x[1:]:
            out = ops.add(out, term)
        return out

    def forward(self, x, training=False):
        self._count = len(x)
        return self.call(x, training)

    def backward(self, dout):
        return [dout] * self._count


class Multiply(_Elementwise):
    """The elementwise product of its inputs (all of the same shape), e.g. a gate."""

    _inputs = ()

    def call(self, x, training=False):
        out = x[0]
        for factor in x[1:]:
            out = ops.multiply(out, factor)
        return out

    def forward(self, x, training=False):
        self._inputs = list(x)
        return self.call(x, training)

    def backward(self, dout):
        grads = []
        for i in range(len(self._inputs)):
            g = dout
            for j, factor in enumerate(self._inputs):
                if j != i:
                    g = g * factor
            grads.append(g)
        return grads


class Concatenate(Layer):
    """Its inputs side by side along ``axis`` (default: the last, the features).

    Every other axis must have the same size in every input.
    """

    def __init__(self, axis=-1, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise ValueError(f"axis: expected an int, got {axis!r}.")
        if axis == 0:
            raise ValueError("axis: 0 is the batch axis; concatenate along a feature axis (-1).")
        self.axis = axis

    def build(self, input_shape):
        _check_list(self, input_shape)
        rank = len(input_shape[0])
        if any(len(s) != rank for s in input_shape) or not -rank < self.axis < rank:
            raise ValueError(
                f"Concatenate layer {self.name!r}: its inputs have the shapes "
                f"{_shapes(input_shape)}; they need the same number of axes, and axis="
                f"{self.axis} must be one of them (not the batch axis)."
            )
        axis = self.axis % rank
        others = {tuple(d for k, d in enumerate(s) if k not in (0, axis)) for s in input_shape}
        if len(others) > 1:
            raise ValueError(
                f"Concatenate layer {self.name!r}: its inputs have the shapes "
                f"{_shapes(input_shape)}; all sizes except along axis={self.axis} must match."
            )

    def call(self, x, training=False):
        return ops.concatenate(list(x), axis=self.axis)

    def forward(self, x, training=False):
        self._sizes = [t.shape[self.axis] for t in x]
        return self.call(x, training)

    def backward(self, dout):
        axis = self.axis % dout.ndim
        grads, start = [], 0
        for size in self._sizes:
            index = [slice(None)] * dout.ndim
            index[axis] = slice(start, start + size)
            grads.append(dout[tuple(index)])
            start += size
        return grads

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}
