"""``run_bench``: every row in its own process, then the columns computed from the times.

Each row (network x implementation x thread count) starts a fresh Python
process (``dlcourse.bench.worker``): Keras picks its backend when it is first
imported, thread pools are sized once when a library loads, and one library's
pools and caches must not slow the next. The parent only starts processes and
does arithmetic, so it never loads a framework itself.

Columns of each row:

- ``ms_per_step``: median over ``repeats`` timed epochs of ``steps`` steps,
  after ``warmup`` epochs like them that are not timed (with ``rounds`` > 1, the median
  of the rounds' figures: ``ms_per_step_rounds``);
- ``samples_per_s``: batch size / time per step;
- ``peak_fraction``: the network's FLOPs per step (``networks.flops_per_step``)
  / time per step / the matmul peak measured with the same threads on the
  same device. The peak is measured at the start of every round and at the
  end, and the best measurement counts (a peak is a maximum: a busy moment
  only lowers it);
- ``ratio_to_torch``: ms_per_step / that of the plain PyTorch loop on the same
  network, threads and device (below 1: faster than PyTorch).
A row that cannot run here has ``skipped`` set to the reason (and how to
install what is missing) and None in every figure; a row whose process failed
has ``error``.
"""

import json
import statistics
import subprocess
import sys

from dlcourse.bench import threads as thread_control
from dlcourse.bench.impls import resolve_impls
from dlcourse.bench.machine import cuda_device_name, describe_machine
from dlcourse.bench.networks import NETWORKS, get_network
from dlcourse.bench.peak import measure_peak

__all__ = ["run_bench", "run_row"]

FIGURES = ("ms_per_step", "samples_per_s", "peak_fraction", "ratio_to_torch")


def _thread_key(threads):
    return "default" if threads is None else str(threads)


def run_row(spec, python=None, extra_env=None, timeout=None):
    """Run one row (``spec``: network, impl, steps, warmup, repeats, threads, device) in a
    fresh process; the dict its worker printed.

    ``python``: the interpreter command (default: this one); ``extra_env``: variables
    added to the row's environment.
    """
    from dlcourse.bench.impls import IMPLS

    impl = IMPLS[spec["impl"]]
    env = thread_control.child_env(spec["threads"], keras_backend=impl.keras_backend)
    env.update(extra_env or {})
    command = [*(python or [sys.executable]), "-m", "dlcourse.bench.worker", json.dumps(spec)]
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"the row's process ran past {timeout} s and was stopped"}
    lines = done.stdout.strip().splitlines()
    if done.returncode or not lines:
        tail = done.stderr.strip().splitlines()[-1:] or ["(no message)"]
        return {"error": f"the row's process failed (exit {done.returncode}): {tail[0]}"}
    return json.loads(lines[-1])


def _row(spec, impl, outcome):
    row = {
        "network": spec["network"],
        "impl": impl.impl,
        "backend": impl.backend,
        "threads": spec["threads"],
        "device": spec["device"],
        **dict.fromkeys(FIGURES),
        "skipped": outcome.get("skipped"),
        "error": outcome.get("error"),
        "name": impl.name,
    }
    for key in ("ms_per_step", "ms_per_step_rounds", "ms_per_step_repeats", "threads_seen"):
        if key in outcome:
            row[key] = outcome[key]
    return row


def _merge(outcomes):
    """One row's outcome over its rounds: the median of the rounds' medians."""
    timed = [o for o in outcomes if "ms_per_step" in o]
    if len(timed) < len(outcomes) or len(timed) < 2:
        return outcomes[0]
    merged = dict(timed[-1])
    merged["ms_per_step"] = statistics.median(o["ms_per_step"] for o in timed)
    merged["ms_per_step_rounds"] = [round(o["ms_per_step"], 4) for o in timed]
    merged["ms_per_step_repeats"] = [t for o in timed for t in o["ms_per_step_repeats"]]
    return merged


def _add_figures(rows, peaks):
    """Fill samples/s, peak fraction and the ratio to the PyTorch loop of the same group."""
    reference = {
        (r["network"], r["threads"], r["device"]): r["ms_per_step"]
        for r in rows
        if r["name"] == "pytorch" and r["ms_per_step"]
    }
    for r in rows:
        ms = r["ms_per_step"]
        if not ms:
            continue
        network = get_network(r["network"])
        seconds = ms / 1e3
        r["samples_per_s"] = network.batch / seconds
        peak = peaks.get((r["device"], _thread_key(r["threads"])))
        if peak:
            r["peak_fraction"] = network.flops / seconds / (peak * 1e9)
        torch_ms = reference.get((r["network"], r["threads"], r["device"]))
        if torch_ms:
            r["ratio_to_torch"] = ms / torch_ms


def _no_gpu_report(machine, specs):
    rows = [
        _row(spec, impl, {"skipped": "no CUDA GPU on this machine: nothing ran on a GPU"})
        for spec, impl in specs
    ]
    return {"machine": machine, "peak_gflops": None, "results": rows}


