"""``Tensor``: an array that records the operations applied to it.

The array inside (``.data``) is a NumPy array or a PyTorch tensor; a Tensor
adds what reverse mode needs: ``requires_grad``, the recorded operation that
produced it (``grad_fn``), and after ``backward()`` its gradient ``.grad``,
an array of the same kind, shape and dtype as ``.data``::

    >>> w = Tensor(np.array([[1.0, -1.0], [1.0, -1.0]]), requires_grad=True)
    >>> x = Tensor(np.array([[1.0, 2.0]]))
    >>> loss = (x @ w).relu().sum()     # x @ w = [[3, -3]]: relu lets the 3 through
    >>> loss.backward()
    >>> w.grad                          # x.T @ (slope of relu), shaped like w
    array([[1., 0.],
           [2., 0.]])

Every operation is a :class:`~dlcourse.autodiff.function.Function` in
``dlcourse.autodiff.ops``; the methods below only call them. The math uses
the array namespace of ``.data`` (found once, when the tensor is made, and
passed on to every result), so the same engine runs on NumPy and PyTorch
arrays, on CPU or GPU, in float32 or float64.
"""

import numbers
import operator

import numpy as np  # only to turn Python numbers and lists into arrays
from array_api_compat import device as _device
from array_api_compat import is_array_api_obj

from dlcourse.autodiff.backprop import run_backward
from dlcourse.functional._common import namespace

__all__ = ["Tensor"]


