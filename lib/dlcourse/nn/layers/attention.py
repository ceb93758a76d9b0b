"""``MultiHeadAttention``: Keras's layer, ``mha(query, value, key=None, use_causal_mask=False)``.

Each of ``num_heads`` heads projects the query, key and value sequences
(batch, steps, features) to ``key_dim`` (values: ``value_dim``) numbers per
step, attends with scaled dot products (``softmax(q k^T / sqrt(key_dim)) v``),
and the heads' results, side by side, are projected back to the query's
width. ``use_causal_mask=True`` lets step t attend to steps <= t only (a
decoder, a GPT block). The ``manual`` backend runs
``dlcourse.functional.attention`` for the attention itself and writes the
projections' derivatives here.

Weights, in this order (Keras's shapes and order, so they copy across):
``query_kernel`` (Dq, heads, key_dim), ``query_bias`` (heads, key_dim),
``key_kernel`` (Dk, heads, key_dim), ``key_bias``, ``value_kernel``
(Dv, heads, value_dim), ``value_bias``, ``output_kernel`` (heads, value_dim, Dq)
and ``output_bias`` (Dq,).

In a Functional graph the layer is called as in Keras, ``mha(x, x,
use_causal_mask=True)``; the mask it was called with is part of its config
(a layer is called with one mask: reuse it with the same one).
"""

import math

import numpy as np

from dlcourse import functional as F
from dlcourse import ops
from dlcourse.functional._common import namespace
from dlcourse.nn.layers._checks import positive_int
from dlcourse.nn.layers.base import Layer

__all__ = ["MultiHeadAttention"]

_PROJECTIONS = ("query", "key", "value")


def _glorot_for(fan_in, fan_out):
    """Glorot-uniform for a kernel stored as (in, heads, dim) or (heads, dim, out)."""

    def initializer(shape, dtype, rng):
        limit = math.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-limit, limit, size=shape).astype(dtype)

    return initializer


