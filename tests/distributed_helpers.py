"""What the ``dlcourse train`` tests of both engines share: short runs, processes, weights."""

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np

# float64 so that "N replicas == 1 replica" can be checked to 1e-10
SHORT = ["--epochs", "2", "--steps-per-epoch", "5", "--batch-size", "32", "--dtype", "float64"]
SHORT_OPTIONS = {"epochs": 2, "steps_per_epoch": 5, "batch_size": 32, "dtype": "float64"}


def run_dlcourse(*args, env=None, timeout=180, cwd=None):
    """Run the real command in a fresh interpreter; returns (completed process, seconds)."""
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "dlcourse", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )
    return done, time.monotonic() - start


def two_worker_report(engine, folder, timeout=180):
    """A short 2-worker run through the real command line; the JSON report it wrote."""
    done, _ = run_dlcourse(
        "train", "--engine", engine, "--nproc", "2", *SHORT, "--quiet", "--json",
        f"{folder}/r.json", timeout=timeout,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((Path(folder) / "r.json").read_text())


# every process this test run starts inherits the mark, so a test counts its own
# leftovers only, not those of another run of the same tests on the machine
os.environ["DLCOURSE_TEST_RUN"] = uuid.uuid4().hex
RUN_MARK = f"DLCOURSE_TEST_RUN={os.environ['DLCOURSE_TEST_RUN']}".encode()


def processes_mentioning(text):
    """PIDs of live processes of this test run whose command line contains ``text``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            ours = RUN_MARK in (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if text in cmdline and ours:
            found.append(int(entry.name))
    return found


def saved_weights(report):
    """The final weights a run wrote, in a fixed order."""
    with np.load(report["weights_path"]) as saved:
        return [saved[key] for key in sorted(saved.files)]
