"""``dlcourse doctor``: what is installed, what is missing, and how to fix it.

Run it first when something does not work, and paste its output (or
``dlcourse doctor --json``) into a bug report. It reports the Python in use,
the optional frameworks with their versions and install commands, whether a
GPU is usable, NumPy's BLAS library and threads, and the active backend.

Missing or broken optional parts are reported, never fatal: the command always
exits 0 and catches whatever a half-installed package throws at it.
"""

import json
from pathlib import Path

from dlcourse import _probe
from dlcourse._version import __version__

HELP = "check the installation: Python, frameworks, GPU, BLAS threads, backend"

_WIDTH = 13  # width of the label column in the text report


def add_arguments(parser):
    """The doctor's options, added to its ``argparse`` sub-parser."""
    parser.add_argument(
        "--json", action="store_true", help="print the facts as JSON (for scripts and bug reports)"
    )
    parser.add_argument(
        "--no-gpu",
        action="store_true",
        help="skip the GPU check, which imports PyTorch and can take a few seconds",
    )


def run(args):
    """Print the report; the exit code is 0 whatever is missing."""
    facts = collect(check_gpu=not args.no_gpu)
    if args.json:
        print(json.dumps(facts, indent=2))
    else:
        print(format_report(facts))
    return 0


def _safely(probe, *args):
    # One failing probe must not hide the rest of the report.
    try:
        return probe(*args)
    except Exception as err:
        return {"error": _probe.describe_error(err)}


def collect(check_gpu=True):
    """Every fact the report shows, as a JSON-ready dict.

    NumPy's BLAS threads are read before the GPU check on purpose: importing
    PyTorch loads its own thread pools, which would muddle the picture.
    """
    facts = {
        "python": _safely(_probe.python_status),
        "dlcourse": {"version": __version__, "location": str(Path(__file__).parent)},
        "packages": _safely(_probe.optional_packages),
        "cpu": _safely(_probe.cpu_status),
        "blas": _safely(_probe.blas_status),
        "threads": _safely(_probe.thread_status),
        "gpu": _safely(_probe.gpu_status, check_gpu),
        "backend": _safely(_probe.backend_status),
    }
    facts["gpu"]["checked_with_torch"] = check_gpu
    _warn_if_backend_missing(facts["backend"], facts["packages"])
    return facts


def _warn_if_backend_missing(backend, packages):
    extra = backend.get("extra")
    package = packages.get(extra) if extra else None
    if package is not None and package.get("status") != "installed":
        backend["warning"] = (
            f"backend {backend['active']!r} needs {extra}, which is not installed: "
            f"{package.get('hint') or _probe.install_hint(extra)}"
        )


def _line(label, text):
    return f"  {label:<{_WIDTH}}{text}"


def format_package(name, info):
    """One line of the package table, e.g. ``torch  2.13.0`` or ``onnx  not installed: pip ...``."""
    status = info.get("status")
    if status == "installed":
        version = info.get("version") or "version unknown"
        other = info.get("distribution")
        shown = f"{version} (as {other})" if other and other != name else version
        return _line(name, shown)
    hint = info.get("hint") or _probe.install_hint(info.get("extra", name))
    if status == "missing":
        return _line(name, f"not installed -> {hint}")
    return _line(name, f"BROKEN: {info.get('problem')} -> reinstall: {hint}")


def _section(title, facts, lines_of):
    lines = [title]
    if "error" in facts:
        lines.append(_line("error", f"could not check: {facts['error']}"))
    else:
        lines.extend(lines_of(facts))
    return lines


def _python_lines(py):
    venv = "virtual environment" if py.get("virtualenv") else "no virtual environment"
    return [
        _line("version", f"{py['version']} ({py['implementation']}, {venv})"),
        _line("executable", py["executable"]),
        _line("platform", py["platform"]),
    ]


def _gpu_lines(gpu):
    torch = gpu.get("torch")
    if not gpu.get("checked_with_torch"):
        lines = [_line("CUDA / MPS", "not checked (--no-gpu)")]
    elif torch is None:
        lines = [_line("CUDA / MPS", "unknown: PyTorch is not installed")]
    elif "error" in torch:
        lines = [_line("CUDA / MPS", f"unknown: {torch['error']}")]
    else:
        version, build = torch["version"], torch["cuda_build"]
        if torch["cuda_available"]:
            cuda = f"available, CUDA {build}: " + ", ".join(torch["cuda_devices"])
        elif build:
            cuda = f"not available (PyTorch {version} built for CUDA {build})"
        else:
            cuda = f"not available (PyTorch {version} is a CPU-only build)"
        if "cuda_error" in torch:
            cuda += f"; error: {torch['cuda_error']}"
        mps = "available" if torch["mps_available"] else "not available"
        lines = [_line("CUDA", cuda), _line("MPS (Apple)", mps)]
    lines.append(_line("nvidia-smi", gpu.get("nvidia_smi") or "not found"))
    if gpu.get("hint"):
        lines.append(_line("hint", gpu["hint"]))
    return lines


def _thread_text(threads):
    if "error" in threads:
        return f"unknown ({threads['error']})"
    if threads["source"] == "threadpoolctl" and threads["pools"]:
        counts = sorted({str(p["num_threads"]) for p in threads["pools"]})
        return f"{'/'.join(counts)} (threadpoolctl)"
    env = ", ".join(f"{k}={v or 'unset'}" for k, v in threads["env"].items())
    return f"{env} (unset means one per CPU)"


def _cpu_lines(facts):
    cpu, blas = facts["cpu"], facts["blas"]
    lines = []
    if "error" in cpu:
        lines.append(_line("CPUs", f"unknown ({cpu['error']})"))
    else:
        lines.append(_line("CPUs", f"{cpu['usable']} usable of {cpu['logical']}"))
    if "error" in blas:
        lines.append(_line("NumPy BLAS", f"unknown ({blas['error']})"))
    else:
        library = " ".join(str(x) for x in (blas["name"], blas["version"]) if x) or "unknown"
        lines.append(_line("NumPy BLAS", f"{library} (NumPy {blas['numpy']})"))
    lines.append(_line("BLAS threads", _thread_text(facts["threads"])))
    return lines


def _backend_lines(backend):
    if backend.get("problem"):
        lines = [_line("active", f"none: {backend['problem']}")]
    else:
        how = f"from DLCOURSE_BACKEND={backend['env']}" if backend.get("env") else "default"
        lines = [_line("active", f"{backend['active']} ({how})")]
    if backend.get("warning"):
        lines.append(_line("warning", backend["warning"]))
    lines.append(_line("choose with", "DLCOURSE_BACKEND=NAME or dlcourse.set_backend(NAME)"))
    return lines


def format_report(facts):
    """The human-readable report for the facts from :func:`collect`."""
    dl = facts["dlcourse"]
    lines = ["dlcourse doctor", ""]
    lines += _section("Python", facts["python"], _python_lines)
    lines.append(_line("dlcourse", f"{dl['version']} ({dl['location']})"))
    lines.append("")
    lines += _section(
        "Optional packages",
        facts["packages"],
        lambda packages: [format_package(n, info) for n, info in packages.items()],
    )
    lines.append("")
    lines += _section("GPU", facts["gpu"], _gpu_lines)
    lines.append("")
    lines += ["CPU and BLAS", *_cpu_lines(facts)]
    lines.append("")
    lines += _section("Backend", facts["backend"], _backend_lines)
    return "\n".join(lines)
