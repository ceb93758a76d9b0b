"""What the benchmark ran on: processor, cores, load, library versions, GPU."""

import datetime
import importlib.metadata
import os
import platform
import subprocess
import sys

__all__ = ["cuda_device_name", "describe_machine"]

PACKAGES = ("numpy", "torch", "tensorflow", "jax", "jaxlib", "keras", "pytensor")


def _processor():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(package):
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def cuda_device_name():
    """The first CUDA GPU's name as PyTorch sees it, or None (asked in a fresh process)."""
    probe = (
        "import torch; print(torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"
    )
    try:
        done = subprocess.run(
            [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120
        )
    except subprocess.TimeoutExpired:
        return None
    name = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    return name or None


def describe_machine():
    """A dict describing this machine, for the report's ``machine`` entry."""
    cpus_allowed = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "processor": _processor(),
        "cpus": os.cpu_count(),
        "cpus_allowed": cpus_allowed,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": {p: _version(p) for p in PACKAGES},
        "load_average_at_start": [round(x, 2) for x in load] if load else None,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
