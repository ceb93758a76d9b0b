"""Limiting a row's process to N threads, before its library starts its thread pools.

Every library sizes its pools once, when it loads or runs its first operation,
and each reads a different setting. So a row's process gets all of them:

- in its environment, set by the parent before the process starts:
  ``OMP_NUM_THREADS``, ``MKL_NUM_THREADS``, ``OPENBLAS_NUM_THREADS`` (NumPy's
  BLAS, PyTorch's OpenMP), ``TF_NUM_INTRAOP_THREADS`` and
  ``TF_NUM_INTEROP_THREADS`` (TensorFlow), and ``XLA_FLAGS`` (JAX's CPU
  backend; one thread switches its Eigen pool off);
- first thing in the process, before any library is imported: its CPU
  affinity (``os.sched_setaffinity``) to N cores, which XLA and TensorFlow
  also size their pools from;
- after the library is imported, and before it computes anything:
  ``torch.set_num_threads(N)`` and TensorFlow's
  ``tf.config.threading.set_intra_op_parallelism_threads(N)``.

``threads=None`` changes nothing: each library runs with its own default.
The process then reports what it really got (``threads_seen``), which the
tests compare with what was asked.
"""

import os
import sys

__all__ = ["apply_in_child", "child_env", "threads_seen"]

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
TF_VARIABLES = ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")


def child_env(threads, base=None, keras_backend=None):
    """The environment for a row's process limited to ``threads`` (None: as it is)."""
    env = dict(os.environ if base is None else base)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter
    if keras_backend:
        env["KERAS_BACKEND"] = keras_backend  # read once, when Keras is first imported
    if threads:
        for var in (*THREAD_VARIABLES, *TF_VARIABLES):
            env[var] = str(threads)
        flags = [f for f in env.get("XLA_FLAGS", "").split() if "multi_thread_eigen" not in f]
        if threads == 1:
            flags.append("--xla_cpu_multi_thread_eigen=false")
        env["XLA_FLAGS"] = " ".join(flags)
    return env


def _pin(threads):
    """Restrict this process to ``threads`` of the CPUs it may use (Linux only)."""
    if not hasattr(os, "sched_setaffinity"):
        return
    allowed = sorted(os.sched_getaffinity(0))
    if threads < len(allowed):
        os.sched_setaffinity(0, allowed[:threads])


def apply_in_child(threads, library):
    """Call first thing in a row's process: pin the CPUs, then set ``library``'s own pools.

    ``library`` is the computing library the row runs on (torch, tensorflow, jax,
    numpy, pytensor); torch and TensorFlow are imported here to set their pools
    before any model is built.
    """
    if not threads:
        return
    _pin(threads)
    if library == "torch":
        import torch

        torch.set_num_threads(threads)
        try:
            torch.set_num_interop_threads(threads)
        except RuntimeError:  # only allowed once, before any parallel work
            pass
    elif library == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)


def threads_seen():
    """What this process really runs with: CPUs it may use, and each loaded library's pools."""
    seen = {}
    if hasattr(os, "sched_getaffinity"):
        seen["cpus"] = len(os.sched_getaffinity(0))
    if "torch" in sys.modules:
        seen["torch"] = sys.modules["torch"].get_num_threads()
    if "tensorflow" in sys.modules:
        threading = sys.modules["tensorflow"].config.threading
        seen["tensorflow_intra_op"] = threading.get_intra_op_parallelism_threads()
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return seen
    for pool in threadpool_info():
        if pool.get("user_api") == "blas":
            seen[f"blas_{pool.get('internal_api')}"] = pool.get("num_threads")
    return seen
