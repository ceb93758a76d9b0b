"""Out-of-kernel checks of chapter 05, training by hand (see dlcourse.grading.spec).

Shuffled minibatches have no single right answer, so ``minibatch_indices`` is
judged by what must hold (batch sizes, every index once, a new order each
epoch, the same order for the same seed), which the driver measures in the
sandbox. The update rules run several steps and every step is compared; the
driver also counts how often an input was changed in place. ``train`` runs
with a reference ``minibatch_indices`` (so a mistake there is not punished
twice) and a counting SGD, and is compared with the same loop run here.
"""

import numpy as np

from dlcourse.grading import Exercise
from dlcourse.grading.spec import BY_HAND


def explained(sentences):
    """A compare that words the driver's yes/no answers and counts as sentences.

    ``sentences[key]`` says what a wrong value of ``key`` means and how to fix it;
    arrays without a sentence are compared by dlcourse.diagnose under their key's name.
    """

    def compare(got, expected, case):
        from dlcourse.diagnose import Diagnosis, diagnose

        where = ", ".join(f"{k}={v}" for k, v in case.items() if not isinstance(v, np.ndarray))
        for key, want in expected.items():
            if not isinstance(got, dict) or key not in got:
                message = f"the driver's answer has no {key!r}: the function returned too little"
                return Diagnosis(kind="none", name=key, message=message)
            have = np.asarray(got[key])
            if key in sentences:
                if have.shape == np.shape(want) and np.array_equal(have, want):
                    continue
                text = sentences[key].format(got=have.tolist(), want=np.asarray(want).tolist())
                return Diagnosis(kind="elementwise", name=key, message=f"With {where}: {text}")
            result = diagnose(have, np.asarray(want), name=key)
            if not result.ok:
                return result
        return None

    return compare


MINIBATCH_SENTENCES = {
    "batch_sizes": (
        "the batch sizes should be {want}, got {got}. Cut one shuffled order into consecutive "
        "slices of batch_size; only the last may be shorter, and none may be empty."
    ),
    "indices_sorted": (
        "every index in range(n) must appear exactly once per epoch. Sampling with replacement "
        "(rng.integers) repeats examples; use a permutation."
    ),
    "integer_batches": "each batch must be an integer index array, usable as x[idx].",
    "shuffled": "the indices come out in order 0, 1, 2, ...: shuffle them (rng.permutation(n)).",
    "new_order_each_epoch": (
        "two epochs with the same rng gave the same order: draw the shuffle from the rng you "
        "are given instead of creating a new generator inside the function."
    ),
    "same_seed_same_batches": (
        "the same seed gave different batches: use only the rng you are given for randomness "
        "(not np.random.* or a generator without a seed)."
    ),
}
MOMENTUM_IN_PLACE = {
    "inputs_changed_in_place": (
        "the update rule changed its inputs in place ({got} time(s)): compute new arrays "
        "(new_v = momentum * v + dw) instead of updating the caller's (v *= momentum, w -= ...)."
    ),
}
ADAM_IN_PLACE = {
    "inputs_changed_in_place": (
        "the update rule changed its inputs in place ({got} time(s)): compute new arrays "
        "(new_m = beta1 * m + ...) instead of updating the caller's (m *= beta1, w -= ...)."
    ),
}
TRAIN_SENTENCES = {
    "optimizer_init_calls": (
        "optimizer.init should be called once per parameter ({want}) before the first epoch; "
        "it was called {got} times."
    ),
    "optimizer_steps_per_parameter": (
        "each parameter should get one optimizer step per batch, every epoch ({want}); the "
        "steps per parameter were {got}. A short last batch counts too."
    ),
    "on_epoch_calls": (
        "on_epoch should be called once per epoch as on_epoch(epoch, history), epoch counting "
        "from 0 and history already holding that epoch's loss: expected (epoch, len(history)) "
        "pairs {want}, got {got}."
    ),
    "history_length": "history should hold one mean loss per epoch ({want}), got {got}.",
    "params_changed_in_place": (
        "train changed the caller's parameter arrays in place: store the optimizer's new "
        "arrays in the new dict instead of writing into the old ones."
    ),
}


