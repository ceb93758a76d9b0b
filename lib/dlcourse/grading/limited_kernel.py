"""A Jupyter Python kernel with a memory limit, for nbgrader's in-kernel pass.

nbgrader runs a submission in an ordinary kernel with no memory limit: one
memory bomb can take the grading machine down. The grading workers point
Jupyter at a kernel spec (see :func:`write_kernelspec`) whose command is this
module: it limits the memory (``DLCOURSE_KERNEL_MEMORY_MB``, see :func:`limit_memory`), keeps
BLAS to one thread (the workers already use every core) and plots off-screen
(``MPLBACKEND=Agg``), then starts the normal ipykernel.
"""

import json
import os
import resource
import sys
from pathlib import Path

MEMORY_ENV = "DLCOURSE_KERNEL_MEMORY_MB"
DEFAULT_MEMORY_MB = 4096
ADDRESS_SPACE_MB = 4096  # the ceiling of the kernel's mappings, its libraries' included
QUIET_ENV = {
    "MPLBACKEND": "Agg",  # nobody looks at the plots while grading
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "TF_CPP_MIN_LOG_LEVEL": "2",
}


def write_kernelspec(jupyter_dir, memory_mb=DEFAULT_MEMORY_MB):
    """Write a ``python3`` kernel spec running this module under ``jupyter_dir/kernels/``.

    Put ``jupyter_dir`` first on ``JUPYTER_PATH`` and every kernel Jupyter
    starts as "python3" (the name the course notebooks ask for) is limited.
    """
    folder = Path(jupyter_dir) / "kernels" / "python3"
    folder.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [sys.executable, "-m", __name__, "-f", "{connection_file}"],
        "display_name": "Python 3 (dlcourse grading, limited)",
        "language": "python",
        "env": {**QUIET_ENV, MEMORY_ENV: str(int(memory_mb))},
    }
    (folder / "kernel.json").write_text(json.dumps(spec, indent=1), encoding="utf-8")
    return folder


def limit_memory(megabytes):
    """Limit the process's own data to ``megabytes``, and its address space to a ceiling.

    The data limit counts what the notebook allocates (arrays, Python objects), not the
    libraries it maps: an address-space limit that small stops TensorFlow's import long
    before the notebook's data reaches it. The ceiling bounds what the data limit does not
    count (shared and file mappings).
    """
    data = int(megabytes) * 1024 * 1024
    ceiling = max(data, ADDRESS_SPACE_MB * 1024 * 1024)
    resource.setrlimit(resource.RLIMIT_DATA, (data, data))
    resource.setrlimit(resource.RLIMIT_AS, (ceiling, ceiling))


def main():
    limit_memory(os.environ.get(MEMORY_ENV, DEFAULT_MEMORY_MB))
    # The kernel's own log (not the student's output, which goes to the notebook) would
    # fill the grading terminal with one warning per student.
    quiet = os.open(os.devnull, os.O_WRONLY)
    os.dup2(quiet, 2)
    os.close(quiet)
    from ipykernel import kernelapp

    kernelapp.launch_new_instance()


if __name__ == "__main__":
    main()
