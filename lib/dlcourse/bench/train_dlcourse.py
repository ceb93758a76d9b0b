"""The dlcourse rows: ``Sequential.fit`` of ``dlcourse.nn`` on one of its backends."""

from dlcourse.bench.epoch_timer import timing_callback
from dlcourse.bench.networks import CNN_FILTERS, CNN_KERNEL, LEARNING_RATE, MLP_SIZES

__all__ = ["make_trainer"]


def _layers(network):
    from dlcourse import nn

    if network.name == "mlp":
        hidden = [nn.Dense(n, activation="relu") for n in MLP_SIZES[1:-1]]
        return [*hidden, nn.Dense(MLP_SIZES[-1])]
    if network.name == "cnn":
        layers = []
        for filters in CNN_FILTERS:
            layers += [
                nn.Conv2D(filters, CNN_KERNEL, padding="same", activation="relu"),
                nn.MaxPool2D(2),
            ]
        return [*layers, nn.Flatten(), nn.Dense(10)]
    raise ValueError(f"dlcourse has no layers for the {network.name} network.")


def _backend_options(backend, device):
    if device == "cuda":
        return {"array": "torch", "device": "cuda"} if backend == "manual" else {"device": "cuda"}
    return {"device": "cpu"} if backend in ("torch", "tensorflow", "jax") else {}


def make_trainer(network, backend, device):
    """``(train, sync)``: ``train(x, y, epochs, timer)`` runs one ``model.fit``."""
    import dlcourse
    from dlcourse import nn

    with dlcourse.backend(backend, **_backend_options(backend, device)):
        model = nn.Sequential(_layers(network), seed=0, input_shape=network.example_shape)
    model.compile(
        optimizer=nn.SGD(learning_rate=LEARNING_RATE),
        loss=nn.SparseCategoricalCrossentropy(from_logits=True),
    )

    def train(x, y, epochs, timer):
        # fit reads every loss of an epoch as a number before the epoch ends, so its
        # steps have all finished when the timer reads the clock
        callbacks = [] if timer is None else [timing_callback(nn.Callback, timer)]
        model.fit(x, y, epochs=epochs, batch_size=network.batch, verbose=0, callbacks=callbacks)

    return train, lambda: None
