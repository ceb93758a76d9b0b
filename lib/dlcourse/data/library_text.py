"""A text that ships with the course: the documentation of its own library.

The sequence chapters train language models on it, so nothing is downloaded:
the module and function docstrings of some dlcourse packages, lower-cased and
reduced to letters, spaces, commas and full stops.
"""

import importlib
import inspect
import pkgutil
import re

__all__ = ["library_text"]


def library_text(*packages):
    """The module and function docstrings of ``packages`` (imported packages), as one string."""
    parts = []
    for package in packages:
        for info in pkgutil.iter_modules(package.__path__):
            module = importlib.import_module(f"{package.__name__}.{info.name}")
            parts.append(inspect.getdoc(module) or "")
            for _, member in inspect.getmembers(module, inspect.isfunction):
                if member.__module__ == module.__name__:
                    parts.append(inspect.getdoc(member) or "")
    text = re.sub(r"[^a-z ,.]+", " ", " ".join(parts).lower())
    return re.sub(r" +", " ", text)
