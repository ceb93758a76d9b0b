"""nbgrader's settings for the dlcourse course.

``dlcourse build`` loads this file when it releases the student notebooks (it
points nbgrader's course root at its own build folder, build/nbgrader/, and
skips the gradebook). Run nbgrader's own commands for grading from this folder,
where nbgrader finds this file by itself.
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
