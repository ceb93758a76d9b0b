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


def _run(
    framework, reference, derivatives, forward, backward, inputs, wrt, kwargs, dout, seed, tol
):
    """The steps every oracle shares; ``derivatives(base, wrt, dout64)`` is the framework's part.

    base: the inputs as NumPy (floats in float64); it returns one gradient per
    name in ``wrt`` as anything np.asarray takes, or None for an unused input.
    """
    skipped = _missing(framework, reference)
    if skipped is not None:  # a skipped report is falsy, like a failed one
        return skipped
    wrt = default_wrt(inputs) if wrt is None else tuple(wrt)
    grads, dout64, dtype = analytic_gradients(forward, backward, inputs, wrt, kwargs, dout, seed)
    base = float64_inputs(inputs)
    found = derivatives(base, wrt, dout64)
    arguments = tuple(
        compare(
            name, got, np.zeros(np.shape(base[name])) if g is None else np.asarray(g), dtype, tol
        )
        for name, got, g in zip(wrt, grads, found)
    )
    return GradientReport(reference, arguments, dtype=dtype)


def _native(base, convert):
    """``base`` with its NumPy arrays converted to a framework's arrays."""
    return {k: convert(v) if isinstance(v, np.ndarray) else v for k, v in base.items()}


def check_against_torch(
    forward, backward, inputs, *, wrt=None, kwargs=None, dout=None, seed=0, tol=None
):
    """Compare ``backward`` with torch.autograd differentiating ``forward`` on float64 tensors."""

    def derivatives(base, wrt, dout64):
        import torch

        tensors = _native(base, torch.as_tensor)
        leaves = [tensors[n].requires_grad_(True) for n in wrt]
        out = forward(**tensors, **call_kwargs(kwargs))[0]
        found = torch.autograd.grad(out, leaves, torch.as_tensor(dout64), allow_unused=True)
        return [None if g is None else g.detach().numpy() for g in found]

    return _run(
        "torch",
        "torch.autograd",
        derivatives,
        forward,
        backward,
        inputs,
        wrt,
        kwargs,
        dout,
        seed,
        tol,
    )


def check_against_jax(
    forward, backward, inputs, *, wrt=None, kwargs=None, dout=None, seed=0, tol=None
):
    """Compare ``backward`` with jax.vjp differentiating ``forward`` on float64 JAX arrays.

    The forward must not write into arrays (JAX arrays are immutable).
    """

    def derivatives(base, wrt, dout64):
        import jax
        import jax.numpy as jnp

        with jax.enable_x64(True):
            arrays = _native(base, jnp.asarray)

            def f(*args):
                return forward(**{**arrays, **dict(zip(wrt, args))}, **call_kwargs(kwargs))[0]

            _, pullback = jax.vjp(f, *[arrays[n] for n in wrt])
            return [np.asarray(g) for g in pullback(jnp.asarray(dout64))]

    return _run(
        "jax", "jax.vjp", derivatives, forward, backward, inputs, wrt, kwargs, dout, seed, tol
    )


def check_against_tensorflow(
    forward, backward, inputs, *, reference, wrt=None, kwargs=None, dout=None, seed=0, tol=None
):
    """Compare ``backward`` with tf.GradientTape differentiating ``reference``.

    reference: the same math written with TensorFlow operations, called as
    ``reference(**inputs)`` on float64 tensors (constant, non-array inputs are
    passed through unchanged).
    """

    def derivatives(base, wrt, dout64):
        import tensorflow as tf

        tensors = _native(base, tf.constant)
        with tf.GradientTape() as tape:
            for name in wrt:
                tape.watch(tensors[name])
            out = reference(**tensors)
        found = tape.gradient(out, [tensors[n] for n in wrt], output_gradients=tf.constant(dout64))
        return [None if g is None else g.numpy() for g in found]

    return _run(
        "tensorflow",
        "tf.GradientTape",
        derivatives,
        forward,
        backward,
        inputs,
        wrt,
        kwargs,
        dout,
        seed,
        tol,
    )
