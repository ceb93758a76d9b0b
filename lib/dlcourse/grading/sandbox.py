"""What runs inside the sandbox: one exercise of one student, in a fresh forked process.

The warm process of an OS sandbox (:mod:`dlcourse.grading.sandbox_server`),
or with ``--no-os-sandbox`` the plain fork server
(:mod:`dlcourse.grading.forkserver`), forks a child per exercise and the
child calls :func:`run_job` on a job folder written by the trusted parent.
In the OS sandbox the references are already stubs on disk and the
forbidden packages absent; the steps below that hide them are then a second
layer. The child, in this order:

1. redirects stdout and stderr to ``output.txt`` and closes every other file;
2. sets its resource limits (CPU seconds, address space, file size, files,
   and in the OS sandbox processes);
3. reads the job: setup and solution sources, ``call``, the inputs;
4. takes copies of the ``provided`` references, then makes every ``hidden``
   reference unreachable: its code is replaced by a stub that raises, and
   every module attribute pointing to it is replaced too;
5. runs the instructor's setup cells (trusted, before any student code),
   then locks the by-hand policy (:mod:`dlcourse.grading.byhand`);
6. installs an audit hook (:mod:`dlcourse.grading.guard`) that refuses files
   of the course, processes, signals, sockets and ctypes; from here on,
   nothing it does can be undone by the student's code;
7. runs the student's solution cells, then the driver, evaluates ``call`` on
   every case and writes only arrays to ``result.npz``.

Nothing in the child is trusted by the parent: it only reads the arrays back
(``allow_pickle=False``) and a short JSON note about what went wrong.
"""

import builtins
import json
import os
import resource
import sys
import types
from pathlib import Path

from dlcourse.course.statements import without_magics

OUTPUT_NAME = "output.txt"
RESULT_NAME = "result.npz"
NOTE_NAME = "note.json"
JOB_NAME = "job.json"
INPUTS_NAME = "inputs.npz"

# Exit codes of the child, read by the parent (anything else: the child was killed or crashed).
EXIT_DONE = 0  # result.npz and note.json written (the note may report a student error)
EXIT_MEMORY = 3  # MemoryError escaped while writing the note


def _redirect_output(job_dir):
    out = os.open(job_dir / OUTPUT_NAME, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.closerange(3, 65536)  # the fork server's pipes and anything else inherited
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115 -- lives with the process
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115


def _limit(kind, value):
    value = int(value)
    try:
        resource.setrlimit(kind, (value, value))
    except (ValueError, OSError):
        soft, hard = resource.getrlimit(kind)  # cannot raise past the hard limit: use it
        resource.setrlimit(kind, (min(value, hard), hard))


def set_limits(limits):
    """Apply the job's limits: CPU seconds, address space (MB), file size (bytes), open files."""
    cpu = max(1, int(limits["cpu_s"] + 0.999))
    try:
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))  # SIGXCPU, then SIGKILL
    except (ValueError, OSError):
        _limit(resource.RLIMIT_CPU, cpu)
    _limit(resource.RLIMIT_AS, limits["memory_mb"] * 1024 * 1024)
    _limit(resource.RLIMIT_FSIZE, limits["file_bytes"])
    _limit(resource.RLIMIT_NOFILE, 64)
    _limit(resource.RLIMIT_CORE, 0)
    if limits.get("processes"):  # only in an OS sandbox, where the count is its own
        _limit(resource.RLIMIT_NPROC, limits["processes"])


def _resolve(reference):
    import importlib

    module_name, _, attribute = reference.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attribute)


def _copy_function(obj):
    # The hidden reference's code object is replaced below; a provided one keeps its own.
    if isinstance(obj, types.FunctionType):
        copied = types.FunctionType(
            obj.__code__, obj.__globals__, obj.__name__, obj.__defaults__, obj.__closure__
        )
        copied.__kwdefaults__ = obj.__kwdefaults__
        copied.__doc__ = obj.__doc__
        return copied
    return obj


def _stub(reference):
    # No closure and no globals needed: its code object can replace the reference's own.
    message = (
        f"{reference.replace(':', '.')} is not available while grading: this exercise grades "
        f"your own version of it, so write it without calling the course's reference."
    )
    source = f"def not_available(*args, **kwargs):\n    raise RuntimeError({message!r})\n"
    namespace = {}
    exec(source, namespace)  # noqa: S102 -- trusted text built just above
    return namespace["not_available"]


def hide(references):
    """Make each ``"module:attribute"`` unreachable; return the source files to guard.

    The function's code object is swapped for the stub's, so every reference
    to it (module attributes, closures, default arguments, caches) now raises;
    module attributes are also replaced, by identity, across ``sys.modules``.
    """
    files = set()
    originals = {}
    for reference in references:
        obj = _resolve(reference)
        stub = _stub(reference)
        originals[id(obj)] = stub
        module = sys.modules.get(getattr(obj, "__module__", None) or "")
        if module is not None and getattr(module, "__file__", None):
            import importlib.util

            files.add(str(Path(module.__file__).resolve()))
            files.add(importlib.util.cache_from_source(module.__file__))  # its compiled .pyc
        if isinstance(obj, types.FunctionType) and not obj.__closure__:
            obj.__code__ = stub.__code__.replace(co_name=obj.__code__.co_name)
            obj.__defaults__ = None
            obj.__kwdefaults__ = None
    for module in list(sys.modules.values()):
        namespace = getattr(module, "__dict__", None)
        if not isinstance(namespace, dict):
            continue
        for name, value in list(namespace.items()):
            if id(value) in originals:
                namespace[name] = originals[id(value)]
    return files, originals


