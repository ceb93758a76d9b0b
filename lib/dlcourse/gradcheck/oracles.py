"""Autodiff oracles: a hand-written backward against a framework's automatic derivatives.

Hand-written forwards are array-API code, so torch.autograd and jax.vjp can
differentiate the very same forward run on their own arrays. TensorFlow's
tensors are not array-API arrays, so its oracle differentiates a
``reference`` function written with TensorFlow operations.

At a kink (ReLU at exactly 0, a tie in a max) there is no derivative and each
framework picks its own subgradient, so compare at points away from kinks.

When the framework is not installed, the oracle returns a report with
``skipped=True`` and a note saying how to install it, instead of raising.
"""

import importlib.util

import numpy as np

from dlcourse.gradcheck.check import default_wrt, float64_inputs
from dlcourse.gradcheck.compare import analytic_gradients, call_kwargs, compare
from dlcourse.gradcheck.report import GradientReport


def _missing(framework, reference):
    """A skipped report when ``framework`` (also the name of its pip extra) is not installed."""
    if importlib.util.find_spec(framework) is None:
        return GradientReport(
            reference,
            skipped=True,
            note=f'{framework} is not installed; pip install "dlcourse[{framework}]".',
        )
    return None


def _report(reference, wrt, grads, expected, dtype, tol):
    arguments = tuple(
        compare(name, got, np.asarray(exp, dtype=np.float64), dtype, tol)
        for name, got, exp in zip(wrt, grads, expected)
    )
    return GradientReport(reference, arguments, dtype=dtype)


def check_against_torch(
    forward, backward, inputs, *, wrt=None, kwargs=None, dout=None, seed=0, tol=None
):
    """Compare ``backward`` with torch.autograd differentiating ``forward`` on float64 tensors."""
    skipped = _missing("torch", "torch.autograd")
    if skipped is not None:  # a skipped report is falsy, like a failed one
        return skipped
    import torch

    wrt = default_wrt(inputs) if wrt is None else tuple(wrt)
    grads, dout64, dtype = analytic_gradients(forward, backward, inputs, wrt, kwargs, dout, seed)
    tensors = {
        k: torch.as_tensor(v) if isinstance(v, np.ndarray) else v
        for k, v in float64_inputs(inputs).items()
    }
    for name in wrt:
        tensors[name].requires_grad_(True)
    out = forward(**tensors, **call_kwargs(kwargs))[0]
    found = torch.autograd.grad(
        out, [tensors[n] for n in wrt], torch.as_tensor(dout64), allow_unused=True
    )
    expected = [
        np.zeros(tuple(tensors[n].shape)) if g is None else g.detach().numpy()
        for n, g in zip(wrt, found)
    ]
    return _report("torch.autograd", wrt, grads, expected, dtype, tol)


def check_against_jax(
    forward, backward, inputs, *, wrt=None, kwargs=None, dout=None, seed=0, tol=None
):
    """Compare ``backward`` with jax.vjp differentiating ``forward`` on float64 JAX arrays.

    The forward must not write into arrays (JAX arrays are immutable).
    """
    skipped = _missing("jax", "jax.vjp")
    if skipped is not None:  # a skipped report is falsy, like a failed one
        return skipped
    import jax
    import jax.numpy as jnp

    wrt = default_wrt(inputs) if wrt is None else tuple(wrt)
    grads, dout64, dtype = analytic_gradients(forward, backward, inputs, wrt, kwargs, dout, seed)
    with jax.enable_x64(True):
        base = {
            k: jnp.asarray(v) if isinstance(v, np.ndarray) else v
            for k, v in float64_inputs(inputs).items()
        }

        def f(*args):
            return forward(**{**base, **dict(zip(wrt, args))}, **call_kwargs(kwargs))[0]

        _, pullback = jax.vjp(f, *[base[n] for n in wrt])
        expected = [np.asarray(g) for g in pullback(jnp.asarray(dout64))]
    return _report("jax.vjp", wrt, grads, expected, dtype, tol)


def check_against_tensorflow(
    forward, backward, inputs, *, reference, wrt=None, kwargs=None, dout=None, seed=0, tol=None
):
    """Compare ``backward`` with tf.GradientTape differentiating ``reference``.

    reference: the same math written with TensorFlow operations, called as
    ``reference(**inputs)`` on float64 tensors (constant, non-array inputs are
    passed through unchanged).
    """
    skipped = _missing("tensorflow", "tf.GradientTape")
    if skipped is not None:  # a skipped report is falsy, like a failed one
        return skipped
    import tensorflow as tf

    wrt = default_wrt(inputs) if wrt is None else tuple(wrt)
    grads, dout64, dtype = analytic_gradients(forward, backward, inputs, wrt, kwargs, dout, seed)
    base = {
        k: tf.constant(v) if isinstance(v, np.ndarray) else v
        for k, v in float64_inputs(inputs).items()
    }
    with tf.GradientTape() as tape:
        for name in wrt:
            tape.watch(base[name])
        out = reference(**base)
    found = tape.gradient(out, [base[n] for n in wrt], output_gradients=tf.constant(dout64))
    expected = [
        np.zeros(tuple(base[n].shape)) if g is None else g.numpy() for n, g in zip(wrt, found)
    ]
    return _report("tf.GradientTape", wrt, grads, expected, dtype, tol)
