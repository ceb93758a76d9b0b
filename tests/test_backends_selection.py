"""Choosing a backend: by name, in a with block, from $DLCOURSE_BACKEND, with options."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import dlcourse
from dlcourse import backends, ops
from dlcourse.nn import Dense, Sequential


@pytest.fixture(autouse=True)
def fresh_choice(monkeypatch):
    monkeypatch.delenv("DLCOURSE_BACKEND", raising=False)
    previous = backends._chosen
    backends._chosen = None
    yield
    backends._chosen = previous


def test_manual_is_the_default_and_loads_once():
    assert dlcourse.get_backend() == "manual"
    first = backends.load()
    assert first.name == "manual"
    assert backends.load() is first  # one object per configuration


def test_set_backend_and_with_block_restore():
    dlcourse.set_backend("torch")
    assert dlcourse.get_backend() == "torch"
    with dlcourse.backend("manual"):
        assert dlcourse.get_backend() == "manual"
        assert backends.current().name == "manual"
    assert dlcourse.get_backend() == "torch"
    assert backends.current().name == "torch"


def test_environment_variable_chooses_when_nothing_was_set(monkeypatch):
    monkeypatch.setenv("DLCOURSE_BACKEND", "Torch ")
    assert dlcourse.get_backend() == "torch"
    monkeypatch.setenv("DLCOURSE_BACKEND", "pytorch")
    with pytest.raises(ValueError, match="DLCOURSE_BACKEND.*choose one of: manual"):
        dlcourse.get_backend()


def test_unknown_name_lists_the_available_ones():
    with pytest.raises(ValueError) as err:
        dlcourse.set_backend("theano")
    for name in ("manual", "autodiff", "torch", "tensorflow", "jax", "pytensor"):
        assert name in str(err.value)


def test_missing_package_names_the_pip_extra(monkeypatch):
    monkeypatch.setitem(backends.BACKENDS, "fake", "no_such_package_for_dlcourse")
    monkeypatch.setitem(backends._MODULES, "fake", "dlcourse.backends.fake_backend")
    with pytest.raises(
        ImportError, match=r'pip install "dlcourse\[no_such_package_for_dlcourse\]"'
    ):
        dlcourse.set_backend("fake")
    with pytest.raises(ImportError, match="no_such_package_for_dlcourse"):
        backends.load("fake")


def test_a_backend_without_code_yet_says_which_are_ready(monkeypatch):
    monkeypatch.setitem(backends.BACKENDS, "later", None)
    monkeypatch.setitem(backends._MODULES, "later", "dlcourse.backends.later_backend")
    with pytest.raises(NotImplementedError, match="not part of this version.*manual.*torch"):
        backends.load("later")


def test_manual_with_torch_arrays_keeps_its_options():
    torch = pytest.importorskip("torch", reason="array='torch' needs PyTorch")
    dlcourse.set_backend("manual", array="torch", device="cpu")
    chosen = backends.current()
    assert (chosen.name, chosen.array) == ("manual", "torch")
    model = Sequential([Dense(3)], seed=0)
    out = model(np.ones((2, 4), dtype=np.float32))
    assert isinstance(out, torch.Tensor) and not out.requires_grad


def test_bad_options_say_what_to_do():
    with pytest.raises(ValueError, match='array="torch"'):
        backends.load("manual", device="cuda")
    with pytest.raises(ValueError, match="array: expected one of"):
        backends.load("manual", array="jax")
    with pytest.raises(ValueError, match="no option colour; its options are: device"):
        backends.load("torch", colour="red")


def test_asking_for_cuda_without_a_gpu_is_explained():
    torch = pytest.importorskip("torch", reason="the torch backend needs PyTorch")
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: asking for CUDA is fine here")
    with pytest.raises(ValueError, match="torch.cuda.is_available"):
        backends.load("torch", device="cuda")


def test_ops_dispatch_to_the_chosen_backend():
    torch = pytest.importorskip("torch", reason="the torch backend needs PyTorch")
    x = np.array([[-1.0, 2.0]])
    with dlcourse.backend("manual"):
        out = ops.relu(x)
        assert isinstance(out, np.ndarray)
    with dlcourse.backend("torch", device="cpu"):
        out_t = ops.relu(ops.convert_to_tensor(x))
        assert isinstance(out_t, torch.Tensor)
    np.testing.assert_array_equal(out, [[0.0, 2.0]])
    np.testing.assert_array_equal(out_t.numpy(), [[0.0, 2.0]])


def test_a_model_keeps_the_backend_it_was_built_with():
    pytest.importorskip("torch", reason="the torch backend needs PyTorch")
    with dlcourse.backend("manual"):
        model = Sequential([Dense(2)], seed=0)
    model.compile(optimizer="sgd", loss="mse")
    dlcourse.set_backend("torch")  # chosen later: must not disturb the existing model
    model.fit(np.ones((4, 3)), np.zeros((4, 2)), epochs=1, verbose=0)
    assert model.backend.name == "manual"
    assert isinstance(model.trainable_weights[0], np.ndarray)


def test_loading_the_manual_backend_imports_no_framework():
    code = (
        "import json, sys, numpy as np, dlcourse\n"
        "from dlcourse.nn import Sequential, Dense\n"
        "m = Sequential([Dense(3, activation='relu'), Dense(2)], seed=0)\n"
        "m.compile(optimizer='adam', loss='mse')\n"
        "m.fit(np.ones((8, 4)), np.zeros((8, 2)), epochs=1, verbose=0)\n"
        "heavy = {'torch', 'tensorflow', 'jax', 'keras', 'matplotlib'}\n"
        "print(json.dumps(sorted({n.split('.')[0] for n in sys.modules} & heavy)))\n"
    )
    env = dict(os.environ, DLCOURSE_BACKEND="manual")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
