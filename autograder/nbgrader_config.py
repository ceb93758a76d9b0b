"""nbgrader's settings for the dlcourse course.

``dlcourse build`` loads this file when it releases the student notebooks (it
points nbgrader's course root at its own build folder, build/nbgrader/, and
skips the gradebook). ``dlcourse autograde`` grades from this folder: its
gradebook is ``gradebook.db`` here unless ``c.CourseDirectory.db_url`` below
names another (see README.md). nbgrader's own commands, run from this folder,
find this file by themselves.
"""

c = get_config()  # noqa: F821 -- nbgrader provides get_config() when it loads this file

c.CourseDirectory.course_id = "dlcourse"
c.CourseDirectory.source_directory = "source"
c.CourseDirectory.release_directory = "release"
c.CourseDirectory.submitted_directory = "submitted"

# What replaces a solution in the student version: the course's notebooks say
# "replace `raise NotImplementedError()` with your code", and the tests check
# that the first exercise fails with exactly this error.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
c.ClearSolutions.begin_solution_delimeter = "BEGIN SOLUTION"  # nbgrader's spelling
c.ClearSolutions.end_solution_delimeter = "END SOLUTION"
c.ClearHiddenTests.begin_test_delimeter = "BEGIN HIDDEN TESTS"
c.ClearHiddenTests.end_test_delimeter = "END HIDDEN TESTS"

# A hidden test is removed from the student version, so nbgrader's autograde
# would warn "checksum has changed" for every graded cell of every student. This
# OverwriteCells compares each locked cell with the version the student was
# given instead: the warnings that remain are real edits of a locked cell.
c.Autograde.sanitize_preprocessors = [
    "nbgrader.preprocessors.ClearOutput",
    "nbgrader.preprocessors.DeduplicateIds",
    "nbgrader.preprocessors.OverwriteKernelspec",
    "dlcourse.grading.released_cells.OverwriteReleasedCells",
    "nbgrader.preprocessors.CheckCellMetadata",
]

# One gradebook for several TAs or machines: any SQLAlchemy URL nbgrader accepts
# (README.md, "Shared set-ups"). Without it: gradebook.db in this folder.
# c.CourseDirectory.db_url = "sqlite:////srv/grading/dlcourse/gradebook.db"
# c.CourseDirectory.db_url = "postgresql://grader@db.example.org/dlcourse"

# The exchange (release, fetch, submit between instructor and students) is
# nbgrader's standard one, /usr/local/share/nbgrader/exchange, shared by every
# user of the machine (README.md, "JupyterHub"). Set another here, never inside
# the repository: nbgrader makes its folders world-writable.
# c.Exchange.root = "/srv/nbgrader/dlcourse/exchange"
