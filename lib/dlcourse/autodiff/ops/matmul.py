"""Matrix product ``a @ b``, for matrices, vectors and stacks of matrices.

For matrices, out = a @ b gives::

    dL/da = dL/dout @ b.T        (N, M) @ (M, D) -> (N, D), the shape of a
    dL/db = a.T @ dL/dout        (D, N) @ (N, M) -> (D, M), the shape of b

A shape check that fails is the quickest way to catch a wrong transpose.
Vectors are treated as a one-row (for ``a``) or one-column (for ``b``)
matrix, as ``@`` does; stacks of matrices broadcast over their leading axes,
and the backward sums over what was broadcast.
"""

from dlcourse.autodiff.function import Function
from dlcourse.autodiff.ops._broadcast import unbroadcast

__all__ = ["MatMul", "check_matmul_shapes"]


def check_matmul_shapes(a_shape, b_shape):
    """Raise a ValueError naming both shapes unless ``a @ b`` is defined."""
    a_shape, b_shape = tuple(a_shape), tuple(b_shape)
    if not a_shape or not b_shape:
        raise ValueError(
            f"matmul: both operands need at least one dimension, got shapes {a_shape} "
            f"and {b_shape}; multiply by a scalar with * instead."
        )
    inner_a = a_shape[-1]
    inner_b = b_shape[-2] if len(b_shape) > 1 else b_shape[0]
    if inner_a != inner_b:
        raise ValueError(
            f"matmul: shapes {a_shape} and {b_shape} do not line up: the last axis of a "
            f"({inner_a}) must equal the {'first' if len(b_shape) < 3 else 'second-to-last'} "
            f"axis of b ({inner_b})."
        )


class MatMul(Function):
    @staticmethod
    def forward(ctx, a, b):
        check_matmul_shapes(a.shape, b.shape)
        ctx.save_for_backward(a, b)
        return a @ b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        if a.ndim == 2 and b.ndim == 2:  # the common case, with no reshaping at all
            return (grad @ b.mT if need_a else None, a.mT @ grad if need_b else None)
        xp = ctx.xp
        # Make vectors matrices (as @ does), so that one formula covers every case.
        a2 = xp.reshape(a, (1, -1)) if a.ndim == 1 else a
        b2 = xp.reshape(b, (-1, 1)) if b.ndim == 1 else b
        if a.ndim == 1 and b.ndim == 1:  # a dot product: grad is a scalar
            grad = xp.reshape(grad, (1, 1))
        elif a.ndim == 1:
            grad = xp.expand_dims(grad, axis=-2)
        elif b.ndim == 1:
            grad = xp.expand_dims(grad, axis=-1)
        da = db = None
        if need_a:
            da = xp.reshape(unbroadcast(xp, grad @ b2.mT, a2.shape), a.shape)
        if need_b:
            db = xp.reshape(unbroadcast(xp, a2.mT @ grad, b2.shape), b.shape)
        return da, db
