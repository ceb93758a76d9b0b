"""Layer normalization: forward and backward, over the last axis.

Where batch norm averages each feature over the batch, layer norm averages each
example over its own features:

    xhat = (x - mean) / sqrt(var + eps),    out = gamma * xhat + beta,

with ``mean`` and ``var`` (biased, divide by D) taken over the last axis of
``x``. Every example is normalized on its own, so training and evaluation
behave the same and there are no running statistics to keep.
"""

from dlcourse.functional._common import (
    namespace,
    require_float,
    require_same_dtype,
    require_shape,
)

__all__ = ["layernorm_forward", "layernorm_backward"]


def layernorm_forward(x, gamma, beta, eps=1e-5):
    """Layer normalization over the last axis.

    Parameters
    ----------
    x : (..., D), any number of leading axes (e.g. (N, D) or (N, T, D)).
    gamma, beta : (D,), the learned scale and shift.
    eps : small positive number added to the variance before the square root.

    Returns
    -------
    out : array like ``x``.
    cache : dict for :func:`layernorm_backward`.
    """
    require_float("x", x)
    if x.ndim < 1:
        raise ValueError(f"x: expected shape (..., D), got {tuple(x.shape)}.")
    dims = {"D": x.shape[-1]}
    require_shape("gamma", gamma, ("D",), dims)
    require_shape("beta", beta, ("D",), dims)
    require_same_dtype("gamma", gamma, "x", x)
    require_same_dtype("beta", beta, "x", x)
    if not eps > 0:
        raise ValueError(f"eps: expected a positive number, got {eps!r}.")
    xp = namespace(x, gamma, beta)

    mean = xp.mean(x, axis=-1, keepdims=True)
    centred = x - mean
    var = xp.mean(centred * centred, axis=-1, keepdims=True)
    inv_std = 1.0 / xp.sqrt(var + eps)
    xhat = centred * inv_std
    out = gamma * xhat + beta  # (D,) broadcasts against (..., D)
    return out, {"xhat": xhat, "inv_std": inv_std, "gamma": gamma}


def layernorm_backward(dout, cache):
    """Gradients of layer normalization: ``(dx, dgamma, dbeta)``.

    ``dgamma`` and ``dbeta`` sum over every leading axis (each example used the
    same ``gamma``). For ``dx`` the batch-norm derivation applies per example,
    with sums over the last axis instead of the batch (``D`` values each):

        dxhat = dout * gamma
        dx = inv_std / D * (D * dxhat - sum(dxhat) - xhat * sum(dxhat * xhat))
    """
    xhat = cache["xhat"]
    require_shape("dout", dout, tuple(xhat.shape))
    xp = namespace(dout, xhat)
    gamma, inv_std = cache["gamma"], cache["inv_std"]
    D = xhat.shape[-1]

    # View everything as (rows, D) so "sum over the leading axes" is one axis,
    # whatever the number of leading axes (even none).
    dout2 = xp.reshape(dout, (-1, D))
    xhat2 = xp.reshape(xhat, (-1, D))
    dbeta = xp.sum(dout2, axis=0)
    dgamma = xp.sum(dout2 * xhat2, axis=0)

    dxhat = dout * gamma
    sum_dxhat = xp.sum(dxhat, axis=-1, keepdims=True)
    sum_dxhat_xhat = xp.sum(dxhat * xhat, axis=-1, keepdims=True)
    dx = (inv_std / D) * (D * dxhat - sum_dxhat - xhat * sum_dxhat_xhat)
    return dx, dgamma, dbeta
