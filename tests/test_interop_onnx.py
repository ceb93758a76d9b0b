"""``export_onnx``: a valid ONNX graph whose onnxruntime outputs are the model's predictions.

Tolerances (relative to the largest output): 1e-5 for float32 files (float32
keeps ~7 digits; onnxruntime and NumPy sum in different orders), 1e-9 for a
float64 dense model: far below what float32 could reach (~1e-7), with room for
onnxruntime's fast tanh and sigmoid, which agree with NumPy's to ~1e-11.
"""

import numpy as np
import pytest

import dlcourse
from dlcourse import ops
from dlcourse.interop import UnsupportedLayerError, export_onnx
from dlcourse.nn import (
    Activation,
    BatchNorm,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    Layer,
    MaxPool2D,
    ReLU,
    Sequential,
    Softmax,
    Tanh,
)

onnx = pytest.importorskip("onnx", reason="export_onnx needs the onnx package")
ort = pytest.importorskip("onnxruntime", reason="running the exported file needs onnxruntime")


def rel_error(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, f"shapes differ: {a.shape} vs {b.shape}"
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def with_random_weights(model, seed):
    """Perturb every weight: zero biases and unit batch-norm statistics would hide mistakes."""
    rng = np.random.default_rng(seed)
    values = []
    for layer in model.layers:
        for name, w in zip(layer.weight_names, layer.get_weights()):
            if name == "moving_variance":
                values.append(rng.uniform(0.5, 2.0, w.shape))
            else:
                values.append(w + 0.3 * rng.standard_normal(w.shape))
    model.set_weights(values)
    return model


def mlp(dtype="float32"):
    layers = [
        Dense(16, activation="relu"),
        Dropout(0.4),
        Dense(8, activation="sigmoid"),
        BatchNorm(epsilon=1e-3),
        Tanh(),
        Dense(6, use_bias=False),
        Activation(None),
        ReLU(),
        Dense(4, activation="softmax"),
    ]
    return with_random_weights(Sequential(layers, seed=0, dtype=dtype, input_shape=(10,)), 1)


def cnn(dtype="float32"):
    layers = [
        Conv2D(4, 3, padding="same", activation="relu"),
        BatchNorm(),
        MaxPool2D(2),
        Conv2D(5, 3, strides=2, padding=1, activation="tanh"),
        Conv2D(3, 1, use_bias=False),
        MaxPool2D(2, strides=1),
        Flatten(),
        Dense(6),
        Softmax(),
    ]
    # height != width: a swapped pair of axes cannot go unnoticed
    return with_random_weights(Sequential(layers, seed=2, dtype=dtype, input_shape=(3, 11, 8)), 3)


def run_onnx(path, x):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"input": x})[0]


def inputs_for(model, n, dtype="float32", seed=0):
    return np.random.default_rng(seed).standard_normal((n, *model.input_shape[1:])).astype(dtype)


@pytest.mark.parametrize("make", [mlp, cnn], ids=["mlp", "cnn"])
def test_onnxruntime_predicts_what_the_model_predicts(tmp_path, make):
    model = make()
    path = export_onnx(model, tmp_path / "model.onnx")
    onnx.checker.check_model(onnx.load(path), full_check=True)
    for n in (1, 7):  # the batch size is free
        x = inputs_for(model, n)
        out = run_onnx(path, x)
        assert out.dtype == np.float32
        assert rel_error(out, model.predict(x)) < 1e-5


def test_the_graph_uses_the_standard_operators(tmp_path):
    graph = onnx.load(export_onnx(cnn(), tmp_path / "cnn.onnx")).graph
    ops_used = [node.op_type for node in graph.node]
    for op in ("Conv", "Relu", "BatchNormalization", "MaxPool", "Tanh", "Flatten", "Gemm"):
        assert op in ops_used
    assert [i.name for i in graph.input] == ["input"]
    assert [o.name for o in graph.output] == ["output"]
    batch = graph.input[0].type.tensor_type.shape.dim[0]
    assert batch.dim_param == "batch"  # symbolic, not a fixed number
    # the kernels are ours, unchanged: ONNX is NCHW with (F, C, kh, kw) kernels too
    stored = {t.name: onnx.numpy_helper.to_array(t) for t in graph.initializer}
    model = cnn()
    np.testing.assert_array_equal(
        stored["conv2d/kernel"], model.layers[0].get_weights()[0].astype(np.float32)
    )


def test_float64_dense_model_keeps_its_precision(tmp_path):
    model = mlp("float64")
    path = export_onnx(model, tmp_path / "mlp64.onnx", dtype="float64")
    x = inputs_for(model, 5, "float64")
    out = run_onnx(path, x)
    assert out.dtype == np.float64
    assert rel_error(out, model.predict(x)) < 1e-9


def test_models_on_other_backends_export_the_same_numbers(tmp_path):
    pytest.importorskip("torch", reason="the torch backend needs PyTorch")
    with dlcourse.backend("torch", device="cpu"):
        model = mlp()
    path = export_onnx(model, tmp_path / "torch.onnx")
    x = inputs_for(model, 4)
    assert rel_error(run_onnx(path, x), model.predict(x)) < 1e-5


class Doubler(Layer):
    """A layer of one's own: ONNX has no idea what it computes."""

    def call(self, x, training=False):
        return ops.multiply(x, 2.0)


def test_an_unsupported_layer_is_named_and_nothing_is_written(tmp_path):
    model = Sequential([Dense(3), Doubler(name="twice")], seed=0, input_shape=(4,))
    path = tmp_path / "custom.onnx"
    with pytest.raises(UnsupportedLayerError, match=r"'twice' \(Doubler\).*ONNX") as info:
        export_onnx(model, path)
    assert info.value.layer == "twice"
    assert not path.exists()


def test_an_unbuilt_model_is_refused_with_the_fix(tmp_path):
    with pytest.raises(ValueError, match=r"model\.build"):
        export_onnx(Sequential([Dense(3)]), tmp_path / "unbuilt.onnx")


def test_an_unknown_dtype_is_refused(tmp_path):
    with pytest.raises(ValueError, match="dtype"):
        export_onnx(mlp(), tmp_path / "half.onnx", dtype="float16")
