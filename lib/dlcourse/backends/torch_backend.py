"""The ``torch`` backend: PyTorch tensors, and derivatives from ``torch.autograd``.

Weights are leaf tensors with ``requires_grad=True`` on the chosen device (CUDA
or Apple's MPS when present, else the CPU). The train step is the loop every
PyTorch tutorial writes: clear the gradients, run the layers, ``backward()``,
``optimizer.step()``. The optimizers are ``torch.optim``'s own, whose update
rules are the ones ``dlcourse.functional`` writes by hand. Where PyTorch has a
fused routine for the same math (``addmm`` for a dense layer, ``cross_entropy``
for softmax + log-likelihood) the op uses it: same numbers, less overhead.
Whole layers too: an LSTM, GRU or SimpleRNN runs as ``torch.lstm``,
``torch.gru`` or ``torch.rnn_tanh`` (every step in C++), attention as
``scaled_dot_product_attention``, layer norm as ``layer_norm`` (see
``_torch_fused``), with the layers' own weights.

PyTorch is imported when the backend is created, not when this module is.
"""

import math

from dlcourse.backends import _torch_fused as fused
from dlcourse.backends.base import Backend

__all__ = ["TorchBackend", "create"]

torch = None  # bound on first use by _import_torch(), so importing this module stays light
F = None


def _import_torch():
    global torch, F
    if torch is None:
        import torch as _torch
        import torch.nn.functional as _functional

        torch, F = _torch, _functional


def create(device=None):
    return TorchBackend(device=device)


def _dims(axis):
    return tuple(axis) if isinstance(axis, (tuple, list)) else axis


