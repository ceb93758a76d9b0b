"""The reference row: the network as a plain PyTorch training loop, as in every tutorial.

Per epoch: a random order of the examples; per step: pick the batch by index,
clear the gradients, forward, cross-entropy, backward, SGD update, and read
the loss as a Python number (``loss.item()``). That is the same work a
``fit`` does, so the two can be compared step for step.
"""

from dlcourse.bench.networks import (
    CLASSES,
    CNN_FILTERS,
    CNN_KERNEL,
    GPT_BLOCKS,
    GPT_HEADS,
    GPT_MLP,
    GPT_STEPS,
    GPT_VOCAB,
    GPT_WIDTH,
    LEARNING_RATE,
    MLP_SIZES,
    RNN_FEATURES,
    RNN_UNITS,
)

__all__ = ["make_trainer", "torch_model"]


def torch_model(network):
    """The ``torch.nn.Module`` for ``network`` (seeded: the same weights every run)."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    if network.name == "mlp":
        layers = []
        for fan_in, fan_out in zip(MLP_SIZES, MLP_SIZES[1:]):
            layers += [nn.Linear(fan_in, fan_out), nn.ReLU()]
        return nn.Sequential(*layers[:-1])
    if network.name == "cnn":
        layers, channels, side = [], 1, 28
        for filters in CNN_FILTERS:
            layers += [
                nn.Conv2d(channels, filters, CNN_KERNEL, padding=CNN_KERNEL // 2),
                nn.ReLU(),
                nn.MaxPool2d(2),
            ]
            channels, side = filters, side // 2
        return nn.Sequential(*layers, nn.Flatten(), nn.Linear(channels * side * side, 10))
    if network.name == "rnn":

        class LastStep(nn.Module):
            """An LSTM over the sequence; its output at the last step goes to a Dense layer."""

            def __init__(self):
                super().__init__()
                self.lstm = nn.LSTM(RNN_FEATURES, RNN_UNITS, batch_first=True)
                self.dense = nn.Linear(RNN_UNITS, 10)

            def forward(self, x):
                out, _ = self.lstm(x)
                return self.dense(out[:, -1])

        return LastStep()
    if network.name == "transformer":
        return _transformer()
    raise ValueError(f"no PyTorch model for the {network.name} network.")


def _transformer():
    """The dlcourse transformer in PyTorch's own modules (nn.MultiheadAttention: its
    fused scaled_dot_product_attention when the mask is causal)."""
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.norm1, self.norm2 = nn.LayerNorm(GPT_WIDTH), nn.LayerNorm(GPT_WIDTH)
            self.attention = nn.MultiheadAttention(GPT_WIDTH, GPT_HEADS, batch_first=True)
            self.mlp = nn.Sequential(
                nn.Linear(GPT_WIDTH, GPT_MLP), nn.ReLU(), nn.Linear(GPT_MLP, GPT_WIDTH)
            )
            # True = may not attend (PyTorch's convention): the keys after the query
            hidden = torch.ones(GPT_STEPS, GPT_STEPS, dtype=torch.bool).triu(1)
            self.register_buffer("hidden", hidden, persistent=False)

        def forward(self, h):
            a = self.norm1(h)
            attended, _ = self.attention(
                a, a, a, attn_mask=self.hidden, is_causal=True, need_weights=False
            )
            h = h + attended
            return h + self.mlp(self.norm2(h))

    class Transformer(nn.Module):
        def __init__(self):
            super().__init__()
            self.tokens = nn.Embedding(GPT_VOCAB, GPT_WIDTH)
            self.positions = nn.Parameter(torch.zeros(GPT_STEPS, GPT_WIDTH))
            nn.init.xavier_uniform_(self.positions)
            self.blocks = nn.Sequential(*[Block() for _ in range(GPT_BLOCKS)])
            self.norm = nn.LayerNorm(GPT_WIDTH)
            self.head = nn.Linear(GPT_WIDTH, CLASSES)

        def forward(self, ids):
            h = self.blocks(self.tokens(ids) + self.positions)
            return self.head(self.norm(h).mean(dim=1))

    return Transformer()


def make_trainer(network, device):
    """``(train, sync)``: ``train(x, y, epochs, timer)`` runs the loop; ``sync()`` waits (GPU)."""
    import torch

    model = torch_model(network).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE)
    loss_fn = torch.nn.CrossEntropyLoss()
    batch = network.batch

    def train(x, y, epochs, timer):
        # the data go to the device once, as fit does with its arrays
        xs, ys = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
        for _ in range(epochs):
            if timer is not None:
                timer.begin()
            order = torch.randperm(len(xs), device=device)
            for lo in range(0, len(xs), batch):
                index = order[lo : lo + batch]
                optimizer.zero_grad()
                loss = loss_fn(model(xs[index]), ys[index])
                loss.backward()
                optimizer.step()
                loss.item()
            if timer is not None and timer.end():
                break

    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    return train, sync
