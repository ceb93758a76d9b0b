"""Models for the interop tests (Keras and ONNX), their perturbed weights, and inputs.

Two inputs with a shared layer and every merge, a residual MLP, an
Embedding+LSTM classifier, an Embedding + causal MultiHeadAttention + Add +
LayerNormalization block, Embedding -> SimpleRNN -> GRU, Embedding +
PositionEmbedding + LayerNormalization, convolutions on two branches,
cross-attention with a separate key (three inputs, two outputs), attention
with an ``attention_mask`` input that also returns its scores, LSTM and GRU
with ``return_state`` (layers with several outputs feeding several model
outputs), and models used as layers; each in float32 and float64 (``CASES``,
all of which ONNX export writes too: ``ONNX_CASES``). No framework is
imported here.
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


def masked_attention(seed, dtype):
    """Causal self-attention with a mask that is an input, returning its scores too."""
    x, mask = nn.Input((5, 6), name="x"), nn.Input((5, 5), name="mask")
    mha = nn.MultiHeadAttention(2, 3)
    out, scores = mha(x, x, attention_mask=mask, use_causal_mask=True, return_attention_scores=True)
    pooled = nn.GlobalAveragePooling1D()(nn.Add()([x, out]))
    return nn.Model([x, mask], [nn.Dense(3)(pooled), scores], seed=seed, dtype=dtype)


def recurrent_state(seed, dtype):
    """LSTM and GRU with return_state: their states are used and are outputs."""
    ids = nn.Input((sequence_cases.STEPS,), name="ids")
    h = nn.Embedding(sequence_cases.VOCAB, 6)(ids)
    steps, last_h, last_c = nn.LSTM(4, return_sequences=True, return_state=True)(h)
    out, state = nn.GRU(3, return_state=True)(steps)
    both = nn.Concatenate()([last_h, last_c, out])
    return nn.Model(ids, [nn.Dense(2)(both), state, last_c], seed=seed, dtype=dtype)


def nested_models(seed, dtype):
    """A Sequential holding a Sequential, and a Functional block called twice."""
    deep = nn.Sequential([nn.Dense(6, activation="tanh")], name="deep")
    stem = nn.Sequential([nn.Dense(6, activation="relu"), deep], name="stem")
    i = nn.Input((6,), name="block_in")
    block_out = nn.Add()([i, nn.Dense(6, activation="sigmoid")(i)])
    block = nn.Model(i, block_out, name="block", seed=seed + 1, dtype=dtype)
    x = nn.Input((7,), name="x")
    return nn.Model(x, nn.Dense(3)(block(block(stem(x)))), seed=seed, dtype=dtype)


MODELS = {
    "two_input": graph_cases.two_input_model,
    "residual_mlp": graph_cases.residual_functional,
    "embedding_lstm": sequence_cases.embedding_lstm_model,
    "attention_block": sequence_cases.attention_block_model,
    "rnn_gru": sequence_cases.embedding_recurrent_model,
    "position_norm": sequence_cases.embedding_norm_model,
    "conv_branches": conv_branches,
    "cross_attention": cross_attention,
    "masked_attention": masked_attention,
    "recurrent_state": recurrent_state,
    "nested_models": nested_models,
}
CASES = [f"{name}_{dtype}" for name in MODELS for dtype in ("float32", "float64")]
ONNX_CASES = CASES


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
    for name, (shape, dtype) in zip(model.input_names, model.input_signature):
        if name == "mask":  # 0 or 1, every query keeping at least itself (the diagonal)
            mask = rng.integers(0, 2, (n, *shape[1:])) | np.eye(shape[1], dtype=int)
            xs.append(mask.astype(dtype))
        elif np.dtype(dtype).kind in "iu":
            xs.append(rng.integers(0, sequence_cases.VOCAB, (n, *shape[1:])).astype(dtype))
        else:
            xs.append(rng.standard_normal((n, *shape[1:])).astype(dtype))
    return xs if len(xs) > 1 else xs[0]
