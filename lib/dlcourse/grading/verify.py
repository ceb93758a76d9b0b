"""Grade one exercise out of the kernel: the trusted parent's side of the sandbox.

For one student and one :class:`~dlcourse.grading.spec.Exercise` it draws the
cases from the student's secret seed, computes the expected answers with the
references (here, never in the sandbox), writes the job for the sandbox,
runs it through the fork server, reads back only arrays and compares them.
Whatever goes wrong costs this exercise its points and nothing else.
"""

import io
import json
import os
import re
import shutil
import stat
import zipfile
from dataclasses import dataclass

import numpy as np

from dlcourse.grading import clues, sandbox

OUTPUT_CAP_BYTES = 1_000_000
RESULT_CAP_BYTES = 16_000_000
NOTE_CAP_BYTES = 100_000
PROCESS_CAP = 32  # the student's code may not start processes; a fork bomb stops here
_KEY = re.compile(r"^c\d+(/[A-Za-z0-9_.\-]+)*$")


@dataclass
class Verdict:
    """The out-of-kernel result of one exercise: passed or not, and why, in words.

    ``limit`` names the limit that stopped the student's code (one of
    :data:`LIMITS`), or is None.
    """

    passed: bool
    diagnosis: str | None = None
    reason: str | None = None
    limit: str | None = None


# What can stop a job: CPU seconds, address space, output size, a kill by the kernel (CPU or
# memory), and the wall clock (only after a second run with more time; see verify).
LIMITS = ("cpu", "memory", "output", "killed", "wall")
RETRY_WALL_FACTOR = 2  # a job stopped by the wall clock runs once more, with this much more time


def job_limits(exercise):
    return {
        "cpu_s": exercise.timeout_s,
        "memory_mb": exercise.memory_mb,
        "file_bytes": max(OUTPUT_CAP_BYTES, RESULT_CAP_BYTES) + 1_000_000,
        "processes": PROCESS_CAP,
    }


def wall_limit(exercise):
    # CPU time is the real limit; the wall clock only catches sleeping or a stuck machine.
    return 3 * exercise.timeout_s + 10


def longest_wait(exercise):
    """The most wall-clock time one exercise can take: its run and its second run."""
    return wall_limit(exercise) * (1 + RETRY_WALL_FACTOR)


def _split_case(case):
    arrays, scalars = {}, {}
    for name, value in case.items():
        if isinstance(value, bool | int | float | str) or value is None:
            scalars[name] = value
        else:
            arrays[name] = np.asarray(value)
    return arrays, scalars


def write_job(job_dir, exercise, cases, setup, solution, forbidden):
    """Write what the sandbox needs into ``job_dir`` (a fresh, empty folder)."""
    arrays, scalars = {}, []
    for index, case in enumerate(cases):
        case_arrays, case_scalars = _split_case(case)
        arrays.update({f"c{index}/{name}": value for name, value in case_arrays.items()})
        scalars.append(case_scalars)
    np.savez(job_dir / sandbox.INPUTS_NAME, **arrays)
    job = {
        "limits": job_limits(exercise),
        "scalars": scalars,
        "setup": setup,
        "solution": solution,
        "hidden": list(exercise.hidden),
        "provided": dict(exercise.provided),
        "driver": exercise.driver,
        "call": exercise.call,
        "forbidden": [str(p) for p in forbidden],
    }
    (job_dir / sandbox.JOB_NAME).write_text(json.dumps(job), encoding="utf-8")


def flatten(value, path, out):
    """``{path: array}`` for every array in a nest of dicts, tuples and lists."""
    if isinstance(value, dict):
        for key, item in value.items():
            flatten(item, f"{path}/{key}", out)
    elif isinstance(value, tuple | list):
        for index, item in enumerate(value):
            flatten(item, f"{path}/{index}", out)
    else:
        out[path] = value
    return out


def _rebuild(node, arrays):
    """The value the student's ``call`` returned, rebuilt from the skeleton and the arrays."""
    if not isinstance(node, dict) or len(node) > 2:
        raise ValueError("malformed result description")
    if "array" in node:
        array = arrays[node["array"]]
        return array.item() if node.get("python") and array.ndim == 0 else array
    if "dict" in node:
        return {str(key): _rebuild(item, arrays) for key, item in node["dict"]}
    if "tuple" in node:
        return tuple(_rebuild(item, arrays) for item in node["tuple"])
    if "list" in node:
        return [_rebuild(item, arrays) for item in node["list"]]
    raise ValueError("malformed result description")


