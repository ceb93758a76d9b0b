"""``dlcourse train --model ... --data ... --output ...``: the user's model, from a shell.

The command runs for real (a fresh interpreter starting 2 gloo processes);
the trained model it writes must hold the weights one-process ``fit`` gives
the same model on the same data (float64, 1e-10): it is the same
``DataParallel.fit``. Every mistake is refused before a worker starts, with
a message that names the file or name and the fix.
"""

import importlib
import json
import textwrap

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="DataParallel('torch') needs PyTorch")
if not torch.distributed.is_available() or not torch.distributed.is_gloo_available():
    pytest.skip("needs torch.distributed with the gloo backend", allow_module_level=True)

import dlcourse  # noqa: E402
from distributed_helpers import run_dlcourse  # noqa: E402
from dlcourse.nn import load_model  # noqa: E402

MODELS = """
import dlcourse
from dlcourse.nn import Dense, Sequential
from dlcourse.nn.losses import SparseCategoricalCrossentropy


def _network(inputs=5, classes=3):
    with dlcourse.backend("torch"):
        return Sequential(
            [Dense(8, activation="tanh"), Dense(classes)],
            seed=4,
            dtype="float64",
            input_shape=(inputs,),
        )


def build(inputs=5, classes=3):
    model = _network(inputs, classes)
    model.compile(
        optimizer="adam",
        loss=SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def uncompiled():
    return _network()


def not_a_model():
    return "a string"


def broken():
    raise RuntimeError("the data folder is not mounted")
"""


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A working folder with ``cli_models.py`` and a data file, as a user would have."""
    path = tmp_path_factory.mktemp("train-command")
    (path / "cli_models.py").write_text(textwrap.dedent(MODELS))
    rng = np.random.default_rng(3)
    np.savez(
        path / "data.npz",
        x=rng.standard_normal((40, 5)),
        y=rng.integers(0, 3, 40),
        x_val=rng.standard_normal((11, 5)),
        y_val=rng.integers(0, 3, 11),
    )
    np.savez(path / "no_y.npz", x=rng.standard_normal((4, 5)), labels=np.zeros(4))
    np.savez(path / "half_val.npz", x=np.zeros((4, 5)), y=np.zeros(4), x_val=np.zeros((2, 5)))
    return path


def models_module(folder, monkeypatch):
    monkeypatch.syspath_prepend(str(folder))
    return importlib.import_module("cli_models")


def assert_same_weights(a, b):
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_allclose(wa, wb, rtol=0, atol=1e-10)


@pytest.mark.parametrize("engine", ["torch", "jax"])
def test_a_module_function_model_on_npz_data_trains_as_one_process_fit(folder, monkeypatch, engine):
    pytest.importorskip(engine, reason=f"--engine {engine} needs {engine}")
    (folder / "trained.npz").write_text("an old result")  # replaced: --overwrite is given
    done, _ = run_dlcourse(
        "train", "--engine", engine, "--nproc", "2", "--model", "cli_models:build",
        "--data", "data.npz", "--epochs", "2", "--batch-size", "8", "--quiet",
        "--output", "trained.npz", "--overwrite", cwd=folder,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert summary["output"] == "trained.npz" and summary["epochs"] == 2
    assert summary["engine"] == engine
    data = np.load(folder / "data.npz")
    twin = models_module(folder, monkeypatch).build()
    expected = twin.fit(
        data["x"], data["y"], epochs=2, batch_size=8, verbose=0,
        validation_data=(data["x_val"], data["y_val"]),
    )  # fmt: skip
    with dlcourse.backend("torch"):
        trained = load_model(folder / "trained.npz")
    assert_same_weights(trained, twin)
    assert trained.compiled  # written with its compile settings: it can train on
    for key, values in expected.history.items():
        assert summary["final"][key] == pytest.approx(values[-1], abs=1e-10), key


def test_a_saved_model_trains_on_the_digits_by_default(folder, monkeypatch, tmp_path):
    models_module(folder, monkeypatch).build(inputs=64, classes=10).save(tmp_path / "mine.npz")
    done, _ = run_dlcourse(
        "train", "--engine", "torch", "--model", str(tmp_path / "mine.npz"), "--epochs", "1",
        "--batch-size", "512", "--quiet", "--output", str(tmp_path / "out"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout)["output"] == str(tmp_path / "out.npz")
    from dlcourse.data import load_digits

    digits = load_digits()
    with dlcourse.backend("torch"):
        twin, trained = load_model(tmp_path / "mine.npz"), load_model(tmp_path / "out.npz")
    twin.fit(digits.x_train, digits.y_train, epochs=1, batch_size=512, verbose=0)
    assert_same_weights(trained, twin)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "missing.npz"], "--model missing.npz: there is no such file, and it is not "
         "of the form module:function"),
        (["--model", "no_such_module:build"], "cannot import module 'no_such_module'"),
        (["--model", "cli_models:nothing"], "module 'cli_models' has no function 'nothing'"),
        (["--model", "cli_models:not_a_model"], "not_a_model() of cli_models gave str, not a "
         "dlcourse model"),
        (["--model", "cli_models:uncompiled"], "is not compiled: call model.compile("),
        (["--model", "cli_models:broken"], "broken() raised RuntimeError: the data folder"),
        (["--model", "cli_models:build", "--data", "no_y.npz"], "--data no_y.npz: it has no "
         "array y (it holds x, labels)"),
        (["--model", "cli_models:build", "--data", "half_val.npz"], "has x_val but not its "
         "partner"),
        (["--model", "cli_models:build", "--data", "gone.npz"], "--data gone.npz: no such file"),
        (["--model", "cli_models:build", "--output", "data.npz"], "--output data.npz: the file "
         "exists already and would be overwritten. Choose another name, or add --overwrite"),
        (["--model", "cli_models:build", "--lr", "0.1"], "--lr: the demo network's settings"),
        (["--data", "data.npz"], "--data goes with --model"),
    ],
)  # fmt: skip
def test_each_mistake_is_named_with_its_fix_before_any_worker_starts(folder, args, message):
    if "--output" not in args and "--model" in args:
        args = [*args, "--output", "new.npz"]
    before = (folder / "data.npz").read_bytes()
    done, seconds = run_dlcourse("train", "--engine", "torch", *args, timeout=60, cwd=folder)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert not (folder / "new.npz").exists()
    assert (folder / "data.npz").read_bytes() == before  # nothing overwritten
    assert seconds < 20  # refused up front, no training


def test_the_demo_network_says_which_engines_it_runs_on(folder):
    done, _ = run_dlcourse("train", "--engine", "jax", "--quiet", timeout=60, cwd=folder)
    assert done.returncode == 2
    assert "the demo network trains on --engine torch or tensorflow" in done.stderr
    assert "--engine jax trains your own --model" in done.stderr
