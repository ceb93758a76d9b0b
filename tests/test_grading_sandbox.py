"""The out-of-kernel sandbox, attacked directly: real fork server, real limits, real kills.

Each test runs one tiny exercise through dlcourse.grading.verify with a
student cell that misbehaves, and checks that it costs that exercise its
points, with a reason that says why, and that the next exercise still runs.
"""

import os
import textwrap

import numpy as np
import pytest

pytest.importorskip("nbgrader", reason="the grading engine is tested with nbgrader installed")

from dlcourse.course.paths import find_root  # noqa: E402
from dlcourse.functional import relu_backward as reference_relu_backward  # noqa: E402
from dlcourse.grading.forkserver import ForkServer  # noqa: E402
from dlcourse.grading.spec import Exercise  # noqa: E402
from dlcourse.grading.verify import verify  # noqa: E402

ROOT = find_root()


def doubling(**options):
    return Exercise(
        grade_id="check_double",
        solution=("double",),
        call="double(x)",
        expected=lambda x: 2 * x,
        inputs=lambda rng: [{"x": rng.standard_normal((3, 2))}, {"x": rng.standard_normal(4)}],
        setup=("setup",),
        timeout_s=options.pop("timeout_s", 2.0),
        memory_mb=options.pop("memory_mb", 1024),
        **options,
    )


RELU = Exercise(
    grade_id="check_relu_backward",
    solution=("relu_backward",),
    call="relu_backward(dout, x)",
    expected=lambda dout, x: reference_relu_backward(dout, x),
    inputs=lambda rng: [{"dout": rng.standard_normal(5), "x": rng.standard_normal(5)}],
    hidden=("dlcourse.functional:relu_backward",),
    timeout_s=5.0,
    memory_mb=1024,
)
SETUP = [("setup", "import numpy as np\nfrom dlcourse import functional as F\n")]


@pytest.fixture(scope="module")
def server():
    server = ForkServer()
    yield server
    server.stop()


def run(server, tmp_path, exercise, solution_source, name="double"):
    rng = np.random.default_rng(0)
    cases = exercise.inputs(rng)
    expected = [exercise.expected(**case) for case in cases]
    forbidden = [str(ROOT / "solutions"), str(ROOT / "autograder")]
    return verify(
        exercise,
        cases,
        expected,
        setup=SETUP,
        solution=[(name, textwrap.dedent(solution_source))],
        forbidden=forbidden,
        server=server,
        job_dir=tmp_path / "job",
    )


def test_a_correct_answer_passes_and_a_wrong_one_is_diagnosed(server, tmp_path):
    assert run(server, tmp_path, doubling(), "def double(x):\n    return x + x\n").passed
    wrong = run(server, tmp_path, doubling(), "def double(x):\n    return -2 * x\n")
    assert not wrong.passed
    assert "sign" in wrong.diagnosis or "negative" in wrong.diagnosis


def test_an_infinite_loop_is_stopped_by_the_cpu_limit(server, tmp_path):
    verdict = run(server, tmp_path, doubling(timeout_s=1), "def double(x):\n    while True: pass\n")
    assert not verdict.passed
    assert "CPU" in verdict.reason or "stopped" in verdict.reason
    assert run(server, tmp_path, doubling(), "def double(x):\n    return 2 * x\n").passed


def test_a_memory_bomb_hits_the_memory_limit(server, tmp_path):
    bomb = "import numpy as np\ndef double(x):\n    return np.ones((1 << 33,)) * 0 + 2 * x[0]\n"
    verdict = run(server, tmp_path, doubling(memory_mb=1024), bomb)
    assert not verdict.passed
    assert "1024 MB" in verdict.reason or "MemoryError" in verdict.reason


def test_an_output_flood_is_capped(server, tmp_path):
    flood = "import sys\ndef double(x):\n    while True:\n        sys.stdout.write('x' * 65536)\n"
    verdict = run(server, tmp_path, doubling(timeout_s=3), flood)
    assert not verdict.passed
    assert "printed" in verdict.reason or "MB" in verdict.reason
    assert (tmp_path / "job" / "output.txt").stat().st_size < 40_000_000


def test_killing_the_parent_is_refused_and_the_server_survives(server, tmp_path):
    attack = "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n"
    verdict = run(server, tmp_path, doubling(), attack)
    assert not verdict.passed
    assert "signal" in verdict.reason and "not allowed" in verdict.reason
    assert server.process.poll() is None  # the fork server is alive
    assert run(server, tmp_path, doubling(), "def double(x):\n    return 2 * x\n").passed


def test_starting_a_process_is_refused(server, tmp_path):
    attack = "import subprocess\nsubprocess.run(['true'])\ndef double(x):\n    return 2 * x\n"
    verdict = run(server, tmp_path, doubling(), attack)
    assert not verdict.passed
    assert "not allowed" in verdict.reason


def test_delegating_to_the_hidden_reference_gets_nothing(server, tmp_path):
    for delegation in [
        "def relu_backward(dout, x):\n    return F.relu_backward(dout, x)\n",
        "from dlcourse.functional.activations import relu_backward\n",
        "import importlib, dlcourse.functional.activations as m\n"
        "m = importlib.reload(m)\nrelu_backward = m.relu_backward\n",
    ]:
        verdict = run(server, tmp_path, RELU, delegation, name="relu_backward")
        assert not verdict.passed, delegation
        assert "not available while grading" in verdict.reason or "not allowed" in verdict.reason
    own = "def relu_backward(dout, x):\n    return dout * (x > 0)\n"
    assert run(server, tmp_path, RELU, own, name="relu_backward").passed


def test_reading_the_solutions_is_refused(server, tmp_path):
    path = ROOT / "solutions" / "02-activations.py"
    attack = f"text = open({str(path)!r}).read()\ndef double(x):\n    return 2 * x\n"
    verdict = run(server, tmp_path, doubling(), attack)
    assert not verdict.passed
    assert "reading" in verdict.reason and "not allowed" in verdict.reason


def test_a_process_that_exits_or_crashes_costs_only_its_exercise(server, tmp_path):
    exits = run(server, tmp_path, doubling(), "import os\nos._exit(0)\n")
    assert not exits.passed and "ended the process" in exits.reason
    crash = "import faulthandler\nfaulthandler._sigsegv()\n"
    crashed = run(server, tmp_path, doubling(), crash)
    assert not crashed.passed and "signal" in crashed.reason
    assert run(server, tmp_path, doubling(), "def double(x):\n    return 2 * x\n").passed


def test_the_fork_server_is_restarted_when_it_dies(server, tmp_path):
    assert run(server, tmp_path, doubling(), "def double(x):\n    return 2 * x\n").passed
    server.process.kill()
    server.process.wait()
    assert run(server, tmp_path, doubling(), "def double(x):\n    return 2 * x\n").passed
    assert server.restarts >= 1


def test_wrong_types_and_nan_are_reasons_not_crashes(server, tmp_path):
    as_text = run(server, tmp_path, doubling(), "def double(x):\n    return 'twice'\n")
    assert not as_text.passed and "numbers" in as_text.reason
    nan = run(server, tmp_path, doubling(), "def double(x):\n    return x * float('nan')\n")
    assert not nan.passed and "NaN" in nan.diagnosis
    shape = run(server, tmp_path, doubling(), "def double(x):\n    return (2 * x).ravel()[:1]\n")
    assert not shape.passed and "shape" in shape.diagnosis


def test_the_audit_hook_is_installed_only_in_the_child():
    # The grader's own process must keep its rights: nothing above leaked into it.
    assert os.access(ROOT / "solutions", os.R_OK)
