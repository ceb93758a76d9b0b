"""The Keras rows: Keras 3's ``model.fit``, on the backend that KERAS_BACKEND chose at import.

Images are channels-last here, (batch, 28, 28, 1), Keras's default layout; the
row's worker makes its data that way.
"""

from dlcourse.bench.epoch_timer import timing_callback
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
    RNN_STEPS,
    RNN_UNITS,
)

__all__ = ["keras_model", "make_trainer"]


def keras_model(network):
    """The Keras model for ``network`` (a ``Sequential``, or a Functional graph), seeded."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(0)
    if network.name == "mlp":
        hidden = [layers.Dense(n, activation="relu") for n in MLP_SIZES[1:-1]]
        return keras.Sequential([keras.Input((MLP_SIZES[0],)), *hidden, layers.Dense(10)])
    if network.name == "cnn":
        stack = [keras.Input((28, 28, 1))]
        for filters in CNN_FILTERS:
            stack += [
                layers.Conv2D(filters, CNN_KERNEL, padding="same", activation="relu"),
                layers.MaxPooling2D(2),
            ]
        return keras.Sequential([*stack, layers.Flatten(), layers.Dense(10)])
    if network.name == "rnn":
        return keras.Sequential(
            [keras.Input((RNN_STEPS, RNN_FEATURES)), layers.LSTM(RNN_UNITS), layers.Dense(10)]
        )
    if network.name == "transformer":
        return _transformer()
    raise ValueError(f"no Keras model for the {network.name} network.")


def _transformer():
    """The dlcourse transformer in Keras's layers (a learned position vector per step,
    added: keras_hub's PositionEmbedding without keras_hub)."""
    import keras
    from keras import layers

    class AddPositions(layers.Layer):
        def build(self, input_shape):
            self.positions = self.add_weight(
                shape=(GPT_STEPS, GPT_WIDTH), initializer="glorot_uniform", name="positions"
            )

        def call(self, x):
            return x + self.positions

    ids = keras.Input((GPT_STEPS,), dtype="int64")
    h = AddPositions()(layers.Embedding(GPT_VOCAB, GPT_WIDTH)(ids))
    for _ in range(GPT_BLOCKS):
        a = layers.LayerNormalization()(h)
        attention = layers.MultiHeadAttention(GPT_HEADS, GPT_WIDTH // GPT_HEADS)
        h = layers.Add()([h, attention(a, a, use_causal_mask=True)])
        m = layers.Dense(GPT_MLP, activation="relu")(layers.LayerNormalization()(h))
        h = layers.Add()([h, layers.Dense(GPT_WIDTH)(m)])
    pooled = layers.GlobalAveragePooling1D()(layers.LayerNormalization()(h))
    return keras.Model(ids, layers.Dense(CLASSES)(pooled))


def make_trainer(network, device):
    """``(train, sync)``: ``train(x, y, epochs, timer)`` runs one ``model.fit``."""
    import keras

    if device == "cuda" and keras.backend.backend() in ("jax", "tensorflow"):
        _require_gpu(keras.backend.backend())
    model = keras_model(network)
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=LEARNING_RATE),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )

    def settle(logs):
        float(logs["loss"])  # the epoch's last step has finished once its loss is a number

    def train(x, y, epochs, timer):
        callbacks = (
            [] if timer is None else [timing_callback(keras.callbacks.Callback, timer, settle)]
        )
        model.fit(x, y, epochs=epochs, batch_size=network.batch, verbose=0, callbacks=callbacks)

    return train, lambda: None


def _require_gpu(library):
    from dlcourse.bench.errors import Unsupported

    if library == "jax":
        import jax

        if not any(d.platform == "gpu" for d in jax.devices()):
            raise Unsupported("JAX sees no GPU here (install jax[cuda12] for one)")
    else:
        import tensorflow as tf

        if not tf.config.list_physical_devices("GPU"):
            raise Unsupported("TensorFlow sees no GPU here")
