"""Import a framework only where it is installed, so a notebook skips a section instead of failing.

The course's notebooks use PyTorch, TensorFlow and JAX where the story needs
them; a reader without one of them gets a line saying how to install it, and
the cells that need it are skipped.
"""

import contextlib
import importlib
import os

__all__ = ["c_stderr_silenced", "optional_import"]


@contextlib.contextmanager
def c_stderr_silenced():
    """Discard what C/C++ code writes to file descriptor 2 while the block runs.

    TensorFlow and XLA log from C++ at start-up, before any Python setting can
    hide it; Python exceptions are unaffected.
    """
    saved = os.dup(2)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def optional_import(module, extra, skipped="its cells are skipped"):
    """``module`` imported, or None after printing how to install it (``dlcourse[extra]``)."""
    try:
        with c_stderr_silenced():
            return importlib.import_module(module)
    except ImportError:
        print(f'{module} is not installed, so {skipped}: pip install "dlcourse[{extra}]"')
    except Exception as err:  # installed but broken (a mismatched CUDA or NumPy build, say)
        print(f"{module} is installed but failed to import ({type(err).__name__}: {err}); skipped.")
    return None
