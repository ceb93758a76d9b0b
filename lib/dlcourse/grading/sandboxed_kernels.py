"""nbgrader's in-kernel pass with its kernels inside an OS sandbox, forked from a warm template.

nbgrader (trusted, in the grading worker) runs a submission's notebook in a
Jupyter kernel, and the kernel runs the student's code. Here the kernels are
forked from a template process that lives in a bubblewrap sandbox
(:mod:`dlcourse.grading.osbox`), started fresh, with IPython, NumPy,
matplotlib and dlcourse imported once (a kernel then starts in tens of
milliseconds instead of seconds). The sandbox has no network, so a kernel
talks to nbgrader over Unix sockets (ZeroMQ's ``ipc`` transport) in a folder
of its own under the one folder the sandbox may write; it sees the Python
environment and the library, not the course, the gradebook (the worker's
private copy stays outside), the secret or other submissions.

One kernel runs at a time. Before a kernel starts and after it is killed the
template kills every other process in the sandbox and empties its ``/tmp``
and the kernels' folder, so nothing one student's code leaves behind meets
the next student's notebook. The template is non-dumpable: a kernel (same
uid) cannot trace it, read its memory or reach its pipes.

Protocol, one JSON line each way: ``{"op": "reset"}``, ``{"op": "fork", ...}``
-> ``{"pid": P}`` (P in the sandbox's pid namespace), ``{"op": "alive", "pid": P}``,
``{"op": "signal", "pid": P, "signum": S}``, ``{"op": "kill"}``.
"""

import itertools
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from dlcourse.grading import osbox
from dlcourse.grading.limited_kernel import DEFAULT_MEMORY_MB, MEMORY_ENV, QUIET_ENV
from dlcourse.grading.warm_kernels import OPTIONAL_ENV, ForkedKernel

KERNELS_ENV = "DLCOURSE_SANDBOX_KERNELS"  # the folder under which each kernel gets its own
KERNEL_PROCESSES = 256  # processes (threads count too) the template and its kernel may have
_COUNTER = itertools.count()


# --- inside the sandbox ----------------------------------------------------------------------


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _clean(kernels):
    from dlcourse.grading.sandbox_server import empty, kill_others

    kill_others()
    empty("/tmp")
    empty(kernels)


def serve(kernels):
    """The template's loop (in the sandbox): requests on stdin, one answer line each."""
    from dlcourse.grading import warm_kernels
    from dlcourse.grading.sandbox_server import _not_dumpable

    _not_dumpable()
    # the sandbox's own count of processes (its user namespace's): a fork bomb stops here
    resource.setrlimit(resource.RLIMIT_NPROC, (KERNEL_PROCESSES, KERNEL_PROCESSES))
    warm_kernels.preload()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # kernels are reaped by the kernel
    out = sys.stdout
    out.write(json.dumps({"ready": True}) + "\n")
    out.flush()
    for line in sys.stdin:
        request = json.loads(line)
        op = request.get("op")
        answer = {"ok": True}
        if op in ("reset", "kill"):  # one kernel at a time: whatever else runs goes
            _clean(kernels)
        elif op == "fork":
            pid = os.fork()
            if pid == 0:
                try:
                    warm_kernels._become_kernel(request)
                finally:
                    os._exit(0)
            answer = {"pid": pid}
        elif op == "alive":
            answer = {"alive": _alive(int(request["pid"]))}
        elif op == "signal":
            try:
                os.kill(int(request["pid"]), int(request["signum"]))
            except (ProcessLookupError, PermissionError):
                pass
        out.write(json.dumps(answer) + "\n")
        out.flush()


# --- the grading worker's side ----------------------------------------------------------------


