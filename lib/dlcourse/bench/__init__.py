"""``dlcourse bench``: how fast each library trains the same networks, against the matmul limit.

::

    from dlcourse.bench import run_bench, format_table, plot_bench

    report = run_bench(networks=("mlp",), steps=50, threads=(1, None))
    print(format_table(report))
    plot_bench(report, "bench.png")

Four networks (``networks``: an MLP, a small CNN, an LSTM, a small transformer), each trained for
a fixed number of steps by every dlcourse backend, a plain PyTorch loop and
Keras 3 on each of its backends (``impls``), every row in a fresh process
(``runner``). The columns are the time per step, samples per second, the
fraction of the machine's matmul peak (``peak``), and the ratio to the PyTorch
loop. From the shell: ``dlcourse bench --networks mlp --json bench.json``.

The report (also what ``--json`` writes)::

    {"machine": {...processor, cpus, versions, peak_gflops_by_threads, settings...},
     "peak_gflops": 150.2,
     "results": [{"network": "mlp", "impl": "dlcourse", "backend": "manual",
                  "threads": None, "device": "cpu", "ms_per_step": 1.1,
                  "samples_per_s": 116000.0, "peak_fraction": 0.78,
                  "ratio_to_torch": 0.9, "skipped": None, "error": None,
                  "name": "manual", ...}, ...]}

``impl`` is "dlcourse", "pytorch" (the plain loop) or "keras"; ``backend`` the
library under it; ``name`` the one word that ``impls=`` takes ("manual",
"jax", "pytorch", "keras-jax", ...; see ``dlcourse.bench.impls``). A row that
could not run has None figures and says why in ``skipped`` (or ``error``).
The figures in this example are made up; run the benchmark for real ones.

Nothing here imports a framework: the rows' processes do.
"""

from dlcourse.bench.peak import measure_peak_gflops
from dlcourse.bench.plot import plot_bench
from dlcourse.bench.runner import run_bench
from dlcourse.bench.table import format_table

__all__ = ["format_table", "measure_peak_gflops", "plot_bench", "run_bench"]
