"""Fair timing: each implementation in its own fresh process, all alternating round after round.

A benchmark script calls itself with ``--worker NAME``; the worker times its
implementation and prints one JSON object as its last line. Fresh processes
keep one library's thread pools and caches from slowing another's; alternating
makes slow drifts in machine load hit every side alike.
"""

import json
import os
import shutil
import statistics
import subprocess
import sys

from dlcourse.bench.threads import child_env


def thread_env(threads):
    """The environment with every thread pool limited to ``threads`` (0: as it is).

    The variables are those of ``dlcourse bench`` (BLAS/OpenMP, TensorFlow, XLA).
    """
    return child_env(threads)


def run_worker(script, name, options, env, threads=0):
    """Run ``script --worker NAME OPTIONS...`` in a fresh interpreter; the JSON it printed last.

    ``threads``: the worker runs on that many CPUs (``taskset``), as a row of
    ``dlcourse bench`` does; the environment alone does not hold XLA's thread
    pool to one thread.
    """
    command = [*pin_to_cpus(threads), sys.executable, script, "--worker", name, *options]
    out = subprocess.run(command, env=env, capture_output=True, text=True)
    if out.returncode:
        sys.exit(f"the {name} worker failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def pin_to_cpus(threads):
    """The ``taskset`` prefix running a command on the first ``threads`` CPUs this process may use.

    Empty for 0 (no limit), or where there is no ``taskset`` (then a note says so).
    """
    if not threads:
        return []
    if not (hasattr(os, "sched_getaffinity") and shutil.which("taskset")):
        print("note: no taskset here, so workers are not pinned to CPUs", file=sys.stderr)
        return []
    cpus = sorted(os.sched_getaffinity(0))[:threads]
    return ["taskset", "--cpu-list", ",".join(map(str, cpus))]


def alternate(names, run_one, rounds):
    """``{name: [what run_one(name) returned, one per round]}``, the names taking turns."""
    results = {name: [] for name in names}
    for _ in range(rounds):
        for name in names:
            results[name].append(run_one(name))
    return results


def medians(results, key="ms_per_step"):
    """The median of ``key`` over the rounds, per name."""
    return {name: statistics.median(r[key] for r in runs) for name, runs in results.items()}


def spread(runs, key="ms_per_step"):
    """The rounds' figures as text, to show how steady the machine was."""
    return ", ".join(f"{r[key]:.3f}" for r in runs)


def write_json(path, payload):
    with open(path, "w") as f:
        json.dump(payload, f, indent=2)
