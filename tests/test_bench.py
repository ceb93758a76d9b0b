"""``dlcourse bench``: the report's shape, its rows, threads, skipped rows, the table, plot, CLI.

The rows really run, each in its own process, with tiny step counts: these
tests check what the benchmark reports and how, not how fast anything is.
"""

import importlib.util
import json
import math
import os
import subprocess
import sys

import pytest

from dlcourse.bench import format_table, measure_peak_gflops, plot_bench, run_bench
from dlcourse.bench.impls import IMPLS, resolve_impls
from dlcourse.bench.networks import NETWORKS, flops_per_step
from dlcourse.bench.runner import run_row

LIB = os.path.dirname(os.path.dirname(importlib.util.find_spec("dlcourse").origin))
ROW_KEYS = (
    "network",
    "impl",
    "backend",
    "threads",
    "device",
    "ms_per_step",
    "samples_per_s",
    "peak_fraction",
    "ratio_to_torch",
)
TINY = {"steps": 2, "warmup": 1, "repeats": 1}


def installed(*modules):
    return all(importlib.util.find_spec(m) is not None for m in modules)


def has_cuda():
    if not installed("torch"):
        return False
    import torch

    return torch.cuda.is_available()


@pytest.fixture(scope="module")
def mlp_report():
    """Every implementation on the MLP, one thread, two steps each: the run the tests read."""
    return run_bench(networks=("mlp",), threads=(1,), progress=False, peak_size=256, **TINY)


def spec(impl, network="mlp", threads=None, device="cpu"):
    return {"network": network, "impl": impl, "threads": threads, "device": device, **TINY}


# ----------------------------------------------------------------- the report
def test_report_has_the_issue_json_shape(mlp_report):
    report = json.loads(json.dumps(mlp_report))  # what --json writes is what we check
    assert set(report) >= {"machine", "peak_gflops", "results"}
    assert isinstance(report["machine"], dict) and report["machine"]["cpus"] >= 1
    assert isinstance(report["peak_gflops"], float) and report["peak_gflops"] > 0
    for row in report["results"]:
        assert set(ROW_KEYS) <= set(row)
        assert row["network"] == "mlp" and row["device"] == "cpu" and row["threads"] == 1
        assert row["impl"] in ("dlcourse", "pytorch", "keras")
        if row["ms_per_step"] is None:
            assert row["skipped"] or row["error"]
            continue
        for key in ("ms_per_step", "samples_per_s", "peak_fraction", "ratio_to_torch"):
            assert isinstance(row[key], float) and row[key] > 0, (row["name"], key)


def test_columns_follow_from_the_time_per_step(mlp_report):
    torch_row = next(r for r in mlp_report["results"] if r["impl"] == "pytorch")
    assert torch_row["ratio_to_torch"] == 1.0
    for row in mlp_report["results"]:
        if row["ms_per_step"] is None:
            continue
        seconds = row["ms_per_step"] / 1e3
        assert math.isclose(row["samples_per_s"], 128 / seconds)
        gflops = flops_per_step("mlp", 128) / seconds / 1e9
        assert math.isclose(row["peak_fraction"], gflops / mlp_report["peak_gflops"])
        assert math.isclose(row["ratio_to_torch"], row["ms_per_step"] / torch_row["ms_per_step"])


def test_a_row_per_available_implementation(mlp_report):
    expected = {(impl.impl, impl.backend) for impl in IMPLS.values() if installed(*impl.packages)}
    ran = {(r["impl"], r["backend"]) for r in mlp_report["results"] if r["ms_per_step"]}
    assert ran == expected
    assert not [r for r in mlp_report["results"] if r["error"]]
    assert len(mlp_report["results"]) == len(IMPLS)


def test_the_table_lists_every_row_and_the_peak(mlp_report):
    text = format_table(mlp_report)
    assert "GFLOP/s" in text
    for row in mlp_report["results"]:
        if row["ms_per_step"] is not None:
            assert f"{row['ms_per_step']:.3f}" in text


