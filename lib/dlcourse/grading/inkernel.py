"""nbgrader's own grading of a submission, in the student's kernel, on a private gradebook.

This is the score nbgrader alone would give: it runs the whole notebook with
the instructor's test cells in the student's kernel, where the student's code
can tamper with the checks. The authoritative score comes from the sandbox;
this one is kept to show the instructor where the two disagree.

SQLite takes one writer at a time, so each grading worker has a private
course folder (a copy of the assignment's source and of the gradebook) and
the parent alone writes the real gradebook afterwards.
"""

import hashlib
import io
import json
import logging
import os
import shutil
import warnings
from pathlib import Path

from dlcourse.grading import coursedir
from dlcourse.grading.limited_kernel import write_kernelspec
from dlcourse.grading.warm_kernels import FORBIDDEN_ENV, OPTIONAL_ENV

CELL_TIMEOUT_S = 30  # the slowest cell of the course takes a few seconds
# A cell whose exercise already ran out of its CPU or memory in the sandbox would do the same
# here; the in-kernel score decides nothing, so those cells get a second, not the full wait.
EXHAUSTED_CELL_TIMEOUT_S = 1


class PrivateCourse:
    """A worker's own nbgrader course folder, made from the real one's gradebook and source."""

    def __init__(
        self,
        folder,
        course_dir,
        assignment,
        memory_mb=4096,
        warm=True,
        forbidden=(),
        os_sandbox=True,
        kernel_preload=None,
    ):
        self.folder = Path(folder)
        self.warm = warm
        self.os_sandbox = os_sandbox
        self.assignment = assignment
        source = coursedir.source_path(assignment, course_dir)
        target = coursedir.source_path(assignment, self.folder)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
        coursedir.copy_gradebook(course_dir, assignment, self.db_path)
        jupyter = self.folder / "jupyter"
        write_kernelspec(jupyter, memory_mb)
        # Kernels started from this process find the limited "python3" spec first.
        os.environ["JUPYTER_PATH"] = os.pathsep.join(
            [str(jupyter), *filter(None, [os.environ.get("JUPYTER_PATH")])]
        )
        os.environ["MPLBACKEND"] = "Agg"
        if kernel_preload is not None:  # the optional modules the kernels' template imports
            os.environ[OPTIONAL_ENV] = json.dumps(list(kernel_preload))
        # The kernels may not touch the course, the gradebooks or other submissions.
        os.environ[FORBIDDEN_ENV] = json.dumps([*map(str, forbidden), str(self.folder)])
        if os_sandbox:  # each kernel then lives in a folder of its own under this one
            from dlcourse.grading.sandboxed_kernels import KERNELS_ENV

            os.environ[KERNELS_ENV] = str(self.folder.parent / "kernels")
        # (the kernel's own working folder, autograded/<student>/..., stays open to it)

    @property
    def db_path(self):
        return self.folder / coursedir.GRADEBOOK_NAME

    def grade(self, student_id, notebook_text, exhausted=()):
        """Run nbgrader's Autograde on one notebook; ``{grade_id: auto score}``.

        The cells named in ``exhausted`` (grade_ids) are stopped after
        :data:`EXHAUSTED_CELL_TIMEOUT_S`. Raises RuntimeError with nbgrader's
        log when nbgrader could not grade the notebook.
        """
        from nbgrader.converters import Autograde
        from nbgrader.coursedir import CourseDirectory

        name = self.assignment
        # nbgrader reads the id as a glob and strips its spaces: in this private course the
        # student goes by a plain name made from the id, so "a*" or " x" grade only themselves
        given_id, student_id = student_id, private_id(student_id)
        submitted = self.folder / "submitted" / student_id / name
        shutil.rmtree(submitted, ignore_errors=True)
        submitted.mkdir(parents=True)
        (submitted / f"{name}.ipynb").write_text(notebook_text, encoding="utf-8")
        config = coursedir.nbgrader_config(
            self.folder,
            name,
            db=f"sqlite:///{self.db_path}",
            **{"CourseDirectory.student_id": student_id, "CourseDirectory.notebook_id": "*"},
        )
        config.Autograde.force = True
        config.Autograde.create_student = True
        config.Execute.timeout = CELL_TIMEOUT_S
        config.Execute.timeout_func = cell_timeouts(exhausted)
        config.Execute.allow_errors = True
        config.Execute.shutdown_kernel = "immediate"  # a graceful shutdown waits seconds
        if self.os_sandbox:
            config.Autograde.autograde_preprocessors = _preprocessors(sandboxed=True)
        elif self.warm:
            config.Autograde.autograde_preprocessors = _preprocessors(sandboxed=False)
        app = Autograde(coursedir=CourseDirectory(config=config), config=config)
        log = io.StringIO()
        handler = logging.StreamHandler(log)
        app.log.addHandler(handler)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # SQLAlchemy's autoflush chatter in nbgrader
                app.start()
        except BaseException as err:  # nbgrader raises its own exceptions and SystemExit
            raise RuntimeError(
                _last_lines(log.getvalue()) or f"{type(err).__name__}: {err}"
            ) from err
        finally:
            app.log.removeHandler(handler)
        return self.scores(given_id)

    def scores(self, student_id):
        from nbgrader.api import Gradebook

        name = self.assignment
        student_id = private_id(student_id)
        with Gradebook(f"sqlite:///{self.db_path}") as gb:
            notebook = gb.find_submission_notebook(name, name, student_id)
            return {grade.name: grade.auto_score for grade in notebook.grades}


def cell_timeouts(exhausted):
    """nbclient's per-cell timeout: short for the ``exhausted`` grade_ids, else the default."""
    exhausted = frozenset(exhausted)

    def timeout(cell):
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        return EXHAUSTED_CELL_TIMEOUT_S if grade_id in exhausted else CELL_TIMEOUT_S

    return timeout


def private_id(student_id):
    """The name a student has in a worker's private course: letters and digits only."""
    return "student-" + hashlib.sha256(student_id.encode("utf-8")).hexdigest()[:20]


def _preprocessors(sandboxed):
    """nbgrader's autograde steps, with kernels in OS sandboxes or forked from a warm template."""
    from nbgrader.converters import Autograde
    from nbgrader.preprocessors import Execute

    if sandboxed:
        from dlcourse.grading.sandboxed_kernels import execute_class
    else:
        from dlcourse.grading.warm_kernels import execute_class

    runner = execute_class()
    steps = Autograde.class_traits()["autograde_preprocessors"].default_args[0]
    return [runner if step is Execute else step for step in steps]


def _last_lines(text, count=6):
    lines = [line for line in text.splitlines() if line.strip()]
    return "\n".join(lines[-count:])
