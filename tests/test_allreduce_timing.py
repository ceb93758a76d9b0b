"""dlcourse.distributed.allreduce_timing: real gloo processes time real all-reduces."""

import pytest

pytest.importorskip("torch", reason="the timing runs on torch.distributed (extra 'torch')")

from dlcourse.distributed.allreduce_timing import allreduce_seconds  # noqa: E402


def test_a_larger_all_reduce_takes_longer_and_no_process_is_left():
    import multiprocessing

    small, large = allreduce_seconds([256, 4_000_000], world_size=2, repeats=3)
    assert 0 < small < large, (small, large)  # 1 kB against 16 MB: latency against bandwidth
    assert multiprocessing.active_children() == []