def test_the_plot_is_written(mlp_report, tmp_path):
    path = tmp_path / "bench.png"
    figure = plot_bench(mlp_report, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bars = figure.axes[0].patches
    assert len(bars) == sum(r["ms_per_step"] is not None for r in mlp_report["results"])


def test_a_row_stops_starting_epochs_once_its_time_budget_is_spent():
    from dlcourse.bench.worker import time_row

    generous = time_row({**spec("manual"), "repeats": 4, "budget_s": 600})
    spent = time_row({**spec("manual"), "repeats": 4, "budget_s": 0})
    assert len(generous["ms_per_step_repeats"]) == 4
    assert len(spent["ms_per_step_repeats"]) == 1  # the first epoch always runs
    assert spent["ms_per_step"] > 0


def test_warm_up_epochs_run_but_are_not_timed_nor_counted_against_the_budget():
    from dlcourse.bench.epoch_timer import EpochTimer

    timer = EpochTimer(sync=lambda: None, budget_s=0, untimed=2)
    stops = []
    for _ in range(3):
        timer.begin()
        stops.append(timer.end())
    assert stops == [False, False, True]  # the budget starts with the first timed epoch
    assert len(timer.seconds) == 1


# --------------------------------------------------------- rows that do not run
def test_a_missing_library_gives_a_skipped_row_with_the_install_hint():
    # -S leaves out site-packages: dlcourse (from PYTHONPATH) is there, keras is not
    outcome = run_row(
        spec("keras-jax"), python=[sys.executable, "-S"], extra_env={"PYTHONPATH": LIB}
    )
    assert "keras" in outcome["skipped"] and "pip install keras" in outcome["skipped"]
    assert "ms_per_step" not in outcome


def test_a_skipped_row_appears_in_the_table_with_its_reason():
    report = {
        "machine": {"processor": "x", "cpus": 1},
        "peak_gflops": None,
        "results": [
            {
                **dict.fromkeys(ROW_KEYS),
                "network": "rnn",
                "impl": "dlcourse",
                "backend": "jax",
                "device": "cpu",
                "skipped": "jax not installed: pip install jax",
            }
        ],
    }
    assert "dlcourse/jax [rnn/default]: jax not installed: pip install jax" in format_table(report)


# ----------------------------------------------------------------- threads
def test_threads_are_applied_in_every_row_process(mlp_report):
    for row in mlp_report["results"]:
        if row["ms_per_step"] is None:
            continue
        seen = row["threads_seen"]
        assert seen["cpus"] == 1, row["name"]
        if row["backend"] == "torch":
            assert seen["torch"] == 1, row["name"]
        if row["backend"] == "tensorflow":
            assert seen["tensorflow_intra_op"] == 1, row["name"]
        if row["backend"] in ("manual", "autodiff"):
            blas = [v for k, v in seen.items() if k.startswith("blas_")]
            assert blas and set(blas) == {1}, row["name"]
    assert mlp_report["machine"]["peak_threads_seen"]["1"]["cpus"] == 1


def test_measure_peak_gflops_is_a_positive_float():
    assert measure_peak_gflops(threads=1, size=256) > 0.5


# ----------------------------------------------------------------- networks
def test_mlp_and_cnn_flops_match_torch_flop_counter():
    torch = pytest.importorskip("torch", reason="torch's FlopCounterMode counts independently")
    from torch.utils.flop_counter import FlopCounterMode

    from dlcourse.bench.networks import make_data
    from dlcourse.bench.train_pytorch import torch_model

    for name in ("mlp", "cnn"):
        network = NETWORKS[name]
        x, y = (torch.from_numpy(a) for a in make_data(network, 1))
        with FlopCounterMode(display=False) as counter:
            torch.nn.functional.cross_entropy(torch_model(network)(x), y).backward()
        assert counter.get_total_flops() == network.flops, name


def test_rnn_flops_match_an_lstm_written_with_matmuls():
    torch = pytest.importorskip("torch", reason="torch's FlopCounterMode counts independently")
    from torch.utils.flop_counter import FlopCounterMode

    batch, steps, features, units = 4, 28, 28, 128
    w_ih = torch.randn(features, 4 * units, requires_grad=True)
    w_hh = torch.randn(units, 4 * units, requires_grad=True)
    w_out = torch.randn(units, 10, requires_grad=True)
    x = torch.randn(batch, steps, features)
    with FlopCounterMode(display=False) as counter:
        h = c = torch.zeros(batch, units)
        for t in range(steps):
            i, f, g, o = (x[:, t] @ w_ih + h @ w_hh).chunk(4, dim=1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
        (h @ w_out).sum().backward()
    # the first step's h @ w_hh multiplies zeros, but is a product all the same
    assert counter.get_total_flops() == flops_per_step("rnn", batch)


# ----------------------------------------------------------------- input errors
def test_unknown_names_are_errors_that_list_the_choices():
    with pytest.raises(ValueError, match="mlp, cnn, rnn, transformer"):
        run_bench(networks=("resnet",))
    with pytest.raises(ValueError, match="keras-jax"):
        resolve_impls(["theano"])
    with pytest.raises(ValueError, match="warmup: expected 0 or more epochs"):
        run_bench(networks=("mlp",), warmup=-1)


def test_impl_names_and_groups():
    names = [impl.name for impl in resolve_impls("keras:jax,dlcourse")]
    assert names == ["pytorch", "keras-jax", "manual", "autodiff", "torch", "tensorflow"] + [
        "jax",
        "pytensor",
    ]


# ----------------------------------------------------------------- GPU
@pytest.mark.skipif(has_cuda(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_says_so_and_runs_nothing(tmp_path):
    path = tmp_path / "cuda.json"
    command = [sys.executable, "-m", "dlcourse", "bench", "--device", "cuda", "--quiet"]
    done = subprocess.run([*command, "--json", str(path)], capture_output=True, text=True)
    assert done.returncode == 1 and "no CUDA GPU" in done.stderr
    report = json.loads(path.read_text())
    assert report["peak_gflops"] is None and report["machine"]["gpu"] is None
    assert len(report["results"]) == len(IMPLS) * len(NETWORKS)
    assert all("no CUDA GPU" in r["skipped"] for r in report["results"])


@pytest.mark.cuda
def test_cuda_rows_run_on_the_gpu():
    report = run_bench(
        networks=("mlp",), impls=["manual", "torch"], device="cuda", progress=False, **TINY
    )
    assert report["machine"]["gpu"] and report["peak_gflops"] > 0
    assert all(r["ms_per_step"] for r in report["results"]), report["results"]


# ----------------------------------------------------------------- CLI
def test_the_cli_writes_the_json(tmp_path):
    path = tmp_path / "bench.json"
    command = [sys.executable, "-m", "dlcourse", "bench", "--networks", "mlp"]
    command += ["--impls", "manual", "--steps", "2", "--warmup", "1", "--repeats", "1"]
    command += ["--peak-size", "256", "--rounds", "2", "--quiet", "--json", str(path)]
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    report = json.loads(path.read_text())
    assert [(r["impl"], r["backend"]) for r in report["results"]] == [
        ("pytorch", "torch"),
        ("dlcourse", "manual"),
    ]
    for row in report["results"]:
        assert len(row["ms_per_step_rounds"]) == 2
        assert math.isclose(row["ms_per_step"], sum(row["ms_per_step_rounds"]) / 2, abs_tol=1e-3)
    assert "ms/step" in done.stdout


def test_bench_modules_import_no_framework():
    modules = [
        "dlcourse.bench",
        "dlcourse.bench.command",
        "dlcourse.bench.worker",
        "dlcourse.bench.train_pytorch",
        "dlcourse.bench.train_keras",
        "dlcourse.bench.train_dlcourse",
    ]
    probe = (
        f"import sys\nfor m in {modules!r}: __import__(m)\n"
        "heavy = ('torch', 'tensorflow', 'jax', 'keras', 'matplotlib', 'numpy')\n"
        "print([m for m in heavy if m in sys.modules])"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.stdout.strip() == "[]", done.stderr
