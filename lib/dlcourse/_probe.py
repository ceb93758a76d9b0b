"""Small probes of this machine that ``dlcourse doctor`` reports on.

Each probe returns a plain dict (so it can be printed as JSON) and looks at
packages without importing them: ``importlib.util.find_spec`` says whether a
module can be found and ``importlib.metadata`` reads its version from the
installed files. Only :func:`gpu_status` imports a framework (PyTorch), because
asking the driver is the only way to know whether a GPU can really be used.
"""

import functools
import importlib.util
import os
import platform
import shutil
import sys
from importlib import metadata

# The one torch build the course is tested with; other torch requirements can
# make pip download a multi-GB CUDA build.
TORCH_PIN = "torch==2.13.0"
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"

# name shown -> (module to look for, extra of dlcourse that installs it)
OPTIONAL_PACKAGES = {
    "torch": ("torch", "torch"),
    "tensorflow": ("tensorflow", "tensorflow"),
    "jax": ("jax", "jax"),
    "pytensor": ("pytensor", "pytensor"),
    "keras": ("keras", "keras"),
    "onnx": ("onnx", "onnx"),
    "onnxruntime": ("onnxruntime", "onnx"),
    "fastai": ("fastai", "fastai"),
    "jupyterlab": ("jupyterlab", "course"),
    "nbgrader": ("nbgrader", "course"),
    "jupytext": ("jupytext", "course"),
    "nbclient": ("nbclient", "course"),
}

# Extras that pull in PyTorch: pip must get the pinned torch first.
_EXTRAS_NEEDING_TORCH = {"torch", "fastai"}

THREAD_ENV_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def describe_error(err):
    """``'TypeName: message'``, the way a report shows an exception it caught."""
    return f"{type(err).__name__}: {err}"


def install_hint(extra):
    """The pip command(s) that install the dlcourse extra ``extra``."""
    hint = f'pip install "dlcourse[{extra}]"'
    if extra in _EXTRAS_NEEDING_TORCH:
        hint = (
            f"pip install {TORCH_PIN} first (no NVIDIA GPU? choose the CPU build: "
            f"pip install {TORCH_PIN} --index-url {TORCH_CPU_INDEX}), then {hint}"
        )
    return hint


def _find_module(import_name):
    """(found, problem): whether ``import_name`` can be imported, without importing it."""
    try:
        spec = importlib.util.find_spec(import_name)
    except Exception as err:  # e.g. a half-imported module whose __spec__ is None
        return False, f"looking for module {import_name!r} failed: {describe_error(err)}"
    if spec is None:
        return False, None
    if spec.origin is None and spec.submodule_search_locations is not None:
        # An empty folder named like the package (often in the current directory)
        # is found as a "namespace package" and hides the real one.
        where = ", ".join(spec.submodule_search_locations)
        return False, f"only a folder named {import_name!r} was found ({where}), not the package"
    return True, None


@functools.lru_cache(maxsize=1)
def _distributions_by_module():
    # Reads every installed package's file list: slow enough to do only once.
    return metadata.packages_distributions()


def _version(distribution, import_name):
    """(version, distribution) from installed metadata, or (None, distribution)."""
    try:
        return metadata.version(distribution), distribution
    except metadata.PackageNotFoundError:
        pass
    # Some packages ship under another distribution name (tensorflow-cpu, ...).
    for other in _distributions_by_module().get(import_name, []):
        try:
            return metadata.version(other), other
        except metadata.PackageNotFoundError:
            continue
    return None, distribution


def package_status(distribution, extra, import_name=None):
    """Whether ``distribution`` is installed, its version, and how to install it if not.

    ``status`` is ``"installed"``, ``"missing"``, or ``"broken"`` (metadata and
    module disagree, e.g. a half-removed package or a folder shadowing it).
    """
    import_name = import_name or distribution.replace("-", "_")
    found, problem = _find_module(import_name)
    try:
        version, distribution = _version(distribution, import_name)
    except Exception as err:  # a corrupt METADATA file must not stop the report
        version, problem = None, problem or f"reading its metadata failed: {describe_error(err)}"
    info = {
        "distribution": distribution,
        "import_name": import_name,
        "extra": extra,
        "version": version,
        "status": "installed",
        "problem": problem,
        "hint": None,
    }
    if found:
        return info
    if version is None and problem is None:
        info["status"] = "missing"
    else:
        info["status"] = "broken"
        if problem is None:
            problem = f"version {version} is registered but module {import_name!r} is not found"
        info["problem"] = problem
    info["hint"] = install_hint(extra)
    return info


def optional_packages():
    """:func:`package_status` for every framework and tool the course can use."""
    report = {}
    for name, (import_name, extra) in OPTIONAL_PACKAGES.items():
        try:
            report[name] = package_status(name, extra, import_name)
        except Exception as err:
            report[name] = {"status": "broken", "problem": describe_error(err), "extra": extra}
    return report


