"""The leak test's child process: does a visible function of a student notebook give the answer?

Run as ``python -m dlcourse.course.leak_probe JOB RESULT`` by
:mod:`dlcourse.course.answer_leaks`, in a scratch folder. ``JOB`` is a JSON
file written by the build; the child

1. runs the student version's cells in one namespace, as
   :mod:`dlcourse.course.statements` selects them (set-up cells whole, the
   others only their definitions), with the heavy frameworks made unimportable
   so that no cell spends seconds importing TensorFlow;
2. collects the *candidates*: every function and class that a cell other than a
   solution cell defines, including lambdas kept in top-level lists and dicts;
3. for every exercise of the chapter's ``autograder/checks`` file and every case
   of ``inputs(rng)`` (a fixed seed), calls each candidate the ways a leak would
   be used: in place of the exercise's own function inside ``call`` (the
   arguments the grader gives it), and with the case's inputs by name and by
   position; each call has a short time budget, and one that crashes simply
   does not count;
4. writes to ``RESULT`` every candidate whose output is the reference answer,
   ``expected(**case)``, for most of the cases it answered.
"""

import ast
import builtins
import contextlib
import copy
import importlib.abc
import json
import os
import signal
import sys
import time
import types
import warnings
from pathlib import Path

import numpy as np

from dlcourse.course.statements import defined_names, statements

# Too slow to import for a definition-only pass; their cells skip themselves without them.
HEAVY_FRAMEWORKS = frozenset(
    "fastai jax jaxlib keras onnx onnxruntime pytensor tensorflow tf_keras torch torchvision "
    "functorch".split()
)
CALL_BUDGET_S = 2.0  # per call of a candidate: a leak answers in milliseconds
STATEMENT_BUDGET_S = 10.0  # per statement of a cell: a safety net, set-up cells are quick
SEED = 0


class OutOfTime(BaseException):
    """A call ran past its budget (a BaseException, so that ``except Exception`` lets it by)."""


@contextlib.contextmanager
def time_limit(seconds):
    """Raise :class:`OutOfTime` in the block once ``seconds`` of wall time have passed."""

    def expire(signum, frame):
        raise OutOfTime()

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class NoHeavyFrameworks(importlib.abc.MetaPathFinder):
    """Makes ``import torch`` (and the other heavy frameworks) fail as if not installed."""

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in HEAVY_FRAMEWORKS:
            raise ModuleNotFoundError(f"No module named {name!r} (the leak test skips it)")
        return None


def run_statements(source, label, namespace, *, whole):
    """Run the selected statements of one cell; a statement that fails is skipped."""
    for statement in statements(source, whole=whole):
        code = compile(ast.Module(body=[statement], type_ignores=[]), f"<{label}>", "exec")
        try:
            with time_limit(STATEMENT_BUDGET_S):
                exec(code, namespace)  # noqa: S102 -- the course's own cells, in a scratch process
        except BaseException:  # noqa: S110 -- a stub raising NotImplementedError, say
            pass


def _functions_in(value, name, depth=2):
    # Lambdas kept in a list of classic mistakes are functions of the notebook too.
    if isinstance(value, types.FunctionType):
        yield name, value
    elif depth and isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _functions_in(item, f"{name}[{index}]", depth - 1)
    elif depth and isinstance(value, dict):
        for key, item in value.items():
            yield from _functions_in(item, f"{name}[{key!r}]", depth - 1)


def candidates(namespace, visible_labels, classes_by_name):
    """``[(name, cell label, callable)]``: what the visible cells defined, in namespace order.

    A function belongs to the cell whose label its code was compiled under;
    a class to the visible cell that last defined its name (``classes_by_name``).
    """
    found, seen = [], set()
    for name, value in list(namespace.items()):
        if isinstance(value, type) and classes_by_name.get(name):
            found.append((name, classes_by_name[name], value))
            continue
        for label, function in _functions_in(value, name):
            cell = function.__code__.co_filename.strip("<>")
            if cell in visible_labels and id(function) not in seen:
                seen.add(id(function))
                found.append((label, cell, function))
    return found


