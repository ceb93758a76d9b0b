"""``dlcourse train --engine torch``: real torch.distributed processes (gloo) on this machine.

The runs are short (float64, 2 epochs of 5 steps) and shared by the tests
through module fixtures; float64 lets "2 processes == 1 process" be checked
to 1e-10 (only the order of the additions differs).
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="dlcourse train --engine torch needs PyTorch")
if not torch.distributed.is_available() or not torch.distributed.is_gloo_available():
    pytest.skip("needs torch.distributed with the gloo backend", allow_module_level=True)

from distributed_helpers import (  # noqa: E402
    SHORT,
    SHORT_OPTIONS,
    processes_mentioning,
    run_dlcourse,
    saved_weights,
    two_worker_report,
)
from dlcourse.distributed import TrainOptions, train  # noqa: E402
from dlcourse.distributed.options import build_model, epoch_order, shard  # noqa: E402
from dlcourse.distributed.ports import free_port  # noqa: E402
from dlcourse.distributed.report import REPORT_KEYS, weights_digest  # noqa: E402


@pytest.fixture(scope="module")
def two_process_run(tmp_path_factory):
    return two_worker_report("torch", tmp_path_factory.mktemp("ddp2"))


@pytest.fixture(scope="module")
def one_process_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ddp1")
    return train("torch", 1, **SHORT_OPTIONS, verbose=False, json_path=str(folder / "r.json"))


def test_the_report_has_the_keys_chapter_11_reads(two_process_run):
    report = two_process_run
    assert set(REPORT_KEYS) <= set(report)
    assert (report["engine"], report["nproc"], report["global_batch"]) == ("torch", 2, 32)
    assert report["epochs"] == 2 and report["communication"] == "gloo"
    assert report["seconds"] > 0 and report["startup_seconds"] > 0
    assert 0.0 <= report["accuracy"] <= 1.0 and np.isfinite(report["final_loss"])
    assert Path(report["weights_path"]).name == "r.weights.npz"
    assert len(saved_weights(report)) == 4
    # the workers' scratch folder is gone: only the report and its weights stay
    files = sorted(p.name for p in Path(report["weights_path"]).parent.iterdir())
    assert files == ["r.json", "r.weights.npz"]  # two dense layers: kernel and bias each


def test_every_replica_ends_with_the_same_weights(two_process_run):
    hashes = two_process_run["replica_hashes"]
    assert len(hashes) == 2 and two_process_run["replicas_identical"] is True
    assert hashes[0] == hashes[1]
    # the hashes are of the weights that were saved, not of something else
    assert hashes[0] == weights_digest(saved_weights(two_process_run))


def test_training_moved_the_weights_and_lowered_the_loss(two_process_run):
    import dlcourse

    options = TrainOptions(engine="torch", nproc=2, **SHORT_OPTIONS)
    with dlcourse.backend("manual"):
        initial = build_model(options, 64).get_weights()
    trained = saved_weights(two_process_run)
    assert all(w.shape == t.shape for w, t in zip(initial, trained))
    assert max(np.abs(w - t).max() for w, t in zip(initial, trained)) > 1e-3
    first, last = two_process_run["epoch_losses"]
    assert last < first


def test_two_processes_equal_one_process_on_the_same_global_batch(two_process_run, one_process_run):
    assert one_process_run["nproc"] == 1 and one_process_run["replicas_identical"]
    for two, one in zip(saved_weights(two_process_run), saved_weights(one_process_run)):
        np.testing.assert_allclose(two, one, rtol=0, atol=1e-10)
    assert two_process_run["final_loss"] == pytest.approx(one_process_run["final_loss"], abs=1e-10)


def test_each_rank_takes_its_own_slice_of_every_global_batch():
    options = TrainOptions(engine="torch", nproc=4, batch_size=8)
    (order,) = epoch_order(options, 40, 1)
    for step in range(5):
        slices = [shard(order, step, options, rank) for rank in range(4)]
        assert all(len(s) == 2 for s in slices)
        np.testing.assert_array_equal(np.concatenate(slices), order[step * 8 : step * 8 + 8])


def test_a_global_batch_that_does_not_split_evenly_is_refused():
    with pytest.raises(ValueError, match="batch_size.*split evenly"):
        TrainOptions(engine="torch", nproc=2, batch_size=33)
    done, _ = run_dlcourse("train", "--engine", "torch", "--nproc", "2", "--batch-size", "33")
    assert done.returncode == 2 and "split evenly" in done.stderr


def test_a_rank_that_raises_stops_the_run_with_its_name_and_no_process_left(tmp_path):
    done, seconds = run_dlcourse(
        "train", "--engine", "torch", "--nproc", "2", *SHORT, "--quiet", "--timeout", "120",
        "--json", f"{tmp_path}/r.json",
        env={"DLCOURSE_TRAIN_FAIL": "1:2"},
    )  # fmt: skip
    assert done.returncode == 1
    assert "rank 1 failed: RuntimeError: injected failure at step 2" in done.stderr
    assert seconds < 120  # stopped at once, not at the timeout
    assert not (tmp_path / "r.json").exists()
    assert processes_mentioning(str(tmp_path)) == []


def test_a_rank_that_hangs_is_stopped_by_the_timeout(tmp_path):
    timeout = 45
    done, seconds = run_dlcourse(
        "train", "--engine", "torch", "--nproc", "2", *SHORT, "--quiet",
        "--timeout", str(timeout), "--json", f"{tmp_path}/r.json",
        env={"DLCOURSE_TRAIN_FAIL": "1:2:hang"},
    )  # fmt: skip
    assert done.returncode == 1
    assert "timeout" in done.stderr
    assert seconds < timeout + 20  # the timeout plus stopping, not a hang
    assert processes_mentioning(str(tmp_path)) == []


def test_torchrun_starts_the_same_training(tmp_path, two_process_run):
    done = subprocess.run(
        [
            sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
            "2", "-m", "dlcourse", "train", "--engine", "torch", *SHORT, "--quiet",
            "--timeout", "120", "--json", f"{tmp_path}/r.json",
        ],
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["nproc"] == 2 and report["replicas_identical"]
    for ours, theirs in zip(saved_weights(report), saved_weights(two_process_run)):
        np.testing.assert_array_equal(ours, theirs)  # same ranks, same slices, same bits


def _torchrun_node(node, endpoint, folder):
    """One torchrun "machine" of one process, joining the c10d rendezvous at ``endpoint``."""
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc-per-node",
        "1", "--node-rank", str(node), "--rdzv-backend", "c10d", "--rdzv-endpoint", endpoint,
        "--rdzv-id", "two-nodes", "-m", "dlcourse", "train", "--engine", "torch", *SHORT,
        "--quiet", "--timeout", "120", "--json", f"{folder}/r.json",
    ]  # fmt: skip
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_torchrun_node_groups_train_as_two_processes_do(tmp_path, two_process_run):
    """The multi-machine path on one host: two torchrun "nodes" of one process each,
    meeting through a c10d rendezvous on 127.0.0.1, as two machines would over a network."""
    endpoint = f"127.0.0.1:{free_port()}"
    nodes = [_torchrun_node(node, endpoint, tmp_path) for node in (0, 1)]
    results = [node.communicate(timeout=240) for node in nodes]
    for node, (_, err) in zip(nodes, results):
        assert node.returncode == 0, err[-3000:]
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["nproc"] == 2 and report["replicas_identical"]
    # two slices summed in either order give the same bits: whichever node got rank 0
    for ours, theirs in zip(saved_weights(report), saved_weights(two_process_run)):
        np.testing.assert_array_equal(ours, theirs)
    assert processes_mentioning(str(tmp_path)) == []


@pytest.mark.cuda
def test_nccl_on_the_gpus(tmp_path):
    nproc = min(2, torch.cuda.device_count())
    report = train("torch", nproc, **SHORT_OPTIONS, device="cuda", verbose=False)
    assert report["communication"] == "nccl" and report["replicas_identical"]
