"""Chapter 08: the same model on every backend, and the student's PReLU layer.

Two kinds of test:

* the out-of-kernel checks (autograder/checks/08-keras-style.py) run in-process
  with the instructor's solution, which must pass every case, and with classic
  mistakes swapped in, which must fail;
* one execution of the solution notebook, whose printed table must list every
  installed backend with the same accuracy and loss curves that agree, and
  whose PReLU checks must have run on every installed autodiff backend.
"""

import importlib.util
import re

import pytest

pytest.importorskip("nbclient", reason="running notebooks needs nbclient (extra 'course')")
pytest.importorskip("jupytext", reason="reading the solutions needs jupytext (extra 'course')")

from chapter_helpers import cell_sources, load_checks, run_exercise  # noqa: E402
from dlcourse.backends import BACKENDS  # noqa: E402

CHAPTER = "08-keras-style"
INSTALLED = [n for n, extra in BACKENDS.items() if extra is None or importlib.util.find_spec(extra)]


@pytest.fixture(scope="module")
def sources():
    return cell_sources(CHAPTER)


@pytest.fixture(scope="module")
def exercises():
    return {e.grade_id: e for e in load_checks(CHAPTER)}


def with_method(source, method, body):
    """The solution cell with ``method``'s solution region replaced by ``body``."""
    pattern = rf"(def {method}\(self.*?### BEGIN SOLUTION\n).*?(\s*### END SOLUTION)"
    replaced, count = re.subn(pattern, rf"\g<1>{body}\g<2>", source, flags=re.S)
    assert count == 1, f"no solution region in {method}"
    return replaced


def test_every_graded_cell_has_a_check(sources, exercises):
    graded = {gid for gid in sources if gid.startswith("check_") and gid != "check_helpers"}
    assert graded == set(exercises)


@pytest.mark.parametrize("grade_id", ["check_prelu_call", "check_prelu_backward"])
def test_the_solution_passes_every_case(sources, exercises, grade_id):
    assert run_exercise(exercises[grade_id], sources) == []


FORWARD_MISTAKES = {
    "relu only": "        self.x = x\n        return ops.maximum(x, 0.0)",
    "alpha, not alpha * x": (
        "        self.x = x\n        return ops.where(x > 0, x, self.alpha + 0 * x)"
    ),
}
BACKWARD_MISTAKES = {
    "dalpha not summed": (
        "        x = self.x\n"
        "        self.grads['alpha'] = dout * ops.minimum(x, 0.0)\n"
        "        return ops.where(x > 0, dout, self.alpha * dout)"
    ),
    "dalpha over every input": (
        "        x = self.x\n"
        "        self.grads['alpha'] = ops.sum(dout * x, axis=0)\n"
        "        return ops.where(x > 0, dout, self.alpha * dout)"
    ),
    "relu's dx": (
        "        x = self.x\n"
        "        self.grads['alpha'] = ops.sum(dout * ops.minimum(x, 0.0), axis=0)\n"
        "        return dout * (x > 0)"
    ),
}


@pytest.mark.parametrize("mistake", FORWARD_MISTAKES)
def test_a_wrong_call_fails(sources, exercises, mistake):
    wrong = with_method(sources["prelu"], "call", FORWARD_MISTAKES[mistake])
    assert run_exercise(exercises["check_prelu_call"], sources, {"prelu": wrong})


@pytest.mark.parametrize("mistake", BACKWARD_MISTAKES)
def test_a_wrong_backward_fails(sources, exercises, mistake):
    wrong = with_method(sources["prelu"], "backward", BACKWARD_MISTAKES[mistake])
    assert run_exercise(exercises["check_prelu_backward"], sources, {"prelu": wrong})


def test_a_call_written_with_numpy_is_told_to_use_ops(sources):
    # np.maximum works on the manual backend only; the visible check must say why it fails
    numpy_call = with_method(
        sources["prelu"],
        "call",
        "        self.x = x\n        return np.maximum(x, 0.0) + self.alpha * np.minimum(x, 0.0)",
    )
    namespace = {}
    for source in (sources["setup"], numpy_call, sources["check_helpers"]):
        exec(source, namespace)
    with pytest.raises(AssertionError, match="Write call with dlcourse.ops"):
        exec(sources["check_prelu_call"], namespace)


# ---------------------------------------------------------------- one execution
@pytest.fixture(scope="module")
def printed(runs):
    """Everything the solution notebook printed, from the session's one run."""
    return runs.solution_output(CHAPTER)


def test_every_installed_backend_trained_the_same_model(printed):
    rows = dict(re.findall(r"^(\w+)\s+([\d.]+%)\s+[\d.]+\s+[\d.e+-]+$", printed, flags=re.M))
    gaps = dict(re.findall(r"^(\w+)\s+[\d.]+%\s+[\d.]+\s+([\d.e+-]+)$", printed, flags=re.M))
    print("backend rows that ran:", sorted(rows))
    assert sorted(rows) == sorted(INSTALLED)
    assert len(set(rows.values())) == 1, f"accuracies differ between backends: {rows}"
    assert all(float(gap) < 1e-4 for gap in gaps.values()), gaps


def test_prelu_ran_on_every_installed_autodiff_backend(printed):
    for name in INSTALLED:
        if name != "manual":
            assert re.search(rf"^{name}\s*: same predictions as manual$", printed, flags=re.M)
            assert re.search(
                rf"^{name}\s*: the gradients of all 5 weights agree", printed, flags=re.M
            )
    gap = float(re.search(r"learned alphas of the two runs: ([\d.e+-]+)", printed).group(1))
    assert gap < 1e-5
