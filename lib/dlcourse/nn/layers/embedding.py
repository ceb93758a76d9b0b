"""``Embedding`` (a learned vector per token id) and ``PositionEmbedding`` (one per position).

``Embedding`` reads integer ids, so a model that starts with one takes integer
inputs and keeps them integer (``Layer.integer_inputs``): they are never cast
to the model's float type. The hand-written passes are
``dlcourse.functional.embedding``: a lookup forward, a scatter-add backward.
"""

from dlcourse import functional as F
from dlcourse import ops
from dlcourse.functional._common import namespace
from dlcourse.nn.layers._checks import positive_int
from dlcourse.nn.layers.base import Layer

__all__ = ["Embedding", "PositionEmbedding"]


def _initializer_name(initializer):
    return initializer if isinstance(initializer, str) else getattr(initializer, "__name__", "?")


class Embedding(Layer):
    """Token ids (batch,) or (batch, T) -> their vectors: (batch, [T,] output_dim).

    Parameters
    ----------
    input_dim : size of the vocabulary; ids must lie in [0, input_dim).
    output_dim : length of each vector.
    embeddings_initializer : "uniform" (on [-0.05, 0.05], as Keras) or any initializer.

    Weights: ``embeddings`` (input_dim, output_dim). No gradient flows to the
    ids: they are data, not something upstream learns.
    """

    integer_inputs = True

    def __init__(
        self, input_dim, output_dim, embeddings_initializer="uniform", name=None, dtype=None
    ):
        super().__init__(name=name, dtype=dtype)
        self.input_dim = positive_int("input_dim", input_dim)
        self.output_dim = positive_int("output_dim", output_dim)
        self.embeddings_initializer = embeddings_initializer
        self._cache = None

    def build(self, input_shape):
        if len(input_shape) not in (1, 2):
            raise ValueError(
                f"Embedding layer {self.name!r} expects integer ids of shape (batch,) or "
                f"(batch, sequence_length), got input of shape {tuple(input_shape)}; "
                "reshape the ids to (batch, sequence_length)."
            )
        self.add_weight(
            "embeddings", (self.input_dim, self.output_dim), self.embeddings_initializer
        )

    def _check_ids(self, ids):
        if "int" not in str(ids.dtype):
            raise ValueError(
                f"Embedding layer {self.name!r} reads integer token ids, got {ids.dtype}; "
                "pass the ids as integers (x.astype('int64')), or declare the model's input "
                "as Input(shape, dtype='int64')."
            )

    def call(self, x, training=False):
        self._check_ids(x)
        return ops.embedding(x, self.embeddings)

    def forward(self, x, training=False):
        self._check_ids(x)
        out, self._cache = F.embedding_forward(x, self.embeddings)
        return out

    def backward(self, dout):
        self.grads = {"embeddings": F.embedding_backward(dout, self._cache)}
        return None  # ids have no gradient

    def get_config(self):
        return {
            **super().get_config(),
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "embeddings_initializer": _initializer_name(self.embeddings_initializer),
        }


class PositionEmbedding(Layer):
    """Adds a learned vector per position: (batch, T, D) -> x + embeddings[:T].

    Parameters
    ----------
    sequence_length : the longest sequence the layer accepts (T <= sequence_length).
    initializer : "glorot_uniform" (as keras_hub's ``PositionEmbedding``) or any initializer.

    Weights: ``embeddings`` (sequence_length, D). Unlike keras_hub's layer,
    which returns the position vectors and leaves the sum to you, this one
    returns the sum: ``PositionEmbedding(T)(Embedding(V, D)(ids))``.
    """

    def __init__(self, sequence_length, initializer="glorot_uniform", name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.sequence_length = positive_int("sequence_length", sequence_length)
        self.initializer = initializer
        self._steps = None

    def build(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(
                f"PositionEmbedding layer {self.name!r} expects (batch, sequence_length, "
                f"features), got input of shape {tuple(input_shape)}; put it after an "
                "Embedding layer."
            )
        if input_shape[1] > self.sequence_length:
            raise ValueError(
                f"PositionEmbedding layer {self.name!r}: sequences of length {input_shape[1]} "
                f"are longer than sequence_length={self.sequence_length}; raise "
                "sequence_length to the longest sequence."
            )
        self.add_weight("embeddings", (self.sequence_length, input_shape[2]), self.initializer)

    def _table(self, steps):
        # the first `steps` rows; the whole table needs no slice (nor its gradient)
        return self.embeddings if steps == self.sequence_length else self.embeddings[:steps]

    def call(self, x, training=False):
        return x + self._table(x.shape[1])

    def forward(self, x, training=False):
        self._steps = x.shape[1]
        return x + self._table(self._steps)

    def backward(self, dout):
        xp = namespace(dout)
        per_position = xp.sum(dout, axis=0)  # every example used the same rows
        if self._steps == self.sequence_length:
            grad = per_position
        else:
            grad = xp.zeros_like(self.embeddings)
            grad[: self._steps] = per_position
        self.grads = {"embeddings": grad}
        return dout

    def get_config(self):
        return {
            **super().get_config(),
            "sequence_length": self.sequence_length,
            "initializer": _initializer_name(self.initializer),
        }
