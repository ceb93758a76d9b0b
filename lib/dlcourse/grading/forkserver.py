"""A warm process that forks one child per exercise, and its client: the --no-os-sandbox path.

By default every exercise runs in an OS sandbox instead
(:mod:`dlcourse.grading.sandboxes`), which reuses :class:`Outcome` and
:class:`ServerDied` from here.

Starting Python and importing NumPy, matplotlib and dlcourse costs about a
second; forking a process that already did costs a few milliseconds. So each
grading worker starts one fork server (``python -m dlcourse.grading.forkserver``)
that imports those once and runs no student code itself. For each exercise it
forks a child, which starts its own session (so the whole group can be
killed) and runs :func:`dlcourse.grading.sandbox.run_job`.

The protocol is one JSON line each way on the server's stdin/stdout:
``{"job": DIR}`` -> ``{"pid": P}`` when the child starts, then
``{"pid": P, "status": S}`` (``os.waitpid``'s status) when it ends.

:class:`ForkServer` is the parent's side. It enforces the wall-clock limit
(killing the child's process group) and restarts the server if it dies.
"""

import json
import os
import select
import signal
import subprocess
import sys
import time

PRELOAD = (
    "numpy",
    "matplotlib",
    "matplotlib.pyplot",
    "dlcourse.functional",
    "dlcourse.diagnose",
    "dlcourse.gradcheck",
    "dlcourse.data",
    "dlcourse.grading.sandbox",
    "dlcourse.grading.guard",
    "inspect",
)
QUIET_ENV = {
    "MPLBACKEND": "Agg",
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}


class ServerDied(Exception):
    """The fork server stopped answering; it is restarted for the next exercise."""


def serve():
    """The server's loop: read job lines, fork, report. Runs until stdin closes."""
    import importlib

    for name in PRELOAD:
        importlib.import_module(name)
    sys.stdout.write(json.dumps({"ready": True}) + "\n")
    sys.stdout.flush()
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:  # the child: never returns
            try:
                os.setsid()
                from dlcourse.grading.sandbox import run_job

                run_job(request["job"])
            finally:
                os._exit(70)
        sys.stdout.write(json.dumps({"pid": pid}) + "\n")
        sys.stdout.flush()
        _, status = os.waitpid(pid, 0)
        sys.stdout.write(json.dumps({"pid": pid, "status": status}) + "\n")
        sys.stdout.flush()


def read_answer(stream, timeout):
    """One JSON object from a line of ``stream``; None on timeout, end of file or garbage."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        ready, _, _ = select.select([stream], [], [], left)
        if ready:
            line = stream.readline()
            if not line:
                return None
            try:
                answer = json.loads(line)
            except ValueError:
                return None
            return answer if isinstance(answer, dict) else None


class Outcome:
    """How a sandbox child ended: ``exit_code``, ``signal`` or ``timed_out``."""

    def __init__(self, status=None, timed_out=False, server_died=False):
        self.timed_out = timed_out
        self.server_died = server_died
        self.exit_code = (
            os.WEXITSTATUS(status) if status is not None and os.WIFEXITED(status) else None
        )
        self.signal = os.WTERMSIG(status) if status is not None and os.WIFSIGNALED(status) else None


class ForkServer:
    """The parent's handle on one fork server (started lazily, restarted when it dies)."""

    def __init__(self, start_timeout=120.0):
        self.start_timeout = start_timeout
        self.process = None
        self.restarts = 0

    def start(self):
        env = {**os.environ, **QUIET_ENV}
        self.process = subprocess.Popen(
            [sys.executable, "-I", "-m", __name__],  # isolated: no module planted in a cwd
            cwd="/",
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            text=True,
            bufsize=1,
        )
        if self._read(self.start_timeout) is None:
            self.stop()
            raise ServerDied("the sandbox's fork server did not start")

    def _read(self, timeout):
        return read_answer(self.process.stdout, timeout)

    def run(self, job_dir, wall_s):
        """Run the job in ``job_dir`` in a fresh child; return an :class:`Outcome`."""
        if self.process is None or self.process.poll() is not None:
            if self.process is not None:
                self.restarts += 1
            self.start()
        try:
            self.process.stdin.write(json.dumps({"job": str(job_dir)}) + "\n")
            self.process.stdin.flush()
        except (BrokenPipeError, OSError):
            self.stop()
            return Outcome(server_died=True)
        started = self._read(30.0)
        if started is None:
            self.stop()
            return Outcome(server_died=True)
        pid = started["pid"]
        ended = self._read(wall_s)
        if ended is not None:
            return Outcome(ended["status"])
        _kill_group(pid)
        ended = self._read(10.0)
        if ended is None:  # the server itself is stuck or gone
            self.stop()
            return Outcome(timed_out=True, server_died=True)
        return Outcome(ended["status"], timed_out=True)

    def stop(self):
        if self.process is None:
            return
        try:
            self.process.stdin.close()
        except OSError:
            pass
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


def _kill_group(pid):
    for target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            target()
        except (ProcessLookupError, PermissionError):
            pass


if __name__ == "__main__":
    serve()
