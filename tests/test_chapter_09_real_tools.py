"""Chapter 09: which real frameworks ran, that they agreed, and the layout exercise's checks.

One execution of the solution notebook (in a temporary folder) is shared by the
tests below. Its last cell prints the framework sections that ran; the test
compares that list with the frameworks installed here, so CI proves that Keras
ran on TensorFlow, JAX and PyTorch (each in its own process), that fastai,
PyTensor and ONNX ran, and prints the list for the report.
"""

import ast
import importlib.util
import io
import re
from contextlib import redirect_stdout

import pytest

pytest.importorskip("nbclient", reason="running notebooks needs nbclient (extra 'course')")
pytest.importorskip("jupytext", reason="reading the solutions needs jupytext (extra 'course')")

from chapter_helpers import cell_sources, load_checks, run_exercise  # noqa: E402

CHAPTER = "09-real-tools"


def has(*packages):
    return all(importlib.util.find_spec(p) is not None for p in packages)


def expected_sections():
    """The sections that must run, given what is installed here."""
    sections = []
    if has("keras"):
        sections += [f"keras/{b}" for b in ("tensorflow", "jax", "torch") if has(b)]
    if has("fastai", "torch"):
        sections.append("fastai")
    if has("pytensor"):
        sections.append("pytensor")
    if has("onnx", "onnxruntime"):
        sections.append("onnx")
    return sections


# ------------------------------------------------------------ the graded exercise
@pytest.fixture(scope="module")
def sources():
    return cell_sources(CHAPTER)


@pytest.fixture(scope="module")
def exercise():
    (only,) = load_checks(CHAPTER)
    return only


def answer(body):
    return (
        "def nchw_dense_to_nhwc(kernel, channels, height, width):\n"
        "    units = kernel.shape[1]\n"
        f"    return {body}\n"
    )


def test_the_solution_passes_every_case(sources, exercise):
    assert exercise.grade_id in sources
    assert run_exercise(exercise, sources) == []


WRONG = {
    "reshape only": "kernel.reshape(height, width, channels, units).reshape(-1, units)",
    "(w, h, c) order": (
        "kernel.reshape(channels, height, width, units).transpose(2, 1, 0, 3).reshape(-1, units)"
    ),
    "the other direction": (
        "kernel.reshape(height, width, channels, units).transpose(2, 0, 1, 3).reshape(-1, units)"
    ),
}


@pytest.mark.parametrize("mistake", WRONG)
def test_a_wrong_reorder_fails(sources, exercise, mistake):
    replaced = {exercise.solution[0]: answer(WRONG[mistake])}
    assert run_exercise(exercise, sources, replaced)


def test_a_missing_framework_is_a_message_with_the_install_command(sources):
    namespace = {}
    exec(sources["setup"], namespace)
    printed = io.StringIO()
    with redirect_stdout(printed):
        assert namespace["installed"]("no_such_framework_here", "keras") is False
    assert 'pip install "dlcourse[keras]"' in printed.getvalue()


# ---------------------------------------------------------------- one execution
@pytest.fixture(scope="module")
def printed(runs):
    """Everything the solution notebook printed, from the session's one run."""
    return runs.solution_output(CHAPTER)


def test_every_installed_framework_section_ran(printed):
    match = re.search(r"^framework sections that ran: (\[.*\])$", printed, flags=re.M)
    assert match, "the last cell did not print the sections that ran"
    ran = ast.literal_eval(match.group(1))
    print("framework sections that ran:", ran)
    assert ran == expected_sections()


def test_keras_on_every_backend_predicts_what_dlcourse_predicts(printed):
    found = re.findall(r"^Keras \S+ on (\w+)\s*: max \|keras - dlcourse\| = (\S+),", printed, re.M)
    assert len(found) == sum(s.startswith("keras/") for s in expected_sections())
    for backend, gap in found:
        assert float(gap) < 1e-5, f"Keras on {backend} differs by {gap}"


def test_pytensor_and_onnx_agree_with_the_hand_written_math(printed):
    if has("pytensor"):
        for name in ("dw", "db"):
            gap = re.search(rf"max \|{name} difference\| = (\S+)", printed).group(1)
            assert float(gap) < 1e-12
        assert "DeepCopyOp" in printed  # the derivative compiled to a constant
    if has("onnx", "onnxruntime"):
        gap = re.search(r"max \|onnx - dlcourse\| = (\S+)", printed).group(1)
        assert float(gap) < 1e-5
