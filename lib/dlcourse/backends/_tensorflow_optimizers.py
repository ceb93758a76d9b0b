"""SGD, RMSprop and Adam on ``tf.Variable`` weights, for the ``tensorflow`` backend.

Keras has optimizers of its own, but several of them place ``epsilon``
differently from ``dlcourse.functional`` (and PyTorch). These are the course's
formulas, line for line, written with TensorFlow ops so that they run inside
the ``tf.function`` of the train step. Like ``torch.optim``, they update the
weights in place (``assign_sub``): a ``tf.Variable`` is meant to be changed.

    rule = variable_rule(optimizer, params, tf)   # creates the slots (velocities...)
    rule.apply(params, grads, learning_rate)      # inside tf.function: one step

``learning_rate`` is a tensor argument, so a schedule changes it without a retrace.
"""

__all__ = ["variable_rule"]


def variable_rule(optimizer, params, tf):
    """The update rule of ``optimizer`` (dlcourse.nn's SGD, RMSprop or Adam) for ``params``."""
    rules = {"sgd": _SGD, "rmsprop": _RMSprop, "adam": _Adam}
    if optimizer.kind not in rules:
        raise NotImplementedError(
            f"the tensorflow backend has no update rule for {type(optimizer).__name__}; "
            "use SGD, RMSprop or Adam."
        )
    return rules[optimizer.kind](optimizer.get_config(), params, tf)


def _slots(tf, params):
    """One zero variable shaped like each weight (velocities, running averages)."""
    return [tf.Variable(tf.zeros_like(p), trainable=False) for p in params]


class _SGD:
    def __init__(self, config, params, tf):
        self.tf = tf
        self.momentum, self.nesterov = config["momentum"], config["nesterov"]
        self.weight_decay = config["weight_decay"]
        self.velocity = _slots(tf, params) if self.momentum else []

    def apply(self, params, grads, lr):
        for i, (p, g) in enumerate(zip(params, grads)):
            lr_p = self.tf.cast(lr, p.dtype)
            if self.weight_decay:
                g = g + self.weight_decay * p
            if not self.momentum:
                p.assign_sub(lr_p * g)
                continue
            # velocity starts at 0, so the first step is plain gradient descent (as PyTorch)
            v = self.velocity[i]
            v.assign(self.momentum * v + g)
            step = g + self.momentum * v if self.nesterov else v
            p.assign_sub(lr_p * step)


class _RMSprop:
    def __init__(self, config, params, tf):
        self.tf = tf
        self.rho, self.eps = config["rho"], config["epsilon"]
        self.square_avg = _slots(tf, params)

    def apply(self, params, grads, lr):
        for p, g, s in zip(params, grads, self.square_avg):
            s.assign(self.rho * s + (1 - self.rho) * (g * g))
            # eps outside the square root, as dlcourse.functional and PyTorch do
            p.assign_sub(self.tf.cast(lr, p.dtype) * g / (self.tf.sqrt(s) + self.eps))


class _Adam:
    def __init__(self, config, params, tf):
        self.tf = tf
        self.beta1, self.beta2 = config["beta_1"], config["beta_2"]
        self.eps = config["epsilon"]
        self.m, self.v = _slots(tf, params), _slots(tf, params)
        self.t = tf.Variable(0, dtype=tf.int64, trainable=False)

    def apply(self, params, grads, lr):
        tf = self.tf
        self.t.assign_add(1)
        for p, g, m, v in zip(params, grads, self.m, self.v):
            m.assign(self.beta1 * m + (1 - self.beta1) * g)
            v.assign(self.beta2 * v + (1 - self.beta2) * (g * g))
            # bias corrections folded into the step size and the denominator, as in
            # dlcourse.functional.Adam; computed in the weight's own float type
            t = tf.cast(self.t, p.dtype)
            step_size = tf.cast(lr, p.dtype) / (1 - self.beta1**t)
            denom = tf.sqrt(v) / tf.sqrt(1 - self.beta2**t) + self.eps
            p.assign_sub(step_size * m / denom)
