"""The ``manual`` backend: every derivative is written by hand.

The forward pass runs each layer's ``forward`` (which keeps what its backward
needs), the loss returns its value and its gradient, and the gradient then
travels back through each layer's ``backward``, last layer first (through a
Functional model's graph in reverse topological order, see ``BackwardChain``). All the math
is ``dlcourse.functional``: the same code a student wrote in the early chapters.

Arrays are NumPy arrays by default. ``set_backend("manual", array="torch",
device="cuda")`` keeps the very same code but hands it PyTorch tensors on a GPU:
``dlcourse.functional`` takes its array library from its inputs, so nothing
else changes (no autograd is involved; PyTorch is only the array library).
"""

import contextlib
import math

from array_api_compat import device as device_of

from dlcourse import functional as F
from dlcourse.backends.base import Backend

__all__ = ["ManualBackend", "create"]

_ARRAYS = ("numpy", "torch")


def create(array="numpy", device=None):
    return ManualBackend(array=array, device=device)


class ManualBackend(Backend):
    """Hand-written gradients over NumPy (or PyTorch tensors used as plain arrays)."""

    name = "manual"
    needs_backward = True

    def __init__(self, array="numpy", device=None):
        super().__init__(array=array, device=device)
        if array not in _ARRAYS:
            raise ValueError(f"array: expected one of {_ARRAYS}, got {array!r}.")
        self.array = array
        if array == "numpy":
            if device not in (None, "cpu"):
                raise ValueError(
                    f"device={device!r}: NumPy arrays live on the CPU; for a GPU use "
                    f'set_backend("manual", array="torch", device={device!r}).'
                )
            import array_api_compat.numpy as xp
            import numpy as np

            self._np, self.xp, self.device = np, xp, None
        else:
            import importlib.util

            if importlib.util.find_spec("torch") is None:
                raise ImportError(
                    'array="torch" needs PyTorch, which is not installed; '
                    'install it with: pip install "dlcourse[torch]"'
                )
            import array_api_compat.torch as xp
            import numpy as np
            import torch

            from dlcourse.backends._torch_device import resolve_device

            self._np, self.xp, self._torch = np, xp, torch
            self.device = resolve_device(torch, device)

    def describe(self):
        if self.array == "numpy":
            return "manual (numpy)"
        return f"manual (torch arrays on {self.device})"

    # ------------------------------------------------------------------ arrays
    def _dtype(self, name):
        return None if name is None else getattr(self.xp, str(name))

    def asarray(self, x, dtype=None):
        if self.array == "numpy":
            return self._np.asarray(x, dtype=dtype)
        torch = self._torch
        if isinstance(x, torch.Tensor):
            return x.to(device=self.device, dtype=self._dtype(dtype))
        return torch.as_tensor(self._np.asarray(x), dtype=self._dtype(dtype), device=self.device)

    def to_numpy(self, x):
        if self.array == "numpy":
            return self._np.asarray(x)
        return x.detach().cpu().numpy()

    def cast(self, x, dtype):
        return self.xp.astype(x, self._dtype(dtype))

    def variable(self, value, trainable=True):
        if self.array == "numpy":
            return self._np.array(value, copy=True)  # the optimizer writes into it
        return self._torch.tensor(value, device=self.device)

    def assign(self, variable, value):
        if self.array == "numpy":
            variable[...] = value
        else:
            variable.copy_(self._torch.as_tensor(value))
        return variable

    def seed_state(self, seed):
        if self.array == "numpy":
            return self._np.random.default_rng(seed)
        generator = self._torch.Generator(device=self.device)
        generator.manual_seed(int(seed))
        return generator

    def batch_index(self, index):
        if self.array == "numpy":
            return index
        return self._torch.from_numpy(index).to(self.device)

    def take(self, x, index):
        if self.array == "numpy":
            return self._np.take(x, index, axis=0)  # a third faster than x[index]
        return x[index]

    # ---------------------------------------------------------------------- ops
    def _like(self, value, x):
        """A Python number as a 0-d array of x's dtype and device (torch.maximum needs one)."""
        if isinstance(value, (int, float)):
            return self.xp.asarray(value, dtype=x.dtype, device=device_of(x))
        return value

    def exp(self, x):
        return self.xp.exp(x)

    def log(self, x):
        return self.xp.log(x)

    def sqrt(self, x):
        return self.xp.sqrt(x)

    def abs(self, x):
        return self.xp.abs(x)

    def maximum(self, a, b):
        return self.xp.maximum(a, self._like(b, a))

    def minimum(self, a, b):
        return self.xp.minimum(a, self._like(b, a))

    def where(self, condition, a, b):
        return self.xp.where(condition, a, b)

    def clip(self, x, low, high):
        return self.xp.clip(x, low, high)

    def relu(self, x):
        return F.relu_forward(x)[0]

    def sigmoid(self, x):
        return F.sigmoid_forward(x)[0]

    def tanh(self, x):
        return self.xp.tanh(x)

    def softmax(self, x, axis=-1):
        return F.softmax_forward(x, axis)[0]

    def sum(self, x, axis=None, keepdims=False):
        return self.xp.sum(x, axis=axis, keepdims=keepdims)

    def mean(self, x, axis=None, keepdims=False):
        return self.xp.mean(x, axis=axis, keepdims=keepdims)

    def max(self, x, axis=None, keepdims=False):
        return self.xp.max(x, axis=axis, keepdims=keepdims)

    def argmax(self, x, axis=-1):
        return self.xp.argmax(x, axis=axis)

    def reshape(self, x, shape):
        return self.xp.reshape(x, tuple(shape))

    def transpose(self, x, axes=None):
        axes = tuple(reversed(range(x.ndim))) if axes is None else tuple(axes)
        return self.xp.permute_dims(x, axes)

    def concatenate(self, xs, axis=-1):
        return self.xp.concat(xs, axis=axis)

    def take_along_axis(self, x, indices, axis):
        return self.xp.take_along_axis(x, indices, axis=axis)

    def matmul(self, a, b):
        return self.xp.matmul(a, b)

    def dense(self, x, kernel, bias=None):
        if bias is None:
            return x @ kernel
        if x.ndim != 2:  # (..., in): the hand-written dense takes rows only
            return x @ kernel + bias
        return F.dense_forward(x, kernel, bias)[0]

    def embedding(self, ids, table):
        return F.embedding_forward(ids, table)[0]

    def conv2d(self, x, kernel, bias=None, stride=1, padding=0):
        if bias is None:
            bias = self.xp.zeros(kernel.shape[0], dtype=kernel.dtype, device=device_of(kernel))
        return F.conv2d_forward(x, kernel, bias, stride, padding)[0]

    def maxpool2d(self, x, size=2, stride=None):
        return F.maxpool2d_forward(x, size, stride)[0]

    def dropout(self, x, rate, seed_state):
        return F.dropout_forward(x, rate, True, rng=seed_state)[0], seed_state

    def stop_gradient(self, x):
        return x  # nothing records gradients here

    # ----------------------------------------------------------------- training
    def make_train_step(self, model, loss, optimizer):
        chain = BackwardChain(model, loss)
        params = model.trainable_weights
        rule = optimizer.update_rule()

        def step(x, y):
            y_pred = chain.forward(x, True)
            value, dy_pred = loss.value_and_grad(y, y_pred)
            value = float(value)
            if math.isfinite(value):  # a non-finite loss would wreck every weight
                grads = chain.backward(dy_pred)
                rule.lr = optimizer.learning_rate
                with _quiet_torch_autograd(self):
                    rule.step(params, grads)
            return value, y_pred

        return step

    def loss_and_gradients(self, model, loss, x, y, training=True):
        chain = BackwardChain(model, loss)
        y_pred = chain.forward(x, training)
        value, dy_pred = loss.value_and_grad(y, y_pred)
        return float(value), chain.backward(dy_pred)


