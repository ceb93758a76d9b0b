"""Optimizers: the update rule that turns gradients into new weights.

These objects only hold the rule's name and hyperparameters; each backend runs
the rule its own way (``manual`` with ``dlcourse.functional``'s SGD/RMSProp/Adam,
``torch`` with ``torch.optim``). The formulas are the ones written out in
``dlcourse.functional.optimizers``, which match PyTorch's step for step, so
every backend takes the same steps.

``learning_rate`` may change during training (schedules and callbacks assign
it); backends read it at every step.
"""

import numbers

from dlcourse import functional as F

__all__ = ["SGD", "Adam", "Optimizer", "RMSprop", "get"]


def _positive(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
        raise ValueError(f"{name}: expected a positive number, got {value!r}.")
    return float(value)


class Optimizer:
    """Base class. ``kind`` names the rule ("sgd", "rmsprop", "adam") for the backends."""

    kind = None

    def __init__(self, learning_rate):
        self.learning_rate = _positive("learning_rate", learning_rate)

    def get_config(self):
        """Every hyperparameter, by the constructor's argument names."""
        raise NotImplementedError

    def update_rule(self):
        """The hand-written rule from ``dlcourse.functional`` (used by ``manual``)."""
        raise NotImplementedError

    def copy(self):
        """A fresh optimizer with the same hyperparameters (and no state)."""
        return type(self)(**self.get_config())

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """Gradient descent, with optional (Nesterov) momentum and L2 weight decay.

    ``velocity = momentum * velocity + grad``; ``w -= learning_rate * velocity``.
    """

    kind = "sgd"

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=0.0):
        super().__init__(learning_rate)
        # the hand-written rule checks the ranges and says what is wrong
        self._rule_args = (float(momentum), bool(nesterov), float(weight_decay))
        self.update_rule()
        self.momentum, self.nesterov, self.weight_decay = self._rule_args

    def get_config(self):
        return {
            "learning_rate": self.learning_rate,
            "momentum": self.momentum,
            "nesterov": self.nesterov,
            "weight_decay": self.weight_decay,
        }

    def update_rule(self):
        momentum, nesterov, weight_decay = self._rule_args
        return F.SGD(self.learning_rate, momentum, nesterov, weight_decay)


class RMSprop(Optimizer):
    """Steps divided by a running root-mean-square of the gradient.

    ``s = rho * s + (1 - rho) * grad**2``; ``w -= learning_rate * grad / (sqrt(s) + epsilon)``.
    """

    kind = "rmsprop"

    def __init__(self, learning_rate=0.001, rho=0.9, epsilon=1e-7):
        super().__init__(learning_rate)
        self.rho, self.epsilon = float(rho), float(epsilon)
        self.update_rule()

    def get_config(self):
        return {"learning_rate": self.learning_rate, "rho": self.rho, "epsilon": self.epsilon}

    def update_rule(self):
        return F.RMSProp(self.learning_rate, rho=self.rho, eps=self.epsilon)


class Adam(Optimizer):
    """Momentum plus RMSprop, both corrected for starting at zero (Kingma & Ba, 2015)."""

    kind = "adam"

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
        super().__init__(learning_rate)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)
        self.update_rule()

    def get_config(self):
        return {
            "learning_rate": self.learning_rate,
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
        }

    def update_rule(self):
        return F.Adam(self.learning_rate, self.beta_1, self.beta_2, self.epsilon)


OPTIMIZERS = {"sgd": SGD, "rmsprop": RMSprop, "adam": Adam}


def get(optimizer):
    """An Optimizer from a name ("sgd", "rmsprop", "adam": default settings) or an Optimizer."""
    if isinstance(optimizer, Optimizer):
        return optimizer
    if isinstance(optimizer, str) and optimizer.lower() in OPTIMIZERS:
        return OPTIMIZERS[optimizer.lower()]()
    known = ", ".join(OPTIMIZERS)
    raise ValueError(
        f"optimizer: unknown {optimizer!r}; choose one of: {known}, or pass an optimizer "
        "object such as dlcourse.nn.optimizers.Adam(learning_rate=1e-3)."
    )


def from_config(class_name, config):
    classes = {cls.__name__: cls for cls in OPTIMIZERS.values()}
    if class_name not in classes:
        raise ValueError(f"cannot rebuild optimizer {class_name!r}.")
    return classes[class_name](**config)
