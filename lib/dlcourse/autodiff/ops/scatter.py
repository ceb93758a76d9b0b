"""Scatter-add: the backward of indexing with integer arrays.

``y = x[idx]`` copies elements of ``x``; when ``idx`` repeats an index, one
element of ``x`` is copied several times and each copy sends a gradient back,
so the gradients at repeated positions must *add*. ``dx[idx] = dy`` would
keep only one of them (a classic bug); a scatter-add keeps them all.

The array API standard has no scatter-add, so this is the one place that
calls each library by name: ``numpy.bincount`` and ``torch.Tensor.index_add_``.
"""

from array_api_compat import device, is_numpy_array, is_torch_array

__all__ = ["scatter_add"]


def scatter_add(xp, like, index, grad):
    """An array of zeros shaped like ``like``, plus ``grad`` added at ``like[index]``.

    Works for any index NumPy accepts (integer arrays, boolean masks, mixed
    with slices): the same index applied to a grid of flat positions says
    where each element of ``grad`` came from.
    """
    size = 1
    for n in like.shape:
        size *= n
    grid = xp.reshape(xp.arange(size, device=device(like)), like.shape)
    positions = xp.reshape(grid[index], (-1,))
    values = xp.reshape(grad, (-1,))
    if is_numpy_array(like):
        import numpy  # the array API has no scatter-add: NumPy's own is named here

        flat = numpy.bincount(positions, weights=values, minlength=size).astype(like.dtype)
    elif is_torch_array(like):
        flat = xp.zeros(size, dtype=like.dtype, device=device(like))
        flat.index_add_(0, positions, values)
    else:
        raise NotImplementedError(
            f"indexing with arrays: no scatter-add for {type(like).__module__} arrays yet."
        )
    return xp.reshape(flat, like.shape)
