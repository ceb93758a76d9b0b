"""How long ``import dlcourse`` takes, next to ``import numpy`` alone.

Every measurement starts a fresh interpreter (imports are cached after the
first one) and times only the import statement inside it, so interpreter
start-up is left out. The median of several runs is printed, because the
first run after a file change also pays for writing ``.pyc`` files.

    python benchmarks/import_time.py                 # dlcourse vs numpy, 15 runs each
    python benchmarks/import_time.py --top 15        # plus the slowest modules (-X importtime)
    python benchmarks/import_time.py --module dlcourse.functional
"""

import argparse
import statistics
import subprocess
import sys

# Runs in the child: time one import with the finest clock available, and say
# whether NumPy came along with it.
_TIMER = (
    "import sys, time; t = time.perf_counter(); import {module}; "
    "print(time.perf_counter() - t, 'numpy' in sys.modules)"
)


def time_import(module, runs):
    """(seconds per fresh interpreter, whether the import loaded NumPy), over ``runs`` runs."""
    times = []
    for _ in range(runs):
        done = subprocess.run(
            [sys.executable, "-c", _TIMER.format(module=module)],
            capture_output=True,
            text=True,
            check=True,
        )
        seconds, numpy_loaded = done.stdout.split()[-2:]
        times.append(float(seconds))
    return times, numpy_loaded == "True"


def _importtime_rows(code):
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        check=True,
    )
    rows = []
    for line in done.stderr.splitlines():
        # "import time:  self [us] | cumulative | imported package"
        if not line.startswith("import time:") or "[us]" in line:
            continue
        self_us, cumulative_us, name = line[len("import time:") :].split("|")
        rows.append((int(self_us), int(cumulative_us), name.strip()))
    return rows


def slowest_modules(module, top):
    """The ``top`` modules with the largest own import time, from ``python -X importtime``.

    Modules the interpreter loads at start-up anyway (site, encodings, ...) are
    left out. Returns (self_us, cumulative_us, name) tuples, slowest first.
    """
    startup = {name for _, _, name in _importtime_rows("pass")}
    rows = [row for row in _importtime_rows(f"import {module}") if row[2] not in startup]
    return sorted(rows, reverse=True)[:top]


def _summary(label, times):
    ms = [t * 1000 for t in times]
    return (
        f"{label:<28} median {statistics.median(ms):7.1f} ms"
        f"   min {min(ms):7.1f} ms   max {max(ms):7.1f} ms   ({len(ms)} runs)"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="fresh interpreters per module")
    parser.add_argument("--module", default="dlcourse", help="the module to time")
    parser.add_argument("--top", type=int, default=10, help="slowest modules to list (0: none)")
    args = parser.parse_args(argv)

    print(f"Python {sys.version.split()[0]} at {sys.executable}")
    module_times, loads_numpy = time_import(args.module, args.runs)
    numpy_times, _ = time_import("numpy", args.runs)
    print(_summary(f"import {args.module}", module_times))
    print(_summary("import numpy (alone)", numpy_times))
    print(f"`import {args.module}` loads NumPy: {'yes' if loads_numpy else 'no'}")

    if args.top > 0:
        print(f"\nslowest modules imported by `import {args.module}` (python -X importtime):")
        print(f"{'self ms':>9} {'cumul. ms':>10}  module")
        for self_us, cumulative_us, name in slowest_modules(args.module, args.top):
            print(f"{self_us / 1000:9.1f} {cumulative_us / 1000:10.1f}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
