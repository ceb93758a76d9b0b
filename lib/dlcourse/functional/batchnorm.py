"""Batch normalization: forward and backward, for (N, D) and (N, C, H, W) inputs.

Training mode normalizes each feature with the statistics of the current batch,

    xhat = (x - mean) / sqrt(var + eps),    out = gamma * xhat + beta,

where ``mean`` and ``var`` are taken over the batch (and, for images, over the
spatial positions too: one mean per channel). ``var`` is the *biased* variance
(divide by m, the number of values per feature), like PyTorch.

Eval mode cannot rely on a batch (it may hold a single example), so it uses
running averages collected during training:

    running = momentum * running + (1 - momentum) * batch_statistic

``momentum`` here is the weight of the *old* value (default 0.9), the CS231n
convention. PyTorch's ``momentum`` is the weight of the *new* value, so our 0.9
is PyTorch's 0.1. Like PyTorch, the running variance is fed the *unbiased*
batch variance (divide by m - 1) while normalizing uses the biased one.

The state dict
--------------
``state`` holds ``running_mean``, ``running_var``, ``momentum`` and ``eps``
(make one with :func:`batchnorm_state`). It is the only argument that
``batchnorm_forward`` changes: in training mode it *rebinds*
``state["running_mean"]`` and ``state["running_var"]`` to new arrays (the old
arrays are never written into, so a copy you kept earlier stays valid). In eval
mode nothing is changed.
"""

import math
import numbers

from dlcourse.functional._common import (
    device,
    namespace,
    require_array,
    require_float,
    require_same_dtype,
    require_shape,
)

__all__ = ["batchnorm_state", "batchnorm_forward", "batchnorm_backward"]


def batchnorm_state(num_features, like=None, *, momentum=0.9, eps=1e-5):
    """A fresh batch-norm state: running mean 0, running variance 1.

    ``like`` is an array whose library, dtype and device the running
    statistics copy (e.g. the input ``x`` or ``gamma``); ``None`` means NumPy
    float64. ``momentum`` is the weight kept by the old running value.
    """
    if isinstance(num_features, bool) or not isinstance(num_features, numbers.Integral):
        raise ValueError(f"num_features: expected a positive int, got {num_features!r}.")
    if num_features < 1:
        raise ValueError(f"num_features: expected a positive int, got {num_features!r}.")
    if not 0 <= momentum <= 1:
        raise ValueError(f"momentum: expected a number in [0, 1], got {momentum!r}.")
    if not eps > 0:
        raise ValueError(f"eps: expected a positive number, got {eps!r}.")
    if like is None:
        import numpy as np

        like = np.zeros(0)
    require_array("like", like)
    xp = namespace(like)
    shape = (int(num_features),)
    return {
        "running_mean": xp.zeros(shape, dtype=like.dtype, device=device(like)),
        "running_var": xp.ones(shape, dtype=like.dtype, device=device(like)),
        "momentum": float(momentum),
        "eps": float(eps),
    }


def _layout(x, gamma, beta):
    """Axes to average over, and the shape that lines per-feature arrays up with ``x``."""
    require_float("x", x)
    if x.ndim == 2:
        dims = require_shape("x", x, ("N", "D"))
        name, axes = "D", (0,)
    elif x.ndim == 4:
        dims = require_shape("x", x, ("N", "C", "H", "W"))
        name, axes = "C", (0, 2, 3)
    else:
        raise ValueError(f"x: expected shape (N, D) or (N, C, H, W), got {tuple(x.shape)}.")
    require_shape("gamma", gamma, (name,), dims)
    require_shape("beta", beta, (name,), dims)
    # a float64 gamma would silently turn a float32 x into a float64 output
    require_same_dtype("gamma", gamma, "x", x)
    require_same_dtype("beta", beta, "x", x)
    features = dims[name]
    # (1, D) for (N, D); (1, C, 1, 1) for (N, C, H, W).
    bshape = tuple(features if axis == 1 else 1 for axis in range(x.ndim))
    return axes, bshape, features