class MultiHeadAttention(Layer):
    """Multi-head (scaled dot-product) attention with learned projections.

    Parameters
    ----------
    num_heads : number of heads.
    key_dim : width of each head's queries and keys.
    value_dim : width of each head's values (default: key_dim).
    use_bias : learn a bias for every projection.
    use_causal_mask : the mask of the calls (normally given to the call itself).
    """

    def __init__(
        self,
        num_heads,
        key_dim,
        value_dim=None,
        use_bias=True,
        use_causal_mask=False,
        name=None,
        dtype=None,
    ):
        super().__init__(name=name, dtype=dtype)
        self.num_heads = positive_int("num_heads", num_heads)
        self.key_dim = positive_int("key_dim", key_dim)
        self.value_dim = self.key_dim if value_dim is None else positive_int("value_dim", value_dim)
        self.use_bias = bool(use_bias)
        self.use_causal_mask = bool(use_causal_mask)
        self._called_with_mask = False  # True once a call chose the mask
        self._built_steps = None
        self._cache = None

    # -------------------------------------------------------------------- calling
    def __call__(self, query, value=None, key=None, use_causal_mask=False, training=False):
        if isinstance(query, (list, tuple)):  # a graph being rebuilt: [query, value(, key)]
            query, value, key = (list(query) + [None, None])[:3]
        elif value is None:
            raise ValueError(
                f"MultiHeadAttention layer {self.name!r}: value is missing; call it as "
                "mha(query, value), e.g. mha(x, x) for self-attention."
            )
        else:
            self._choose_mask(bool(use_causal_mask))
        inputs = [query, value] if key is None else [query, value, key]
        return super().__call__(inputs, training)

    def _choose_mask(self, causal):
        if self._called_with_mask and causal != self.use_causal_mask:
            raise ValueError(
                f"MultiHeadAttention layer {self.name!r} was called with "
                f"use_causal_mask={self.use_causal_mask} before; a layer keeps one mask: "
                "make a second layer for the other."
            )
        self.use_causal_mask, self._called_with_mask = causal, True

    # -------------------------------------------------------------------- weights
    def build(self, input_shape):
        if not isinstance(input_shape, list):  # one tensor: a Sequential, or layer.call(x)
            raise ValueError(
                f"MultiHeadAttention layer {self.name!r} takes a query and a value: call it as "
                "mha(query, value) (mha(x, x) for self-attention) in a Functional graph or a "
                "subclassed Model; a Sequential hands it one tensor."
            )
        shapes = [tuple(s) for s in input_shape]
        if any(len(s) != 3 for s in shapes):
            raise ValueError(
                f"MultiHeadAttention layer {self.name!r} expects query, value (and key) of "
                f"shape (batch, steps, features), got {', '.join(map(str, shapes))}; put an "
                "Embedding (or a Dense on sequences) in front."
            )
        query, value = shapes[0], shapes[1]
        key = shapes[2] if len(shapes) > 2 else value
        if key[1] != value[1]:
            raise ValueError(
                f"MultiHeadAttention layer {self.name!r}: key and value must have the same "
                f"number of steps, got key {key} and value {value}."
            )
        self._built_steps = (query[1], key[1])  # for graphs whose shapes are symbolic
        heads, out = self.num_heads, query[2]
        widths = {"query": self.key_dim, "key": self.key_dim, "value": self.value_dim}
        for name, shape in zip(_PROJECTIONS, (query, key, value)):
            dim = widths[name]
            self.add_weight(
                f"{name}_kernel", (shape[2], heads, dim), _glorot_for(shape[2], heads * dim)
            )
            if self.use_bias:
                self.add_weight(f"{name}_bias", (heads, dim), "zeros")
        self.add_weight(
            "output_kernel",
            (heads, self.value_dim, out),
            _glorot_for(heads * self.value_dim, out),
        )
        if self.use_bias:
            self.add_weight("output_bias", (out,), "zeros")

    def _parts(self, name):
        """The kernel as a matrix (in, heads*dim), and the bias as (heads*dim,) or None."""
        kernel = getattr(self, f"{name}_kernel")
        flat = ops.reshape(kernel, (kernel.shape[0], -1))
        bias = getattr(self, f"{name}_bias") if self.use_bias else None
        return flat, None if bias is None else ops.reshape(bias, (-1,))

    def _mask(self, steps_q, steps_k):
        # step t may see steps 0..t: the lower triangle (True = may attend)
        if not isinstance(steps_q, int) or not isinstance(steps_k, int):
            steps_q, steps_k = self._built_steps  # a symbolic graph (PyTensor): built sizes
        return np.tril(np.ones((steps_q, steps_k), dtype=bool))

    @staticmethod
    def _unpack(x):
        query, value = x[0], x[1]
        return query, value, x[2] if len(x) > 2 else value

    # ------------------------------------------------------------ autodiff backends
    def _heads(self, x, name, dim):
        """(batch, steps, features) -> (batch, heads, steps, dim)."""
        kernel, bias = self._parts(name)
        y = ops.dense(x, kernel, bias)
        y = ops.reshape(y, (-1, x.shape[1], self.num_heads, dim))
        return ops.transpose(y, (0, 2, 1, 3))

    def call(self, x, training=False):
        query, value, key = self._unpack(x)
        q = self._heads(query, "query", self.key_dim)
        k = self._heads(key, "key", self.key_dim)
        v = self._heads(value, "value", self.value_dim)
        scores = ops.matmul(q, ops.transpose(k, (0, 1, 3, 2))) * (1.0 / math.sqrt(self.key_dim))
        if self.use_causal_mask:
            mask = self._mask(query.shape[1], key.shape[1])
            hidden = np.full(mask.shape, -np.inf, dtype=self._dtype())  # weight exp(-inf) = 0
            scores = ops.where(ops.convert_to_tensor(mask), scores, ops.convert_to_tensor(hidden))
        attended = ops.matmul(ops.softmax(scores, axis=-1), v)  # (batch, heads, Tq, value_dim)
        merged = ops.reshape(
            ops.transpose(attended, (0, 2, 1, 3)),
            (-1, query.shape[1], self.num_heads * self.value_dim),
        )
        kernel = ops.reshape(self.output_kernel, (-1, self.output_kernel.shape[2]))
        return ops.dense(merged, kernel, self.output_bias if self.use_bias else None)

    # --------------------------------------------------------------- manual backend
    def forward(self, x, training=False):
        query, value, key = self._unpack(x)
        xp = namespace(query)
        projected = {}
        for name, source, dim in (
            ("query", query, self.key_dim),
            ("key", key, self.key_dim),
            ("value", value, self.value_dim),
        ):
            kernel = getattr(self, f"{name}_kernel")
            flat = xp.reshape(kernel, (kernel.shape[0], -1))
            y = source @ flat
            if self.use_bias:
                y = y + xp.reshape(getattr(self, f"{name}_bias"), (-1,))
            heads = xp.permute_dims(
                xp.reshape(y, (y.shape[0], y.shape[1], self.num_heads, dim)), (0, 2, 1, 3)
            )
            projected[name] = (source, flat, heads)
        mask = self._mask(query.shape[1], key.shape[1]) if self.use_causal_mask else None
        attended, attention_cache = F.attention_forward(
            projected["query"][2], projected["key"][2], projected["value"][2], mask
        )
        n, tq = query.shape[0], query.shape[1]
        merged = xp.reshape(xp.permute_dims(attended, (0, 2, 1, 3)), (n, tq, -1))
        out_kernel = xp.reshape(self.output_kernel, (-1, self.output_kernel.shape[2]))
        out = merged @ out_kernel
        if self.use_bias:
            out = out + self.output_bias
        self._cache = (projected, attention_cache, merged, out_kernel, len(x))
        return out

    def backward(self, dout):
        projected, attention_cache, merged, out_kernel, count = self._cache
        xp = namespace(dout)

        def weight_grad(inputs, grads):  # sum over batch and steps of x^T dy
            return xp.reshape(inputs, (-1, inputs.shape[-1])).mT @ xp.reshape(
                grads, (-1, grads.shape[-1])
            )

        grads = {"output_kernel": xp.reshape(weight_grad(merged, dout), self.output_kernel.shape)}
        if self.use_bias:
            grads["output_bias"] = xp.sum(xp.reshape(dout, (-1, dout.shape[-1])), axis=0)
        dmerged = dout @ out_kernel.mT
        n, tq = dmerged.shape[0], dmerged.shape[1]
        dattended = xp.permute_dims(
            xp.reshape(dmerged, (n, tq, self.num_heads, self.value_dim)), (0, 2, 1, 3)
        )
        dheads = dict(zip(_PROJECTIONS, F.attention_backward(dattended, attention_cache)))
        dinputs = {}
        for name in _PROJECTIONS:
            source, flat, _ = projected[name]
            dy = xp.permute_dims(dheads[name], (0, 2, 1, 3))
            dy = xp.reshape(dy, (dy.shape[0], dy.shape[1], -1))  # (batch, steps, heads*dim)
            kernel = getattr(self, f"{name}_kernel")
            grads[f"{name}_kernel"] = xp.reshape(weight_grad(source, dy), kernel.shape)
            if self.use_bias:
                bias = getattr(self, f"{name}_bias")
                grads[f"{name}_bias"] = xp.reshape(
                    xp.sum(xp.reshape(dy, (-1, dy.shape[-1])), axis=0), bias.shape
                )
            dinputs[name] = dy @ flat.mT
        self.grads = grads
        if count > 2:
            return [dinputs["query"], dinputs["value"], dinputs["key"]]
        return [dinputs["query"], dinputs["value"] + dinputs["key"]]  # key was the value

    def get_config(self):
        return {
            **super().get_config(),
            "num_heads": self.num_heads,
            "key_dim": self.key_dim,
            "value_dim": self.value_dim,
            "use_bias": self.use_bias,
            "use_causal_mask": self.use_causal_mask,
        }
