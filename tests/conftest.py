"""Shared test set-up: hypothesis profiles, quiet frameworks, the CUDA skip rule, notebook runs."""

import importlib.util
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter hides failures

settings.register_profile(
    "default",
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("thorough", max_examples=400, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def _cuda_skip_reason():
    if importlib.util.find_spec("torch") is None:
        return "needs PyTorch with CUDA; torch is not installed"
    import torch

    if not torch.cuda.is_available():
        return "needs an NVIDIA GPU; torch.cuda.is_available() is False on this machine"
    return None


def pytest_collection_modifyitems(config, items):
    cuda_items = [item for item in items if "cuda" in item.keywords]
    if not cuda_items:
        return
    reason = _cuda_skip_reason()
    if reason:
        for item in cuda_items:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def runs(tmp_path_factory):
    """Notebook executions shared by the whole session (see notebook_runs.py)."""
    from notebook_runs import Runs

    return Runs(tmp_path_factory)


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
