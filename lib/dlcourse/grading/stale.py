"""Say when course/ or the exchange holds an older student version than solutions/ gives.

An edit of ``solutions/NN-name.py`` reaches ``autograder/source/`` and
``autograder/release/`` on the next grading command, but not ``course/``
(until ``dlcourse build``) nor the exchange (until nbgrader releases it
again). Both are compared with the fresh ``release/`` notebook: ``course/``
through the build's manifest (the hash of what the build wrote, so that a
student's edits in ``course/`` are not mistaken for staleness), the exchange
byte for byte (``nbgrader release_assignment`` copies the file).
"""

from pathlib import Path

from dlcourse.grading import exchange


def _fresh_release(course_dir, assignment):
    path = Path(course_dir) / "release" / assignment / f"{assignment}.ipynb"
    return path if path.is_file() else None


def stale_course(course_dir, assignment, course):
    """A message when ``course``'s build manifest holds another version of ``assignment``."""
    from nbformat import read

    from dlcourse.course import manifest
    from dlcourse.course.normalise import dumps, normalise

    release = _fresh_release(course_dir, assignment)
    recorded = manifest.load(Path(course) / ".build-manifest.json").get(f"{assignment}.ipynb")
    if release is None or recorded is None:
        return None
    fresh = dumps(normalise(read(release, as_version=4)))
    if manifest.sha256(fresh) == recorded:
        return None
    return (
        f"{Path(course) / assignment}.ipynb was built from an older solutions/{assignment}.py: "
        f"run `dlcourse build {assignment}` and commit course/."
    )


def stale_exchange(course_dir, assignment):
    """A message when the exchange's ``assignment`` differs from today's student version."""
    release = _fresh_release(course_dir, assignment)
    released = exchange.released_notebook(course_dir, assignment)
    try:
        if release is None or released.read_bytes() == release.read_bytes():
            return None
    except OSError:  # not released, or not readable here: nothing to compare
        return None
    return (
        f"the exchange ({released.parent}) holds an older student version of {assignment} "
        f"than solutions/{assignment}.py gives: run `nbgrader release_assignment {assignment} "
        f"--force` in {Path(course_dir)} (students who fetched it keep their copy until they "
        f"move it aside and fetch again)."
    )


def stale_notes(course_dir, assignment):
    """Every staleness message for ``assignment`` graded from ``course_dir``."""
    from dlcourse.course.paths import find_root

    notes = [stale_exchange(course_dir, assignment)]
    root = find_root()
    if root is not None and Path(course_dir).resolve() == (root / "autograder").resolve():
        notes.append(stale_course(course_dir, assignment, root / "course"))
    return [note for note in notes if note]
