"""The backend-consistency matrix: every backend against ``manual``, as a table.

For the models of ``tests/test_backend_matrix.py`` (the MLP, the small CNN,
the two-input graph with a shared layer, the Functional residual MLP, the
residual MLP whose blocks are a subclassed ``Layer``, models used as layers
(a Sequential and a Functional model inside a Sequential, a Functional block
called twice, a layer holding a Sequential), and the token-id
models: Embedding + GlobalAveragePooling1D + Dense; the same with
PositionEmbedding and LayerNormalization on an int32 Input; Embedding + LSTM +
Dense; Embedding + SimpleRNN + GRU + Dense; Embedding + causal
MultiHeadAttention + Add + LayerNormalization; the script reuses the
tests' checks and tolerances, so the table shows exactly what the tests
assert), each cell is the largest relative difference from the hand-written
backend: initial weights, float64 and float32 predictions, loss, gradients,
and weights after two epochs of SGD. A cell over its tolerance is marked ``!``;
a backend that cannot run here says why below the table.

    python benchmarks/backend_matrix.py                      # all six backends
    python benchmarks/backend_matrix.py --backends torch jax
    python benchmarks/backend_matrix.py --json matrix.json   # also write the numbers
    python benchmarks/backend_matrix.py --torch-device cuda  # torch on the GPU
    python benchmarks/backend_matrix.py --models two-input "residual block"
    python benchmarks/backend_matrix.py --models "embedding pool" "embedding lstm" "attention block"
"""

import argparse
import json
import os
import platform
import sys
import time

TESTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests")
sys.path.insert(0, TESTS)

import test_backend_matrix as matrix  # noqa: E402  (found through the path set above)

SHORT = {  # column headings
    "initial weights": "init",
    "predictions": "predict f64",
    "predictions float32": "predict f32",
    "loss": "loss",
    "gradients": "grads",
    "weights after 2 epochs": "2 epochs SGD",
}


def run(backends, architectures):
    """``(results, notes)``: backend -> architecture -> check -> difference (None: not run)."""
    results, notes = {}, {}
    for name in backends:
        results[name] = {}
        started = time.perf_counter()
        for architecture in architectures:
            row = results[name][architecture] = {}
            for check in matrix.CHECKS:
                try:
                    row[check] = matrix.measure(name, architecture, check)
                except matrix.NotReady as err:
                    row[check] = None
                    notes.setdefault(name, str(err))
                except Exception as err:  # a broken backend is reported, not fatal
                    row[check] = None
                    notes.setdefault(name, f"{architecture}, {check}: {type(err).__name__}: {err}")
        notes.setdefault(name, None)
        results[name]["seconds"] = round(time.perf_counter() - started, 1)
    return results, notes


def cell(value, tolerance):
    if value is None:
        return "n/a"
    return f"{value:.1e}{'!' if value > tolerance else ''}"


def table(results, notes, architectures):
    checks = list(matrix.CHECKS)
    headings = ["backend", "model", *(SHORT[c] for c in checks)]
    rows = [
        [
            name,
            architecture,
            *(cell(results[name][architecture][c], matrix.TOLERANCES[c]) for c in checks),
        ]
        for name in results
        for architecture in architectures
    ]
    rows.append(["tolerance", "", *(f"{matrix.TOLERANCES[c]:.0e}" for c in checks)])
    widths = [max(len(str(r[i])) for r in [headings, *rows]) for i in range(len(headings))]

    def line(values):
        return "  ".join(
            str(v).ljust(w) if i < 2 else str(v).rjust(w)
            for i, (v, w) in enumerate(zip(values, widths))
        )

    out = [line(headings), line("-" * w for w in widths), *(line(r) for r in rows)]
    out.append("")
    out.append("max |x - manual| / max |manual|, float64 unless stated; '!' = over tolerance")
    for name in results:
        seconds = results[name]["seconds"]
        note = notes[name]
        out.append(f"{name}: {seconds} s" + (f"; not run: {note}" if note else ""))
    return "\n".join(out)


def environment():
    import numpy

    versions = {"python": platform.python_version(), "numpy": numpy.__version__}
    for package in ("torch", "tensorflow", "jax", "pytensor"):
        try:
            versions[package] = __import__(package).__version__
        except ImportError:
            versions[package] = None
    return {"machine": platform.platform(), "versions": versions}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--backends", nargs="+", default=list(matrix.BACKENDS), choices=matrix.BACKENDS
    )
    parser.add_argument(
        "--models",
        nargs="+",
        default=list(matrix.ARCHITECTURES),
        choices=list(matrix.ARCHITECTURES),
    )
    parser.add_argument("--torch-device", default="cpu", help="cpu (default), cuda or mps")
    parser.add_argument("--json", help="also write the numbers to this file")
    args = parser.parse_args()

    matrix.OPTIONS["torch"] = {"device": args.torch_device}
    backends = [b for b in matrix.BACKENDS if b in args.backends]
    results, notes = run(backends, args.models)
    print(table(results, notes, args.models))
    if args.json:
        report = {
            "tolerances": matrix.TOLERANCES,
            "results": results,
            "not_run": {name: note for name, note in notes.items() if note},
            "torch_device": args.torch_device,
            "environment": environment(),
        }
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
        print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
