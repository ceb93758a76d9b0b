"""The three networks of the benchmark, their data, and how many FLOPs one step costs.

The same three kinds of network as the DLBench study (a fully connected
network, a convolutional one, a recurrent one), small enough to train on a
laptop CPU:

- ``mlp``: Dense 784-256-128-10 with ReLU, batch 128 (the MLP of
  ``benchmarks/mlp_step.py``);
- ``cnn``: 28x28x1 images, Conv 3x3x8 (same) + ReLU, MaxPool 2, Conv 3x3x16
  (same) + ReLU, MaxPool 2, Dense 784-10, batch 128;
- ``rnn``: an LSTM reading a 28x28 image row by row (28 steps of 28 features),
  128 hidden units, its last output into Dense 128-10, batch 128.

Every network ends in 10 logits, trained with softmax cross-entropy and plain
SGD (learning rate 0.01) in float32, on random data: the data only decide the
shapes, and the time of a step does not depend on the values.

How FLOPs are counted (``flops_per_step``)
-----------------------------------------
Only the matrix products (dense layers, convolutions, the LSTM's gate
products), at 2 FLOPs per multiply-add: they are the work a BLAS peak
measures. A training step does each product three times: forward, the
gradient of the weights and the gradient of the input; the first layer skips
its input gradient, since its input is data (and the LSTM its first step's
hidden-state gradient: that state is a constant zero). Element-wise work (activations,
pooling, the loss, the update) is not counted: it is small in FLOPs but not
in time, which is one reason a step never reaches the peak.
"""

from dataclasses import dataclass

__all__ = ["NETWORKS", "Network", "flops_per_step", "get_network", "make_data"]

CLASSES = 10
LEARNING_RATE = 0.01

MLP_SIZES = (784, 256, 128, 10)
CNN_FILTERS = (8, 16)  # two 3x3 "same" convolutions, each followed by a 2x2 max-pool
CNN_KERNEL = 3
RNN_STEPS, RNN_FEATURES, RNN_UNITS = 28, 28, 128


@dataclass(frozen=True)
class Network:
    """A benchmark network: its name, batch size, the shape of one example, a description."""

    name: str
    batch: int
    example_shape: tuple  # channels-first for images, as dlcourse and PyTorch
    description: str

    @property
    def flops(self):
        return flops_per_step(self.name, self.batch)


NETWORKS = {
    "mlp": Network("mlp", 128, (784,), "MLP 784-256-128-10, ReLU"),
    "cnn": Network("cnn", 128, (1, 28, 28), "CNN 28x28x1: conv3x3x8-pool-conv3x3x16-pool-dense10"),
    "rnn": Network("rnn", 128, (RNN_STEPS, RNN_FEATURES), "LSTM 28 steps x 28 -> 128 -> dense10"),
}


def get_network(name):
    """The ``Network`` called ``name``; a ValueError listing the names otherwise."""
    try:
        return NETWORKS[name]
    except KeyError:
        raise ValueError(f"unknown network {name!r}; choose from: {', '.join(NETWORKS)}.") from None


def _dense_flops(batch, sizes):
    forward = sum(2 * batch * a * b for a, b in zip(sizes, sizes[1:]))
    first_input_grad = 2 * batch * sizes[0] * sizes[1]
    return 3 * forward - first_input_grad


def _cnn_flops(batch):
    side, channels, total = 28, 1, 0
    for i, filters in enumerate(CNN_FILTERS):
        forward = 2 * batch * side * side * filters * channels * CNN_KERNEL**2
        total += forward * (2 if i == 0 else 3)  # the first conv needs no input gradient
        side, channels = side // 2, filters
    dense = 2 * batch * side * side * channels * CLASSES
    return total + 3 * dense


def _rnn_flops(batch):
    gates = 4 * RNN_UNITS
    input_product = 2 * batch * RNN_STEPS * RNN_FEATURES * gates
    hidden_product = 2 * batch * RNN_STEPS * RNN_UNITS * gates
    # no input gradient for the data, nor for the first step's hidden state (zeros)
    lstm = 2 * input_product + 3 * hidden_product - hidden_product // RNN_STEPS
    return lstm + 3 * 2 * batch * RNN_UNITS * CLASSES


def flops_per_step(name, batch):
    """FLOPs of the matrix products of one training step (see the module docstring)."""
    if name == "mlp":
        return _dense_flops(batch, MLP_SIZES)
    if name == "cnn":
        return _cnn_flops(batch)
    if name == "rnn":
        return _rnn_flops(batch)
    get_network(name)  # raises for an unknown name
    raise AssertionError(name)


def make_data(network, steps, seed=0, channels_last=False):
    """Random float32 inputs and int64 labels for ``steps`` batches of ``network``.

    ``channels_last=True`` gives images as (batch, height, width, channels), Keras's
    default layout; otherwise channels come first, as in dlcourse and PyTorch.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    n = steps * network.batch
    x = rng.standard_normal((n, *network.example_shape), dtype=np.float32)
    if channels_last and len(network.example_shape) == 3:
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    y = rng.integers(0, CLASSES, n)
    return x, y
