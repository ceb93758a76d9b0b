"""The scripts in benchmarks/: their workers really get the threads asked for, and the
floor steps of ``mlp_step.py`` compute the same training as dlcourse.functional.

A floor that trained a different network, or ran on more cores than its
row says, would make every comparison with it wrong.
"""

import json
import os
import shutil
import sys
import time

import numpy as np
import pytest

from test_course_samples import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))

import alternating  # noqa: E402 -- found through benchmarks/ on sys.path
import mlp_step  # noqa: E402

AFFINITY_WORKER = """
import json, os
print(json.dumps({"cpus": len(os.sched_getaffinity(0))}))
"""


CPUS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 0  # Linux-only


@pytest.mark.skipif(CPUS < 2, reason="needs CPU affinity (Linux) and at least 2 CPUs to limit")
@pytest.mark.skipif(not shutil.which("taskset"), reason="needs util-linux's taskset")
def test_a_worker_runs_on_as_many_cpus_as_threads_asked(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(AFFINITY_WORKER)
    env = alternating.thread_env(1)
    assert alternating.run_worker(str(script), "any", [], env, threads=1) == {"cpus": 1}
    everything = alternating.run_worker(str(script), "any", [], alternating.thread_env(0))
    assert everything == {"cpus": CPUS}


def _losses(name, steps):
    step = mlp_step.IMPLEMENTATIONS[name]()
    return [step() for _ in range(steps)]


def test_bare_numpy_floor_trains_like_the_hand_written_step():
    hand, bare = _losses("hand-written", 5), _losses("bare-numpy", 5)
    np.testing.assert_allclose(np.array(bare, float), np.array(hand, float), rtol=1e-4)
    assert hand[-1] < hand[0]  # it trains: the same batch, five SGD steps


def test_jax_floor_trains_like_the_hand_written_step_one_loss_late():
    pytest.importorskip("jax", reason="the JAX floor needs JAX (extra 'jax')")
    hand, late = _losses("hand-written", 5), _losses("jax", 6)
    assert late[0] is None  # nothing to read before the second step
    np.testing.assert_allclose(np.array(late[1:], float), np.array(hand, float), rtol=1e-4)


def test_the_json_a_worker_prints_last_is_what_run_worker_returns(tmp_path):
    script = tmp_path / "chatty.py"
    script.write_text(f"print('warming up')\nprint({json.dumps(json.dumps({'ms': 1.5}))})\n")
    assert alternating.run_worker(str(script), "any", [], dict(os.environ)) == {"ms": 1.5}


def test_the_scale_benchmark_sees_every_process_below_the_grader():
    import subprocess

    import autograde_scale

    # a child that itself starts a grandchild holding 50 MB: both must be in the tree
    holder = "import subprocess, sys, time; b = bytearray(50 * 2**20); time.sleep(30)"
    code = f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {holder!r}]);"
    child = subprocess.Popen([sys.executable, "-c", code + " time.sleep(30)"])
    try:
        tree = {}
        for _ in range(100):  # until the grandchild has started and touched its 50 MB
            tree = autograde_scale.process_tree(child.pid)
            if len(tree) == 2 and sum(rss for rss, _ in tree.values()) > 50 * 2**20:
                break
            time.sleep(0.05)
        assert child.pid in tree and len(tree) == 2, tree
        assert sum(rss for rss, _ in tree.values()) > 50 * 2**20
        assert all(fds >= 3 for _, fds in tree.values())  # stdin, stdout, stderr at least
    finally:
        for pid in autograde_scale.process_tree(child.pid):
            os.kill(pid, 9)
        child.wait()


def test_the_scale_benchmark_counts_only_the_graders_own_failures():
    import autograde_scale

    records = [
        {"student_id": "a", "flags": ["nbgrader could not grade the notebook in its kernel: x"]},
        {"student_id": "b", "flags": ["check_x: the in-kernel checks passed but ... tampering"]},
        {"student_id": "c", "flags": []},
    ]
    assert [r["student_id"] for r in autograde_scale.troubled(records)] == ["a"]
