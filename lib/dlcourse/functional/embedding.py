"""The embedding layer: look up one row of a table per integer id, and its derivative.

The forward is indexing, out[n, t] = table[ids[n, t]]: the same as multiplying
a one-hot row by the table, without building the one-hot matrix. So the
backward is that product's weight gradient, one_hot^T @ dout: each table row
receives the sum of the upstream gradients of every position that looked it
up. A row looked up twice gets both contributions, which is why the backward
*adds* into the rows (np.add.at) rather than assigning (dtable[ids] = dout
would keep only one of them).
"""

from array_api_compat import is_numpy_array, is_torch_array

from dlcourse.functional._common import (
    device,
    namespace,
    require_array,
    require_float,
    require_shape,
)

__all__ = ["embedding_forward", "embedding_backward"]


def _check_ids(xp, ids, V):
    require_array("ids", ids)
    if not xp.isdtype(ids.dtype, "integral"):
        raise ValueError(
            f"ids: expected integer ids (row numbers of the table), got {ids.dtype}. "
            "Convert them first, e.g. ids.astype(np.int64) or ids.long()."
        )
    if ids.ndim not in (1, 2):
        raise ValueError(f"ids: expected shape (N,) or (N, T), got {tuple(ids.shape)}.")
    flat = xp.reshape(ids, (-1,))
    bad = (flat < 0) | (flat >= V)
    if flat.shape[0] and xp.any(bad):
        first = int(xp.nonzero(bad)[0][0])
        where = first if ids.ndim == 1 else divmod(first, ids.shape[1])
        raise ValueError(
            f"ids: id {int(flat[first])} at position {where} is outside [0, V) with V={V} "
            f"(the table has {V} rows)."
        )
    return xp.astype(flat, xp.int64)  # the index type every library's gather accepts


def embedding_forward(ids, table):
    """Rows of ``table`` (V, D) picked by ``ids`` (N,) or (N, T) -> out (N, D) or (N, T, D)."""
    dims = require_shape("table", table, ("V", "D"))
    require_float("table", table)
    xp = namespace(ids, table)
    flat = _check_ids(xp, ids, dims["V"])
    out = xp.reshape(xp.take(table, flat, axis=0), (*ids.shape, dims["D"]))
    return out, (flat, tuple(ids.shape), tuple(table.shape))


def _add_rows(xp, dtable, flat, rows):
    """dtable[flat[j]] += rows[j] for every j, repeated indices accumulating."""
    if is_numpy_array(dtable):
        import numpy as np  # dtable is a NumPy array, so NumPy is loaded already

        np.add.at(dtable, flat, rows)
        return dtable
    if is_torch_array(dtable):
        return dtable.index_add_(0, flat, rows)
    # any other array library: the one-hot product itself, (N*T, V)^T @ (N*T, D)
    one_hot = xp.astype(flat[:, None] == xp.arange(dtable.shape[0])[None, :], rows.dtype)
    return one_hot.mT @ rows


def embedding_backward(dout, cache):
    """dtable (V, D), given dout = dL/dout of shape ids.shape + (D,)."""
    flat, ids_shape, table_shape = cache
    require_shape("dout", dout, (*ids_shape, table_shape[1]))
    xp = namespace(dout)
    dtable = xp.zeros(table_shape, dtype=dout.dtype, device=device(dout))
    return _add_rows(xp, dtable, flat, xp.reshape(dout, (-1, table_shape[1])))
