"""Find the submitted notebooks, in nbgrader's layout or as ``zip_collect`` leaves them.

Accepted, under ``--submitted DIR``:

- nbgrader's layout, ``DIR/<student_id>/<assignment>/<notebook>.ipynb`` (the
  notebook named after the assignment is taken; if there is none, the only
  ``.ipynb`` in the folder);
- a flat folder of files ``DIR/<student_id>_<anything>.ipynb`` or
  ``DIR/<student_id>.ipynb`` (what nbgrader's ``zip_collect`` extracts from
  an LMS download). The student id is what comes before ``_<assignment>``
  when the name contains it (so ids may contain ``_``), else before the
  first ``_``.

Every student found gets a :class:`Submission`, and so a row in grades.csv:

- students with a folder but no notebook have ``path=None`` (status "missing");
- a symbolic link on the way to the notebook (the student's folder, the
  assignment folder, the notebook) is never followed: status "unreadable";
- an id that nbgrader itself would not grade (see :func:`nbgrader_refuses`)
  gets status "error" with nbgrader's reason.

Names starting with ``.`` are hidden files (``.DS_Store``, ``._x.ipynb``),
skipped like nbgrader skips them, except a hidden *folder* holding the
assignment, which is reported.

:func:`snapshot` then copies each notebook once, without following links,
into a private folder: what is graded and hashed is that copy, whatever
happens to the submitted folder meanwhile.
"""

import dataclasses
import errno
import fnmatch
import hashlib
import os
import stat
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

MAX_NOTEBOOK_BYTES = 100 * 1024 * 1024  # nbgrader's own limit on a copied file (100 MB)
SYMLINK_REASON = "symbolic links are not accepted in submissions"
IDENTICAL_PREFIX = "identical to the submission of "
ALSO_SUBMITTED_PREFIX = "also submitted: "
BATCH_FLAG_PREFIXES = (IDENTICAL_PREFIX, ALSO_SUBMITTED_PREFIX)  # recomputed on every run


@dataclass(frozen=True)
class Submission:
    student_id: str
    path: Path | None  # None: nothing to grade (no notebook, or status says why)
    status: str | None = None  # "unreadable" or "error": not graded, reason says why
    reason: str | None = None
    flags: tuple = ()  # notes for the instructor, added to the record
    sha256: str | None = None  # of the notebook's bytes, once snapshot() copied them


class SubmissionsError(Exception):
    """The submissions folder is missing or holds nothing recognisable."""


def nbgrader_refuses(student_id):
    """Why ``nbgrader autograde`` would not grade a student folder of this name, or None.

    Read from nbgrader 0.9's converters/base.py: it lists ``submitted/*/<assignment>``
    with ``glob`` (which skips names starting with ``.``), globs the notebooks
    under that path again (so ``[...]`` in the name is a pattern), matches the
    path with a regexp whose ``.*`` stops at a line break (that stops the whole
    run), and stores the id in SQLite (UTF-8 only). Anything else, spaces,
    accents, a leading ``-``, quotes, ``+``, it grades.
    """
    if not student_id:
        return "the student id is empty"
    if student_id.startswith("."):
        return "nbgrader never grades a folder whose name starts with '.'; rename it"
    if "\n" in student_id:
        return "nbgrader cannot grade a name with a line break (it stops the whole run)"
    if not fnmatch.fnmatchcase(student_id, student_id):
        return (
            "nbgrader reads the '[...]' in this name as a file pattern and finds no "
            "notebook under it; rename the folder"
        )
    try:
        student_id.encode("utf-8")
    except UnicodeEncodeError:
        return "the name is not valid UTF-8, and nbgrader's gradebook stores only UTF-8"
    return None


def _lstat(path):
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None


def _notebook_entry(student, path):
    """The Submission of one candidate notebook file, refusing links and special files."""
    info = _lstat(path)
    if stat.S_ISLNK(info.st_mode):
        return Submission(student, None, "unreadable", f"{path.name}: {SYMLINK_REASON}")
    if not stat.S_ISREG(info.st_mode):
        return Submission(student, None, "unreadable", f"{path.name} is not a regular file")
    return Submission(student, path)