MINIBATCH_DRIVER = """
def _epoch_summary(n, batch_size, seed):
    n, batch_size, seed = int(n), int(batch_size), int(seed)
    rng = np.random.default_rng(seed)
    first = [np.asarray(b) for b in minibatch_indices(n, batch_size, rng)]
    second = [np.asarray(b) for b in minibatch_indices(n, batch_size, rng)]
    again = [np.asarray(b) for b in minibatch_indices(n, batch_size, np.random.default_rng(seed))]
    order, next_order = np.concatenate(first), np.concatenate(second)
    tell = n >= 10  # with fewer examples a shuffle may well leave the order as it was
    return {
        "batch_sizes": np.array([len(b) for b in first]),
        "indices_sorted": np.sort(order),
        "integer_batches": float(all(np.issubdtype(b.dtype, np.integer) for b in first)),
        "shuffled": float(not tell or not np.array_equal(order, np.arange(n))),
        "new_order_each_epoch": float(not tell or not np.array_equal(order, next_order)),
        "same_seed_same_batches": float(np.array_equal(order, np.concatenate(again))),
    }
"""


def minibatch_inputs(rng):
    """Sizes that divide, that do not, a single short batch, one example per batch."""
    pairs = [(10, 4), (1438, 32), (300, 60), (7, 10), (5, 1), (50, 8)]
    return [{"n": n, "batch_size": b, "seed": int(rng.integers(0, 2**31))} for n, b in pairs]


def minibatch_expected(n, batch_size, seed):
    full, rest = divmod(n, batch_size)
    return {
        "batch_sizes": np.array([batch_size] * full + ([rest] if rest else [])),
        "indices_sorted": np.arange(n),
        "integer_batches": np.asarray(1.0),
        "shuffled": np.asarray(1.0),
        "new_order_each_epoch": np.asarray(1.0),
        "same_seed_same_batches": np.asarray(1.0),
    }


# Runs the rule for len(grads) steps from w0; copies taken before each call reveal
# in-place writes. Scalars arrive as 0-d arrays: Python floats keep float32 float32.
MOMENTUM_DRIVER = """
def _momentum_run(w0, grads, lr, momentum):
    lr, momentum = float(lr), float(momentum)
    w, velocity = w0.copy(), np.zeros_like(w0)
    ws, velocities, modified = [], [], 0
    for dw in grads:
        inputs = (w, dw.copy(), velocity)
        copies = [a.copy() for a in inputs]
        new_w, new_velocity = sgd_momentum_update(*inputs, lr, momentum)
        modified += sum(not np.array_equal(a, c) for a, c in zip(inputs, copies))
        ws.append(np.array(new_w))  # copies: later calls cannot edit what was recorded
        velocities.append(np.array(new_velocity))
        w, velocity = np.array(new_w), np.array(new_velocity)
    return {
        "new_w_each_step": np.stack(ws),
        "new_velocity_each_step": np.stack(velocities),
        "inputs_changed_in_place": modified,
    }
"""


def momentum_inputs(rng):
    cases = []
    for shape, steps, lr, momentum, dtype in [
        ((4, 3), 5, 0.1, 0.9, np.float64),
        ((7,), 3, 0.5, 0.0, np.float64),
        ((2, 3, 5), 8, 0.01, 0.5, np.float32),
    ]:
        cases.append(
            {
                "w0": rng.standard_normal(shape).astype(dtype),
                "grads": rng.standard_normal((steps, *shape)).astype(dtype),
                "lr": lr,
                "momentum": momentum,
            }
        )
    return cases


def momentum_expected(w0, grads, lr, momentum):
    """v = momentum * v + dw, then w = w - lr * v, in the parameters' dtype."""
    w, velocity = w0.copy(), np.zeros_like(w0)
    ws, velocities = [], []
    for dw in grads:
        velocity = momentum * velocity + dw
        w = w - lr * velocity
        ws.append(w)
        velocities.append(velocity)
    return {
        "new_w_each_step": np.stack(ws),
        "new_velocity_each_step": np.stack(velocities),
        "inputs_changed_in_place": np.asarray(0),
    }


ADAM_DRIVER = """
def _adam_run(w0, grads, lr, beta1, beta2, eps):
    lr, beta1, beta2, eps = float(lr), float(beta1), float(beta2), float(eps)
    w, m, v = w0.copy(), np.zeros_like(w0), np.zeros_like(w0)
    ws, ms, vs, modified = [], [], [], 0
    for t, dw in enumerate(grads, start=1):
        inputs = (w, dw.copy(), m, v)
        copies = [a.copy() for a in inputs]
        new_w, new_m, new_v = adam_update(*inputs, t, lr, beta1, beta2, eps)
        modified += sum(not np.array_equal(a, c) for a, c in zip(inputs, copies))
        ws.append(np.array(new_w))  # copies: later calls cannot edit what was recorded
        ms.append(np.array(new_m))
        vs.append(np.array(new_v))
        w, m, v = np.array(new_w), np.array(new_m), np.array(new_v)
    return {
        "new_w_each_step": np.stack(ws),
        "new_m_each_step": np.stack(ms),
        "new_v_each_step": np.stack(vs),
        "inputs_changed_in_place": modified,
    }
"""


