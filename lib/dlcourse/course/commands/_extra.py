"""Say which packages of the ``course`` extra a command lacks, instead of a traceback."""

import importlib.util

INSTALL = "pip install -c constraints.txt -e '.[course]'"


def missing(command, *modules):
    """None when ``modules`` are importable, else a message naming what to install."""
    absent = [m for m in modules if importlib.util.find_spec(m) is None]
    if not absent:
        return None
    return f"dlcourse {command} needs {', '.join(absent)} (the 'course' extra): {INSTALL}"
