"""nbgrader's OverwriteCells, comparing a locked cell with the version the student was given.

nbgrader's autograde restores every locked cell of a submission from the
gradebook and warns ("Attribute 'checksum' for cell ... has changed!") when
the cell's checksum differs from the instructor's source cell. A graded cell
with hidden tests never matches: the student version lost the hidden tests.
Plain nbgrader therefore warns for every such cell of every student, and a
real edit of a test cell drowns among those warnings.

:class:`OverwriteReleasedCells` first compares the cell with its released
version (the source cell with the hidden tests removed, exactly as
``generate_assignment`` removes them). When they agree the cell is restored
silently; otherwise nbgrader's own check runs and warns. Either way the cell
is restored to the source, hidden tests included, as nbgrader does.
autograder/nbgrader_config.py puts it in place of OverwriteCells.
"""

import copy

from nbgrader import utils
from nbgrader.api import MissingEntry
from nbgrader.preprocessors import ClearHiddenTests, OverwriteCells


class OverwriteReleasedCells(OverwriteCells):
    """OverwriteCells that warns only about locked cells that differ from the student version."""

    def preprocess_cell(self, cell, resources, cell_index):
        if self._as_released(cell):
            source_cell = self.gradebook.find_source_cell(
                cell.metadata.nbgrader["grade_id"], self.notebook_id, self.assignment_id
            )
            cell.source = source_cell.source  # the hidden tests come back, with no warning
        return super().preprocess_cell(cell, resources, cell_index)

    def _as_released(self, cell):
        """Whether a locked cell is byte for byte its student version (hidden tests removed)."""
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id is None:
            return False
        try:
            source_cell = self.gradebook.find_source_cell(
                grade_id, self.notebook_id, self.assignment_id
            )
        except MissingEntry:
            return False
        if not source_cell.locked or source_cell.cell_type != cell.cell_type:
            return False
        released = copy.deepcopy(cell)
        released.source = source_cell.source
        try:
            ClearHiddenTests(config=self.config)._remove_hidden_test_region(released)
        except RuntimeError:  # unbalanced delimiters: let nbgrader's own check speak
            return False
        return utils.compute_checksum(cell) == utils.compute_checksum(released)