def _check_state(state, x, features, training):
    if state is None:
        if training:
            return  # allowed: normalize with batch statistics, track nothing
        raise ValueError("state: eval mode needs the running statistics, got None.")
    if not isinstance(state, dict):
        raise ValueError(
            f"state: expected a dict from batchnorm_state(), got {type(state).__name__}."
        )
    missing = {"running_mean", "running_var", "momentum", "eps"} - set(state)
    if missing:
        raise ValueError(
            f"state: missing keys {sorted(missing)}; make the state with "
            f"batchnorm_state({features}, like=x)."
        )
    dims = {"D": features}
    require_shape('state["running_mean"]', state["running_mean"], ("D",), dims)
    require_shape('state["running_var"]', state["running_var"], ("D",), dims)
    require_same_dtype('state["running_mean"]', state["running_mean"], "x", x)
    require_same_dtype('state["running_var"]', state["running_var"], "x", x)


def batchnorm_forward(x, gamma, beta, state, training):
    """Batch normalization.

    Parameters
    ----------
    x : (N, D) features, or (N, C, H, W) images (normalized per channel C).
    gamma, beta : (D,) or (C,), the learned scale and shift.
    state : dict from :func:`batchnorm_state`. In training mode its running
        statistics are *rebound* to new arrays; in eval mode it is only read.
        May be ``None`` in training mode when no running statistics are wanted.
    training : bool. ``True``: normalize with the batch statistics and update
        the running averages. ``False``: normalize with the running statistics.

    Returns
    -------
    out : array like ``x``.
    cache : dict for :func:`batchnorm_backward`.
    """
    axes, bshape, features = _layout(x, gamma, beta)
    _check_state(state, x, features, training)
    xp = namespace(x, gamma, beta)
    eps = 1e-5 if state is None else state["eps"]
    m = math.prod(x.shape[a] for a in axes)  # values averaged per feature

    if training:
        if m < 2:
            raise ValueError(
                f"x: batch norm in training mode needs more than one value per feature, "
                f"got shape {tuple(x.shape)}."
            )
        mean = xp.mean(x, axis=axes, keepdims=True)
        centred = x - mean
        var = xp.mean(centred * centred, axis=axes, keepdims=True)  # biased, divides by m
        inv_std = 1.0 / xp.sqrt(var + eps)
        xhat = centred * inv_std
        if state is not None:
            mom = state["momentum"]
            batch_mean = xp.reshape(mean, (features,))
            unbiased_var = xp.reshape(var, (features,)) * (m / (m - 1))
            # New arrays, bound to the same keys: the old arrays are left untouched.
            state["running_mean"] = mom * state["running_mean"] + (1 - mom) * batch_mean
            state["running_var"] = mom * state["running_var"] + (1 - mom) * unbiased_var
    else:
        mean = xp.reshape(state["running_mean"], bshape)
        var = xp.reshape(state["running_var"], bshape)
        inv_std = 1.0 / xp.sqrt(var + eps)
        xhat = (x - mean) * inv_std

    g = xp.reshape(gamma, bshape)
    out = g * xhat + xp.reshape(beta, bshape)
    cache = {
        "xhat": xhat,
        "inv_std": inv_std,
        "gamma": g,
        "axes": axes,
        "m": m,
        "training": bool(training),
    }
    return out, cache


def batchnorm_backward(dout, cache):
    """Gradients of batch normalization: ``(dx, dgamma, dbeta)``.

    ``dgamma = sum(dout * xhat)`` and ``dbeta = sum(dout)``, summed over the
    same axes as the statistics.

    Training mode: ``mean`` and ``var`` depend on every element of the batch,
    so each ``x`` also moves the others' outputs. Pushing the gradient through
    ``xhat``, ``var`` and ``mean`` and collecting terms gives the compact form

        dx = gamma * inv_std / m * (m * dout - dbeta - xhat * dgamma)

    (the two subtracted terms remove the parts of ``dout`` that a shift or a
    rescaling of the batch cannot change). Eval mode: the statistics are
    constants, the layer is an affine map, and ``dx = dout * gamma * inv_std``.
    """
    xhat = cache["xhat"]
    require_shape("dout", dout, tuple(xhat.shape))
    xp = namespace(dout, xhat)
    axes, g, inv_std = cache["axes"], cache["gamma"], cache["inv_std"]
    features = g.shape[1]

    dbeta = xp.sum(dout, axis=axes, keepdims=True)
    dgamma = xp.sum(dout * xhat, axis=axes, keepdims=True)
    if cache["training"]:
        m = cache["m"]
        dx = (g * inv_std / m) * (m * dout - dbeta - xhat * dgamma)
    else:
        dx = dout * g * inv_std
    return dx, xp.reshape(dgamma, (features,)), xp.reshape(dbeta, (features,))
