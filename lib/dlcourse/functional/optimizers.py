"""Update rules by hand: SGD (with momentum, Nesterov, weight decay), RMSProp, Adam.

Each rule is a small class whose state is an ordinary dict you can print:

    opt = Adam(lr=1e-3)
    state = opt.init_state(w)        # {"m": zeros, "v": zeros, "t": 0}
    opt.update(w, dw, state)         # one step for one parameter, in place
    opt.step([w, b], [dw, db])       # one step for several; states kept in opt.states

In place, on purpose
--------------------
Everything else in ``dlcourse.functional`` returns new arrays. An optimizer is
the exception: ``update`` writes the new values *into* ``param`` (and into the
arrays of ``state``), like ``torch.optim`` does. The model keeps holding the
same array objects, and no fresh parameter-sized array is allocated per step,
which on small networks is a large share of the training time. Only
augmented assignment (``v *= beta; v += g``) is used, which works on NumPy
arrays and PyTorch tensors alike. :func:`sgd_update` shows the pure,
allocate-a-new-array version of the simplest rule for comparison.

Every rule matches its PyTorch counterpart step for step (see each class).
"""

import contextlib
import math
import numbers

from dlcourse.functional._common import namespace, require_float, require_same_shape

__all__ = ["SGD", "RMSProp", "Adam", "sgd_update"]


def sgd_update(param, grad, lr):
    """Plain gradient descent as a pure function: returns ``param - lr * grad``.

    Nothing is modified; the caller rebinds the name (``w = sgd_update(w, dw, 0.1)``).
    """
    require_same_shape("grad", grad, "param", param)
    _check_positive("lr", lr)
    return param - lr * grad