def replace_in(namespace, originals):
    for name, value in list(namespace.items()):
        if id(value) in originals:
            namespace[name] = originals[id(value)]


def run_cell(source, namespace, label):
    code = compile(without_magics(source), f"<{label}>", "exec")
    exec(code, namespace)  # noqa: S102 -- running the cell is the point, inside the sandbox


def _flatten(value, path, out, skeleton_out):
    import numpy as np

    if isinstance(value, dict):
        skeleton = {"dict": []}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"a dict in the result has a key {key!r}: keys must be strings")
            sub = {}
            _flatten(item, f"{path}/{key}", out, sub)
            skeleton["dict"].append([key, sub["node"]])
        skeleton_out["node"] = skeleton
    elif isinstance(value, tuple | list):
        items = []
        for index, item in enumerate(value):
            sub = {}
            _flatten(item, f"{path}/{index}", out, sub)
            items.append(sub["node"])
        skeleton_out["node"] = {"tuple" if isinstance(value, tuple) else "list": items}
    else:
        if value is None:
            raise TypeError("it returned None where an array was expected (a missing return?)")
        array = np.asarray(value)
        if array.dtype.kind not in "biufc":
            raise TypeError(
                f"it returned a {type(value).__name__} ({array.dtype}) where numbers were expected"
            )
        out[path] = np.array(array, copy=True)
        # np.float64 is a Python float too: only plain Python numbers come back as numbers
        plain = not isinstance(value, np.ndarray | np.generic)
        skeleton_out["node"] = {"array": path, "python": plain}


def _note(job_dir, **note):
    text = json.dumps(note)[:20000]
    (job_dir / NOTE_NAME).write_text(text, encoding="utf-8")


def _error_text(err):
    message = str(err)
    return (f"{type(err).__name__}: {message}" if message else type(err).__name__)[:2000]


def _where(err, sources):
    """``"your cell G, line N: code"`` at the deepest frame of the student's cells, or None."""
    found, tb = None, err.__traceback__
    while tb is not None:
        label = tb.tb_frame.f_code.co_filename[1:-1]  # compiled as "<your cell G>"
        if label in sources:
            lines = sources[label].splitlines()
            number = tb.tb_lineno
            code = lines[number - 1].strip() if 0 < number <= len(lines) else ""
            found = f"{label}, line {number}: {code}"[:300]
        tb = tb.tb_next
    return found


def run_job(job_dir, finder=None):
    """Run the exercise described in ``job_dir``; write ``result.npz`` and ``note.json``.

    ``finder`` is the sandbox's :class:`~dlcourse.grading.byhand.ByHandFinder`
    (None: nothing is forbidden); it is locked once the setup cells have run.
    """
    job_dir = Path(job_dir)
    _redirect_output(job_dir)
    job = json.loads((job_dir / JOB_NAME).read_text(encoding="utf-8"))
    set_limits(job["limits"])
    try:
        _run(job_dir, job, finder)
    except MemoryError:
        try:
            _note(job_dir, stage="memory", error="MemoryError")
        except BaseException:
            os._exit(EXIT_MEMORY)
    os._exit(EXIT_DONE)


def _load_cases(job_dir, job):
    import numpy as np

    with np.load(job_dir / INPUTS_NAME, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    cases = []
    for index, scalars in enumerate(job["scalars"]):
        case = dict(scalars)
        prefix = f"c{index}/"
        for key, value in arrays.items():
            if key.startswith(prefix):
                case[key[len(prefix) :]] = value
        cases.append(case)
    return cases


def _run(job_dir, job, finder=None):
    from dlcourse.grading import guard

    cases = _load_cases(job_dir, job)
    provided = {name: _copy_function(_resolve(ref)) for name, ref in job["provided"].items()}
    guarded_files, originals = hide(job["hidden"])

    namespace = {"__name__": "__main__", "__builtins__": builtins}
    for gid, source in job["setup"]:
        try:
            run_cell(source, namespace, f"setup cell {gid}")
        except BaseException as err:  # an instructor's cell: the exercise cannot be graded
            _note(job_dir, stage="setup", cell=gid, error=_error_text(err))
            return
    replace_in(namespace, originals)
    if finder is not None:
        finder.lock()

    guard.install(
        forbidden=job["forbidden"] + sorted(guarded_files),
        writable=[str(job_dir)],
    )
    namespace.update(provided)
    yours = {f"your cell {gid}": source for gid, source in job["solution"]}
    for gid, source in job["solution"]:
        try:
            run_cell(source, namespace, f"your cell {gid}")
        except MemoryError:
            raise
        except BaseException as err:
            where = _where(err, yours)
            _note(job_dir, stage="solution", cell=gid, error=_error_text(err), where=where)
            return
    if job["driver"]:
        run_cell(job["driver"], namespace, "driver")

    call = compile(job["call"], "<call>", "eval")
    results, skeletons = {}, []
    for index, case in enumerate(cases):
        try:
            value = eval(call, namespace, dict(case))  # noqa: S307 -- inside the sandbox
            skeleton = {}
            _flatten(value, f"c{index}", results, skeleton)
        except MemoryError:
            raise
        except BaseException as err:
            where = _where(err, yours)
            _note(job_dir, stage="call", case=index, error=_error_text(err), where=where)
            return
        skeletons.append(skeleton["node"])
    import numpy as np

    np.savez(job_dir / RESULT_NAME, **results)
    _note(job_dir, stage="done", skeletons=skeletons)
