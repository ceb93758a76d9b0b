"""``PositionEmbedding`` on the Keras side: a small Keras layer, since Keras 3 has none.

keras_hub has a ``PositionEmbedding``, but it returns the position vectors
and leaves the sum to the caller, and keras_hub is an extra package; ours
returns ``x + embeddings[:steps]``. The Keras layer made here computes just
that, with the same weight, and is registered as
``dlcourse>PositionEmbedding`` so that a saved Keras model that holds it
loads again (after this module has run ``position_embedding_class``).
"""

__all__ = ["KERAS_CLASS_NAME", "position_embedding_class"]

KERAS_CLASS_NAME = "DlcoursePositionEmbedding"
_made = {}


def position_embedding_class(keras):
    """The Keras layer class (made once per process, for the Keras imported)."""
    if "class" in _made:
        return _made["class"]

    @keras.saving.register_keras_serializable(package="dlcourse", name="PositionEmbedding")
    class DlcoursePositionEmbedding(keras.layers.Layer):
        """x + embeddings[:steps], for x of shape (batch, steps, features)."""

        def __init__(self, sequence_length, **kwargs):
            super().__init__(**kwargs)
            self.sequence_length = int(sequence_length)

        def build(self, input_shape):
            self.embeddings = self.add_weight(
                shape=(self.sequence_length, input_shape[-1]),
                initializer="glorot_uniform",
                name="embeddings",
            )

        def call(self, x):
            steps = keras.ops.shape(x)[1]
            return x + keras.ops.cast(self.embeddings[:steps], x.dtype)

        def compute_output_shape(self, input_shape):
            return input_shape

        def get_config(self):
            return {**super().get_config(), "sequence_length": self.sequence_length}

    _made["class"] = DlcoursePositionEmbedding
    return DlcoursePositionEmbedding
