"""Gradient checking: is a hand-written backward right?

- ``numerical_gradient``: centred finite differences, the slow and sure reference;
- ``rel_error`` and ``tolerance``: how close, by dtype;
- ``check_gradients``: every gradient a backward returns, against finite differences;
- ``check_loss_gradient``: the same for losses, which return ``(loss, dinput)``;
- ``check_against_torch`` / ``check_against_jax`` / ``check_against_tensorflow``:
  the same check against a framework's automatic differentiation.
"""

from dlcourse.gradcheck.check import check_gradients
from dlcourse.gradcheck.losses import check_loss_gradient, loss_as_layer
from dlcourse.gradcheck.numerical import numerical_gradient, random_dout
from dlcourse.gradcheck.oracles import (
    check_against_jax,
    check_against_tensorflow,
    check_against_torch,
)
from dlcourse.gradcheck.report import ArgumentCheck, GradientReport
from dlcourse.gradcheck.tolerance import TOLERANCES, rel_error, tolerance

__all__ = [
    "ArgumentCheck",
    "GradientReport",
    "TOLERANCES",
    "check_against_jax",
    "check_against_tensorflow",
    "check_against_torch",
    "check_gradients",
    "check_loss_gradient",
    "loss_as_layer",
    "numerical_gradient",
    "random_dout",
    "rel_error",
    "tolerance",
]
