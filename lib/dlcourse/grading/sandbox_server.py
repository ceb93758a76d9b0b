"""The warm process inside an OS sandbox that runs one exercise after another, each in a fork.

Started fresh inside bubblewrap (``python -I -m dlcourse.grading.sandbox_server
FORBID_JSON``), never forked from a process that imported the references: in
its view the graded references are stubs on disk. It imports NumPy,
matplotlib and the (stripped) library once, then for every ``run`` line on
stdin forks a child that runs the job in ``/job``
(:func:`dlcourse.grading.sandbox.run_job`). When the child has ended it kills
every other process left in the sandbox's pid namespace and empties ``/tmp``,
so nothing of one job is there for the next, and answers one JSON line:
``{"status": S}`` (``os.waitpid``'s status).

It makes itself non-dumpable first, so that no child (same uid) can trace it,
read its memory or reach its file descriptors through ``/proc``.
"""

import ctypes
import importlib
import json
import os
import signal
import stat
import sys
import time

from dlcourse.grading.forkserver import PRELOAD  # the same warm imports as without a sandbox

_PR_SET_DUMPABLE = 4


def _not_dumpable():
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE, 0) failed")


def _others():
    me = os.getpid()
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) not in (1, me):
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii") as handle:
                    state = handle.read().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if state not in ("Z", "X"):  # zombies are reaped by the namespace's init
                pids.append(int(entry))
    return pids


def kill_others():
    """SIGKILL every process of the namespace but init and this one, until none is left."""
    for _ in range(200):
        left = _others()
        if not left:
            return
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        _reap()
        time.sleep(0.005)


def _reap():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def empty(folder, device=None):
    """Delete what a job left in ``folder``, not entering the view's read-only mounts in it."""
    device = os.lstat(folder).st_dev if device is None else device
    for entry in os.listdir(folder):
        path = os.path.join(folder, entry)
        try:
            info = os.lstat(path)
        except OSError:
            continue
        if info.st_dev != device:  # a folder of the view bound here (a checkout under /tmp)
            continue
        try:
            if stat.S_ISDIR(info.st_mode):
                empty(path, device)
                os.rmdir(path)
            else:
                os.unlink(path)
        except OSError:
            pass  # a mount point of the view stays


def serve(forbidden):
    from dlcourse.grading import byhand

    _not_dumpable()
    finder = byhand.install(forbidden)
    for name in PRELOAD:
        importlib.import_module(name)
    out = sys.stdout
    out.write(json.dumps({"ready": True}) + "\n")
    out.flush()
    for line in sys.stdin:
        if line.strip() != "run":
            continue
        pid = os.fork()
        if pid == 0:  # the child: never returns
            try:
                os.setsid()
                from dlcourse.grading.sandbox import run_job

                run_job("/job", finder)
            finally:
                os._exit(70)
        _, status = os.waitpid(pid, 0)
        kill_others()
        empty("/tmp")
        out.write(json.dumps({"status": status}) + "\n")
        out.flush()


if __name__ == "__main__":
    serve(json.loads(sys.argv[1]) if len(sys.argv) > 1 else [])
