"""The optimizers' update rules as symbolic expressions, for PyTensor's ``updates=``.

In Theano (and PyTensor) an optimizer is not an object that loops over
weights: it is a list of pairs ``(shared_variable, expression_for_its_new_value)``
handed to ``pytensor.function(..., updates=pairs)``. The compiled function
computes every expression from the *old* values, then writes them all at once.
The optimizer's own state (momentum's velocity, Adam's moments and step count)
lives in shared variables too, so it stays inside the compiled function
between calls.

The formulas are those of ``dlcourse.functional.optimizers`` (which match
PyTorch's), so every backend takes the same steps. PyTensor is imported inside
the functions (the backend has loaded it by then): importing this module stays light.
"""

import numpy as np

__all__ = ["optimizer_updates"]


def _slot(param, name):
    """A shared variable of zeros shaped like ``param``: one piece of optimizer state."""
    import pytensor

    value = param.get_value(borrow=True)
    return pytensor.shared(np.zeros_like(value), name=f"{param.name}/{name}", shape=value.shape)


def _sgd(config, params, grads, lr):
    momentum, nesterov, decay = config["momentum"], config["nesterov"], config["weight_decay"]
    pairs = []
    for p, g in zip(params, grads):
        if decay:
            g = g + decay * p
        if momentum == 0:
            pairs.append((p, p - lr * g))
            continue
        velocity = _slot(p, "velocity")
        new_velocity = momentum * velocity + g
        step = g + momentum * new_velocity if nesterov else new_velocity
        pairs += [(velocity, new_velocity), (p, p - lr * step)]
    return pairs


def _rmsprop(config, params, grads, lr):
    import pytensor.tensor as pt

    rho, eps = config["rho"], config["epsilon"]
    pairs = []
    for p, g in zip(params, grads):
        square_avg = _slot(p, "square_avg")
        new_avg = rho * square_avg + (1 - rho) * (g * g)
        pairs += [(square_avg, new_avg), (p, p - lr * g / (pt.sqrt(new_avg) + eps))]
    return pairs


def _adam(config, params, grads, lr):
    import pytensor
    import pytensor.tensor as pt

    beta1, beta2, eps = config["beta_1"], config["beta_2"], config["epsilon"]
    t = pytensor.shared(np.asarray(0.0), name="adam/t")  # steps taken, a float64 scalar
    new_t = t + 1
    # the bias corrections, folded into the step size and the denominator
    step_size = lr / (1 - beta1**new_t)
    correction = pt.sqrt(1 - beta2**new_t)
    pairs = [(t, new_t)]
    for p, g in zip(params, grads):
        m, v = _slot(p, "m"), _slot(p, "v")
        new_m = beta1 * m + (1 - beta1) * g
        new_v = beta2 * v + (1 - beta2) * (g * g)
        denom = pt.sqrt(new_v) / correction + eps
        pairs += [(m, new_m), (v, new_v), (p, p - step_size * new_m / denom)]
    return pairs


_RULES = {"sgd": _sgd, "rmsprop": _rmsprop, "adam": _adam}


def optimizer_updates(optimizer, params, grads, lr, apply):
    """``[(shared, new_value), ...]`` for one step of ``optimizer`` on ``params``.

    ``lr`` is a symbolic scalar (an input of the compiled function, so that
    schedules can change it); ``apply`` a symbolic boolean: where it is false
    every variable keeps its value (a step from a non-finite loss is skipped).
    New values are cast back to each variable's dtype (a float64 step count
    must not turn float32 weights into float64).
    """
    import pytensor.tensor as pt

    if optimizer.kind not in _RULES:
        raise NotImplementedError(
            f"the pytensor backend has no update rule for {type(optimizer).__name__}."
        )
    pairs = _RULES[optimizer.kind](optimizer.get_config(), params, grads, lr)
    return [(var, pt.cast(pt.switch(apply, new, var), var.dtype)) for var, new in pairs]
