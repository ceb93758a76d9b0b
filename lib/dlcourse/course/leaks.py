"""Make sure no solution reaches a student: markers left in text, solution files copied.

nbgrader removes what lies between its markers; if a marker is misspelt, sits in
a cell without nbgrader metadata, or a solution file is copied next to the
notebooks, the answer would be published. The build scans everything it
released and everything in ``course/`` and fails loudly when it finds any.
"""

from pathlib import Path

# nbgrader's delimiters (the "### " in front is conventional, not required).
SOLUTION_MARKERS = ("BEGIN SOLUTION", "END SOLUTION")
HIDDEN_TEST_MARKERS = ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
MARK_SCHEME_MARKERS = ("BEGIN MARK SCHEME", "END MARK SCHEME")
MARKERS = SOLUTION_MARKERS + HIDDEN_TEST_MARKERS + MARK_SCHEME_MARKERS


def markers_in(text):
    """The markers that occur in ``text``, in the order of :data:`MARKERS`."""
    return [marker for marker in MARKERS if marker in text]


def scan_text(label, text):
    """Problems (strings) for markers found in ``text``, which is called ``label``."""
    return [f"{label} contains the marker {marker!r}" for marker in markers_in(text)]


def scan_folder(folder, solution_files=()):
    """Problems for every file under ``folder`` that leaks a solution.

    A file leaks when its text contains a marker, or when it is a ``.py`` file
    with the name or the content of one of ``solution_files``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    solutions = {Path(p).name: Path(p).read_bytes() for p in solution_files}
    contents = set(solutions.values())
    problems = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if path.suffix == ".py" and (path.name in solutions or data in contents):
            problems.append(f"{path} is a copy of a solution file")
        problems.extend(scan_text(str(path), data.decode("utf-8", errors="replace")))
    return problems