def adam_inputs(rng):
    cases = []
    for shape, steps, lr, beta1, beta2, eps, dtype in [
        ((4, 3), 5, 0.01, 0.9, 0.999, 1e-8, np.float64),
        ((6,), 30, 0.05, 0.8, 0.95, 1e-6, np.float64),
        ((3, 2, 4), 6, 1e-3, 0.9, 0.999, 1e-8, np.float32),
    ]:
        grads = rng.standard_normal((steps, *shape))
        if steps > 10:  # gradients whose size changes by orders of magnitude from step to step
            grads *= 10.0 ** rng.integers(-3, 3, size=(steps,) + (1,) * len(shape))
        cases.append(
            {
                "w0": rng.standard_normal(shape).astype(dtype),
                "grads": grads.astype(dtype),
                "lr": lr,
                "beta1": beta1,
                "beta2": beta2,
                "eps": eps,
            }
        )
    # a zero gradient at t=1: eps outside the square root keeps the step at 0, not NaN
    cases.append(
        {
            "w0": np.ones(3),
            "grads": np.zeros((1, 3)),
            "lr": 0.1,
            "beta1": 0.9,
            "beta2": 0.999,
            "eps": 1e-8,
        }
    )
    # gradients near eps in size: there eps changes the step
    cases.append(
        {
            "w0": rng.standard_normal(5),
            "grads": 1e-4 * rng.standard_normal((4, 5)),
            "lr": 0.01,
            "beta1": 0.9,
            "beta2": 0.999,
            "eps": 1e-4,
        }
    )
    return cases


def adam_expected(w0, grads, lr, beta1, beta2, eps):
    """Adam with bias correction, t counted from 1, eps added outside the square root."""
    w, m, v = w0.copy(), np.zeros_like(w0), np.zeros_like(w0)
    ws, ms, vs = [], [], []
    for t, dw in enumerate(grads, start=1):
        m = beta1 * m + (1 - beta1) * dw
        v = beta2 * v + (1 - beta2) * (dw * dw)
        m_hat = m / (1 - beta1**t)
        v_hat = v / (1 - beta2**t)
        w = w - lr * m_hat / (np.sqrt(v_hat) + eps)
        ws.append(w)
        ms.append(m)
        vs.append(v)
    return {
        "new_w_each_step": np.stack(ws),
        "new_m_each_step": np.stack(ms),
        "new_v_each_step": np.stack(vs),
        "inputs_changed_in_place": np.asarray(0),
    }


# The reference shuffling replaces the student's (train calls the global name), and a
# plain SGD counts its steps per parameter. The history is compared as numbers only when
# batch_size divides n: with a short last batch, a mean of batch means is a fair reading too.
TRAIN_DRIVER = """
def minibatch_indices(n, batch_size, rng):
    order = rng.permutation(n)
    return [order[start : start + batch_size] for start in range(0, n, batch_size)]


class _CountingSGD:
    def __init__(self, lr):
        self.lr, self.inits, self.steps = lr, 0, []

    def init(self, w):
        self.inits += 1
        self.steps.append(0)
        return len(self.steps) - 1

    def step(self, w, dw, state):
        self.steps[state] += 1
        return w - self.lr * dw, state


def _train_run(w1, b1, w2, b2, x, y, epochs, batch_size, seed, lr):
    params = {"w1": w1, "b1": b1, "w2": w2, "b2": b2}
    copies = {name: p.copy() for name, p in params.items()}
    optimizer, calls = _CountingSGD(float(lr)), []
    trained, history = train(
        params, x, y, optimizer, int(epochs), int(batch_size), seed=int(seed),
        on_epoch=lambda epoch, history: calls.append((epoch, len(history))),
    )
    changed = sum(not np.array_equal(params[name], copies[name]) for name in params)
    result = {f"trained_{name}": trained[name] for name in ("w1", "b1", "w2", "b2")}
    result["optimizer_init_calls"] = float(optimizer.inits)
    result["optimizer_steps_per_parameter"] = np.array(optimizer.steps)
    result["on_epoch_calls"] = np.array(calls).reshape(-1, 2)
    result["history_length"] = float(len(history))
    result["params_changed_in_place"] = float(changed)
    if int(x.shape[0]) % int(batch_size) == 0:
        result["history"] = np.asarray(history, dtype=np.float64)
    return result
"""


