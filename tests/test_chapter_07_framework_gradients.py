"""Chapter 07: every installed framework's row ran and agreed; the checks fit the solutions.

The notebook is executed once for this module (about 15 s of CPU); the tests
read its printed output. Which calculators ran is printed, for the CI report.
"""

import importlib.util
import re

import pytest

pytest.importorskip("nbclient", reason="running notebooks needs nbclient (extra 'course')")
pytest.importorskip("jupytext", reason="reading the solutions needs jupytext (extra 'course')")

from chapter_helpers import cell_sources, load_checks, run_exercise  # noqa: E402

CHAPTER = "07-framework-gradients"
ROWS = {  # calculator row -> the module it needs
    "dlcourse.autodiff": None,
    "torch.autograd": "torch",
    "torch.autograd through F's forward": "torch",
    "tf.GradientTape": "tensorflow",
    "jax.grad": "jax",
}


def installed(module):
    return module is None or importlib.util.find_spec(module) is not None


@pytest.fixture(scope="module")
def printed(runs):
    return runs.solution_output(CHAPTER)


def test_every_installed_calculator_ran_and_agreed(printed, capsys):
    ran = {}
    for row, module in ROWS.items():
        match = re.search(
            rf"^{re.escape(row)}\s+\S+(\s+\S+){{4}}\s+(equal|DIFFERENT)", printed, re.M
        )
        ran[row] = match.group(2) if match else "did not run"
        if installed(module):
            assert ran[row] == "equal", f"{row}: {ran[row]}"
        else:
            assert ran[row] == "did not run", f"{row} ran although {module} is not installed"
    with capsys.disabled():
        print("\n    chapter 07 calculators: " + ", ".join(f"{r}: {v}" for r, v in ran.items()))
    expected = sum(installed(m) for m in ROWS.values())
    assert f"{expected} of {expected} calculators agree" in printed


def test_the_hand_written_code_ran_on_torch_tensors_with_a_device_note(printed):
    if not installed("torch"):
        assert "the GPU run is skipped" in printed
        return
    match = re.search(r"PyTorch: loss \S+, +\S+ ms per step on (cpu|cuda)", printed)
    assert match, "the PyTorch run of the hand-written code printed no timing"
    if match.group(1) == "cpu":
        assert "no CUDA GPU here" in printed
    assert printed.count("(equal within float32 tolerance)") == 4


def test_the_oracles_confirmed_the_custom_gradients(printed):
    for oracle, module in (("torch.autograd", "torch"), ("jax.vjp", "jax")):
        agreed = len(
            re.findall(rf"^(softplus|gelu) at .*: {re.escape(oracle)} agrees$", printed, re.M)
        )
        assert agreed == (2 if installed(module) else 0), oracle  # softplus and gelu


def test_the_solution_passes_the_out_of_kernel_checks_and_mistakes_fail():
    checks = {e.grade_id: e for e in load_checks(CHAPTER)}
    sources = cell_sources(CHAPTER)
    assert sorted(checks) == ["check_gelu_backward", "check_softplus_backward"]
    for exercise in checks.values():
        assert run_exercise(exercise, sources) == [], exercise.grade_id
    forgot_product_rule = (
        "def gelu_backward(dout, cache):\n    x, t = cache\n    return dout * 0.5 * (1 + t)\n"
    )
    assert run_exercise(
        checks["check_gelu_backward"], sources, {"gelu_backward": forgot_product_rule}
    )
    wrong_sign = (  # sigmoid(-x) = 1 - sigmoid(x), written so that it cannot overflow
        "def softplus_backward(dout, cache):\n    return dout * 0.5 * (1 - np.tanh(cache / 2))\n"
    )
    assert run_exercise(
        checks["check_softplus_backward"], sources, {"softplus_backward": wrong_sign}
    )
