"""What makes a grading kernel start fast, checked with real kernels and real processes.

- :class:`~dlcourse.grading.ready_client.ReadyClient` says a kernel is ready
  when its own ``kernel_info`` has its reply and its "idle": then the first
  cell's output must arrive, kernel after kernel;
- the kernels' template imports PyTorch only when the cells it runs name it;
- a ``dlcourse`` process never imports rfc3987_syntax, yet reads and checks notebooks.
"""

import asyncio
import subprocess
import sys

import pytest

from dlcourse.grading.warm_kernels import optional_preload

pytest.importorskip("ipykernel", reason="the grading kernels are ipykernel's")


async def _printed(client, code):
    """Execute ``code`` with ``client``; the text it printed on stdout."""
    msg_id = client.execute(code)
    printed = []
    while True:
        msg = await client.get_iopub_msg(timeout=30)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "stream":
            printed.append(msg["content"]["text"])
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return "".join(printed)


async def _first_output_of_a_fresh_kernel(manager_class, attempt):
    manager = manager_class()
    await manager.start_kernel()
    try:
        client = manager.client()
        client.start_channels()
        await client.wait_for_ready(timeout=60)
        try:
            return type(client), await _printed(client, f"print('ready', {attempt})")
        finally:
            client.stop_channels()
    finally:
        await manager.shutdown_kernel(now=True)


def test_a_kernel_is_ready_on_both_channels_when_the_client_says_so():
    from dlcourse.grading.ready_client import ReadyClient, quick_manager

    for attempt in range(3):  # a fresh kernel each time: its first output must not be lost
        kind, printed = asyncio.run(_first_output_of_a_fresh_kernel(quick_manager(), attempt))
        assert kind is ReadyClient
        assert printed == f"ready {attempt}\n"


async def _wait_for_a_killed_kernel(manager_class):
    manager = manager_class()
    await manager.start_kernel()
    client = manager.client()
    client.start_channels()
    await manager.shutdown_kernel(now=True)
    try:
        await client.wait_for_ready(timeout=5)
    finally:
        client.stop_channels()


def test_a_kernel_that_dies_before_answering_is_reported():
    from dlcourse.grading.ready_client import quick_manager

    with pytest.raises(RuntimeError, match="died before replying"):
        asyncio.run(_wait_for_a_killed_kernel(quick_manager()))


def test_pytorch_is_preloaded_only_for_cells_that_name_it():
    assert optional_preload(["import numpy as np", "x = 1"]) == []
    assert optional_preload(["import torch"]) == ["torch"]
    assert optional_preload(["print(check_against_torch(f, g, {}))"]) == ["torch"]


def test_the_course_chapter_02_graded_cells_need_no_pytorch():
    import nbformat

    from dlcourse.course.paths import find_root
    from dlcourse.grading import notebook as nbfile
    from dlcourse.grading.coursedir import source_text

    nb = nbformat.reads(source_text("02-activations", find_root() / "solutions"), 4)
    sources = lambda n: [c.source for c in n.cells if c.cell_type == "code"]  # noqa: E731
    assert optional_preload(sources(nbfile.graded_only(nb))) == []
    assert optional_preload(sources(nb)) == ["torch"]  # its demos compare with torch.autograd


def test_a_dlcourse_process_reads_notebooks_without_compiling_iri_grammars():
    code = (
        "import sys\n"
        "from dlcourse.quick_imports import skip_unused\n"
        "skip_unused()\n"
        "import nbformat\n"
        "nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('x = 1')])\n"
        "nbformat.validate(nb)\n"
        "bad = nbformat.v4.new_notebook(); bad.cells = [{'cell_type': 'nonsense'}]\n"
        "try:\n"
        "    nbformat.validate(bad)\n"
        "except nbformat.ValidationError:\n"
        "    print('invalid found')\n"
        "print(sys.modules.get('rfc3987_syntax', 'absent'))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["invalid", "found", "None"]
