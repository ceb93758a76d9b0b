"""``MultiHeadAttention``: Keras's layer, ``mha(query, value, key=None, use_causal_mask=False)``.

Each of ``num_heads`` heads projects the query, key and value sequences
(batch, steps, features) to ``key_dim`` (values: ``value_dim``) numbers per
step, attends with scaled dot products (``softmax(q k^T / sqrt(key_dim)) v``),
and the heads' results, side by side, are projected back to the query's
width. ``use_causal_mask=True`` lets step t attend to steps <= t only (a
decoder, a GPT block). A backend with attention as one routine runs that
when nothing needs the weights (``ops.fused_attention``: PyTorch's
``scaled_dot_product_attention`` on the torch backend). The ``manual`` backend runs
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

``attention_mask`` (batch, Tq, Tk), True (or 1) where a query may attend to
a key, is data: in a graph it is an ``Input`` of its own. It combines with
``use_causal_mask`` (both must allow a pair), as in Keras, which hides a pair
by adding -1e9 to its score; that is exactly a weight of 0 in float32 and
float64 whenever a row keeps one key. A row that keeps none is a ValueError
on ``manual`` (``attention_forward``); Keras and the other backends then
spread the row evenly over its keys (-1e9 everywhere) or, when the causal
mask hides them too, give NaN. With ``return_attention_scores=True`` the
call returns ``[output, scores]``, the scores being the attention weights
(batch, heads, Tq, Tk), which may be used downstream (their gradient is
taken into account). The layer's inputs are the list ``[query, value, key]``
and, with a mask, ``[query, value, key, mask]`` (key = value when not given).
"""

import math

import numpy as np

from dlcourse import functional as F
from dlcourse import ops
from dlcourse.functional._common import device, namespace
from dlcourse.nn.layers._checks import positive_int
from dlcourse.nn.layers.base import Layer

__all__ = ["MultiHeadAttention"]

_PROJECTIONS = ("query", "key", "value")
HIDDEN = 1e9  # what Keras subtracts from a masked score


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
        return_attention_scores=False,
        name=None,
        dtype=None,
    ):
        super().__init__(name=name, dtype=dtype)
        self.num_heads = positive_int("num_heads", num_heads)
        self.key_dim = positive_int("key_dim", key_dim)
        self.value_dim = self.key_dim if value_dim is None else positive_int("value_dim", value_dim)
        self.use_bias = bool(use_bias)
        self.use_causal_mask = bool(use_causal_mask)
        self.return_attention_scores = bool(return_attention_scores)
        self._called_with_mask = False  # True once a call chose the mask
        self._built_steps = None
        self._cache = None

    # -------------------------------------------------------------------- calling
    def __call__(
        self,
        query,
        value=None,
        key=None,
        use_causal_mask=False,
        training=False,
        attention_mask=None,
        return_attention_scores=False,
    ):
        if isinstance(query, (list, tuple)):  # a graph being rebuilt: its input list
            return super().__call__(list(query), training)
        if value is None:
            raise ValueError(
                f"MultiHeadAttention layer {self.name!r}: value is missing; call it as "
                "mha(query, value), e.g. mha(x, x) for self-attention."
            )
        self._choose_mask(bool(use_causal_mask))
        self.return_attention_scores = bool(return_attention_scores)
        inputs = [query, value] if key is None else [query, value, key]
        if attention_mask is not None:
            inputs = [query, value, value if key is None else key, attention_mask]
        return super().__call__(inputs, training)

    def output_count(self):
        return 2 if self.return_attention_scores else 1

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
        if len(shapes) == 4:
            self._check_mask_shape(shapes)
            shapes = shapes[:3]
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

    def _check_mask_shape(self, shapes):
        query, key, mask = shapes[0], shapes[2], shapes[3]
        if len(mask) != 3 or tuple(mask[1:]) != (query[1], key[1]):
            raise ValueError(
                f"MultiHeadAttention layer {self.name!r}: attention_mask must have the shape "
                f"(batch, query steps, key steps) = (batch, {query[1]}, {key[1]}), got "
                f"{tuple(mask)}."
            )

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

    @staticmethod
    def _attention_mask(x):
        return x[3] if len(x) > 3 else None

    def _outputs(self, out, weights):
        return [out, weights] if self.return_attention_scores else out

    # ------------------------------------------------------------ autodiff backends
    def _heads(self, x, name, dim):
        """(batch, steps, features) -> (batch, heads, steps, dim)."""
        kernel, bias = self._parts(name)
        y = ops.dense(x, kernel, bias)
        y = ops.reshape(y, (-1, x.shape[1], self.num_heads, dim))
        return ops.transpose(y, (0, 2, 1, 3))

    def _weights(self, q, k, scale, mask, given):
        """The attention weights (batch, heads, Tq, Tk), with ops."""
        scores = ops.matmul(q, ops.transpose(k, (0, 1, 3, 2))) * scale
        if mask is not None:
            hidden = np.full(mask.shape, -np.inf, dtype=self._dtype())  # weight exp(-inf) = 0
            scores = ops.where(ops.convert_to_tensor(mask), scores, ops.convert_to_tensor(hidden))
        if given is not None:  # Keras's way: -1e9 where the mask is 0
            given = ops.reshape(ops.cast(given, self._dtype()), (-1, 1, *given.shape[1:]))
            scores = scores + (given - 1.0) * HIDDEN
        return ops.softmax(scores, axis=-1)

    def call(self, x, training=False):
        query, value, key = self._unpack(x)
        q = self._heads(query, "query", self.key_dim)
        k = self._heads(key, "key", self.key_dim)
        v = self._heads(value, "value", self.value_dim)
        scale = 1.0 / math.sqrt(self.key_dim)
        mask = self._mask(query.shape[1], key.shape[1]) if self.use_causal_mask else None
        given = self._attention_mask(x)
        weights = attended = None
        if given is None and not self.return_attention_scores:  # the weights stay inside
            attended = ops.fused_attention(q, k, v, scale, mask)  # None: no such routine
        if attended is None:
            weights = self._weights(q, k, scale, mask, given)
            attended = ops.matmul(weights, v)  # (batch, heads, Tq, value_dim)
        merged = ops.reshape(
            ops.transpose(attended, (0, 2, 1, 3)),
            (-1, query.shape[1], self.num_heads * self.value_dim),
        )
        kernel = ops.reshape(self.output_kernel, (-1, self.output_kernel.shape[2]))
        out = ops.dense(merged, kernel, self.output_bias if self.use_bias else None)
        return self._outputs(out, weights)

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
        given = self._attention_mask(x)
        if given is not None:
            allowed = xp.reshape(given != 0, (given.shape[0], 1, *given.shape[1:]))
            mask = allowed if mask is None else allowed & xp.asarray(mask, device=device(given))
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
        return self._outputs(out, attention_cache[3])

    def backward(self, dout):
        projected, attention_cache, merged, out_kernel, count = self._cache
        dweights = None
        if self.return_attention_scores:
            dout, dweights = dout
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
        dheads = dict(
            zip(_PROJECTIONS, F.attention_backward(dattended, attention_cache, dp=dweights))
        )
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
        if count > 3:  # the mask is data: it has no gradient
            return [dinputs["query"], dinputs["value"], dinputs["key"], None]
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
            "return_attention_scores": self.return_attention_scores,
        }
