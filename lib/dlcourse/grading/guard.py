"""The sandbox's audit hook: what the student's code may not do while it is graded.

``sys.addaudithook`` (PEP 578) calls a hook before every sensitive operation
of the interpreter: opening a file, starting a process, sending a signal,
loading a C library with ctypes, opening a socket. A hook cannot be removed
once installed, so after :func:`install` the student's code runs under these
rules for the rest of the process:

- no reading or listing inside the ``forbidden`` folders and files (the
  solutions, the course directory with the gradebook and the checks, other
  submissions, the source of the references being graded);
- no writing anywhere but the ``writable`` folders (the job's own folder), or,
  for nbgrader's kernels, nowhere inside the forbidden ones;
- no new processes (subprocess, os.system, exec, spawn, fork), no signals to
  other processes (os.kill, killpg), no ctypes, no sockets, no walking the
  garbage collector's object graph (where the hidden references live on).

A refused operation raises PermissionError naming the rule, which the
student sees as the reason for the exercise's score.
"""

import os
import sys

# Events refused outright, by exact name or by prefix ending with ".".
_REFUSED = {
    "os.system": "starting a shell command",
    "os.exec": "replacing the process",
    "os.posix_spawn": "starting a process",
    "os.spawn": "starting a process",
    "os.fork": "starting a process",
    "os.forkpty": "starting a process",
    "os.kill": "sending a signal to a process",
    "os.killpg": "sending a signal to a process group",
    "signal.pthread_kill": "sending a signal",
    "subprocess.Popen": "starting a process",
    "pty.spawn": "starting a process",
    "os.link": "linking files",
    "os.symlink": "linking files",
    "gc.get_objects": "walking the interpreter's objects",
    "gc.get_referrers": "walking the interpreter's objects",
    "gc.get_referents": "walking the interpreter's objects",
    "sys.setprofile": "tracing the grader",
    "sys.settrace": "tracing the grader",
}
_REFUSED_PREFIXES = {"ctypes.": "using ctypes", "socket.": "using the network"}
# Events whose first argument is a path to check.
_READS = {"open", "os.listdir", "os.scandir", "glob.glob", "os.chdir", "shutil.copyfile"}
_CHANGES = {"os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.truncate", "os.chmod"}
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC


class _Rules:
    def __init__(self, forbidden, writable, allowed=()):
        self.allowed = [os.path.realpath(p) for p in allowed]
        self.forbidden = [os.path.realpath(p) for p in forbidden]
        self.writable = None if writable is None else [os.path.realpath(p) for p in writable]

    @staticmethod
    def _inside(path, folders):
        return any(path == f or path.startswith(f.rstrip(os.sep) + os.sep) for f in folders)

    def check_read(self, path):
        if self._inside(path, self.allowed):
            return
        if self.writable is not None and self._inside(path, self.writable):
            return
        if self._inside(path, self.forbidden):
            raise PermissionError(
                f"reading {path} is not allowed while grading: the course's files, the "
                f"solutions and other submissions are off limits"
            )

    def check_write(self, path):
        if self._inside(path, self.allowed):
            return
        if self.writable is not None and not self._inside(path, self.writable):
            raise PermissionError(f"writing {path} is not allowed while grading")


def _path_of(value):
    if isinstance(value, int):  # an already open file descriptor
        return None
    try:
        return os.path.realpath(os.fsdecode(value))
    except (TypeError, ValueError):
        return None


def _is_write(event, args):
    if event != "open" or len(args) < 2:
        return event in _CHANGES
    mode, flags = args[1], args[2] if len(args) > 2 else 0
    if isinstance(mode, str) and any(c in mode for c in "wax+"):
        return True
    return isinstance(flags, int) and bool(flags & _WRITE_FLAGS)


# What a Jupyter kernel needs for itself (its event loop's sockets, the debugger's tracing).
_KERNEL_NEEDS = ("socket.", "ctypes.", "gc.", "sys.settrace", "sys.setprofile")


def install(forbidden, writable=None, allowed=(), kernel=False):
    """Install the hook for the rest of this process (it cannot be removed).

    ``writable=None`` allows writing anywhere outside ``forbidden`` (the
    in-kernel pass, where notebooks may cache data); a list allows only there.
    Folders in ``allowed`` (a kernel's working folder) are open even inside
    a forbidden one. ``kernel=True`` keeps what a Jupyter kernel needs to
    work (sockets, ctypes, gc, tracing) and refuses the rest.
    """
    rules = _Rules(forbidden, writable, allowed)
    keep = _KERNEL_NEEDS if kernel else ()
    refused = {k: v for k, v in _REFUSED.items() if not k.startswith(keep)}
    prefixes = tuple((k, v) for k, v in _REFUSED_PREFIXES.items() if not k.startswith(keep))

    def hook(event, args):
        what = refused.get(event)
        if what is None:
            for prefix, label in prefixes:
                if event.startswith(prefix):
                    what = label
                    break
        if what is not None:
            raise PermissionError(f"{what} ({event}) is not allowed while grading")
        if event in _READS or event in _CHANGES:
            path = _path_of(args[0]) if args else None
            if path is None:
                return
            if _is_write(event, args):
                rules.check_write(path)
            rules.check_read(path)

    sys.addaudithook(hook)
