"""One worker process per Keras 3 backend, for the tests that compare with Keras.

Keras reads ``KERAS_BACKEND`` once per process, so such a test file runs itself
as a script under each backend (its ``if __name__ == "__main__"`` part) and
reads the JSON report the worker prints last. All three start at once: each
spends most of its time importing its framework.
"""

import importlib.util
import json
import os
import subprocess
import sys

import pytest

KERAS_BACKENDS = ("tensorflow", "jax", "torch")  # each is also the name of its package


def worker_reports(script, timeout_s):
    """backend -> the report ``script`` printed under it, or "skip: why" / "fail: why"."""
    if importlib.util.find_spec("keras") is None:
        pytest.skip("needs Keras 3 (pip install 'dlcourse[keras]')")
    started, reports = {}, {}
    for backend in KERAS_BACKENDS:
        if importlib.util.find_spec(backend) is None:
            reports[backend] = f"skip: Keras's {backend} backend needs {backend}, not installed"
            continue
        env = {
            **os.environ,
            "KERAS_BACKEND": backend,
            "JAX_ENABLE_X64": "1",  # float64 models stay float64 on JAX
            "TF_CPP_MIN_LOG_LEVEL": "3",
        }
        started[backend] = subprocess.Popen(
            [sys.executable, os.path.abspath(script)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    for backend, process in started.items():
        try:
            out, err = process.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
            err += f"\n(timed out after {timeout_s} s)"
        if process.returncode == 0:
            reports[backend] = json.loads(out.strip().splitlines()[-1])
        else:
            reports[backend] = f"fail: the worker exited with {process.returncode}:\n{err[-3000:]}"
    return reports


def report_for(reports, backend):
    """The backend's report; the test skips or fails with the reason when there is none."""
    report = reports[backend]
    if isinstance(report, str):
        kind, _, why = report.partition(": ")
        (pytest.skip if kind == "skip" else pytest.fail)(why)
    assert report["keras_backend"] == backend  # the worker really ran on that backend
    return report