def python_status():
    """This interpreter: version, path, and whether it runs inside a virtual environment."""
    return {
        "version": platform.python_version(),
        "implementation": platform.python_implementation(),
        "executable": sys.executable,
        "virtualenv": sys.prefix != sys.base_prefix,
        "platform": platform.platform(),
    }


def cpu_status():
    """CPUs in the machine, and how many this process may use (containers often limit it)."""
    logical = os.cpu_count()
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on macOS or Windows
        usable = logical
    return {"logical": logical, "usable": usable}


def blas_status():
    """The BLAS library NumPy was built against (it does the matrix products)."""
    import numpy as np

    try:
        config = np.show_config(mode="dicts")
    except TypeError:  # NumPy before 1.25 has no mode argument
        config = getattr(np.__config__, "CONFIG", {})
    blas = config.get("Build Dependencies", {}).get("blas", {})
    return {
        "numpy": np.__version__,
        "name": blas.get("name"),
        "version": blas.get("version"),
        "configuration": blas.get("openblas configuration"),
    }


def thread_status():
    """How many threads NumPy's BLAS runs, from threadpoolctl or else the environment."""
    env = {name: os.environ.get(name) for name in THREAD_ENV_VARS}
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return {"source": "environment", "pools": [], "env": env}
    import numpy  # noqa: F401  (loads NumPy's BLAS, so threadpoolctl can see it)

    pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
    # Other libraries (PyTorch, SciPy) may load their own BLAS; NumPy's lives in its folder.
    numpy_pools = [p for p in pools if "numpy" in str(p.get("filepath", ""))]
    keys = ("internal_api", "version", "num_threads", "filepath")
    return {
        "source": "threadpoolctl",
        "pools": [{k: p.get(k) for k in keys} for p in numpy_pools or pools],
        "env": env,
    }


def gpu_status(use_torch=True):
    """CUDA and Apple MPS as PyTorch sees them, plus whether ``nvidia-smi`` exists.

    With ``use_torch=False`` (or without PyTorch) only ``nvidia-smi`` is looked for.
    """
    status = {"nvidia_smi": shutil.which("nvidia-smi"), "torch": None, "hint": None}
    torch_found = _find_module("torch")[0]
    if use_torch and torch_found:
        status["torch"] = _torch_devices()
    status["hint"] = _gpu_hint(status, torch_found)
    return status


def _torch_devices():
    try:
        import torch
    except Exception as err:  # a broken install: missing shared library, ABI mismatch, ...
        return {"error": f"import torch failed: {describe_error(err)}"}
    info = {
        "version": getattr(torch, "__version__", None),
        "cuda_build": getattr(torch.version, "cuda", None),
        "cuda_available": False,
        "cuda_devices": [],
        "mps_available": False,
    }
    try:
        info["cuda_available"] = bool(torch.cuda.is_available())
        if info["cuda_available"]:
            count = torch.cuda.device_count()
            info["cuda_devices"] = [torch.cuda.get_device_name(i) for i in range(count)]
    except Exception as err:
        info["cuda_error"] = describe_error(err)
    try:
        mps = getattr(torch.backends, "mps", None)
        info["mps_available"] = bool(mps is not None and mps.is_available())
    except Exception as err:
        info["mps_error"] = describe_error(err)
    return info


def _gpu_hint(status, torch_found):
    torch_info = status["torch"] or {}
    if torch_info.get("cuda_available") or torch_info.get("mps_available"):
        return None
    if status["nvidia_smi"]:
        if not torch_found:
            return f"an NVIDIA driver is present: install a CUDA build of {TORCH_PIN} to use it"
        if torch_info and not torch_info.get("error") and not torch_info.get("cuda_build"):
            return (
                "an NVIDIA driver is present but this PyTorch is a CPU-only build: "
                f"install a CUDA build of {TORCH_PIN} to use the GPU"
            )
        if torch_info.get("cuda_build"):
            return "PyTorch has CUDA and nvidia-smi exists, yet no GPU is usable: check the driver"
    elif torch_info.get("cuda_build"):
        return "this PyTorch is a CUDA build, but no NVIDIA driver (nvidia-smi) was found"
    return None


def backend_status():
    """The active dlcourse backend, or what is wrong with ``$DLCOURSE_BACKEND``."""
    from dlcourse import backends

    env = os.environ.get("DLCOURSE_BACKEND")
    known = list(backends.BACKENDS)
    status = {"active": None, "env": env, "problem": None, "extra": None, "known": known}
    try:
        status["active"] = backends.get_backend()
    except ValueError as err:  # a misspelt DLCOURSE_BACKEND
        status["problem"] = str(err)
        return status
    status["extra"] = backends.BACKENDS.get(status["active"])
    return status
