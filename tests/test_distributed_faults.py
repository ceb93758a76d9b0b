"""A rank of ``DataParallel.fit`` that raises, hangs or is killed: named, stopped, no harm done.

The fault is a layer of this module (the workers import it by name, as any
layer of the user's own): the identity, except on one rank at one training
call, where it raises, sleeps for ever, or sends itself SIGKILL. Nothing in
dlcourse knows about it. Every test checks the three promises: the error
names the rank and what happened, no worker process is left, and the
caller's model holds the weights (and shuffling state) it had before fit.
"""

import os
import signal
import time

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="DataParallel('torch') needs PyTorch")
if not torch.distributed.is_available() or not torch.distributed.is_gloo_available():
    pytest.skip("needs torch.distributed with the gloo backend", allow_module_level=True)

import dlcourse  # noqa: E402
from distributed_helpers import processes_mentioning  # noqa: E402
from dlcourse.distributed import DataParallel, WorkerFailed  # noqa: E402
from dlcourse.nn import Dense, Layer, Sequential  # noqa: E402

WORKER = "dlcourse.distributed.fit_worker"
TIMEOUT = 20  # seconds: the processes start in about 5; a hang must outlast that


class Saboteur(Layer):
    """The identity, but on rank ``rank`` its ``at_call``-th training call does ``action``."""

    def __init__(self, rank=1, at_call=3, action="raise", **kwargs):
        super().__init__(**kwargs)
        self.rank, self.at_call, self.action = rank, at_call, action
        self.calls = 0

    def get_config(self):
        return {**super().get_config(), "rank": self.rank, "at_call": self.at_call,
                "action": self.action}  # fmt: skip

    def call(self, x, training=False):
        if training and os.environ.get("RANK") == str(self.rank):
            self.calls += 1
            if self.calls == self.at_call:
                if self.action == "hang":
                    time.sleep(3600)
                elif self.action == "kill":
                    os.kill(os.getpid(), signal.SIGKILL)
                else:
                    raise RuntimeError(f"sabotage at call {self.calls}")
        return x


def model_with(saboteur):
    with dlcourse.backend("torch"):
        model = Sequential(
            [Dense(8, activation="tanh"), saboteur, Dense(2)],
            seed=5,
            dtype="float64",
            input_shape=(4,),
        )
    model.compile(optimizer="adam", loss="mse")
    return model


def fit_failing(saboteur):
    """``fit`` on 2 processes until it fails: (model, weights before, error, seconds)."""
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((64, 4)), rng.standard_normal((64, 2))
    model = model_with(saboteur)
    before = [w.copy() for w in model.get_weights()]
    rng_state = model.shuffle_rng.bit_generator.state
    start = time.monotonic()
    with pytest.raises(WorkerFailed) as info:
        model.fit(x, y, epochs=50, batch_size=8, verbose=0,
                  distribute=DataParallel("torch", nproc=2, timeout=TIMEOUT))  # fmt: skip
    seconds = time.monotonic() - start
    for w, w0 in zip(model.get_weights(), before, strict=True):
        np.testing.assert_array_equal(w, w0)
    assert model.shuffle_rng.bit_generator.state == rng_state
    assert processes_mentioning(WORKER) == []
    return info.value, seconds


def test_a_rank_that_raises_is_named_with_its_exception():
    error, seconds = fit_failing(Saboteur(rank=1, at_call=5, action="raise"))
    assert error.rank == 1
    assert str(error).startswith("rank 1 failed: RuntimeError: sabotage at call 5")
    assert seconds < TIMEOUT  # stopped at once, not at the timeout


def test_a_rank_killed_by_sigkill_is_named_promptly_not_its_waiting_peer():
    error, seconds = fit_failing(Saboteur(rank=1, at_call=5, action="kill"))
    assert error.rank == 1
    assert str(error).startswith("rank 1 was killed by signal 9 (SIGKILL) at epoch 0, batch 4")
    assert seconds < TIMEOUT
    print(f"kill detected and reported {seconds:.1f} s after fit began")


def test_rank_0_killed_is_named_although_it_held_the_rendezvous():
    error, _ = fit_failing(Saboteur(rank=0, at_call=12, action="kill"))
    assert error.rank == 0
    assert "rank 0 was killed by signal 9 (SIGKILL) at epoch 1, batch 3" in str(error)


def test_a_rank_that_hangs_is_named_by_the_timeout_and_its_waiting_peer_is_not():
    error, seconds = fit_failing(Saboteur(rank=1, at_call=3, action="hang"))
    assert error.rank == 1
    assert str(error).startswith(f"timeout: rank 1 did not finish within {TIMEOUT} s")
    assert "at epoch 0, batch 2 and still working" in str(error)
    assert "rank 0 at epoch 0, batch 2, waiting for the other ranks" in str(error)
    assert TIMEOUT <= seconds < TIMEOUT + 6  # the timeout, then SIGTERM (a sleeper obeys at once)