def _leaf_name(exercise, path):
    inner = path.split("/", 1)[1] if "/" in path else ""
    names = exercise.names or {}
    if inner in names:
        return names[inner]
    if not inner:
        return "result"
    return "result" + "".join(
        f"[{part}]" if part.isdigit() else f"[{part!r}]" for part in inner.split("/")
    )


def default_compare(exercise, got, expected, case):
    """diagnose() every expected array against the student's; the first failure, or None.

    The failure names a forgotten dout, and which of the other arrays are right.
    """
    from dlcourse.diagnose import diagnose

    want = flatten(expected, "c", {})
    have = flatten(got, "c", {})
    at = case.get(exercise.kinks) if exercise.kinks else None
    batch = case.get(exercise.batch_of) if exercise.batch_of else None
    batch_size = int(np.shape(batch)[0]) if batch is not None and np.ndim(batch) else None
    noise = float(exercise.rounding(**case)) if exercise.rounding else 0.0
    without_dout = _expected_without_dout(exercise, case)
    right, wrong = [], []
    for path, expected_value in want.items():
        name = _leaf_name(exercise, path)
        if path not in have:
            return (
                f"{name} is missing from what was returned: expected {_describe(expected)}, "
                f"got {_describe(got)}."
            )
        # a check may state a plain number; diagnose compares arrays
        got_value = np.asarray(have[path])
        expected_value = np.asarray(expected_value)
        kink = at if at is not None and np.shape(at) == np.shape(expected_value) else None
        result = diagnose(
            got_value, expected_value, name=name, at=kink, batch_size=batch_size, noise=noise
        )
        if result.ok:
            right.append(name)
            continue
        message = result.message
        if path in without_dout and _same(got_value, without_dout[path], noise):
            message = clues.forgot_dout(name)
        wrong.append((name, message))
    if wrong:
        return clues.right_and_wrong(right, [name for name, _ in wrong], wrong[0][1])
    extra = sorted(set(have) - set(want))
    if extra:
        return (
            f"what was returned has more parts than expected: expected {_describe(expected)}, "
            f"got {_describe(got)}."
        )
    return None


def _expected_without_dout(exercise, case):
    """The reference's answer for dout all ones, flattened ({} where that means nothing)."""
    ones = clues.case_without_dout(case)
    if ones is None:
        return {}
    try:
        return flatten(exercise.expected(**ones), "c", {})
    except Exception:  # a reference that cannot take that dout gives no clue
        return {}


def _same(got_value, expected_value, noise):
    from dlcourse.diagnose import diagnose

    expected_value = np.asarray(expected_value)
    if np.shape(got_value) != np.shape(expected_value):
        return False
    return diagnose(got_value, expected_value, noise=noise).ok


def _describe(value):
    if isinstance(value, dict):
        return "a dict with keys " + ", ".join(repr(k) for k in value)
    if isinstance(value, tuple | list):
        return f"a {type(value).__name__} of {len(value)}"
    shape = getattr(value, "shape", None)
    return f"an array of shape {tuple(shape)}" if shape is not None else type(value).__name__


def _case_label(case):
    parts = []
    for name, value in case.items():
        if isinstance(value, np.ndarray):
            parts.append(f"{name} of shape {value.shape} ({value.dtype})")
        else:
            parts.append(f"{name}={value!r}")
    return ", ".join(parts)