def _check_positive(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
        raise ValueError(f"{name}: expected a positive number, got {value!r}.")
    return float(value)


def _check_unit_interval(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value < 1:
        raise ValueError(f"{name}: expected a number in [0, 1), got {value!r}.")
    return float(value)


def _check_non_negative(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value >= 0:
        raise ValueError(f"{name}: expected a number >= 0, got {value!r}.")
    return float(value)


def _no_autograd(param):
    """PyTorch refuses in-place writes to leaf tensors that require grad, unless
    autograd is switched off, as ``torch.optim`` does. NumPy needs nothing."""
    if type(param).__module__.startswith("torch"):
        import torch  # already imported: param is a tensor

        return torch.no_grad()
    return contextlib.nullcontext()


class _UpdateRule:
    """Shared machinery: argument checks and ``step`` over many parameters."""

    def __init__(self, lr):
        self.lr = _check_positive("lr", lr)
        self.states = {}  # key (list position or dict key) -> that parameter's state

    def init_state(self, param):
        """The state for one parameter before its first step (a dict)."""
        raise NotImplementedError

    def _apply(self, xp, param, grad, state):
        raise NotImplementedError

    def update(self, param, grad, state):
        """One step for one parameter: writes into ``param`` and ``state``, returns None."""
        require_float("param", param)  # an integer array cannot take a fractional step
        require_same_shape("grad", grad, "param", param)
        xp = namespace(param, grad)
        with _no_autograd(param):
            self._apply(xp, param, grad, state)

    def step(self, params, grads):
        """One step for every parameter.

        ``params`` and ``grads`` are both lists/tuples (matched by position) or
        both dicts (matched by key). Each parameter's state is created on its
        first step and kept in ``self.states`` under the same position or key.
        """
        if isinstance(params, dict):
            if not isinstance(grads, dict) or set(grads) != set(params):
                got = sorted(grads) if isinstance(grads, dict) else type(grads).__name__
                raise ValueError(f"grads: expected a dict with keys {sorted(params)}, got {got}.")
            keys = list(params)
        elif isinstance(params, (list, tuple)):
            if not isinstance(grads, (list, tuple)) or len(grads) != len(params):
                got = len(grads) if isinstance(grads, (list, tuple)) else type(grads).__name__
                raise ValueError(
                    f"grads: expected a list of {len(params)} gradients (one per param), got {got}."
                )
            keys = range(len(params))
        else:
            raise ValueError(
                f"params: expected a list, tuple or dict of arrays, got {type(params).__name__}."
            )
        for key in keys:
            if key not in self.states:
                self.states[key] = self.init_state(params[key])
            try:
                self.update(params[key], grads[key], self.states[key])
            except ValueError as err:
                raise ValueError(f"params[{key!r}]: {err}") from err


class SGD(_UpdateRule):
    """Stochastic gradient descent, optionally with momentum, Nesterov momentum
    and L2 weight decay. Matches ``torch.optim.SGD`` (with ``dampening=0``)::

        g = grad + weight_decay * param
        velocity = momentum * velocity + g           (starts at 0, so step 1 gives g)
        param -= lr * (g + momentum * velocity)      if nesterov
        param -= lr * velocity                       otherwise

    With ``momentum=0`` this is ``param -= lr * g`` and the state is empty.
    """

    def __init__(self, lr, momentum=0.0, nesterov=False, weight_decay=0.0):
        super().__init__(lr)
        self.momentum = _check_unit_interval("momentum", momentum)
        self.weight_decay = _check_non_negative("weight_decay", weight_decay)
        if nesterov and self.momentum == 0:
            raise ValueError("nesterov: Nesterov momentum needs momentum > 0, got momentum=0.")
        self.nesterov = bool(nesterov)

    def init_state(self, param):
        if self.momentum == 0:
            return {}
        return {"velocity": namespace(param).zeros_like(param)}

    def _apply(self, xp, param, grad, state):
        g = grad + self.weight_decay * param if self.weight_decay else grad
        if self.momentum == 0:
            param -= self.lr * g
            return
        v = state["velocity"]
        v *= self.momentum
        v += g
        if self.nesterov:
            param -= self.lr * (g + self.momentum * v)
        else:
            param -= self.lr * v


class RMSProp(_UpdateRule):
    """RMSProp: divide each step by a running root-mean-square of the gradient.

    Matches ``torch.optim.RMSprop(lr, alpha=rho, eps=eps)`` (no momentum, not
    centred). ``eps`` is added *outside* the square root, as in PyTorch::

        square_avg = rho * square_avg + (1 - rho) * grad**2     (starts at 0)
        param -= lr * grad / (sqrt(square_avg) + eps)
    """

    def __init__(self, lr, rho=0.9, eps=1e-8):
        super().__init__(lr)
        self.rho = _check_unit_interval("rho", rho)
        self.eps = _check_non_negative("eps", eps)

    def init_state(self, param):
        return {"square_avg": namespace(param).zeros_like(param)}

    def _apply(self, xp, param, grad, state):
        s = state["square_avg"]
        s *= self.rho
        s += (1 - self.rho) * (grad * grad)
        param -= self.lr * grad / (xp.sqrt(s) + self.eps)


class Adam(_UpdateRule):
    """Adam: momentum on the gradient (``m``) and RMSProp on its square (``v``),
    both corrected for starting at zero. Matches ``torch.optim.Adam(lr,
    betas=(beta1, beta2), eps=eps)``::

        t += 1
        m = beta1 * m + (1 - beta1) * grad
        v = beta2 * v + (1 - beta2) * grad**2
        m_hat = m / (1 - beta1**t);  v_hat = v / (1 - beta2**t)   (bias correction)
        param -= lr * m_hat / (sqrt(v_hat) + eps)

    Without the correction the first steps would be far too small, because
    ``m`` and ``v`` start at 0 and need about ``1 / (1 - beta)`` steps to warm up.
    """

    def __init__(self, lr, beta1=0.9, beta2=0.999, eps=1e-8):
        super().__init__(lr)
        self.beta1 = _check_unit_interval("beta1", beta1)
        self.beta2 = _check_unit_interval("beta2", beta2)
        self.eps = _check_non_negative("eps", eps)

    def init_state(self, param):
        xp = namespace(param)
        return {"m": xp.zeros_like(param), "v": xp.zeros_like(param), "t": 0}

    def _apply(self, xp, param, grad, state):
        state["t"] += 1
        t = state["t"]
        m, v = state["m"], state["v"]
        m *= self.beta1
        m += (1 - self.beta1) * grad
        v *= self.beta2
        v += (1 - self.beta2) * (grad * grad)
        # The corrections are scalars: fold them into the step size and the
        # denominator instead of building m_hat and v_hat arrays.
        step_size = self.lr / (1 - self.beta1**t)
        denom = xp.sqrt(v) / math.sqrt(1 - self.beta2**t) + self.eps
        param -= step_size * m / denom