class SandboxedTemplate:
    """The worker's handle on its template in a sandbox (started on first use)."""

    _current = None

    def __init__(self, kernels, forbidden):
        self.kernels = Path(kernels)
        self.forbidden = forbidden
        self.process = None

    @classmethod
    def shared(cls, kernels, forbidden):
        if cls._current is None or cls._current.kernels != Path(kernels):
            cls._current = cls(kernels, forbidden)
        return cls._current

    def _start(self, timeout=180.0):
        osbox.prepare_writable(self.kernels)
        view = osbox.base_view(self.forbidden)
        view.writable = str(self.kernels)
        view.writable_dest = str(self.kernels)  # the same path inside: the sockets' names
        view.env = {"IPYTHONDIR": "/tmp/ipython", "JUPYTER_RUNTIME_DIR": "/tmp/jupyter"}
        if OPTIONAL_ENV in os.environ:
            view.env[OPTIONAL_ENV] = os.environ[OPTIONAL_ENV]
        argv = [sys.executable, "-I", "-m", __name__, str(self.kernels)]
        self.process = osbox.popen(
            view, argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, text=True, bufsize=1,
        )  # fmt: skip
        if self._read(timeout) is None:
            self.stop()
            raise RuntimeError("the sandboxed kernel template did not start")

    def _read(self, timeout):
        from dlcourse.grading.forkserver import read_answer

        return read_answer(self.process.stdout, timeout)

    def ask(self, request, timeout=60.0):
        """The template's answer to ``request``; the template is restarted if it is gone."""
        for _attempt in range(2):
            if self.process is None or self.process.poll() is not None:
                self._start()
            try:
                self.process.stdin.write(json.dumps(request) + "\n")
                self.process.stdin.flush()
                answer = self._read(timeout)
            except (BrokenPipeError, OSError):
                answer = None
            if answer is not None:
                return answer
            self.stop()
            if request.get("op") != "reset":
                break  # a kernel asked about is gone with its template
        raise RuntimeError("the sandboxed kernel template did not answer")

    def stop(self):
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.process.wait()
        self.process = None


class SandboxedKernel(ForkedKernel):
    """A kernel in the sandbox, watched and stopped through its template (its pid is the
    sandbox's own, meaningless out here)."""

    def __init__(self, template, pid):
        super().__init__(pid)
        self.template = template

    def poll(self):
        if self.returncode is None:
            try:
                alive = self.template.ask({"op": "alive", "pid": self.pid}).get("alive")
            except RuntimeError:
                alive = False
            if not alive:
                self.returncode = 0
        return self.returncode

    def send_signal(self, signum):
        if signum == signal.SIGKILL:  # the template's kill waits until every process is gone
            self.kill()
            return
        try:
            self.template.ask({"op": "signal", "pid": self.pid, "signum": int(signum)})
        except RuntimeError:
            pass

    def kill(self):
        try:
            self.template.ask({"op": "kill"})
        except RuntimeError:
            pass
        self.returncode = -signal.SIGKILL


def _forbidden():
    from dlcourse.grading.warm_kernels import FORBIDDEN_ENV

    return json.loads(os.environ.get(FORBIDDEN_ENV, "[]"))


def _manager_class():
    from dlcourse.grading.ready_client import quick_manager

    class SandboxedKernelManager(quick_manager()):
        """An AsyncKernelManager whose kernels are forked from the sandboxed template."""

        def _template(self):
            return SandboxedTemplate.shared(os.environ[KERNELS_ENV], _forbidden())

        async def _async_pre_start_kernel(self, **kw):
            template = self._template()
            template.ask({"op": "reset"})  # no process of an earlier kernel is left now
            folder = template.kernels / f"k{next(_COUNTER)}"
            if folder.exists():
                shutil.rmtree(folder)
            self._sandbox_folder = osbox.prepare_writable(folder)
            self.transport = "ipc"
            self.connection_file = str(folder / "kernel.json")
            self.ip = str(folder / "ipc")
            return await super()._async_pre_start_kernel(**kw)

        async def _async_launch_kernel(self, kernel_cmd, **kw):
            template = self._template()
            if os.geteuid() == 0:  # jupyter writes it 0600: the sandbox's uid must read it
                os.chown(self.connection_file, osbox.sandbox_uid(), osbox.sandbox_uid())
            given = kw.get("env") or {}
            env = {**QUIET_ENV, "IPYTHONDIR": "/tmp/ipython", "HOME": "/tmp"}
            env["MPLCONFIGDIR"] = "/tmp/matplotlib"
            request = {
                "op": "fork",
                "argv": ["-f", self.connection_file],
                "env": env,
                "cwd": str(self._sandbox_folder),
                "memory_mb": int(given.get(MEMORY_ENV, DEFAULT_MEMORY_MB)),
                "forbidden": [],  # the view already lacks them; the guard still refuses processes
            }
            pid = template.ask(request)["pid"]
            provisioner = self.provisioner
            provisioner.process = SandboxedKernel(template, pid)
            provisioner.pid = None  # a pid of the sandbox's namespace means nothing here
            provisioner.pgid = None
            self._reconcile_connection_info(provisioner.connection_info)

    return SandboxedKernelManager


def execute_class():
    """nbgrader's Execute preprocessor, with kernels from the sandboxed template."""
    from dlcourse.grading.warm_kernels import execute_with

    return execute_with(_manager_class())


if __name__ == "__main__":
    serve(sys.argv[1])