class TorchBackend(Backend):
    """PyTorch tensors and torch.autograd."""

    name = "torch"

    def __init__(self, device=None):
        super().__init__(device=device)
        _import_torch()
        from dlcourse.backends._torch_device import resolve_device

        self.device = resolve_device(torch, device)

    def describe(self):
        return f"torch ({self.device})"

    # ------------------------------------------------------------------ arrays
    @staticmethod
    def _dtype(name):
        return None if name is None else getattr(torch, str(name))

    def asarray(self, x, dtype=None):
        if isinstance(x, torch.Tensor):
            return x.to(device=self.device, dtype=self._dtype(dtype))
        import numpy as np

        return torch.as_tensor(np.asarray(x), dtype=self._dtype(dtype), device=self.device)

    def to_numpy(self, x):
        if isinstance(x, torch.Tensor):
            return x.detach().cpu().numpy()
        import numpy as np

        return np.asarray(x)

    def cast(self, x, dtype):
        return x.to(self._dtype(dtype))

    def variable(self, value, trainable=True):
        return torch.tensor(value, device=self.device).requires_grad_(trainable)

    def assign(self, variable, value):
        with torch.no_grad():
            variable.copy_(torch.as_tensor(value))
        return variable

    def seed_state(self, seed):
        generator = torch.Generator(device=self.device)
        generator.manual_seed(int(seed))
        return generator

    def batch_index(self, index):
        return torch.from_numpy(index).to(self.device)

    def take(self, x, index):
        return torch.index_select(x, 0, index)

    def no_grad(self):
        return torch.no_grad()

    # ---------------------------------------------------------------------- ops
    def exp(self, x):
        return torch.exp(x)

    def log(self, x):
        return torch.log(x)

    def sqrt(self, x):
        return torch.sqrt(x)

    def abs(self, x):
        return torch.abs(x)

    def maximum(self, a, b):
        if isinstance(b, (int, float)):
            return torch.clamp(a, min=b)
        return torch.maximum(a, b)

    def minimum(self, a, b):
        if isinstance(b, (int, float)):
            return torch.clamp(a, max=b)
        return torch.minimum(a, b)

    def where(self, condition, a, b):
        return torch.where(condition, a, b)

    def clip(self, x, low, high):
        return torch.clamp(x, low, high)

    def relu(self, x):
        return torch.relu(x)

    def sigmoid(self, x):
        return torch.sigmoid(x)

    def tanh(self, x):
        return torch.tanh(x)

    def softmax(self, x, axis=-1):
        return torch.softmax(x, axis)

    def log_softmax(self, x, axis=-1):
        return torch.log_softmax(x, axis)

    def sum(self, x, axis=None, keepdims=False):
        if axis is None:
            out = torch.sum(x)
            return out.reshape((1,) * x.ndim) if keepdims else out
        return torch.sum(x, dim=_dims(axis), keepdim=keepdims)

    def mean(self, x, axis=None, keepdims=False):
        if axis is None:
            out = torch.mean(x)
            return out.reshape((1,) * x.ndim) if keepdims else out
        return torch.mean(x, dim=_dims(axis), keepdim=keepdims)

    def max(self, x, axis=None, keepdims=False):
        if axis is None:
            out = torch.amax(x)
            return out.reshape((1,) * x.ndim) if keepdims else out
        return torch.amax(x, dim=_dims(axis), keepdim=keepdims)

    def argmax(self, x, axis=-1):
        return torch.argmax(x, dim=axis)

    def reshape(self, x, shape):
        return torch.reshape(x, tuple(shape))

    def transpose(self, x, axes=None):
        axes = tuple(reversed(range(x.ndim))) if axes is None else tuple(axes)
        return x.permute(axes)

    def concatenate(self, xs, axis=-1):
        return torch.cat(xs, dim=axis)

    def take_along_axis(self, x, indices, axis):
        return torch.take_along_dim(x, indices, dim=axis)

    def matmul(self, a, b):
        return torch.matmul(a, b)

    def dense(self, x, kernel, bias=None):
        if bias is not None and x.ndim == 2:
            return torch.addmm(bias, x, kernel)  # one fused kernel for x @ w + b
        if bias is not None:  # sequences (batch, steps, features): addmm on the rows too
            return F.linear(x, kernel.t(), bias)
        return super().dense(x, kernel, bias)

    def scan(self, step, init, xs):
        # torch.unbind, not xs[t]: the backward of xs[t] fills a zero tensor the size
        # of all of xs at every step (T^2 work); unbind's backward is one stack
        carry, history = tuple(init), []
        for x_t in torch.unbind(xs, 0):
            carry = tuple(step(carry, x_t))
            history.append(carry)
        return tuple(torch.stack([c[k] for c in history], 0) for k in range(len(carry)))

    def fused_recurrence(self, kind, x, states, kernel, recurrent_kernel, bias):
        # torch.lstm & co.: every step, forward and backward, in C++ (no Python loop)
        return fused.recurrence(kind, x, states, kernel, recurrent_kernel, bias)

    def fused_attention(self, q, k, v, scale, mask=None):
        return fused.attention(q, k, v, scale, mask)

    def fused_layer_norm(self, x, gamma, beta, epsilon):
        return fused.layer_norm(x, gamma, beta, epsilon)

    def embedding(self, ids, table):
        return F.embedding(ids, table)

    def conv2d(self, x, kernel, bias=None, stride=1, padding=0):
        return F.conv2d(x, kernel, bias, stride=stride, padding=padding)

    def maxpool2d(self, x, size=2, stride=None):
        return F.max_pool2d(x, size, stride if stride is not None else size)

    def dropout(self, x, rate, seed_state):
        keep = torch.empty_like(x, requires_grad=False).bernoulli_(1 - rate, generator=seed_state)
        return x * (keep * (1.0 / (1 - rate))), seed_state

    def stop_gradient(self, x):
        return x.detach()

    def sparse_categorical_crossentropy(self, labels, y_pred, from_logits=False, eps=1e-7):
        if from_logits:
            return F.cross_entropy(y_pred, labels)
        return super().sparse_categorical_crossentropy(labels, y_pred, False, eps)

    def binary_crossentropy(self, targets, y_pred, from_logits=False, eps=1e-7):
        if from_logits:
            return F.binary_cross_entropy_with_logits(y_pred, targets)
        return super().binary_crossentropy(targets, y_pred, False, eps)

    def mean_squared_error(self, targets, y_pred):
        return F.mse_loss(y_pred, targets)

    # ----------------------------------------------------------------- training
    def _optimizer(self, optimizer, params):
        """The torch.optim optimizer with the same update rule and hyperparameters."""
        config = optimizer.get_config()
        kind, lr = optimizer.kind, optimizer.learning_rate
        if kind == "sgd":
            return torch.optim.SGD(
                params,
                lr=lr,
                momentum=config["momentum"],
                nesterov=config["nesterov"],
                weight_decay=config["weight_decay"],
            )
        if kind == "rmsprop":
            return torch.optim.RMSprop(params, lr=lr, alpha=config["rho"], eps=config["epsilon"])
        if kind == "adam":
            betas = (config["beta_1"], config["beta_2"])
            return torch.optim.Adam(params, lr=lr, betas=betas, eps=config["epsilon"])
        raise NotImplementedError(
            f"the torch backend has no counterpart for optimizer {type(optimizer).__name__}."
        )

    def make_train_step(self, model, loss, optimizer):
        params = model.trainable_weights
        opt = self._optimizer(optimizer, params)
        group = opt.param_groups[0]
        forward = model.call

        def step(x, y):
            for p in params:
                p.grad = None
            y_pred = forward(x, True)
            value = loss(y, y_pred)
            value.backward()
            number = value.item()
            if math.isfinite(number):  # a non-finite loss would wreck every weight
                group["lr"] = optimizer.learning_rate
                opt.step()
            return number, _detached(y_pred)

        return step

    def loss_and_gradients(self, model, loss, x, y, training=True):
        params = model.trainable_weights
        with torch.enable_grad():
            value = loss(y, model.call(x, training))
            grads = torch.autograd.grad(value, params, allow_unused=True)
        grads = [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]
        return value.item(), grads


def _detached(y_pred):
    """The predictions without their graph (each of them, for a model with several outputs)."""
    if isinstance(y_pred, (list, tuple)):
        return [p.detach() for p in y_pred]
    return y_pred.detach()
