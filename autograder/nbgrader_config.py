"""nbgrader's settings for the dlcourse course.

``dlcourse build`` loads this file when it releases the student notebooks (it
points nbgrader's course root at its own build folder, build/nbgrader/, and
skips the gradebook). ``dlcourse autograde`` grades from this folder: its
gradebook is ``gradebook.db`` here (see README.md). nbgrader's own commands,
run from this folder, find this file by themselves.
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

# The exchange (release/fetch/submit between instructor and students) lives here
# too, so nbgrader's Assignment List in JupyterLab finds it instead of reporting
# that /srv/nbgrader/exchange does not exist. nbgrader refuses a missing exchange
# folder rather than making it, so loading this file makes it.
from pathlib import Path  # noqa: E402 -- after get_config(), as nbgrader's examples do

_exchange = Path(__file__).resolve().parent / "exchange"
_exchange.mkdir(exist_ok=True)
c.Exchange.root = str(_exchange)
