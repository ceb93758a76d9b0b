"""Models beyond a chain, shared by the backend tests: two inputs, residual MLPs, nested layers.

- ``two_input_model``: two ``Input`` s, a ``Dense`` used on both branches (shared
  weights), ``Concatenate``, ``Multiply`` and ``Add``;
- ``residual_functional``: a residual MLP drawn with the Functional API;
- ``residual_block_model``: the same residual MLP, its block a subclassed
  ``Layer`` that holds two ``Dense`` layers (with a hand-written backward, so
  that it runs on ``manual`` too);
- ``ResidualMLP``: a subclassed ``Model`` holding such blocks in a list;
- ``nested_model``: models used as layers (a Sequential inside a Sequential, a
  Functional model inside a Sequential, a Functional block called twice in a
  graph, a layer that holds a Sequential).

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


class Wrapped(Layer):
    """x + body(x), where body is a whole Sequential model held as an attribute."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.body = Sequential([Dense(units, activation="tanh"), Dense(units)], name="body")

    def call(self, x, training=False):
        return x + self.body(x, training)

    def backward(self, dout):
        return dout + self.body.backward(dout)  # the model's backward, as a layer's

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def nested_model(seed, dtype):
    """Models as layers, at three depths; the inner Functional models are built when
    made, so they get a seed and dtype of their own; the Sequential ones take the outer
    model's."""
    i = Input((8,), name="mix_in")
    mix = Model(i, Dense(8, activation="sigmoid")(i), name="mix", seed=seed + 1, dtype=dtype)
    deep = Sequential([Dense(8, activation="tanh")], name="deep")
    stem = Sequential([Dense(8, activation="relu"), deep, mix], name="stem")
    j = Input((8,), name="block_in")
    residual = Add()([j, Dense(8)(Dense(8, activation="tanh")(j))])
    block = Model(j, residual, name="block", seed=seed + 2, dtype=dtype)
    x = Input((12,), name="x")
    h = block(block(stem(x)))  # the block twice: one set of weights
    return Model(x, Dense(5)(Wrapped(8)(h)), seed=seed, dtype=dtype)