def _from_folder(student, folder, assignment):
    """The Submission in ``<student>/<assignment>/`` (a real folder, not a link)."""
    named = folder / f"{assignment}.ipynb"
    if _lstat(named) is not None:
        return _notebook_entry(student, named)
    notebooks = sorted(
        folder / name
        for name in os.listdir(folder)
        if name.endswith(".ipynb") and not name.startswith(".")
    )
    if not notebooks:
        return Submission(student, None)
    if len(notebooks) > 1:
        names = ", ".join(p.name for p in notebooks)
        return Submission(
            student,
            None,
            "unreadable",
            f"the folder holds several notebooks ({names}) and none is named {assignment}.ipynb",
        )
    return _notebook_entry(student, notebooks[0])


def _student_folder(entry, assignment):
    """The Submission of the directory entry ``entry`` of DIR, or None if it is no student's."""
    name = entry.name
    if entry.is_symlink():
        if name.startswith("."):
            return None
        return Submission(name, None, "unreadable", f"the folder {name}: {SYMLINK_REASON}")
    folder = Path(entry.path) / assignment
    info = _lstat(folder)
    if info is None:
        return None  # a folder, but not of this assignment
    if stat.S_ISLNK(info.st_mode):
        return Submission(
            name, None, "unreadable", f"the folder {name}/{assignment}: {SYMLINK_REASON}"
        )
    if not stat.S_ISDIR(info.st_mode):
        return Submission(name, None, "unreadable", f"{name}/{assignment} is not a folder")
    return _from_folder(name, folder, assignment)


def _flat_student(name, assignment):
    stem = name[: -len(".ipynb")]
    marker = f"_{assignment}"
    if marker in stem:
        return stem.split(marker, 1)[0]
    return stem.split("_", 1)[0]


def _flat_file(entry, assignment):
    student = _flat_student(entry.name, assignment)
    if not student:
        return Submission(
            entry.name, None, "error", "the file name has no student id before its first '_'"
        )
    return _notebook_entry(student, Path(entry.path))


def _refused(submission):
    """The submission, or its refusal when nbgrader would not grade this id."""
    why = nbgrader_refuses(submission.student_id)
    if why is None:
        return submission
    return Submission(submission.student_id, None, "error", why)


def _candidates(submitted, assignment):
    """``(is_flat_file, Submission)`` for every student entry of DIR, in name order."""
    with os.scandir(submitted) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            if entry.is_dir(follow_symlinks=False) or (
                entry.is_symlink() and not entry.name.endswith(".ipynb")
            ):
                found = _student_folder(entry, assignment)
                if found is not None:
                    yield False, found
            elif entry.name.endswith(".ipynb") and not entry.name.startswith("."):
                yield True, _flat_file(entry, assignment)


def find_submissions(submitted, assignment):
    """The submissions of ``assignment`` in ``submitted``, sorted by student id.

    Students who appear twice (a folder and a flat file, two flat files) are
    graded once, on the folder or else the first file by name; the record's
    flags name what else they submitted.
    """
    submitted = Path(submitted)
    if not submitted.is_dir():
        raise SubmissionsError(f"the submissions folder {submitted} does not exist")
    found, extra = {}, defaultdict(list)
    # sorted() is stable: folders first, each kind in name order
    for _, submission in sorted(_candidates(submitted, assignment), key=lambda c: c[0]):
        sid = submission.student_id
        if sid in found:
            extra[sid].append(submission.path.name if submission.path else "another entry")
            continue
        found[sid] = _refused(submission)
    if not found:
        raise SubmissionsError(
            f"no submissions of {assignment} in {submitted}: expected "
            f"{submitted}/<student_id>/{assignment}/{assignment}.ipynb or "
            f"{submitted}/<student_id>_{assignment}.ipynb"
        )
    for sid, others in extra.items():
        flag = f"{ALSO_SUBMITTED_PREFIX}{', '.join(others)} (not graded)"
        found[sid] = dataclasses.replace(found[sid], flags=(*found[sid].flags, flag))
    return [found[k] for k in sorted(found)]


class _Refused(Exception):
    """The notebook cannot be copied; the message is the record's reason."""


def _is_link(name, dir_fd):
    try:
        return stat.S_ISLNK(os.lstat(name, dir_fd=dir_fd).st_mode)
    except OSError:
        return False


def _open_part(name, flags, dir_fd, relative):
    try:
        return os.open(name, flags, dir_fd=dir_fd)
    except OSError as err:
        # O_NOFOLLOW gives ELOOP on a link, or ENOTDIR with O_DIRECTORY
        if err.errno == errno.ELOOP or _is_link(name, dir_fd):
            raise _Refused(f"{relative}: {SYMLINK_REASON}") from err
        raise _Refused(f"the notebook could not be read ({err.strerror})") from err