def _arrays(value, path=""):
    """``(path, array)`` for every number in a (nested) result."""
    if isinstance(value, dict):
        for key in sorted(value, key=str):
            yield from _arrays(value[key], f"{path}/{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _arrays(item, f"{path}/{index}")
    else:
        yield path, np.asarray(value)


def same_answer(got, expected):
    """Whether ``got`` has ``expected``'s structure, shapes and values (dtype aside)."""
    try:
        got_arrays, expected_arrays = list(_arrays(got)), list(_arrays(expected))
    except Exception:
        return False
    if [p for p, _ in got_arrays] != [p for p, _ in expected_arrays]:
        return False
    for (_, g), (_, e) in zip(got_arrays, expected_arrays):
        if g.shape != e.shape or g.dtype.kind not in "biufc" or e.dtype.kind not in "biufc":
            return False
        scale = float(np.max(np.abs(e), initial=1.0))
        if not np.allclose(g, e, rtol=1e-4, atol=1e-6 * scale, equal_nan=True):
            return False
    return True


def _quiet_call(function, *args, **kwargs):
    """``function(*args, **kwargs)`` within the budget; figures it opened are closed."""
    try:
        with time_limit(CALL_BUDGET_S), warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            return function(*args, **kwargs)
    finally:
        if "matplotlib.pyplot" in sys.modules:
            sys.modules["matplotlib.pyplot"].close("all")


def _ways_to_call(candidate, exercise, names, namespace, siblings):
    """``(description, thunk(case))``: each way a leak of this exercise would be called."""
    call = compile(exercise.call, "<call>", "eval")
    ways = []
    for name in names:

        def in_call(case, name=name):
            # In place of the student's function, where the grader's `call` uses it; the
            # exercise's other functions are the instructor's, so only this one is tested.
            saved = {n: namespace[n] for n in names if n in namespace}
            namespace.update({n: f for n, f in siblings.items() if n != name})
            namespace[name] = candidate
            try:
                return _quiet_call(eval, call, namespace, case)  # noqa: S307 -- trusted call
            finally:
                for n in names:
                    namespace.pop(n, None)
                namespace.update(saved)

        ways.append((f"used as {name} in `{exercise.call}`", in_call))
    if not isinstance(candidate, type):
        ways.append(("called with the inputs by name", lambda case: _quiet_call(candidate, **case)))
        ways.append(
            ("called with the inputs in order", lambda case: _quiet_call(candidate, *case.values()))
        )
    return ways


def _tally(ways, cases, answers, informative):
    """``(matched, answered, description)`` of the way that matched most informative cases."""
    best = (0, 0, "")
    for description, thunk in ways:
        matched = answered = 0
        for case, expected, counts in zip(cases, answers, informative):
            if not counts:
                continue
            try:
                got = thunk(copy.deepcopy(case))
            except OutOfTime:
                return best  # too slow for a leak: the other ways would be too
            except BaseException:  # noqa: S112 -- it crashes or takes other arguments: no leak
                continue
            answered += 1
            matched += same_answer(got, expected)
        if matched > best[0]:
            best = (matched, answered, description)
    return best


def _raises(*args, **kwargs):
    raise ValueError("a stand-in that knows nothing")


# Stand-ins that know nothing: a case whose answer one of them gives (an error code for
# incompatible shapes, an input passed through) cannot tell a leak from a coincidence.
STAND_INS = (
    _raises,
    lambda *args, **kwargs: None,
    lambda *args, **kwargs: args[0] if args else next(iter(kwargs.values()), None),
    lambda *args, **kwargs: 0,
)


def informative_cases(exercise, names, namespace, siblings, cases, answers):
    """For each case, whether no stand-in reproduces its answer (only those count)."""
    informative = [True] * len(cases)
    for stand_in in STAND_INS:
        ways = _ways_to_call(stand_in, exercise, names, namespace, siblings)
        for index, (case, expected) in enumerate(zip(cases, answers)):
            for _, thunk in ways:
                try:
                    if same_answer(thunk(copy.deepcopy(case)), expected):
                        informative[index] = False
                except BaseException:  # noqa: S112 -- a stand-in that crashes matches nothing
                    continue
    return informative


def _unavailable(*args, **kwargs):
    raise RuntimeError("hidden by the leak test, as the grader hides it")


@contextlib.contextmanager
def references_hidden(references, namespace):
    """Replace each ``"module:attribute"``, wherever it is bound, by a stub that raises.

    The grader hides the course's references to an exercise's answer, so a
    visible check that calls them (an oracle, by design) is no leak; a helper
    that computes the answer itself still is. Everything is put back on exit.
    """
    targets = set()
    for reference in references:
        with contextlib.suppress(Exception):  # a reference this install lacks hides nothing
            targets.add(id(_resolve(reference)))
    modules = [getattr(m, "__dict__", None) for m in list(sys.modules.values())]
    replaced = []
    for bindings in [namespace, *(d for d in modules if isinstance(d, dict))]:
        for key, value in list(bindings.items()):
            if id(value) in targets:
                replaced.append((bindings, key, value))
                bindings[key] = _unavailable
    try:
        yield
    finally:
        for bindings, key, value in reversed(replaced):
            bindings[key] = value


def is_leak(matched, answered, cases):
    """The answer for at least two cases (or the only one), and for most of those it gave."""
    return matched > 0 and matched >= min(2, cases) and 2 * matched >= answered


def _resolve(reference):
    """The object ``"module:attribute"`` names (the attribute may be dotted: ``Dense.backward``)."""
    import importlib

    module_name, _, attributes = reference.partition(":")
    value = importlib.import_module(module_name)
    for attribute in attributes.split("."):
        value = getattr(value, attribute)
    return value


def probe_exercise(exercise, namespace, found, solution_names, solved):
    """Findings (dicts) for one exercise; ``namespace`` is left as it was found."""
    cases = exercise.inputs(np.random.default_rng(SEED))
    answers = [exercise.expected(**copy.deepcopy(case)) for case in cases]
    names = [n for gid in exercise.solution for n in solution_names.get(gid, [])]
    siblings = {n: solved[n] for n in names if n in solved}
    saved = dict(namespace)
    try:
        hidden = (*exercise.hidden, *getattr(exercise, "equivalents", ()))
        with references_hidden(hidden, namespace):
            for name, reference in exercise.provided.items():
                namespace[name] = _resolve(reference)
            if exercise.driver:
                exec(compile(exercise.driver, "<driver>", "exec"), namespace)  # noqa: S102
            informative = informative_cases(exercise, names, namespace, siblings, cases, answers)
            findings = []
            for label, cell, candidate in found:
                ways = _ways_to_call(candidate, exercise, names, namespace, siblings)
                matched, answered, how = _tally(ways, cases, answers, informative)
                if is_leak(matched, answered, sum(informative)):
                    findings.append(
                        {
                            "function": label,
                            "cell": cell,
                            "exercise": exercise.grade_id,
                            "solution": names,
                            "how": how,
                            "matched": matched,
                            "cases": sum(informative),
                        }
                    )
            return findings
    finally:
        namespace.clear()
        namespace.update(saved)


def _instructor_solutions(job, namespace):
    # The instructor's solution cells, with their own copy of the globals, so that an exercise
    # with several functions can test a candidate for one of them next to the right others.
    instructor = dict(namespace)
    for cell in job["solutions"]:
        run_statements(cell["source"], f"solution {cell['grade_id']}", instructor, whole=False)
    return instructor


def run_job(job):
    """The findings and problems of one chapter's leak test, as a JSON-ready dict."""
    from dlcourse.grading.checks import load_exercises

    start = time.perf_counter()
    checks = Path(job["checks"])
    exercises = load_exercises(checks.parent.parent, checks.stem)  # before the import block
    sys.meta_path.insert(0, NoHeavyFrameworks())
    namespace = {"__name__": "__main__", "__builtins__": builtins}
    visible, classes, solution_names = set(), {}, {}
    for cell in job["cells"]:
        if cell["solution"]:
            solution_names[cell["grade_id"]] = defined_names(cell["source"])
            for name in solution_names[cell["grade_id"]]:  # the last cell to define it owns it
                classes.pop(name, None)
        else:
            visible.add(cell["label"])
            classes.update(dict.fromkeys(defined_names(cell["source"]), cell["label"]))
        run_statements(cell["source"], cell["label"], namespace, whole=cell["whole"])
    instructor = _instructor_solutions(job, namespace)
    found = candidates(namespace, visible, classes)
    findings, problems = [], []
    for exercise in exercises.values():
        try:
            findings += probe_exercise(exercise, namespace, found, solution_names, instructor)
        except Exception as err:  # the instructor's checks or driver: the test is incomplete
            problems.append(
                f"the leak test of {exercise.grade_id} could not run its checks "
                f"({type(err).__name__}: {err})"
            )
    return {
        "findings": findings,
        "problems": problems,
        "candidates": [label for label, _, _ in found],
        "seconds": round(time.perf_counter() - start, 2),
    }


def main(argv=None):
    job_file, result_file = argv if argv is not None else sys.argv[1:]
    with open(job_file, encoding="utf-8") as handle:
        job = json.load(handle)
    # What the cells print is of no interest; the result goes to its own file.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    result = run_job(job)
    with open(result_file, "w", encoding="utf-8") as handle:
        json.dump(result, handle)


if __name__ == "__main__":
    main()