def _child_failure(outcome, exercise, output_size, wall_s):
    """``(reason, limit)`` of a job whose process did not end well."""
    if output_size > OUTPUT_CAP_BYTES:  # a flood ends in a kill, a timeout or a write error
        return f"printed more than {OUTPUT_CAP_BYTES // 1_000_000} MB", "output"
    if outcome.server_died and not outcome.timed_out:
        return "the grading process stopped unexpectedly, so nothing could be verified", None
    if outcome.timed_out:
        return f"stopped after {wall_s:g} s of waiting", "wall"
    if outcome.signal is not None:
        if outcome.signal in (24,):  # SIGXCPU
            return (
                f"timed out after {exercise.timeout_s:g} s of CPU (a loop that never ends?)",
                "cpu",
            )
        if outcome.signal == 25:  # SIGXFSZ
            return f"printed or wrote more than {OUTPUT_CAP_BYTES // 1_000_000} MB", "output"
        if outcome.signal == 9:
            return (
                f"was killed: more than {exercise.timeout_s:g} s of CPU or too much memory",
                "killed",
            )
        return f"the code crashed the Python process (signal {outcome.signal})", None
    if outcome.exit_code == sandbox.EXIT_MEMORY:
        return f"used more than {exercise.memory_mb} MB", "memory"
    return (
        f"the code ended the process (exit status {outcome.exit_code}) before giving its answers",
        None,
    )


def _regular_file(path):
    """os.stat_result of ``path`` if it is a regular file (not a link the child planted)."""
    try:
        info = os.lstat(path)
    except OSError:
        return None
    return info if stat.S_ISREG(info.st_mode) else None


def _read_bytes(path, cap):
    """The bytes of a regular file of at most ``cap`` bytes, never following a link; or None."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    with os.fdopen(descriptor, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            return None
        data = handle.read(cap + 1)
    return data if len(data) <= cap else None


def _read_note(job_dir):
    data = _read_bytes(job_dir / sandbox.NOTE_NAME, NOTE_CAP_BYTES)
    if data is None:
        return None
    try:
        note = json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None
    return note if isinstance(note, dict) else None


def _result_caps(expected):
    """(most arrays, most bytes of one array, most bytes in all) the answers may take."""
    leaves = [np.asarray(v) for case in expected for v in flatten(case, "c", {}).values()]
    largest = max((leaf.nbytes for leaf in leaves), default=0)
    total = sum(leaf.nbytes for leaf in leaves)
    # room for a wrong answer (float64 for float32, a sum left out) but not for a bomb
    per_array = max(64 * 1024, 8 * largest)
    return 2 * len(leaves) + 16, per_array, min(RESULT_CAP_BYTES, max(1_000_000, 8 * total))


def _load_results(job_dir, expected):
    """The answers' arrays, each entry checked as stored before any is read into memory."""
    most_arrays, per_array, total_cap = _result_caps(expected)
    data = _read_bytes(job_dir / sandbox.RESULT_NAME, total_cap + 65536)
    if data is None:
        raise ValueError("no readable answers came back (missing, a link, or too large)")
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        entries = archive.infolist()
        if len(entries) > most_arrays:
            raise ValueError(f"{len(entries)} arrays came back, more than the answers hold")
        for entry in entries:
            key = entry.filename.removesuffix(".npy")
            if not entry.filename.endswith(".npy") or not _KEY.match(key):
                raise ValueError(f"an unexpected entry {entry.filename!r} came back")
            if entry.compress_type != zipfile.ZIP_STORED or entry.file_size > per_array:
                raise ValueError(f"{key} came back larger than any answer could be")
        arrays = {}
        for entry in entries:
            key = entry.filename.removesuffix(".npy")
            with archive.open(entry) as handle:
                value = np.lib.format.read_array(handle, allow_pickle=False)
            if value.dtype.kind not in "biufc":
                raise ValueError(f"{key} came back as {value.dtype}, not numbers")
            arrays[key] = value
    return arrays


def verify(exercise, cases, expected, *, setup, solution, forbidden, server, job_dir=None):
    """Run ``exercise`` for one student; return a :class:`Verdict`.

    ``setup`` and ``solution`` are lists of ``(grade_id, source)``;
    ``expected`` are the trusted answers, one per case. ``job_dir`` is a
    fresh folder for the job; None: the server's own (an OS sandbox's /job).

    Points are decided by CPU time, never by a busy machine: a job that the
    wall clock stops is run once more with :data:`RETRY_WALL_FACTOR` times the
    time, and only a second stop costs the points (code that sleeps or waits).
    """
    first = wall_limit(exercise)
    verdict = _verify_once(
        exercise, cases, expected, setup, solution, forbidden, server, job_dir, first
    )
    if verdict.limit != "wall":
        return verdict
    again = RETRY_WALL_FACTOR * first
    verdict = _verify_once(
        exercise, cases, expected, setup, solution, forbidden, server, job_dir, again
    )
    if verdict.limit == "wall":
        verdict.reason = (
            f"did not finish in {first:g} s, nor in {again:g} s when run again, without using up "
            f"its {exercise.timeout_s:g} s of CPU: it waits (time.sleep, input() or a lock?)"
        )
    return verdict