def _quiet_torch_autograd(backend):
    """PyTorch tensors used as plain arrays never need autograd's bookkeeping."""
    if backend.array == "torch":
        return backend._torch.no_grad()
    return contextlib.nullcontext()


class BackwardChain:
    """Backpropagation through a model with the layers' hand-written ``backward``.

    The model runs its own ``forward`` (each layer keeps what its backward
    needs) and ``backward``: a Sequential goes through its layers last to
    first, a Functional model through its graph in reverse topological order,
    a subclassed model calls its own ``backward``. ``model.prepare_backward()``
    checks first that every layer that needs a derivative has one. The model's
    input is data, which needs no gradient (``needs_input_grad = False``).
    Each weight's gradient is then read from the layer that made it
    (``layer.grads[name]``), in ``model.trainable_weights`` order.
    """

    def __init__(self, model, loss):
        from dlcourse.nn.errors import missing_loss_gradient_error

        self.model = model
        model.needs_input_grad = False
        model.prepare_backward()
        if not hasattr(loss, "value_and_grad"):
            raise missing_loss_gradient_error(loss)
        self.slots = model.weight_slots()
        self.weights = model.trainable_weights

    def forward(self, x, training):
        return self.model.forward(x, training)

    def backward(self, dout):
        self.model.backward(dout)
        grads = []
        for (layer, name), weight in zip(self.slots, self.weights):
            grad = layer.grads.get(name)
            if grad is None or tuple(grad.shape) != tuple(weight.shape):
                from dlcourse.nn.errors import bad_gradient_error

                raise bad_gradient_error(layer, name, weight, grad)
            grads.append(grad)
        return grads
