"""Grading that the student's code cannot fool.

nbgrader runs a notebook's test cells in the student's own kernel, where the
student's code can patch NumPy, the check helpers or IPython. Here the score of
every graded cell is decided again outside that kernel: the student's solution
cells run in an OS sandbox (bubblewrap, :mod:`dlcourse.grading.osbox`) with the
references stubbed on disk, in a resource-limited process, on inputs drawn from
a secret per-student seed; only arrays come back, and trusted code compares
them with the reference answers. What each graded cell checks is written down, per
assignment, in ``autograder/checks/NN-name.py`` as a list of :class:`Exercise`.
"""

from dlcourse.grading.spec import Exercise

__all__ = ["Exercise"]
