"""Every forward/backward pair of dlcourse.functional with inputs to call it on.

Shared by the tests that must hold for all layers alike: same numbers on NumPy
and PyTorch, GPU when present, and backward functions that leave their inputs alone.
"""

from dataclasses import dataclass, field

import numpy as np

from dlcourse import functional as F


@dataclass(frozen=True)
class Case:
    name: str
    forward: object
    backward: object
    shapes: dict  # input name -> shape of a float input
    kwargs: dict = field(default_factory=dict)

    def inputs(self, rng, dtype=np.float64):
        return {k: rng.standard_normal(s).astype(dtype) for k, s in self.shapes.items()}


CASES = [
    Case("dense", F.dense_forward, F.dense_backward, {"x": (4, 5), "w": (5, 3), "b": (3,)}),
    Case("relu", F.relu_forward, F.relu_backward, {"x": (4, 5)}),
    Case("leaky_relu", F.leaky_relu_forward, F.leaky_relu_backward, {"x": (4, 5)}),
    Case("sigmoid", F.sigmoid_forward, F.sigmoid_backward, {"x": (4, 5)}),
    Case("tanh", F.tanh_forward, F.tanh_backward, {"x": (4, 5)}),
    Case("softmax", F.softmax_forward, F.softmax_backward, {"x": (4, 5)}),
    Case(
        "dropout",
        F.dropout_forward,
        F.dropout_backward,
        {"x": (4, 5)},
        {"p": 0.3, "training": True, "rng": 7},
    ),
    Case(
        "batchnorm",
        F.batchnorm_forward,
        F.batchnorm_backward,
        {"x": (6, 3), "gamma": (3,), "beta": (3,)},
        {"state": None, "training": True},
    ),
    Case(
        "layernorm",
        F.layernorm_forward,
        F.layernorm_backward,
        {"x": (4, 5), "gamma": (5,), "beta": (5,)},
    ),
    Case(
        "conv2d",
        F.conv2d_forward,
        F.conv2d_backward,
        {"x": (2, 3, 6, 5), "w": (4, 3, 3, 3), "b": (4,)},
        {"stride": 2, "pad": 1},
    ),
    Case(
        "conv2d_naive",
        F.conv2d_forward_naive,
        F.conv2d_backward_naive,
        {"x": (2, 3, 5, 5), "w": (2, 3, 3, 3), "b": (2,)},
        {"stride": 1, "pad": 1},
    ),
    Case("maxpool2d", F.maxpool2d_forward, F.maxpool2d_backward, {"x": (2, 3, 6, 6)}, {"size": 2}),
    Case("flatten", F.flatten_forward, F.flatten_backward, {"x": (2, 3, 4)}),
]

BY_NAME = {case.name: case for case in CASES}