def _verify_once(exercise, cases, expected, setup, solution, forbidden, server, job_dir, wall_s):
    if job_dir is None:
        job_dir = server.fresh_job_dir()
    else:
        if job_dir.exists():
            shutil.rmtree(job_dir)
        job_dir.mkdir(parents=True)
        os.chmod(job_dir, 0o700)
    write_job(job_dir, exercise, cases, setup, solution, forbidden)
    outcome = server.run(job_dir, wall_s)
    output = _regular_file(job_dir / sandbox.OUTPUT_NAME)
    output_size = output.st_size if output is not None else 0
    note = _read_note(job_dir)
    if outcome.exit_code != sandbox.EXIT_DONE or outcome.timed_out or outcome.server_died:
        reason, limit = _child_failure(outcome, exercise, output_size, wall_s)
        return Verdict(False, reason=reason, limit=limit)
    if output_size > OUTPUT_CAP_BYTES:
        return Verdict(
            False, reason=f"printed more than {OUTPUT_CAP_BYTES // 1_000_000} MB", limit="output"
        )
    if note is None:
        return Verdict(False, reason="the code ended the process before giving its answers")
    stage = note.get("stage")
    error = str(note.get("error", ""))[:2000]
    if stage == "memory":
        return Verdict(False, reason=f"used more than {exercise.memory_mb} MB", limit="memory")
    if stage == "setup":
        return Verdict(False, reason=f"the instructor's setup cell failed: {error}")
    if error.startswith("NotImplementedError"):
        return Verdict(False, reason=f"not done yet: the code still raises {error.rstrip(': ')}")
    if stage == "solution":
        reason = f"running cell {note.get('cell')} raised {error}"
        return Verdict(False, reason=_with_context(reason, error, note))
    if stage == "call":
        index = note.get("case")
        label = (
            _case_label(cases[index])
            if isinstance(index, int) and 0 <= index < len(cases)
            else "a case"
        )
        reason = f"{exercise.call} raised {error} (for {label})"
        return Verdict(False, reason=_with_context(reason, error, note))
    if stage != "done" or not isinstance(note.get("skeletons"), list):
        return Verdict(False, reason="the code ended the process before giving its answers")
    try:
        arrays = _load_results(job_dir, expected)
        got = [_rebuild(node, arrays) for node in note["skeletons"]]
    except (ValueError, KeyError, OSError, TypeError, EOFError, zipfile.BadZipFile) as err:
        return Verdict(False, reason=f"the answers could not be read back: {err}")
    if len(got) != len(cases):
        return Verdict(False, reason="the answers could not be read back: cases are missing")
    for case, want, have in zip(cases, expected, got, strict=True):
        problem = compare_answer(exercise, have, want, case)
        if problem:
            return Verdict(False, diagnosis=f"For {_case_label(case)}: {problem}")
    return Verdict(True)


def _with_context(reason, error, note):
    """``reason``, then the student's failing line (from the sandbox: their own text, bounded)
    and what such an error usually means."""
    from dlcourse.diagnose.errors import error_hint

    where = note.get("where")
    if isinstance(where, str) and where:
        reason += f"; at {where[:300]}"
    hint = error_hint(error)
    return f"{reason}. {hint}" if hint else reason


def compare_answer(exercise, got, expected, case):
    """The failure message of one case (None: it passed), by the check's compare or the default."""
    if exercise.compare is None:
        return default_compare(exercise, got, expected, case)
    try:
        result = exercise.compare(got, expected, case)
    except Exception as err:  # the student's answer broke the comparison: a wrong answer
        return (
            f"the answer could not be compared with the expected one ({type(err).__name__}: {err})"
        )
    if result is None or getattr(result, "ok", False):
        return None
    return getattr(result, "message", str(result))
