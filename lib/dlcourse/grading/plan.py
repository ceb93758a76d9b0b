"""Prepare an assignment for grading: its source, graded cells, checks, secret and no-go paths."""

from pathlib import Path

from dlcourse.course import cells
from dlcourse.course.paths import find_root
from dlcourse.grading import coursedir
from dlcourse.grading.checks import checks_path, load_exercises, match_grade_cells
from dlcourse.grading.seeds import SECRET_NAME, load_secret
from dlcourse.grading.student import Assignment


def locked_sources(nb):
    """``{grade_id: source}`` of the instructor's locked code cells (setup, helpers, graded)."""
    return {
        cells.grade_id(cell): cell.source
        for cell in nb.cells
        if cell.cell_type == "code"
        and cells.grade_id(cell)
        and cells.nbgrader_meta(cell).get("locked")
    }


def forbidden_paths(course_dir, secret_file, extra=()):
    """What the sandbox may not read: the course's own files and everything about grading."""
    paths = [Path(course_dir), Path(secret_file), *map(Path, extra)]
    gradebook = coursedir.gradebook_file(course_dir)  # a shared one may live elsewhere
    if gradebook is not None:
        paths.append(gradebook)
    root = find_root()
    if root is not None:
        paths += [root / "solutions", root / "autograder", root / "build", root / ".git"]
    return sorted({str(p.resolve()) for p in paths})


def plan_assignment(
    name,
    course_dir,
    secret_file=None,
    solutions=None,
    extra_forbidden=(),
    in_kernel="full",
    os_sandbox=True,
):
    """An :class:`~dlcourse.grading.student.Assignment` ready for the workers.

    Builds and registers the source notebook if needed, and fails early (with
    a message naming the fix) when the checks do not match the graded cells,
    or when the OS sandbox cannot run here (unless ``os_sandbox`` is False).
    """
    import nbformat

    if os_sandbox:
        from dlcourse.grading import osbox

        problem = osbox.probe()
        if problem:
            raise coursedir.GradingSetupError(f"cannot grade safely: {problem}")

    course_dir = Path(course_dir)
    source = coursedir.ensure_source(name, course_dir, solutions)
    text = source.read_text(encoding="utf-8")
    nb = nbformat.reads(text, as_version=4)
    graded = [(cells.grade_id(c), float(cells.points(c))) for _, c in cells.grade_cells(nb)]
    exercises = load_exercises(course_dir, name)
    match_grade_cells(exercises, [gid for gid, _ in graded], checks_path(course_dir, name))
    setup = locked_sources(nb)
    refuse_provided_and_hidden(exercises.values())
    for exercise in exercises.values():
        unknown = [gid for gid in exercise.setup if gid not in setup]
        if unknown:
            raise coursedir.GradingSetupError(
                f"{exercise.grade_id}: setup cells {', '.join(unknown)} are not locked code "
                f"cells of {name}"
            )
    secret_file = Path(secret_file) if secret_file else course_dir / SECRET_NAME
    return Assignment(
        name=name,
        course_dir=course_dir,
        source_text=text,
        graded=graded,
        setup_sources=setup,
        secret=load_secret(secret_file),
        forbidden=forbidden_paths(
            course_dir, secret_file, [*extra_forbidden, *([solutions] if solutions else [])]
        ),
        in_kernel=in_kernel,
        os_sandbox=os_sandbox,
    )


def refuse_provided_and_hidden(exercises):
    """A reference an exercise is given cannot also be hidden: it would be a stub in the sandbox.

    Raises GradingSetupError naming the exercise and the reference.
    """
    for exercise in exercises:
        clash = set(exercise.provided.values()) & {*exercise.hidden, *exercise.equivalents}
        if clash:
            raise coursedir.GradingSetupError(
                f"{exercise.grade_id}: {', '.join(sorted(clash))} is both provided and hidden "
                f"(remove it from hidden: the sandbox would give the student's code a stub)"
            )
