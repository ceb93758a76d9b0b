"""The torch backend's fused layers: PyTorch's own routine for a whole layer.

``torch.lstm``, ``torch.gru`` and ``torch.rnn_tanh`` (what ``torch.nn.LSTM``,
``GRU`` and ``RNN`` call) run every step of a recurrence, forward and backward,
in C++; ``scaled_dot_product_attention`` and ``layer_norm`` do the same for
attention and layer norm. Each is fed the dlcourse layer's own weights, so
the math, and the gradient that reaches the weights, are the layer's. Each
function returns None for what its routine cannot do (then the layer runs its
general path, written with ops).

PyTorch is imported on the first call, not when this module is.
"""

from contextlib import contextmanager

import numpy as np

__all__ = ["attention", "attention_as_products", "layer_norm", "recurrence"]

torch = F = None  # bound by _import_torch() on first use, so importing this module stays light
_RECURRENCES = {"lstm": "lstm", "gru": "gru", "simple_rnn": "rnn_tanh"}  # torch.<name>
_ATTENTION_ROUTINE = [True]  # False inside attention_as_products()


@contextmanager
def attention_as_products():
    """Inside the block, attention runs as its matrix products (the general path).

    PyTorch's ``FlopCounterMode`` has no formula for the CPU kernel behind
    ``scaled_dot_product_attention`` and counts 0 for it; counted this way, every
    product of the attention is seen.
    """
    _ATTENTION_ROUTINE[0] = False
    try:
        yield
    finally:
        _ATTENTION_ROUTINE[0] = True


def _import_torch():
    global torch, F
    if torch is None:
        import torch as _torch
        import torch.nn.functional as _functional

        torch, F = _torch, _functional


def _fits(x, *others):
    """True when the routine takes these tensors: one floating dtype, one CPU or CUDA device
    (other devices and mixed dtypes keep the general path)."""
    if x.device.type not in ("cpu", "cuda") or not x.is_floating_point():
        return False
    return all(t.dtype == x.dtype and t.device == x.device for t in others)


def _keras_to_torch_gates(w, units):
    """A GRU's blocks of ``units`` columns from Keras's order z, r, h to PyTorch's r, z, n."""
    return torch.cat([w[..., units : 2 * units], w[..., :units], w[..., 2 * units :]], -1)


def recurrence(kind, x, states, kernel, recurrent_kernel, bias):
    """``(hs, finals)`` of the layer ``kind`` over x (batch, steps, features), or None."""
    _import_torch()
    if kind not in _RECURRENCES or not _fits(x, kernel, recurrent_kernel, bias, *(states or ())):
        return None
    units = recurrent_kernel.shape[0]
    if kind == "gru":  # two bias rows already: the input's and the recurrent product's
        kernel, recurrent_kernel, bias = (
            _keras_to_torch_gates(w, units) for w in (kernel, recurrent_kernel, bias)
        )
        biases = [bias[0], bias[1]]
    else:  # PyTorch adds a second bias to h @ recurrent_kernel: zeros add nothing
        biases = [bias, torch.zeros_like(bias)]
    # PyTorch's weights are (gates*units, in): the transposes are views, not copies
    params = [kernel.t(), recurrent_kernel.t(), *biases]
    if states is None:
        states = [x.new_zeros((x.shape[0], units))] * (2 if kind == "lstm" else 1)
    hx = [s.unsqueeze(0) for s in states]  # (layers=1, batch, units)
    # train=True only keeps what cuDNN's backward needs; there is no dropout (0.0)
    train = torch.is_grad_enabled()
    out = getattr(torch, _RECURRENCES[kind])(
        x, hx if kind == "lstm" else hx[0], params, True, 1, 0.0, train, False, True
    )
    return out[0], [s.squeeze(0) for s in out[1:]]


def _hides_a_whole_row(mask):
    return not bool(np.all(np.any(mask, axis=-1)))


def _is_causal(mask):
    """True for the lower triangle of ones (step t sees steps <= t), PyTorch's is_causal."""
    return bool(np.array_equal(mask, np.tri(*mask.shape, dtype=bool)))


def attention(q, k, v, scale, mask=None):
    """``softmax(q k^T * scale) v`` per head, or None (a row with no key: its NaN stays
    the general path's, as PyTorch's routines may give zeros there)."""
    _import_torch()
    if not _ATTENTION_ROUTINE[0] or not _fits(q, k, v):
        return None
    if mask is None:
        return F.scaled_dot_product_attention(q, k, v, scale=scale)
    if _hides_a_whole_row(mask):
        return None
    if _is_causal(mask):
        return F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=scale)
    allowed = torch.from_numpy(np.ascontiguousarray(mask)).to(q.device)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, scale=scale)


def layer_norm(x, gamma, beta, epsilon):
    """Layer norm over the last axis (gamma and beta may be None), or None."""
    _import_torch()
    if not _fits(x, *(w for w in (gamma, beta) if w is not None)):
        return None
    return F.layer_norm(x, (x.shape[-1],), gamma, beta, epsilon)
