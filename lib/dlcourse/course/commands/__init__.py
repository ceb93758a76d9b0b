"""The course's ``dlcourse`` subcommands: build, check, book and start.

Each module follows :mod:`dlcourse.cli`'s contract (``HELP``, ``add_arguments``,
``run``) and imports the heavy libraries (nbgrader, nbclient, jupyterlab) only
inside ``run``, so ``dlcourse --help`` stays fast.
"""
