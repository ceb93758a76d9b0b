"""SGD, RMSprop and Adam as pure functions, for the ``jax`` backend.

JAX arrays cannot be changed in place, so an update rule here does not write
into the weights as ``dlcourse.functional``'s optimizers do: it *returns* new
weights and a new optimizer state. The formulas are the same, line for line, so
the ``jax`` and ``manual`` backends take the same steps::

    init, update = pure_rule(optimizer)
    opt_state = init(params)                              # once
    params, opt_state = update(params, grads, opt_state, learning_rate)   # every step

``params`` and ``grads`` are lists of arrays; ``opt_state`` is a tuple of lists
(a "pytree" that ``jax.jit`` can take as an argument). The learning rate is an
argument, never baked in, so a schedule can change it without recompiling.
"""

__all__ = ["pure_rule"]


def pure_rule(optimizer):
    """``(init, update)`` for ``optimizer`` (an SGD, RMSprop or Adam from ``dlcourse.nn``)."""
    import jax.numpy as jnp

    config = optimizer.get_config()
    rules = {"sgd": _sgd, "rmsprop": _rmsprop, "adam": _adam}
    if optimizer.kind not in rules:
        raise NotImplementedError(
            f"the jax backend has no pure update rule for {type(optimizer).__name__}; "
            "use SGD, RMSprop or Adam."
        )
    return rules[optimizer.kind](jnp, config)


def _zeros(jnp, params):
    return [jnp.zeros_like(p) for p in params]


def _sgd(jnp, config):
    momentum, nesterov = config["momentum"], config["nesterov"]
    weight_decay = config["weight_decay"]

    def init(params):
        return (_zeros(jnp, params),) if momentum else ()

    def update(params, grads, state, lr):
        if weight_decay:
            grads = [g + weight_decay * p for p, g in zip(params, grads)]
        if not momentum:
            return [p - lr * g for p, g in zip(params, grads)], state
        # velocity starts at 0, so the first step is plain gradient descent (as PyTorch)
        velocity = [momentum * v + g for v, g in zip(state[0], grads)]
        if nesterov:
            steps = [g + momentum * v for g, v in zip(grads, velocity)]
        else:
            steps = velocity
        return [p - lr * s for p, s in zip(params, steps)], (velocity,)

    return init, update


def _rmsprop(jnp, config):
    rho, eps = config["rho"], config["epsilon"]

    def init(params):
        return (_zeros(jnp, params),)

    def update(params, grads, state, lr):
        square_avg = [rho * s + (1 - rho) * (g * g) for s, g in zip(state[0], grads)]
        # eps outside the square root, as dlcourse.functional and PyTorch do
        new = [p - lr * g / (jnp.sqrt(s) + eps) for p, g, s in zip(params, grads, square_avg)]
        return new, (square_avg,)

    return init, update


def _adam(jnp, config):
    beta1, beta2, eps = config["beta_1"], config["beta_2"], config["epsilon"]

    def init(params):
        return (_zeros(jnp, params), _zeros(jnp, params), jnp.zeros((), dtype=jnp.int32))

    def update(params, grads, state, lr):
        m, v, t = state
        t = t + 1
        m = [beta1 * mi + (1 - beta1) * g for mi, g in zip(m, grads)]
        v = [beta2 * vi + (1 - beta2) * (g * g) for vi, g in zip(v, grads)]
        new = []
        for p, mi, vi in zip(params, m, v):
            # bias corrections folded into the step size and the denominator, as in
            # dlcourse.functional.Adam; computed in the weight's own float type
            tt = t.astype(p.dtype)
            step_size = lr / (1 - beta1**tt)
            denom = jnp.sqrt(vi) / jnp.sqrt(1 - beta2**tt) + eps
            new.append(p - step_size * mi / denom)
        return new, (m, v, t)

    return init, update
