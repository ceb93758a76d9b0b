"""Models for the interop tests (Keras and ONNX), their perturbed weights, and inputs.

Two inputs with a shared layer and every merge, a residual MLP, an
Embedding+LSTM classifier, an Embedding + causal MultiHeadAttention + Add +
LayerNormalization block, Embedding -> SimpleRNN -> GRU, Embedding +
PositionEmbedding + LayerNormalization, convolutions on two branches, and
cross-attention with a separate key (three inputs, two outputs); each in
float32 and float64 (``CASES``). No framework is imported here.
"""

import numpy as np

import graph_cases
import sequence_cases
from dlcourse import nn


def conv_branches(seed, dtype):
    """Two convolution branches of one image, merged, flattened: Permutes around each conv."""
    image = nn.Input((3, 8, 6), name="image")  # height != width
    left = nn.MaxPool2D(2)(nn.Conv2D(4, 3, padding="same", activation="relu")(image))
    right = nn.Conv2D(4, 3, strides=2, padding=1, activation="tanh")(image)
    joined = nn.Concatenate(axis=1)([left, right])  # along the channels, NCHW
    out = nn.Dense(5, activation="softmax")(nn.Flatten()(nn.BatchNorm()(joined)))
    return nn.Model(image, out, seed=seed, dtype=dtype)


def cross_attention(seed, dtype):
    """Attention of one sequence over another, with a separate key: three inputs."""
    q, v, k = nn.Input((5, 6), name="q"), nn.Input((4, 7), name="v"), nn.Input((4, 2), name="k")
    attended = nn.MultiHeadAttention(3, 2)(q, v, key=k)  # value_dim 4: Keras on JAX fails
    pooled = nn.GlobalAveragePooling1D()(nn.LayerNormalization(center=False)(attended))
    return nn.Model([q, v, k], [nn.Dense(3)(pooled), pooled], seed=seed, dtype=dtype)


MODELS = {
    "two_input": graph_cases.two_input_model,
    "residual_mlp": graph_cases.residual_functional,
    "embedding_lstm": sequence_cases.embedding_lstm_model,
    "attention_block": sequence_cases.attention_block_model,
    "rnn_gru": sequence_cases.embedding_recurrent_model,
    "position_norm": sequence_cases.embedding_norm_model,
    "conv_branches": conv_branches,
    "cross_attention": cross_attention,
}
CASES = [f"{name}_{dtype}" for name in MODELS for dtype in ("float32", "float64")]


def rel_error(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, f"shapes differ: {a.shape} vs {b.shape}"
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def worst(outs_a, outs_b):
    outs_a = outs_a if isinstance(outs_a, list) else [outs_a]
    outs_b = outs_b if isinstance(outs_b, list) else [outs_b]
    assert len(outs_a) == len(outs_b)
    return max(rel_error(a, b) for a, b in zip(outs_a, outs_b))


def make_case(case):
    """The model of ``case``, every weight perturbed (tidy zeros and ones hide mistakes)."""
    name, dtype = case.rsplit("_", 1)
    model = MODELS[name](seed=3, dtype=dtype)
    rng = np.random.default_rng(len(case))
    values = []
    for weight_name, w in zip(model.weight_names, model.get_weights()):
        if weight_name.endswith("moving_variance"):
            values.append(rng.uniform(0.5, 2.0, w.shape))
        else:
            values.append(w + 0.3 * rng.standard_normal(w.shape))
    model.set_weights(values)
    return model


def inputs_for(model, n=4, seed=0):
    rng = np.random.default_rng(seed)
    xs = []
    for shape, dtype in model.input_signature:
        if np.dtype(dtype).kind in "iu":
            xs.append(rng.integers(0, sequence_cases.VOCAB, (n, *shape[1:])).astype(dtype))
        else:
            xs.append(rng.standard_normal((n, *shape[1:])).astype(dtype))
    return xs if len(xs) > 1 else xs[0]
