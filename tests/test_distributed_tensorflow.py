"""``dlcourse train --engine tensorflow``: a real MirroredStrategy over 2 logical CPU devices.

Each run is a fresh TensorFlow subprocess (the logical devices must be set up
before TensorFlow starts). float64, 2 epochs of 5 steps: "2 replicas == 1
replica" is checked to 1e-10.
"""

import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow", reason="dlcourse train --engine tensorflow needs TensorFlow")

from distributed_helpers import (  # noqa: E402
    SHORT_OPTIONS,
    processes_mentioning,
    saved_weights,
    two_worker_report,
)
from dlcourse.distributed import WorkerFailed, train  # noqa: E402
from dlcourse.distributed.report import REPORT_KEYS, weights_digest  # noqa: E402


@pytest.fixture(scope="module")
def two_device_run(tmp_path_factory):
    return two_worker_report("tensorflow", tmp_path_factory.mktemp("mirrored2"), timeout=240)


@pytest.fixture(scope="module")
def one_device_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mirrored1")
    return train("tensorflow", 1, **SHORT_OPTIONS, verbose=False, json_path=str(folder / "r.json"))


def test_the_report_has_the_keys_chapter_11_reads(two_device_run):
    report = two_device_run
    assert set(REPORT_KEYS) <= set(report)
    assert (report["engine"], report["nproc"], report["global_batch"]) == ("tensorflow", 2, 32)
    assert report["seconds"] > 0 and report["startup_seconds"] > 0
    assert 0.0 <= report["accuracy"] <= 1.0 and np.isfinite(report["final_loss"])
    assert len(saved_weights(report)) == 4
    # the workers' scratch folder is gone: only the report and its weights stay
    files = sorted(p.name for p in Path(report["weights_path"]).parent.iterdir())
    assert files == ["r.json", "r.weights.npz"]


def test_the_replicas_are_two_logical_cpu_devices(two_device_run):
    devices = two_device_run["device"].split(",")
    assert [d.rsplit("/", 1)[-1] for d in devices] == ["device:CPU:0", "device:CPU:1"]


def test_every_replica_ends_with_the_same_weights(two_device_run):
    hashes = two_device_run["replica_hashes"]
    assert len(hashes) == 2 and two_device_run["replicas_identical"] is True
    assert hashes[0] == hashes[1] == weights_digest(saved_weights(two_device_run))
    first, last = two_device_run["epoch_losses"]
    assert last < first  # it trained


def test_two_replicas_equal_one_on_the_same_global_batch(two_device_run, one_device_run):
    assert one_device_run["nproc"] == 1
    for two, one in zip(saved_weights(two_device_run), saved_weights(one_device_run)):
        np.testing.assert_allclose(two, one, rtol=0, atol=1e-10)
    assert two_device_run["final_loss"] == pytest.approx(one_device_run["final_loss"], abs=1e-10)


def test_a_failing_worker_is_reported_and_leaves_no_process(tmp_path, monkeypatch):
    monkeypatch.setenv("DLCOURSE_TRAIN_FAIL", "0:2")
    start = time.monotonic()
    with pytest.raises(WorkerFailed, match="rank 0 failed: RuntimeError: injected failure"):
        train("tensorflow", 2, **SHORT_OPTIONS, verbose=False, json_path=str(tmp_path / "r.json"))
    assert time.monotonic() - start < 120
    assert not (tmp_path / "r.json").exists()
    assert processes_mentioning(str(tmp_path)) == []
