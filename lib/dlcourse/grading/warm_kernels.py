"""Warm Jupyter kernels for nbgrader's in-kernel pass: forked, not started.

A fresh kernel costs seconds before the notebook's first line runs: Python
starts, imports IPython and ipykernel, then the notebook imports NumPy,
matplotlib, dlcourse and PyTorch. nbgrader pays that for every student.
Here each grading worker keeps one *template* process that has imported all
of those once and runs no notebook code itself. When nbgrader (through
nbclient) starts a kernel, :class:`WarmKernelManager` asks the template to
fork; the child becomes an ordinary ipykernel on the connection file the
manager wrote, so everything else (execution, interrupts, shutdown, kill)
goes through Jupyter's usual channels. Each student still gets a process of
their own that nobody else's code has touched.

The child starts its own session (killing its group kills the kernel and
whatever it started), gets the memory limit, and exits when the template
does (ipykernel's parent poller).
"""

import importlib
import importlib.util
import json
import os
import select
import signal
import subprocess
import sys

from dlcourse.grading.limited_kernel import DEFAULT_MEMORY_MB, MEMORY_ENV, QUIET_ENV, limit_memory

FORBIDDEN_ENV = "DLCOURSE_GRADING_FORBIDDEN"  # JSON list of paths the kernels may not touch
PRELOAD = (
    "numpy",
    "matplotlib",
    "matplotlib.pyplot",
    "ipykernel.kernelapp",
    "ipykernel.ipkernel",
    "ipykernel.zmqshell",
    "IPython.core.interactiveshell",
    "IPython.core.completer",
    # what IPKernelApp.initialize imports besides (the debugger alone is 150 modules):
    # imported here once, a kernel starts in a third of the time
    "ipykernel.debugger",
    "IPython.core.debugger",
    "IPython.core.completerlib",
    "IPython.core.oinspect",
    "IPython.extensions.storemagic",
    "sqlite3",
    "psutil",
    "tornado.queues",
    "tornado.platform.asyncio",
    "dlcourse.functional",
    "dlcourse.diagnose",
    "dlcourse.gradcheck",
    "dlcourse.data",
    "inspect",
    "dlcourse.grading.guard",
)
OPTIONAL_PRELOAD = ("torch",)  # the course's notebooks use it as a third opinion
# JSON list of the OPTIONAL_PRELOAD modules to import (default: all that are installed); a
# second of start-up saved where the notebook's graded cells never import PyTorch
OPTIONAL_ENV = "DLCOURSE_KERNEL_PRELOAD"


def optional_preload(sources):
    """The :data:`OPTIONAL_PRELOAD` modules that the code cells ``sources`` may use: those
    they name at all (``check_against_torch`` imports PyTorch as it runs)."""
    text = "\n".join(sources)
    return [name for name in OPTIONAL_PRELOAD if name in text]


def preload():
    """Import, once in a template, what every kernel would import at its start."""
    for name in PRELOAD:
        importlib.import_module(name)
    optional = os.environ.get(OPTIONAL_ENV)
    for name in OPTIONAL_PRELOAD if optional is None else json.loads(optional):
        if name in OPTIONAL_PRELOAD and importlib.util.find_spec(name) is not None:
            importlib.import_module(name)


# --- the template process ---------------------------------------------------------------------


def _become_kernel(request):
    """In the forked child: set up the process and run ipykernel until it shuts down."""
    os.setsid()
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the template ignores it; a kernel must not
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    log = request["env"].get("DLCOURSE_WARM_KERNEL_LOG")  # for debugging the grader
    if log:
        os.dup2(os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), 2)
        import faulthandler

        faulthandler.enable()
    os.closerange(3, 65536)  # the template's pipes
    os.environ.clear()
    os.environ.update(request["env"])
    if request.get("cwd"):
        os.chdir(request["cwd"])
    limit_memory(request["memory_mb"])
    from ipykernel.kernelapp import IPKernelApp

    app = IPKernelApp.instance()
    app.initialize([*request["argv"], f"--IPKernelApp.parent_handle={os.getppid()}"])
    # From here on the student's notebook runs: it may not touch the course's files, the
    # gradebook or other submissions, start processes or signal the grader (see guard).
    from dlcourse.grading import guard

    own_folder = [request["cwd"]] if request.get("cwd") else []
    guard.install(request.get("forbidden", []), writable=None, allowed=own_folder, kernel=True)
    app.start()


