"""Imports that a ``dlcourse`` command never needs, kept from costing it seconds.

nbformat imports jsonschema, which imports ``rfc3987_syntax`` when it is
installed (Jupyter's event schemas pull it in) only to check the "iri"
format; that import compiles some forty grammars, 1.4 s (3 s under a
profiler) in every process that reads a notebook: the command, each grading
worker. No schema that dlcourse, nbformat or nbgrader validates uses "iri".
"""

import sys

UNUSED = ("rfc3987_syntax",)


def skip_unused():
    """Make the :data:`UNUSED` modules unimportable in this process (an ImportError, which
    their importers expect), unless something imported them already."""
    for name in UNUSED:
        sys.modules.setdefault(name, None)
