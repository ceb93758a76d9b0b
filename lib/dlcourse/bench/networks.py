"""The four networks of the benchmark, their data, and how many FLOPs one step costs.

The same three kinds of network as the DLBench study (a fully connected
network, a convolutional one, a recurrent one), and a small transformer, each
small enough to train on a laptop CPU:

- ``mlp``: Dense 784-256-128-10 with ReLU, batch 128 (the MLP of
  ``benchmarks/mlp_step.py``);
- ``cnn``: 28x28x1 images, Conv 3x3x8 (same) + ReLU, MaxPool 2, Conv 3x3x16
  (same) + ReLU, MaxPool 2, Dense 784-10, batch 128;
- ``rnn``: an LSTM reading a 28x28 image row by row (28 steps of 28 features),
  128 hidden units, its last output into Dense 128-10, batch 128;
- ``transformer``: sequences of 32 token ids from a vocabulary of 64, an
  Embedding (64 wide) plus a learned position embedding, 2 decoder blocks
  (pre-norm, as GPT-2: ``h + MHA(LN(h))`` with a causal mask, 4 heads of 16,
  then ``h + MLP(LN(h))``, Dense 64-256-64 with ReLU), a final LayerNorm, the
  mean over the steps into Dense 64-10, batch 32.

Every network ends in 10 logits, trained with softmax cross-entropy and plain
SGD (learning rate 0.01) in float32, on random data: the data only decide the
shapes, and the time of a step does not depend on the values (the
transformer's inputs are random token ids).

How FLOPs are counted (``flops_per_step``)
-----------------------------------------
Only the matrix products (dense layers, convolutions, the LSTM's gate
products), at 2 FLOPs per multiply-add: they are the work a BLAS peak
measures. A training step does each product three times: forward, the
gradient of the weights and the gradient of the input; the first layer skips
its input gradient, since its input is data (and the LSTM its first step's
hidden-state gradient: that state is a constant zero). The transformer's first
products (the attention's projections) read the embeddings, which are learned,
so they do need their input gradient; its attention counts both products,
``q @ k^T`` and ``p @ v``, over every (query, key) pair: the causal mask hides
half the pairs but every library computes them all. An embedding lookup is
not a product and is not counted. Element-wise work (activations, pooling,
normalization, the loss, the update) is not counted: it is small in FLOPs but
not in time, which is one reason a step never reaches the peak.
"""

from dataclasses import dataclass

__all__ = ["NETWORKS", "Network", "decoder_flops", "flops_per_step", "get_network", "make_data"]

CLASSES = 10
LEARNING_RATE = 0.01

MLP_SIZES = (784, 256, 128, 10)
CNN_FILTERS = (8, 16)  # two 3x3 "same" convolutions, each followed by a 2x2 max-pool
CNN_KERNEL = 3
RNN_STEPS, RNN_FEATURES, RNN_UNITS = 28, 28, 128
# the transformer: sequence length, vocabulary, width, heads, MLP width, blocks
GPT_STEPS, GPT_VOCAB, GPT_WIDTH, GPT_HEADS, GPT_MLP, GPT_BLOCKS = 32, 64, 64, 4, 256, 2


@dataclass(frozen=True)
class Network:
    """A benchmark network: its name, batch size, the shape of one example, a description."""

    name: str
    batch: int
    example_shape: tuple  # channels-first for images, as dlcourse and PyTorch
    description: str
    vocabulary: int = None  # token ids in [0, vocabulary) as inputs; None: float inputs

    @property
    def flops(self):
        return flops_per_step(self.name, self.batch)


NETWORKS = {
    "mlp": Network("mlp", 128, (784,), "MLP 784-256-128-10, ReLU"),
    "cnn": Network("cnn", 128, (1, 28, 28), "CNN 28x28x1: conv3x3x8-pool-conv3x3x16-pool-dense10"),
    "rnn": Network("rnn", 128, (RNN_STEPS, RNN_FEATURES), "LSTM 28 steps x 28 -> 128 -> dense10"),
    "transformer": Network(
        "transformer",
        32,
        (GPT_STEPS,),
        "2 causal decoder blocks, 32 tokens of 64, width 64, 4 heads, MLP 256 -> dense10",
        vocabulary=GPT_VOCAB,
    ),
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


def decoder_flops(batch, steps, width, mlp, blocks):
    """FLOPs of one training step through ``blocks`` decoder blocks (the products only).

    Each block: the attention's four projections (width -> width), q @ k^T and
    p @ v over every (query, key) pair, and the MLP (width -> mlp -> width),
    all on ``batch * steps`` tokens, three times each (forward, weights, input).
    The embeddings before and the head after are the caller's to add.
    """
    rows = batch * steps  # every product below runs once per token
    projections = 2 * rows * width * 4 * width  # query, key, value, output
    mlp_products = 2 * rows * 2 * width * mlp
    # q @ k^T and p @ v: per head, a (T, d) x (d, T) and a (T, T) x (T, d) product
    attention = 2 * 2 * batch * steps * steps * width
    return blocks * 3 * (projections + mlp_products + attention)


def _transformer_flops(batch):
    blocks = decoder_flops(batch, GPT_STEPS, GPT_WIDTH, GPT_MLP, GPT_BLOCKS)
    return blocks + 3 * 2 * batch * GPT_WIDTH * CLASSES


def flops_per_step(name, batch):
    """FLOPs of the matrix products of one training step (see the module docstring)."""
    if name == "mlp":
        return _dense_flops(batch, MLP_SIZES)
    if name == "cnn":
        return _cnn_flops(batch)
    if name == "rnn":
        return _rnn_flops(batch)
    if name == "transformer":
        return _transformer_flops(batch)
    get_network(name)  # raises for an unknown name
    raise AssertionError(name)


def make_data(network, steps, seed=0, channels_last=False):
    """Random float32 inputs and int64 labels for ``steps`` batches of ``network``.

    A network with a ``vocabulary`` gets int64 token ids instead of floats.
    ``channels_last=True`` gives images as (batch, height, width, channels), Keras's
    default layout; otherwise channels come first, as in dlcourse and PyTorch.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    n = steps * network.batch
    if network.vocabulary:
        x = rng.integers(0, network.vocabulary, (n, *network.example_shape))
        return x, rng.integers(0, CLASSES, n)
    x = rng.standard_normal((n, *network.example_shape), dtype=np.float32)
    if channels_last and len(network.example_shape) == 3:
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    y = rng.integers(0, CLASSES, n)
    return x, y
