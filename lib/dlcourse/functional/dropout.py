"""Inverted dropout: forward and backward.

During training every unit is dropped (set to 0) with probability ``p`` and
every kept unit is multiplied by ``1 / (1 - p)``. The scaling keeps the expected
value of each unit unchanged, ``E[out] = (1 - p) * x / (1 - p) = x``, so at test
time dropout is simply the identity: no rescaling is needed at inference.

The backward pass multiplies the upstream gradient by the *same* scaled mask
that the forward pass used, which is why the mask is kept in the cache.
"""

import numbers

from dlcourse.functional._common import (
    device,
    namespace,
    require_array,
    require_float,
    require_shape,
)

__all__ = ["dropout_forward", "dropout_backward"]


def _check_p(p):
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0 <= p < 1:
        raise ValueError(
            f"p: expected a drop probability in [0, 1), got {p!r}. "
            "p = 1 would drop every unit and divide by zero when rescaling."
        )
    return float(p)


def _is_torch_generator(rng):
    return type(rng).__module__.startswith("torch") and type(rng).__name__ == "Generator"


def _keep_mask(x, p, rng):
    """A 0/1 mask of ``x``'s shape, dtype and device: 1 (keep) with probability ``1 - p``.

    ``rng`` may be a ``numpy.random.Generator``, an int seed (a NumPy generator
    is built from it), ``None`` (a fresh, unseeded NumPy generator) or, for
    PyTorch inputs, a ``torch.Generator``.
    """
    xp = namespace(x)
    shape = tuple(x.shape)
    if _is_torch_generator(rng):
        import torch  # already imported by whoever made the generator

        if not isinstance(x, torch.Tensor):
            raise ValueError(
                "rng: a torch.Generator only works with PyTorch tensors; "
                f"x is a {type(x).__name__}. Pass a numpy.random.Generator instead."
            )
        # A torch.Generator draws on its own device; move the mask to x's.
        u = torch.rand(shape, generator=rng, device=rng.device, dtype=torch.float64)
        return (u >= p).to(device=x.device, dtype=x.dtype)

    import numpy as np  # the mask comes from NumPy's generator, whatever x is

    if rng is None or isinstance(rng, numbers.Integral):
        rng = np.random.default_rng(rng)
    if not isinstance(rng, np.random.Generator):
        raise ValueError(
            "rng: expected a numpy.random.Generator (or an int seed, or a "
            f"torch.Generator for PyTorch tensors), got {type(rng).__name__}."
        )
    keep = rng.random(shape) >= p
    # Convert to x's library, dtype and device.
    return xp.asarray(keep, dtype=x.dtype, device=device(x))


def dropout_forward(x, p, training, rng=None):
    """Inverted dropout.

    Parameters
    ----------
    x : array of any shape (NumPy array or PyTorch tensor).
    p : float in [0, 1), the probability of *dropping* a unit.
    training : bool. In eval mode (``False``) dropout is the identity.
    rng : where the random mask comes from.
        - NumPy inputs: a ``numpy.random.Generator`` (or an int seed).
        - PyTorch inputs: a ``torch.Generator`` (the mask is drawn with
          ``torch.rand`` on the generator's device), or a
          ``numpy.random.Generator`` / int seed (the mask is drawn with NumPy and
          then moved to the tensor's device and dtype).
        - ``None``: a fresh, unseeded NumPy generator (not reproducible).
        The same generator state gives the same mask, so a seeded generator
        makes a training run reproducible.

    Returns
    -------
    out : array like ``x``. In training mode ``out = x * mask`` where ``mask``
        holds ``0`` (dropped, probability ``p``) or ``1 / (1 - p)`` (kept).
        In eval mode, or when ``p == 0``, ``out`` is ``x`` itself (not a copy).
    cache : dict with the scaled ``mask`` (``None`` when dropout is the identity).
    """
    require_float("x", x)
    p = _check_p(p)
    if not training or p == 0.0:
        return x, {"mask": None}
    mask = _keep_mask(x, p, rng) / (1.0 - p)
    return x * mask, {"mask": mask}


def dropout_backward(dout, cache):
    """Gradient of dropout: ``dx = dout * mask``, the mask of the forward pass.

    Dropped units get no gradient (they did not influence the output); kept
    units pass the gradient through, scaled by ``1 / (1 - p)`` like the forward.
    """
    require_array("dout", dout)
    mask = cache["mask"]
    if mask is None:
        return dout
    require_shape("dout", dout, tuple(mask.shape))
    return dout * mask
