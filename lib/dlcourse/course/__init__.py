"""The course pipeline: from the instructor's solutions to student notebooks, reports and a book.

One source, two versions. ``solutions/NN-name.py`` (a jupytext "percent" file with
nbgrader metadata in its cell headers) is the truth; ``dlcourse build`` turns it
into ``course/NN-name.ipynb`` with nbgrader's ``generate_assignment``, so students
get stubs that raise ``NotImplementedError`` where the solutions were.

The modules, one step each:

- :mod:`~dlcourse.course.paths` -- where solutions/, course/ and build/ are;
- :mod:`~dlcourse.course.source` -- read a solution file as a notebook;
- :mod:`~dlcourse.course.cells` -- which cells are solutions, checks and setup;
- :mod:`~dlcourse.course.lint` -- grade ids, points and markers that nbgrader needs;
- :mod:`~dlcourse.course.normalise` -- byte-identical notebooks from identical input;
- :mod:`~dlcourse.course.release` -- run nbgrader's ``generate_assignment``;
- :mod:`~dlcourse.course.leaks` -- make sure no solution reaches a student;
- :mod:`~dlcourse.course.manifest` -- remember what the last build wrote;
- :mod:`~dlcourse.course.build` -- all of the above, for every chapter;
- :mod:`~dlcourse.course.execute` -- run a notebook headless;
- :mod:`~dlcourse.course.check` -- the per-exercise report of ``dlcourse check``;
- :mod:`~dlcourse.course.book` -- the static HTML site of ``dlcourse book``;
- :mod:`~dlcourse.course.lab` -- JupyterLab for ``dlcourse start``.

Importing this package is cheap: nbgrader, jupytext and nbclient are imported by
the functions that need them.
"""
