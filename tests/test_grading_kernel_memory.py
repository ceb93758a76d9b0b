"""nbgrader's in-kernel pass gets the memory of the assignment's hungriest exercise, no more.

The limit is on the kernel's own data, so a memory bomb stops at it while a
notebook that imports TensorFlow (whose libraries alone map more address space
than chapter 02's whole limit) still runs. Each check runs ``limit_memory`` in
a fresh Python process, as the grading kernels do.
"""

import subprocess
import sys
import textwrap

import pytest

from dlcourse.course.paths import find_root
from dlcourse.grading.batch import kernel_memory_mb
from dlcourse.grading.checks import load_exercises
from dlcourse.grading.spec import SMALL_NUMPY_LIMITS


def _run_limited(megabytes, code):
    """Run ``code`` in a new interpreter limited by ``limit_memory(megabytes)``; its stdout."""
    program = "from dlcourse.grading.limited_kernel import limit_memory\n"
    program += f"limit_memory({megabytes})\n" + textwrap.dedent(code)
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.split()


ALLOCATE = """
def allocate(megabytes):
    try:
        block = bytearray(megabytes * 1024 * 1024)
    except MemoryError:
        return "refused"
    del block
    return "allocated"
"""


def test_chapter_02s_kernel_gets_its_exercises_limit():
    exercises = load_exercises(find_root() / "autograder", "02-activations").values()
    assert kernel_memory_mb(exercises) == SMALL_NUMPY_LIMITS["memory_mb"]


def test_data_beyond_the_limit_is_refused_and_data_within_it_is_not():
    code = ALLOCATE + "print(allocate(300), allocate(700))"
    assert _run_limited(512, code) == ["allocated", "refused"]


def test_a_shared_mapping_is_bounded_by_the_address_space_ceiling():
    # Shared anonymous memory does not count as data: the ceiling is what stops it.
    code = """
import mmap
from dlcourse.grading.limited_kernel import ADDRESS_SPACE_MB
try:
    mmap.mmap(-1, (ADDRESS_SPACE_MB + 256) * 1024 * 1024)
    print("mapped")
except OSError:
    print("refused")
"""
    assert _run_limited(512, code) == ["refused"]


def test_tensorflow_imports_under_the_limit_of_a_by_hand_chapter():
    pytest.importorskip("tensorflow", reason="the import that needs the most address space")
    code = (
        ALLOCATE
        + """
import tensorflow as tf
print(float(tf.reduce_sum(tf.ones((100, 100)))), allocate(100))
"""
    )
    limit = SMALL_NUMPY_LIMITS["memory_mb"]
    assert _run_limited(limit, code) == ["10000.0", "allocated"]