class Tensor:
    """An array with a gradient.

    Parameters
    ----------
    data : array, number or nested list
        A NumPy array or PyTorch tensor is used as it is (no copy: the Tensor
        shares its memory, like ``torch.from_numpy``). Numbers and lists become
        NumPy arrays (floats become float64).
    requires_grad : bool
        Whether ``backward()`` should compute a gradient for this tensor. Only
        floating-point tensors can.
    dtype : optional
        Convert ``data`` to this dtype first (a dtype of ``data``'s library).
    name : str, optional
        Shown when the graph is drawn.

    Gradients: ``.grad`` is None until a backward pass reaches this tensor;
    each further pass *adds* to it, exactly as ``.grad`` of a PyTorch leaf
    tensor; ``zero_grad()`` sets it back to None. Only leaves (tensors
    made by you, not by an operation) get ``.grad``, unless ``retain_grad()``
    asks for it. A ``.grad`` array may be shared with other gradients of the
    same pass (both inputs of an addition receive the same array) or be a
    read-only broadcast view (the gradient of a sum): replace it, never
    modify it in place.
    """

    __slots__ = ("data", "grad", "requires_grad", "name", "_ctx", "_xp", "_retains_grad")

    # NumPy: make `array + tensor` call Tensor.__radd__ instead of looping over the tensor
    __array_ufunc__ = None

    def __init__(self, data, requires_grad=False, dtype=None, name=None):
        if isinstance(data, Tensor):
            data = data.data
        if not is_array_api_obj(data) or isinstance(data, np.generic):
            data = np.asarray(data, dtype=dtype)
        elif dtype is not None:
            data = namespace(data).astype(data, dtype)
        if getattr(data, "requires_grad", False):
            data = data.detach()  # a torch tensor of torch's autograd: this engine takes over
        xp = namespace(data)
        if requires_grad and not xp.isdtype(data.dtype, "real floating"):
            raise ValueError(
                f"requires_grad: only floating-point tensors can have a gradient, got dtype "
                f"{data.dtype}. Pass floats, or convert: Tensor(data, dtype=np.float64)."
            )
        self.data = data
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self.name = name
        self._ctx = None  # the recorded operation that produced this tensor
        self._xp = xp
        self._retains_grad = False

    @classmethod
    def _from_op(cls, data, xp, ctx):
        """The fast constructor used by Function.apply: no checks, namespace already known."""
        t = object.__new__(cls)
        t.data = data
        t.grad = None
        t.requires_grad = ctx is not None
        t.name = None
        t._ctx = ctx
        t._xp = xp
        t._retains_grad = False
        return t

    # ----- what it is -----

    @property
    def shape(self):
        return tuple(self.data.shape)

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def device(self):
        return _device(self.data)

    @property
    def size(self):
        n = 1
        for s in self.data.shape:
            n *= s
        return n

    @property
    def is_leaf(self):
        """True for a tensor not produced by a recorded operation."""
        return self._ctx is None

    @property
    def grad_fn(self):
        """The Function that produced this tensor (None for a leaf)."""
        return None if self._ctx is None else self._ctx.function

    def __repr__(self):
        extra = ""
        if self.name:
            extra += f", name={self.name!r}"
        if self._ctx is not None:
            extra += f", grad_fn={self._ctx.function.__name__}"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"Tensor({self.data!r}{extra})"

    def __len__(self):
        return len(self.data)

    def __bool__(self):
        return bool(self.data)

    def numpy(self):
        """The values as a NumPy array (copied off the GPU if needed, detached from the graph)."""
        data = self.data
        if type(data).__module__.startswith("torch"):
            return data.detach().cpu().numpy()
        return np.asarray(data)

    def __array__(self, dtype=None, copy=None):  # np.asarray(tensor) and np.testing work
        out = self.numpy()
        return out if dtype is None else out.astype(dtype, copy=False)

    def item(self):
        """The value of a one-element tensor as a Python number."""
        return self.data.item()

    def __float__(self):
        return float(self.item())

    # ----- comparisons: boolean constants, outside the graph (they have no gradient) -----

    def _compare(self, other, op):
        other = other.data if isinstance(other, Tensor) else other
        return Tensor._from_op(op(self.data, other), self._xp, None)

    def __lt__(self, other):
        return self._compare(other, operator.lt)

    def __le__(self, other):
        return self._compare(other, operator.le)

    def __gt__(self, other):
        return self._compare(other, operator.gt)

    def __ge__(self, other):
        return self._compare(other, operator.ge)

    # ----- gradients -----

    def backward(self, grad=None, retain_graph=False):
        """Compute the gradient of this tensor with respect to every leaf it depends on.

        ``grad`` is dL/d(self), shaped like self; it may be left out for a
        scalar (a loss), where it is 1. The results are *added* to the leaves'
        ``.grad`` (None counts as zero), as PyTorch does.

        The arrays that the recorded operations saved for the backward pass
        are freed at the end, as in PyTorch; a second ``backward()`` through
        the same graph then raises a RuntimeError. Pass ``retain_graph=True``
        to keep them: each later call adds the same gradients again.
        """
        if not self.requires_grad:
            raise RuntimeError(
                "backward(): this tensor does not require grad. None of the tensors it was "
                "computed from has requires_grad=True, or it was computed inside no_grad()."
            )
        xp = self._xp
        if grad is None:
            if self.data.shape != ():
                raise ValueError(
                    f"backward() without a gradient needs a scalar (a loss), but this tensor "
                    f"has shape {self.shape}. Reduce it first (y.sum().backward()) or pass "
                    f"dL/dy explicitly: y.backward(grad) with grad of shape {self.shape}."
                )
            grad = xp.ones_like(self.data)
        else:
            if isinstance(grad, Tensor):
                grad = grad.data
            elif isinstance(grad, numbers.Number) or not is_array_api_obj(grad):
                grad = xp.asarray(grad, dtype=self.data.dtype, device=_device(self.data))
            if tuple(grad.shape) != self.shape:
                raise ValueError(
                    f"grad: expected the shape of the tensor, {self.shape}, "
                    f"got {tuple(grad.shape)}."
                )
            if grad.dtype != self.data.dtype:
                grad = xp.astype(grad, self.data.dtype)
        run_backward(self, grad, retain_graph=retain_graph)

    def zero_grad(self):
        """Forget the gradient (``.grad = None``), before the next backward pass."""
        self.grad = None

    def retain_grad(self):
        """Keep this intermediate tensor's gradient in ``.grad`` after ``backward()``."""
        self._retains_grad = True
        return self

    def detach(self):
        """A new leaf sharing the same data, cut off from the graph (no gradient flows back)."""
        return Tensor._from_op(self.data, self._xp, None)

    # ----- arithmetic (each one a Function in ops/elementwise.py) -----

    def __add__(self, other):
        return _elementwise.Add.apply(self, other)

    def __radd__(self, other):
        return _elementwise.Add.apply(other, self)

    def __sub__(self, other):
        return _elementwise.Sub.apply(self, other)

    def __rsub__(self, other):
        return _elementwise.Sub.apply(other, self)

    def __mul__(self, other):
        return _elementwise.Mul.apply(self, other)

    def __rmul__(self, other):
        return _elementwise.Mul.apply(other, self)

    def __truediv__(self, other):
        return _elementwise.Div.apply(self, other)

    def __rtruediv__(self, other):
        return _elementwise.Div.apply(other, self)

    def __neg__(self):
        return _elementwise.Neg.apply(self)

    def __pow__(self, exponent):
        if not isinstance(exponent, numbers.Real) or isinstance(exponent, bool):
            raise TypeError(
                f"Tensor ** {type(exponent).__name__}: the exponent must be a number. "
                "For a tensor exponent write (b * a.log()).exp()."
            )
        return _elementwise.Pow.apply(self, exponent=exponent)

    def __matmul__(self, other):
        return _matmul.MatMul.apply(self, other)

    def __rmatmul__(self, other):
        return _matmul.MatMul.apply(other, self)

    def exp(self):
        return _elementwise.Exp.apply(self)

    def log(self):
        return _elementwise.Log.apply(self)

    def sqrt(self):
        return _elementwise.Sqrt.apply(self)

    def abs(self):
        return _elementwise.Abs.apply(self)

    def tanh(self):
        return _elementwise.Tanh.apply(self)

    def relu(self):
        return _elementwise.ReLU.apply(self)

    def sigmoid(self):
        return _elementwise.Sigmoid.apply(self)

    def clip(self, low=None, high=None):
        """Limit the values to [low, high]; the gradient is 0 where a limit applied."""
        return _selection.Clip.apply(self, low=low, high=high)

    def astype(self, dtype):
        """Convert to another dtype (of ``.data``'s library); gradients flow back converted."""
        return _elementwise.Cast.apply(self, dtype=dtype)

    def argmax(self, axis=None):
        """Index of the largest element (not differentiable: returns a plain integer Tensor)."""
        return Tensor._from_op(self._xp.argmax(self.data, axis=axis), self._xp, None)

    def softmax(self, axis=-1):
        return _losses.Softmax.apply(self, axis=axis)

    def log_softmax(self, axis=-1):
        return _losses.LogSoftmax.apply(self, axis=axis)

    # ----- reductions -----

    def sum(self, axis=None, keepdims=False):
        return _reductions.Sum.apply(self, axis=axis, keepdims=keepdims)

    def mean(self, axis=None, keepdims=False):
        return _reductions.Mean.apply(self, axis=axis, keepdims=keepdims)

    def max(self, axis=None, keepdims=False):
        return _reductions.Max.apply(self, axis=axis, keepdims=keepdims)

    # ----- shape -----

    def reshape(self, *shape):
        """``t.reshape(2, 3)`` or ``t.reshape((2, 3))``; one size may be -1."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return _shape.Reshape.apply(self, shape=shape)

    def transpose(self, *axes):
        """Permute the axes as NumPy does (all reversed when none are given)."""
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return _shape.Transpose.apply(self, axes=axes or None)

    @property
    def T(self):
        return _shape.Transpose.apply(self, axes=None)

    def __getitem__(self, index):
        return _shape.GetItem.apply(self, index=_unwrap_index(index))


def _unwrap_index(index):
    """Tensors used as indices (labels, masks) index with their arrays."""
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, tuple):
        return tuple(i.data if isinstance(i, Tensor) else i for i in index)
    return index


# The operations import Function, which imports Tensor: they can only be
# loaded once the class above exists, hence the imports at the end.
from dlcourse.autodiff.ops import elementwise as _elementwise  # noqa: E402
from dlcourse.autodiff.ops import losses as _losses  # noqa: E402
from dlcourse.autodiff.ops import matmul as _matmul  # noqa: E402
from dlcourse.autodiff.ops import reductions as _reductions  # noqa: E402
from dlcourse.autodiff.ops import selection as _selection  # noqa: E402
from dlcourse.autodiff.ops import shape as _shape  # noqa: E402
