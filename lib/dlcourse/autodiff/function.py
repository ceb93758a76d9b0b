"""``Function``: one differentiable operation, its forward and backward side by side.

Every operation on a :class:`~dlcourse.autodiff.Tensor` is a subclass of
``Function`` with two static methods that work on plain arrays (NumPy arrays
or PyTorch tensors, never ``Tensor``)::

    class Square(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)      # what backward will need
            return x * x

        @staticmethod
        def backward(ctx, grad):          # grad = dL/d(output), shaped like the output
            (x,) = ctx.saved_tensors
            return 2 * x * grad           # dL/dx, shaped like x: one per input of forward

    y = Square.apply(t)                   # a Tensor that remembers how it was made

``apply`` unwraps the tensors, runs ``forward``, and, when some input
requires a gradient and recording is on (see ``no_grad``), keeps the context
``ctx`` in the output so that ``backward()`` can later call
``Square.backward(ctx, grad)``. That is all it takes to add an operation.

Rules for ``backward``: return one gradient per input of ``forward`` (a tuple
when there are several; ``None`` for an input that needs none, such as
integer labels or a constant), each with the shape of its input.
``ctx.needs_input_grad[i]`` says whether input ``i`` needs one, so work for
the others can be skipped. ``ctx.xp`` is the array namespace of the inputs
(NumPy's or PyTorch's, see ``dlcourse.functional._common.namespace``): use
``ctx.xp.exp(x)`` rather than ``np.exp(x)`` and the Function runs on both.

Inputs of ``apply`` that are not Tensors (Python numbers, NumPy arrays)
reach ``forward`` unchanged and count as constants. Keyword arguments go to
``forward`` too (``Sum.apply(t, axis=0)``): they are settings, never
differentiated.
"""

from dlcourse.autodiff import grad_mode
from dlcourse.functional._common import namespace

__all__ = ["Context", "Function"]


class Context:
    """What one recorded operation keeps for its backward pass.

    ``save_for_backward(*arrays)`` stores arrays, read back as
    ``ctx.saved_tensors``; any other attribute (``ctx.axis = 1``) can be set
    in ``forward`` as well. After a backward pass that does not retain the
    graph, all of it is released to free the memory.
    """

    __slots__ = (
        "function",
        "xp",
        "parents",
        "needs_input_grad",
        "saved_tensors",
        "released",
        "__dict__",
    )

    def __init__(self, function, xp, needs_input_grad):
        self.function = function  # the Function subclass that made the output
        self.xp = xp  # the inputs' array namespace
        self.parents = ()  # the inputs (Tensors and constants), kept only when recording
        self.needs_input_grad = needs_input_grad
        self.saved_tensors = ()
        self.released = False

    def save_for_backward(self, *arrays):
        self.saved_tensors = arrays

    def release(self):
        """Drop the saved arrays (called after a backward pass without retain_graph)."""
        self.saved_tensors = None
        self.__dict__.clear()
        self.released = True


class Function:
    """Base class of every differentiable operation; see the module docstring."""

    @staticmethod
    def forward(ctx, *arrays, **options):
        raise NotImplementedError("a Function subclass must define forward(ctx, *arrays)")

    @staticmethod
    def backward(ctx, grad):
        raise NotImplementedError("a Function subclass must define backward(ctx, grad)")

    @classmethod
    def apply(cls, *inputs, **options):
        """Run ``forward`` on the inputs' arrays and wrap the result in a Tensor."""
        arrays = []
        needs = []
        xp = first = None
        for x in inputs:
            if type(x) is Tensor or isinstance(x, Tensor):
                if xp is None:
                    xp, first = x._xp, x.data
                elif x._xp is not xp:
                    raise ValueError(
                        f"{cls.__name__}: cannot combine tensors of different array libraries "
                        f"({type(first).__module__} and {type(x.data).__module__}); "
                        "convert one of them first."
                    )
                arrays.append(x.data)
                needs.append(x.requires_grad)
            else:
                arrays.append(x)  # a constant: never differentiated
                needs.append(False)
        if xp is None:  # no Tensor among the inputs: ask the arrays
            xp = namespace(*(a for a in arrays if hasattr(a, "shape")))
        record = grad_mode._enabled and True in needs
        ctx = Context(cls, xp, tuple(needs))
        out = cls.forward(ctx, *arrays, **options)
        if not record:
            return Tensor._from_op(out, xp, None)
        ctx.parents = inputs
        return Tensor._from_op(out, xp, ctx)


# Tensor's methods call the operations, which subclass Function: whichever of
# the two modules loads first, Function must exist before Tensor's module
# finishes, hence this import at the end.
from dlcourse.autodiff.tensor import Tensor  # noqa: E402
