"""``export_onnx`` for Functional graphs and the sequence layers, run by onnxruntime.

The models of ``interop_cases`` (two inputs with a shared layer and the
merges, a residual MLP, Embedding+LSTM, a causal attention block with Add
and LayerNormalization, SimpleRNN -> GRU, convolutions on two branches,
cross-attention with three inputs and two outputs, attention with an
``attention_mask`` input that also returns its scores, LSTM/GRU with
``return_state`` feeding three outputs), weights perturbed, are exported and
run; models used as layers are drawn inline, a subclassed one is refused,
naming it. Tolerances, relative to the largest output:

- float32 files in onnxruntime: 1e-5 (float32 keeps ~7 digits; measured
  1e-7 to 7e-7);
- float64 files: 1e-12. onnxruntime's CPU provider has no float64 LSTM, RNN
  or Conv, so float64 files run in onnx's reference evaluator (NumPy), where
  every case is within 1e-13 (measured 0 to 7e-14); the others also run in
  onnxruntime, within 4e-16 measured.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dlcourse import nn
from dlcourse.interop import UnsupportedLayerError, export_onnx
from graph_cases import residual_subclassed
from interop_cases import ONNX_CASES, inputs_for, make_case, worst

onnx = pytest.importorskip("onnx", reason="export_onnx needs the onnx package")
ort = pytest.importorskip("onnxruntime", reason="running the exported file needs onnxruntime")
from onnx.reference import ReferenceEvaluator  # noqa: E402  (after the skip above)

FLOAT32_RTOL = 1e-5
FLOAT64_RTOL = 1e-12
# what onnxruntime's CPU provider cannot run in float64
NO_FLOAT64_IN_ONNXRUNTIME = ("embedding_lstm", "rnn_gru", "conv_branches", "recurrent_state")


def feeds(model, x):
    names = ["input"] if isinstance(model, nn.Sequential) else model.input_names
    return dict(zip(names, x if isinstance(x, list) else [x]))


def run_onnxruntime(path, model, x):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    out = session.run(None, feeds(model, x))
    return out if len(out) > 1 else out[0]


def run_reference(path, model, x):
    out = ReferenceEvaluator(str(path)).run(None, feeds(model, x))
    return out if len(out) > 1 else out[0]


@pytest.mark.parametrize("case", [c for c in ONNX_CASES if c.endswith("float32")])
def test_onnxruntime_predicts_what_the_model_predicts_float32(tmp_path, case):
    model = make_case(case)
    path = export_onnx(model, tmp_path / "model.onnx")
    onnx.checker.check_model(onnx.load(path), full_check=True)
    for n in (1, 7):  # the batch size is free
        x = inputs_for(model, n=n, seed=n)
        assert worst(run_onnxruntime(path, model, x), model.predict(x)) < FLOAT32_RTOL


@pytest.mark.parametrize("case", [c for c in ONNX_CASES if c.endswith("float64")])
def test_float64_files_keep_float64_precision(tmp_path, case):
    model = make_case(case)
    path = export_onnx(model, tmp_path / "model.onnx", dtype="float64")
    x = inputs_for(model, n=5)
    expected = model.predict(x)
    assert worst(run_reference(path, model, x), expected) < FLOAT64_RTOL
    if not case.startswith(NO_FLOAT64_IN_ONNXRUNTIME):
        assert worst(run_onnxruntime(path, model, x), expected) < FLOAT64_RTOL


@pytest.mark.parametrize(
    "case, operators",
    [
        ("embedding_lstm_float32", {"Gather", "LSTM", "Transpose", "Squeeze"}),
        ("rnn_gru_float32", {"Gather", "RNN", "GRU"}),
        ("attention_block_float32", {"Gather", "Where", "Softmax", "LayerNormalization"}),
        ("two_input_float32", {"Gemm", "Concat", "Mul", "Add"}),
        ("position_norm_float32", {"ReduceMean", "LayerNormalization"}),
    ],
)
def test_the_layers_become_the_standard_operators(tmp_path, case, operators):
    graph = onnx.load(export_onnx(make_case(case), tmp_path / "model.onnx")).graph
    assert operators <= {node.op_type for node in graph.node}


def test_a_graph_keeps_its_input_names_shared_weights_and_outputs(tmp_path):
    model = make_case("two_input_float32")
    graph = onnx.load(export_onnx(model, tmp_path / "model.onnx")).graph
    assert [i.name for i in graph.input] == ["a", "b"]
    assert [o.name for o in graph.output] == ["output"]
    stored = [t.name for t in graph.initializer]
    assert stored.count("shared/kernel") == 1  # one layer called twice: stored once
    assert len([n for n in graph.node if n.name.startswith("shared")]) >= 2
    two_outputs = onnx.load(export_onnx(make_case("cross_attention_float32"), tmp_path / "c.onnx"))
    assert [o.name for o in two_outputs.graph.output] == ["output_0", "output_1"]


def test_layers_with_several_outputs_and_a_mask_input_keep_their_names(tmp_path):
    masked = make_case("masked_attention_float32")
    graph = onnx.load(export_onnx(masked, tmp_path / "m.onnx")).graph
    assert [i.name for i in graph.input] == ["x", "mask"]
    assert [o.name for o in graph.output] == ["output_0", "output_1"]
    scores = graph.output[1].type.tensor_type.shape.dim  # (batch, heads, Tq, Tk)
    assert [d.dim_value for d in scores][1:] == [2, 5, 5]
    states = onnx.load(export_onnx(make_case("recurrent_state_float32"), tmp_path / "r.onnx"))
    assert len(states.graph.output) == 3


def test_the_mask_input_is_used(tmp_path):
    # the same queries with another mask: onnxruntime must see the difference
    model = make_case("masked_attention_float32")
    path = export_onnx(model, tmp_path / "m.onnx")
    x, mask = inputs_for(model, n=3)
    everything = np.ones_like(mask)
    with_mask, without = (
        run_onnxruntime(path, model, [x, mask]),
        run_onnxruntime(path, model, [x, everything]),
    )
    assert worst(with_mask, without) > 1e-3
    assert worst(without, model.predict([x, everything])) < FLOAT32_RTOL


def test_models_used_as_layers_are_drawn_inline_with_their_weights_scoped(tmp_path):
    model = make_case("nested_models_float32")
    graph = onnx.load(export_onnx(model, tmp_path / "nested.onnx")).graph
    stored = [t.name for t in graph.initializer]
    # the block is called twice: its weights once, its nodes twice
    block_weights = [name for name in stored if name.startswith("block/")]
    assert block_weights and len(block_weights) == len(set(block_weights))
    (block,) = [layer for layer in model.layers if layer.name == "block"]
    assert len(block_weights) == len(block.get_weights())
    assert any(name.startswith("stem/deep/") for name in stored)  # two levels down
    block_adds = [n for n in graph.node if n.name.startswith("block/") and n.op_type == "Add"]
    assert len(block_adds) == 2
    # every weight of the model is in the file once: none lost to a clash of names
    assert len(stored) == len(set(stored))
    assert sum(int(np.prod(t.dims)) for t in graph.initializer) == model.count_params()


def test_a_subclassed_model_used_as_a_layer_is_refused_naming_it(tmp_path):
    x = nn.Input((12,), name="x")
    inner = residual_subclassed(0, "float32")
    model = nn.Model(x, nn.Dense(2)(inner(x)), seed=0, dtype="float32")
    path = tmp_path / "nested.onnx"
    with pytest.raises(UnsupportedLayerError, match=r"subclassed model used as a layer"):
        export_onnx(model, path)
    assert not path.exists()


def test_token_ids_stay_integers(tmp_path):
    graph = onnx.load(export_onnx(make_case("position_norm_float32"), tmp_path / "m.onnx")).graph
    assert graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.INT32


def test_a_changed_weight_is_seen(tmp_path):
    # the comparison above can fail: one LSTM gate's bias moved after export
    model = make_case("embedding_lstm_float32")
    path = export_onnx(model, tmp_path / "model.onnx")
    lstm = model.layers[1]
    kernel, recurrent, bias = lstm.get_weights()
    bias[3 * lstm.units] += 0.5  # the output gate of the first unit
    lstm.set_weights([kernel, recurrent, bias])
    x = inputs_for(model)
    assert worst(run_onnxruntime(path, model, x), model.predict(x)) > FLOAT32_RTOL


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(["SimpleRNN", "LSTM", "GRU"]),
    units=st.integers(1, 5),
    steps=st.integers(1, 6),
    return_sequences=st.booleans(),
    heads=st.integers(1, 3),
    causal=st.booleans(),
)
def test_any_recurrent_or_attention_shape_exports_exactly(
    tmp_path_factory, kind, units, steps, return_sequences, heads, causal
):
    ids = nn.Input((steps,), name="ids")
    h = nn.Embedding(7, 4)(ids)
    h = nn.Add()([h, nn.MultiHeadAttention(heads, 2)(h, h, use_causal_mask=causal)])
    h = getattr(nn, kind)(units, return_sequences=return_sequences)(nn.LayerNormalization()(h))
    if return_sequences:
        h = nn.GlobalAveragePooling1D()(h)
    model = nn.Model(ids, nn.Dense(3)(h), seed=steps, dtype="float64")
    rng = np.random.default_rng(units)
    model.set_weights([w + 0.3 * rng.standard_normal(w.shape) for w in model.get_weights()])
    path = export_onnx(model, tmp_path_factory.mktemp("onnx") / "m.onnx", dtype="float64")
    x = rng.integers(0, 7, (3, steps))
    assert worst(run_reference(path, model, x), model.predict(x)) < FLOAT64_RTOL


def test_a_subclassed_model_is_refused_with_what_to_do(tmp_path):
    path = tmp_path / "sub.onnx"
    with pytest.raises(NotImplementedError, match="subclassed model") as info:
        export_onnx(residual_subclassed(seed=0, dtype="float32"), path)
    assert "Model(inputs, outputs)" in str(info.value)
    assert not path.exists()


def test_a_layer_of_ones_own_in_a_graph_is_named(tmp_path):
    class Doubler(nn.Layer):
        def call(self, x, training=False):
            return x * 2.0

    x = nn.Input((3,), name="x")
    model = nn.Model(x, nn.Dense(2)(Doubler(name="twice")(x)), seed=0)
    with pytest.raises(UnsupportedLayerError, match=r"'twice' \(Doubler\).*ONNX"):
        export_onnx(model, tmp_path / "custom.onnx")
    assert not (tmp_path / "custom.onnx").exists()