def _reference_loss_and_gradients(params, x, y):
    """The chapter's two-layer MLP (dense, ReLU, dense, softmax cross-entropy)."""
    from dlcourse import functional as F

    h_pre, dense1 = F.dense_forward(x, params["w1"], params["b1"])
    h, relu = F.relu_forward(h_pre)
    logits, dense2 = F.dense_forward(h, params["w2"], params["b2"])
    loss, dlogits = F.softmax_cross_entropy(logits, y)
    dh, dw2, db2 = F.dense_backward(dlogits, dense2)
    _, dw1, db1 = F.dense_backward(F.relu_backward(dh, relu), dense1)
    return float(loss), {"w1": dw1, "b1": db1, "w2": dw2, "b2": db2}


def train_expected(w1, b1, w2, b2, x, y, epochs, batch_size, seed, lr):
    """The loop of the chapter with plain SGD, the same shuffles, one step per batch."""
    params = {"w1": w1, "b1": b1, "w2": w2, "b2": b2}
    rng = np.random.default_rng(seed)
    history = []
    batches = 0
    for _ in range(epochs):
        order = rng.permutation(len(x))
        total = 0.0
        for start in range(0, len(x), batch_size):
            idx = order[start : start + batch_size]
            loss, grads = _reference_loss_and_gradients(params, x[idx], y[idx])
            params = {name: p - lr * grads[name] for name, p in params.items()}
            total += loss * len(idx)
            batches += 1
        history.append(total / len(x))
    expected = {f"trained_{name}": params[name] for name in ("w1", "b1", "w2", "b2")}
    expected["optimizer_init_calls"] = np.asarray(4.0)
    expected["optimizer_steps_per_parameter"] = np.full(4, batches)
    expected["on_epoch_calls"] = np.array([(e, e + 1) for e in range(epochs)]).reshape(-1, 2)
    expected["history_length"] = np.asarray(float(epochs))
    expected["params_changed_in_place"] = np.asarray(0.0)
    if len(x) % batch_size == 0:
        expected["history"] = np.asarray(history, dtype=np.float64)
    return expected


def train_inputs(rng):
    """A short last batch, a batch size that divides n, one short batch; float32 and float64."""
    cases = []
    for n, d, h, c, epochs, batch_size, dtype in [
        (100, 12, 16, 4, 2, 32, np.float32),
        (96, 8, 10, 3, 3, 32, np.float64),
        (20, 5, 6, 3, 1, 50, np.float64),
    ]:
        cases.append(
            {
                "w1": (rng.standard_normal((d, h)) * np.sqrt(2 / d)).astype(dtype),
                "b1": np.zeros(h, dtype=dtype),
                "w2": (rng.standard_normal((h, c)) * np.sqrt(2 / h)).astype(dtype),
                "b2": np.zeros(c, dtype=dtype),
                "x": rng.standard_normal((n, d)).astype(dtype),
                "y": rng.integers(0, c, size=n),
                "epochs": epochs,
                "batch_size": batch_size,
                "seed": int(rng.integers(0, 2**31)),
                "lr": 0.1,
            }
        )
    return cases


EXERCISES = [
    Exercise(
        grade_id="check_minibatch_indices",
        forbid=BY_HAND,
        solution=("minibatch_indices",),
        call="_epoch_summary(n, batch_size, seed)",
        expected=minibatch_expected,
        inputs=minibatch_inputs,
        driver=MINIBATCH_DRIVER,
        compare=explained(MINIBATCH_SENTENCES),
    ),
    Exercise(
        grade_id="check_sgd_momentum_update",
        forbid=BY_HAND,
        solution=("sgd_momentum_update",),
        call="_momentum_run(w0, grads, lr, momentum)",
        expected=momentum_expected,
        inputs=momentum_inputs,
        hidden=("dlcourse.functional:SGD", "dlcourse.functional.optimizers:SGD"),
        driver=MOMENTUM_DRIVER,
        compare=explained(MOMENTUM_IN_PLACE),
    ),
    Exercise(
        grade_id="check_adam_update",
        forbid=BY_HAND,
        solution=("adam_update",),
        call="_adam_run(w0, grads, lr, beta1, beta2, eps)",
        expected=adam_expected,
        inputs=adam_inputs,
        hidden=("dlcourse.functional:Adam", "dlcourse.functional.optimizers:Adam"),
        driver=ADAM_DRIVER,
        compare=explained(ADAM_IN_PLACE),
    ),
    Exercise(
        grade_id="check_train",
        forbid=BY_HAND,
        solution=("train",),
        setup=("setup", "mlp_helpers", "optimizers"),
        call="_train_run(w1, b1, w2, b2, x, y, epochs, batch_size, seed, lr)",
        expected=train_expected,
        inputs=train_inputs,
        driver=TRAIN_DRIVER,
        compare=explained(TRAIN_SENTENCES),
    ),
]