def run_bench(
    networks=("mlp", "cnn", "rnn", "transformer"),
    impls=None,
    steps=50,
    warmup=1,
    repeats=5,
    threads=(None,),
    device="cpu",
    progress=True,
    timeout=None,
    peak_size=None,
    rounds=1,
):
    """Train each network with each implementation for ``steps`` steps; the report as a dict.

    ``impls``: names as in ``dlcourse.bench.impls`` (None: every one; the plain
    PyTorch loop always runs, as the reference of the ratios). ``threads``: thread
    counts for the CPU rows, None meaning each library's default. ``device``:
    "cpu" or "cuda" (on a machine without a CUDA GPU every row is skipped, saying
    so). ``timeout``: seconds allowed per row. ``peak_size``: the side of the
    matrices of the peak measurement (default 2048 on a CPU, 8192 on a GPU).
    ``rounds``: how many times every row runs, the rows taking turns (row 1, 2, ...,
    then row 1, 2, ... again), so that a change of the machine's load over time
    hits every row alike; a row's figure is then the median over its rounds.

    Returns ``{"machine": {...}, "peak_gflops": float, "results": [row, ...]}``;
    the columns are explained in this module's docstring. ``peak_gflops`` is the
    peak with the most threads measured; each thread count's peak is in
    ``machine["peak_gflops_by_threads"]``.
    """
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device: expected 'cpu' or 'cuda', got {device!r}.")
    for name in [networks] if isinstance(networks, str) else networks:
        get_network(name)
    networks = [networks] if isinstance(networks, str) else list(networks)
    for count in threads:
        if count is not None and (isinstance(count, bool) or int(count) != count or count < 1):
            raise ValueError(f"threads: expected positive ints or None, got {count!r}.")
    for name, value in (("steps", steps), ("repeats", repeats), ("rounds", rounds)):
        if int(value) < 1:
            raise ValueError(f"{name}: expected a positive number, got {value!r}.")
    if int(warmup) < 0:
        raise ValueError(f"warmup: expected 0 or more epochs, got {warmup!r}.")
    threads = [None] if device == "cuda" else list(dict.fromkeys(threads))
    rows_to_run = [
        (
            {
                "network": network,
                "impl": impl.name,
                "steps": int(steps),
                "warmup": int(warmup),
                "repeats": int(repeats),
                "threads": count,
                "device": device,
            },
            impl,
        )
        for network in networks
        for count in threads
        for impl in resolve_impls(impls)
    ]
    machine = describe_machine()
    machine["flops_per_step"] = {n: NETWORKS[n].flops for n in networks}
    machine["settings"] = {"steps": steps, "warmup": warmup, "repeats": repeats, "rounds": rounds}
    if device == "cuda":
        machine["gpu"] = cuda_device_name()
        if machine["gpu"] is None:
            return _no_gpu_report(machine, rows_to_run)

    measured = {}  # thread key -> every peak measurement, in GFLOP/s

    def measure_peaks():
        for count in threads:
            peak = measure_peak(count, device, size=peak_size)
            key = _thread_key(count)
            measured.setdefault(key, []).append(peak["gflops"])
            machine.setdefault("peak_by_library", {})[key] = peak.get("by_library")
            machine.setdefault("peak_threads_seen", {})[key] = peak["threads_seen"]

    outcomes = [[] for _ in rows_to_run]
    work = [(k, spec, impl) for _ in range(rounds) for k, (spec, impl) in enumerate(rows_to_run)]
    bar = _progress(work, progress)
    for k, spec, impl in bar:
        if k == 0:
            measure_peaks()  # at the start of each round, the load of the moment
        if hasattr(bar, "set_description"):
            label = "default" if spec["threads"] is None else f"{spec['threads']} thr"
            bar.set_description(f"{spec['network']} {impl.name} ({label})")
        if outcomes[k] and "ms_per_step" not in outcomes[k][0]:
            continue  # skipped or failed once: it will not run in a later round either
        outcomes[k].append(run_row(spec, timeout=timeout))
    measure_peaks()  # and once more at the end: the best of all is the peak
    machine["peak_gflops_measured"] = measured
    peaks = {(device, key): max(values) for key, values in measured.items()}
    machine["peak_gflops_by_threads"] = {key: value for (_, key), value in peaks.items()}
    rows = [_row(spec, impl, _merge(found)) for (spec, impl), found in zip(rows_to_run, outcomes)]
    _add_figures(rows, peaks)
    most = _most_threads(threads)
    return {"machine": machine, "peak_gflops": peaks[(device, _thread_key(most))], "results": rows}


def _most_threads(threads):
    """The thread setting that uses the most cores (None, the default, uses them all)."""
    if None in threads:
        return None
    return max(threads)


def _progress(items, progress):
    if not progress:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, unit="row")