def _open_below(root, relative):
    """A read-only fd of ``root/relative``, opening every part with O_NOFOLLOW."""
    flags = os.O_RDONLY | os.O_NOFOLLOW
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for part in relative.parts[:-1]:
            next_fd = _open_part(part, flags | os.O_DIRECTORY, fd, relative)
            os.close(fd)
            fd = next_fd
        # O_NONBLOCK: a FIFO planted as a notebook must not block the open
        return _open_part(relative.parts[-1], flags | os.O_NONBLOCK, fd, relative)
    finally:
        os.close(fd)


def read_notebook_bytes(root, path):
    """The bytes of the notebook ``path`` under ``root``, never following a link."""
    fd = _open_below(Path(root), Path(path).relative_to(root))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _Refused(f"{Path(path).name} is not a regular file")
        if info.st_size > MAX_NOTEBOOK_BYTES:
            raise _Refused(
                f"the notebook is larger than {MAX_NOTEBOOK_BYTES // 2**20} MB "
                "(clear its outputs and submit it again)"
            )
        os.set_blocking(fd, True)
        chunks, size = [], 0
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_NOTEBOOK_BYTES:  # it grew after fstat
                raise _Refused(f"the notebook is larger than {MAX_NOTEBOOK_BYTES // 2**20} MB")
        return b"".join(chunks)
    finally:
        os.close(fd)


def snapshot(submissions, submitted, folder):
    """The submissions, each notebook copied into ``folder`` and hashed (sha256).

    The copy is what gets graded: a notebook changed or replaced by a link
    after this point cannot change the grade, and its hash says which bytes
    were graded. A notebook that cannot be read is refused here.
    """
    folder = Path(folder)
    copied = []
    for number, submission in enumerate(submissions):
        if submission.path is None:
            copied.append(submission)
            continue
        try:
            data = read_notebook_bytes(submitted, submission.path)
        except _Refused as err:
            copied.append(
                dataclasses.replace(submission, path=None, status="unreadable", reason=str(err))
            )
            continue
        copy = folder / f"{number}.ipynb"
        fd = os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        digest = hashlib.sha256(data).hexdigest()
        copied.append(dataclasses.replace(submission, path=copy, sha256=digest))
    return copied


def solution_ids(source_text):
    """grade_ids of the source notebook's solution code cells, in notebook order."""
    import nbformat

    from dlcourse.course import cells

    nb = nbformat.reads(source_text, as_version=4)
    return [cells.grade_id(c) for c in nb.cells if c.cell_type == "code" and cells.is_solution(c)]


def _untouched(code):
    """Whether a solution cell still holds the student version's stub."""
    lines = {line.strip() for line in code.splitlines()}
    return bool(lines & {"raise NotImplementedError()", "raise NotImplementedError"})


def _solution_hash(path, ids):
    """sha256 of the solution cells' code, or None for unreadable or untouched notebooks."""
    from dlcourse.grading import notebook as nbfile

    try:
        nb = nbfile.read_submission(path)
    except nbfile.Unreadable:
        return None
    code = nbfile.code_by_grade_id(nb)
    solutions = [code.get(gid) for gid in ids]
    if all(c is None or _untouched(c) for c in solutions):
        return None  # the student version as released: the same for everyone
    text = repr(list(zip(ids, solutions)))
    return hashlib.sha256(text.encode("utf-8", "backslashreplace")).hexdigest()


def identical_flags(submissions, ids, shown=str):
    """``{student_id: flag}`` for submissions whose solution code another student's equals.

    ``submissions`` are :func:`snapshot` copies, ``ids`` the solution cells'
    grade_ids; ``shown`` writes a student id for the flag's text.
    """
    groups = defaultdict(list)
    for submission in submissions:
        if submission.path is not None and submission.status is None:
            digest = _solution_hash(submission.path, ids)
            if digest is not None:
                groups[digest].append(submission)
    flags = {}
    for group in groups.values():
        for submission in group if len(group) > 1 else ():
            others = [s for s in group if s is not submission]
            same_file = [shown(s.student_id) for s in others if s.sha256 == submission.sha256]
            text = f"{IDENTICAL_PREFIX}{', '.join(shown(s.student_id) for s in others)}"
            text += " (the same code in every solution cell"
            text += (
                f"; the same file, byte for byte, as {', '.join(same_file)})" if same_file else ")"
            )
            flags[submission.student_id] = text
    return flags