def serve():
    """The template's loop: one JSON request per line on stdin, ``{"pid": P}`` back."""
    preload()
    # Nothing is run here, only imported: a figure drawn here (with PyTorch loaded) made
    # forked kernels die on their third figure, and autograd's threads do not survive a fork.
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    sys.stdout.write(json.dumps({"ready": True}) + "\n")
    sys.stdout.flush()
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            try:
                _become_kernel(request)
            finally:
                os._exit(0)
        sys.stdout.write(json.dumps({"pid": pid}) + "\n")
        sys.stdout.flush()


# --- the grading worker's side ----------------------------------------------------------------


class Template:
    """The worker's handle on its template process (started on first use)."""

    _current = None

    def __init__(self, env):
        self.env = env
        self.process = None

    @classmethod
    def shared(cls, env=None):
        if cls._current is None:
            cls._current = cls(env or {**os.environ, **QUIET_ENV})
        return cls._current

    def fork(self, request, start_timeout=180.0):
        """Fork a kernel; its pid."""
        for _attempt in range(2):  # a dead template is restarted once
            if self.process is None or self.process.poll() is not None:
                self._start(start_timeout)
            try:
                self.process.stdin.write(json.dumps(request) + "\n")
                self.process.stdin.flush()
                answer = self._read(60.0)
            except (BrokenPipeError, OSError):
                answer = None
            if answer is not None:
                return answer["pid"]
            self.stop()
        raise RuntimeError("the warm kernel template did not answer")

    def _start(self, timeout):
        self.process = subprocess.Popen(
            [sys.executable, "-I", "-m", __name__],  # isolated: no module planted in a cwd
            cwd="/",
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=self.env,
            text=True,
            bufsize=1,
        )
        if self._read(timeout) is None:
            self.stop()
            raise RuntimeError("the warm kernel template did not start")

    def _read(self, timeout):
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        line = self.process.stdout.readline() if ready else ""
        return json.loads(line) if line else None

    def stop(self):
        if self.process is None:
            return
        try:
            self.process.stdin.close()
            self.process.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()
        self.process = None


class ForkedKernel:
    """What Jupyter's provisioner expects of a ``Popen``, for a kernel the template forked.

    The kernel is the template's child, not ours: it is watched with signal 0
    and stopped through its process group.
    """

    stdin = stdout = stderr = None

    def __init__(self, pid):
        self.pid = pid
        self.returncode = None

    def poll(self):
        if self.returncode is None:
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                self.returncode = 0
            except PermissionError:
                pass
        return self.returncode

    def wait(self, timeout=None):
        import time

        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired("kernel", timeout)
            time.sleep(0.005)
        return self.returncode

    def send_signal(self, signum):
        try:
            os.killpg(self.pid, signum)
        except (ProcessLookupError, PermissionError):
            return
        if signum == signal.SIGKILL:  # gone in milliseconds: spare Jupyter its 0.1 s polls
            try:
                self.wait(timeout=1.0)
            except subprocess.TimeoutExpired:
                pass

    def terminate(self):
        self.send_signal(signal.SIGTERM)

    def kill(self):
        self.send_signal(signal.SIGKILL)


def _kernel_argv(kernel_cmd):
    # [python, -m, module, -f, FILE, extra...] -> [-f, FILE, extra...]
    return kernel_cmd[kernel_cmd.index("-f") :] if "-f" in kernel_cmd else kernel_cmd[1:]


def _manager_class():
    from dlcourse.grading.ready_client import quick_manager

    class WarmKernelManager(quick_manager()):
        """An AsyncKernelManager whose kernels are forked from the worker's template."""

        async def _async_launch_kernel(self, kernel_cmd, **kw):
            env = {k: str(v) for k, v in (kw.get("env") or os.environ).items()}
            request = {
                "argv": _kernel_argv(kernel_cmd),
                "env": env,
                "cwd": str(kw["cwd"]) if kw.get("cwd") else None,
                "memory_mb": int(env.get(MEMORY_ENV, DEFAULT_MEMORY_MB)),
                "forbidden": json.loads(os.environ.get(FORBIDDEN_ENV, "[]")),
            }
            pid = Template.shared().fork(request)
            provisioner = self.provisioner
            provisioner.process = ForkedKernel(pid)
            provisioner.pid = pid
            provisioner.pgid = pid
            self._reconcile_connection_info(provisioner.connection_info)

    return WarmKernelManager


def execute_with(manager):
    """nbgrader's Execute preprocessor, starting its kernels with the ``manager`` class."""
    from nbgrader.preprocessors import Execute

    class ExecuteWith(Execute):
        def __init__(self, *args, **kwargs):
            kwargs["kernel_manager_class"] = manager
            super().__init__(*args, **kwargs)

    return ExecuteWith


def execute_class():
    """nbgrader's Execute preprocessor, with kernels from the warm template."""
    return execute_with(_manager_class())


if __name__ == "__main__":
    serve()
