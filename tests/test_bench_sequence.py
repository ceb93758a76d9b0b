"""``dlcourse bench``'s sequence networks: the ``rnn`` rows on every dlcourse backend, and the
``transformer`` network (dlcourse, plain PyTorch, Keras), its FLOPs and its parameters.

Every row runs for one step at its real sizes (a transformer step is 32
sequences of 32 tokens): these tests check that the rows train the networks
the module docstring of ``dlcourse.bench.networks`` describes, not how fast.
"""

import importlib.util

import numpy as np
import pytest

from dlcourse.bench.impls import DLCOURSE_BACKENDS, IMPLS, missing_packages
from dlcourse.bench.networks import NETWORKS, flops_per_step, make_data
from dlcourse.bench.runner import run_row

SEQUENCE_NETWORKS = ("rnn", "transformer")
ONE_STEP = {"steps": 1, "warmup": 0, "repeats": 1, "threads": None, "device": "cpu"}


def require(impl):
    missing = missing_packages(IMPLS[impl])
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed: {IMPLS[impl].install}")


@pytest.mark.parametrize("network", SEQUENCE_NETWORKS)
def test_every_row_kind_declares_the_sequence_networks(network):
    for impl in IMPLS.values():
        assert impl.unsupported(network, "cpu") is None, impl.name


@pytest.mark.parametrize("backend", DLCOURSE_BACKENDS)
@pytest.mark.parametrize("network", SEQUENCE_NETWORKS)
def test_a_dlcourse_row_trains_the_network_on_every_backend(network, backend):
    from dlcourse.bench.worker import time_row

    require(backend)
    result = time_row({"network": network, "impl": backend, **ONE_STEP})
    assert result["ms_per_step"] > 0 and len(result["ms_per_step_repeats"]) == 1


@pytest.mark.parametrize("impl", ["pytorch", "keras-jax"])
@pytest.mark.parametrize("network", SEQUENCE_NETWORKS)
def test_the_pytorch_and_keras_rows_run(network, impl):
    require(impl)
    outcome = run_row({"network": network, "impl": impl, **ONE_STEP})
    assert outcome.get("ms_per_step", 0) > 0, outcome


def _fit_one_step(backend, network, x, y):
    import dlcourse
    from dlcourse import nn
    from dlcourse.bench.train_dlcourse import dlcourse_model

    with dlcourse.backend(backend):
        model = dlcourse_model(network, seed=3)
    model.compile(
        optimizer=nn.SGD(learning_rate=0.5),
        loss=nn.SparseCategoricalCrossentropy(from_logits=True),
    )
    before = [np.array(w) for w in model.get_weights()]
    model.fit(x, y, epochs=1, batch_size=len(x), verbose=0, shuffle=False)
    return before, [np.array(w) for w in model.get_weights()]


def test_the_dlcourse_transformer_trains_every_weight_alike_on_manual_and_torch():
    # manual runs the hand-written passes (TokenDense's folded steps included),
    # torch differentiates the ops: one SGD step must move every weight the same way
    require("torch")
    network = NETWORKS["transformer"]
    x, y = make_data(network, 1, seed=1)
    before, manual = _fit_one_step("manual", network, x, y)
    _, torch = _fit_one_step("torch", network, x, y)
    for k, (start, a, b) in enumerate(zip(before, manual, torch)):
        assert not np.array_equal(start, a), f"weight {k} did not change on manual"
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5, err_msg=f"weight {k}")


def test_transformer_flops_match_torch_flop_counter():
    torch = pytest.importorskip("torch", reason="torch's FlopCounterMode counts independently")
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    from dlcourse.bench.train_pytorch import torch_model

    network = NETWORKS["transformer"]
    x, y = (torch.from_numpy(a) for a in make_data(network, 1))
    model = torch_model(network)
    # the counter sees no FLOPs in the CPU's fused attention kernel: the MATH kernel
    # computes the same products as matmuls it counts
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        torch.nn.functional.cross_entropy(model(x), y).backward()
    assert counter.get_total_flops() == network.flops == flops_per_step("transformer", 32)


def test_the_transformer_has_the_same_parameters_in_dlcourse_pytorch_and_keras():
    import dlcourse
    from dlcourse.bench.train_dlcourse import dlcourse_model
    from dlcourse.bench.train_pytorch import torch_model

    pytest.importorskip("torch", reason="the plain PyTorch model is one of the three")
    network = NETWORKS["transformer"]
    with dlcourse.backend("manual"):
        count = dlcourse_model(network).count_params()
    assert count == sum(p.numel() for p in torch_model(network).parameters())
    if importlib.util.find_spec("keras") is not None:
        from dlcourse.bench.train_keras import keras_model

        assert count == keras_model(network).count_params()


def test_transformer_data_are_token_ids_in_the_vocabulary():
    network = NETWORKS["transformer"]
    x, y = make_data(network, 2)
    assert x.shape == (64, 32) and np.issubdtype(x.dtype, np.integer)
    assert x.min() >= 0 and x.max() < network.vocabulary == 64
    assert y.shape == (64,) and y.max() < 10
