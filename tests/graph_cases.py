"""Models beyond a chain, shared by the backend tests: two inputs, residual MLPs, nested layers.

- ``two_input_model``: two ``Input`` s, a ``Dense`` used on both branches (shared
  weights), ``Concatenate``, ``Multiply`` and ``Add``;
- ``residual_functional``: a residual MLP drawn with the Functional API;
- ``residual_block_model``: the same residual MLP, its block a subclassed
  ``Layer`` that holds two ``Dense`` layers (with a hand-written backward, so
  that it runs on ``manual`` too);
- ``ResidualMLP``: a subclassed ``Model`` holding such blocks in a list.

No framework is imported here.
"""

from dlcourse.nn import (
    Add,
    Concatenate,
    Dense,
    Dropout,
    Input,
    Layer,
    Model,
    Multiply,
    Sequential,
)


class ResidualBlock(Layer):
    """x + outer(inner(x)): two Dense layers held as attributes, tracked automatically."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.inner = Dense(units, activation="tanh")
        self.outer = Dense(units)

    def call(self, x, training=False):
        return x + self.outer(self.inner(x, training), training)

    def backward(self, dout):
        # the sum's gradient goes to both terms; the sublayers' backward fill their grads
        return dout + self.inner.backward(self.outer.backward(dout))

    def get_config(self):
        return {**super().get_config(), "units": self.units}


class ResidualMLP(Model):
    """A subclassed model: a Dense, a list of residual blocks, a Dense."""

    def __init__(self, blocks=2, width=8, classes=5, **kwargs):
        super().__init__(**kwargs)
        self.blocks_count, self.width, self.classes = blocks, width, classes
        self.entry = Dense(width, activation="relu")
        self.blocks = [ResidualBlock(width) for _ in range(blocks)]
        self.head = Dense(classes)

    def call(self, x, training=False):
        x = self.entry(x, training)
        for block in self.blocks:
            x = block(x, training)
        return self.head(x, training)

    def backward(self, dout):
        dout = self.head.backward(dout)
        for block in reversed(self.blocks):
            dout = block.backward(dout)
        return self.entry.backward(dout)

    def get_config(self):
        return {
            **super().get_config(),
            "blocks": self.blocks_count,
            "width": self.width,
            "classes": self.classes,
        }


def two_input_model(seed, dtype):
    a, b = Input((12,), name="a"), Input((4,), name="b")
    shared = Dense(6, activation="tanh", name="shared")
    left = shared(Dense(6, activation="relu")(a))
    right = shared(Dense(6, activation="sigmoid")(b))  # the same weights on the other branch
    gate = Multiply()([left, right])
    joined = Concatenate()([left, right, gate])
    hidden = Dense(6)(Dropout(0.0)(joined))
    out = Dense(5)(Add()([hidden, left]))
    return Model(inputs=[a, b], outputs=out, seed=seed, dtype=dtype)


def residual_functional(seed, dtype):
    x = Input((12,), name="x")
    h = Dense(8, activation="relu")(x)
    for _ in range(2):
        h = Add()([h, Dense(8)(Dense(8, activation="tanh")(h))])
    return Model(x, Dense(5)(h), seed=seed, dtype=dtype)


def residual_block_model(seed, dtype):
    layers = [Dense(8, activation="relu"), ResidualBlock(8), ResidualBlock(8), Dense(5)]
    return Sequential(layers, seed=seed, dtype=dtype, input_shape=(12,))


def residual_subclassed(seed, dtype):
    model = ResidualMLP(seed=seed, dtype=dtype)
    model.build((None, 12))
    return model
