"""An operating-system sandbox for student code, built with bubblewrap (``bwrap``).

Python's audit hooks see only what the interpreter reports, so they cannot
keep code out of files or processes. Here the kernel does: the student's code
runs in new user, pid, ipc, uts, cgroup and network namespaces, with no
capabilities, ``no_new_privs``, in a session of its own, killed with its
parent, under a uid that owns nothing, and it sees a filesystem made only of:

- the system's read-only program folders (``/usr`` and its links, the loader cache);
- the Python environment, read-only: the interpreter, the virtual environment,
  and the dlcourse package folder alone (not the repository around it);
- files laid over those (the library with the graded references replaced by
  stubs, see :mod:`dlcourse.grading.stripping`) and folders masked by empty ones
  (packages an exercise forbids, other copies of dlcourse);
- ``/job``, the one writable folder the parent reads answers from, and a small
  private ``/tmp``.

The course directory, solutions/, the gradebook, the secret, the checks,
other students' files and the user's home are simply not there.

When the grader runs as root, an outer bwrap (privileged: it may read root's
folders) builds that view, drops to the uid ``nobody`` with setpriv, and an
inner, unprivileged bwrap adds the namespaces; otherwise one bwrap does both.
"""

import os
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path

JOB_DIR = "/job"
TMP_BYTES = 64 * 1024 * 1024
SANDBOX_UID_ENV = "DLCOURSE_SANDBOX_UID"  # when the grader is root; default: nobody
NOBODY = 65534
INSTALL_HINT = (
    "install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap) and allow user "
    "namespaces (sysctl kernel.unprivileged_userns_clone=1, or "
    "kernel.apparmor_restrict_unprivileged_userns=0 on Ubuntu 24.04), or pass "
    "--no-os-sandbox to grade with the in-process guard only (not safe against "
    "determined students)"
)
QUIET_ENV = {
    "MPLBACKEND": "Agg",
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "PYTHONDONTWRITEBYTECODE": "1",
    "HOME": "/tmp",
    "MPLCONFIGDIR": "/tmp/matplotlib",
    "TMPDIR": "/tmp",
    "LANG": "C.UTF-8",
    "PATH": "/usr/local/bin:/usr/bin:/bin",
}
# OpenBLAS needs these on some processors to compute correctly; they are not secrets.
PASSED_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
_SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_SYSTEM_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/localtime")


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing or cannot make namespaces here; the message says how to fix it."""


@dataclass
class View:
    """What the sandbox sees: read-only folders, files laid over them, masked folders."""

    read_only: list = field(default_factory=list)  # host folders, seen at the same path
    overlays: list = field(default_factory=list)  # (host file, path in the sandbox)
    masked: list = field(default_factory=list)  # folders replaced by empty read-only ones
    writable: str | None = None  # the host folder the sandbox may write, seen as ...
    writable_dest: str = JOB_DIR  # ... this path inside
    env: dict = field(default_factory=dict)


def bwrap_path():
    return shutil.which("bwrap")


def sandbox_uid():
    return int(os.environ.get(SANDBOX_UID_ENV, NOBODY))


def python_folders():
    """The folders the interpreter needs: its installation and the virtual environment's."""
    folders = {sys.base_prefix, sys.prefix, sys.base_exec_prefix, sys.exec_prefix}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        folders.add(sysconfig.get_path(key))
    real = {os.path.realpath(f) for f in folders if f and os.path.isdir(f)}
    # keep only the outermost: binding a folder and its child twice is wasteful
    return sorted(f for f in real if not any(f != o and f.startswith(o + os.sep) for o in real))


def dlcourse_folder():
    import dlcourse

    return os.path.realpath(os.path.dirname(dlcourse.__file__))


def base_view(forbidden=()):
    """The interpreter, its packages and dlcourse; fails if any of it holds a forbidden path."""
    library = dlcourse_folder()
    folders = python_folders()
    if not any(library.startswith(f + os.sep) for f in folders):
        folders.append(library)  # an editable install: the package folder alone
    for folder in folders:
        for path in forbidden:
            path = os.path.realpath(path)
            if path == folder or path.startswith(folder + os.sep):
                raise SandboxUnavailable(
                    f"the Python environment {folder} contains {path}, which grading must "
                    f"keep from student code: move the course folder out of the environment"
                )
    view = View(read_only=folders)
    view.masked.extend(_other_library_copies(folders, library))
    return view


def _other_library_copies(folders, library):
    """dlcourse packages in the environment other than the one in use (a stale install)."""
    copies = []
    for folder in folders:
        for candidate in Path(folder).glob("lib/python3*/site-packages/dlcourse"):
            if candidate.is_dir() and os.path.realpath(candidate) != library:
                copies.append(str(candidate))
    return copies


def _ancestors(path):
    parts = Path(path).parents
    return [str(p) for p in reversed(parts) if str(p) != "/"]


def _view_args(view, again=False):
    """bwrap's arguments that lay ``view`` out; ``again``: from a view already laid out."""
    args = []
    made = set()

    def make_parents(dest):
        for parent in _ancestors(dest):
            if parent not in made and not os.path.islink(parent):
                args.extend(["--perms", "0755", "--dir", parent])
                made.add(parent)

    for system in _SYSTEM:
        if os.path.islink(system):
            args.extend(["--symlink", os.readlink(system), system])
        elif os.path.isdir(system):
            args.extend(["--ro-bind", system, system])
    for path in _SYSTEM_FILES:
        if os.path.exists(path):
            make_parents(path)
            args.extend(["--ro-bind", path, path])
    for folder in view.read_only:
        make_parents(folder)
        args.extend(["--ro-bind", folder, folder])
    for host, dest in view.overlays:  # laid out once, a file is found at its own place
        args.extend(["--ro-bind", str(dest if again else host), str(dest)])
    for folder in view.masked:
        args.extend(["--tmpfs", folder, "--remount-ro", folder])
    return args


def _env_args(view):
    env = dict(QUIET_ENV)
    env.update({k: os.environ[k] for k in PASSED_ENV if k in os.environ})
    env.update(view.env)
    args = ["--clearenv"]
    for key, value in env.items():
        args.extend(["--setenv", key, str(value)])
    return args


# The namespaces and rules of the unprivileged bwrap that runs the code.
_JAIL = [
    "--unshare-user",
    "--unshare-pid",
    "--unshare-ipc",
    "--unshare-uts",
    "--unshare-net",
    "--unshare-cgroup-try",
    "--disable-userns",
    "--die-with-parent",
    "--new-session",
    "--hostname",
    "sandbox",
]


def command(view, argv):
    """The full command line that runs ``argv`` inside ``view``."""
    bwrap = bwrap_path()
    if bwrap is None:
        raise SandboxUnavailable(f"bubblewrap (bwrap) is not installed: {INSTALL_HINT}")
    inner_mounts = ["--proc", "/proc", "--dev", "/dev", "--size", str(TMP_BYTES), "--tmpfs", "/tmp"]
    dest = view.writable_dest
    if view.writable is not None:
        job = ["--bind", str(view.writable), dest, "--chdir", dest]
    else:
        job = ["--chdir", "/tmp"]
    # The private /tmp comes first: folders of the view that live under /tmp (a checkout or a
    # virtual environment there, the grader's job folders) are bound on top of it.
    if os.geteuid() != 0:
        view_args = _view_args(view)
        return [bwrap, *_JAIL, *inner_mounts, *view_args, *job, *_env_args(view), "--", *argv]
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        raise SandboxUnavailable("setpriv (util-linux) is needed to drop root in the sandbox")
    uid = str(sandbox_uid())
    # The outer, privileged bwrap can read root's folders and lays the view out; the inner
    # one, as nobody, binds the same paths again from it inside its own namespaces.
    outer = [bwrap, "--die-with-parent", *_view_args(view), "--bind", "/proc", "/proc"]
    outer += ["--dev", "/dev", "--dir", "/tmp"]
    if view.writable is not None:
        outer += [*_parent_dirs(dest), "--bind", str(view.writable), dest]
    drop = [setpriv, f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]
    drop += ["--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]
    inner = [bwrap, *_JAIL, *inner_mounts, *_view_args(view, again=True)]
    if view.writable is not None:
        inner += ["--bind", dest, dest, "--chdir", dest]
    else:
        inner += ["--chdir", "/tmp"]
    return [*outer, "--", *drop, *inner, *_env_args(view), "--", *argv]


def _parent_dirs(dest):
    args = []
    for parent in _ancestors(dest):
        args.extend(["--perms", "0755", "--dir", parent])
    return args


def prepare_writable(folder):
    """Make ``folder`` the sandbox's /job: empty, and writable by the sandbox's uid."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    if os.geteuid() == 0:
        os.chown(folder, sandbox_uid(), sandbox_uid())
    return folder


def popen(view, argv, **kwargs):
    """Start ``argv`` in the sandbox; a ``subprocess.Popen`` in a session of its own."""
    return subprocess.Popen(command(view, argv), start_new_session=True, cwd="/", **kwargs)


_PROBE = None


def probe():
    """None when the sandbox works here, else the reason (cached for the process)."""
    global _PROBE
    if _PROBE is None:
        _PROBE = _probe()
    return _PROBE or None


def _probe():
    if bwrap_path() is None:
        return f"bubblewrap (bwrap) is not installed: {INSTALL_HINT}"
    try:
        view = base_view()
        result = subprocess.run(
            command(view, [sys.executable, "-I", "-c", "import os; print(os.getuid())"]),
            capture_output=True,
            text=True,
            timeout=60,
            cwd="/",
        )
    except (OSError, subprocess.TimeoutExpired, SandboxUnavailable) as err:
        return f"the sandbox could not start ({err}): {INSTALL_HINT}"
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
        return f"the sandbox could not start (bwrap said: {detail[0]}): {INSTALL_HINT}"
    return ""


_LIBRARY_PROBE = None


def library_problem():
    """None when the sandbox imports this process's dlcourse, else why (cached).

    A checkout found through PYTHONPATH (which ``python -I`` ignores) next to an
    environment that points elsewhere passes :func:`probe` yet cannot grade.
    """
    global _LIBRARY_PROBE
    if _LIBRARY_PROBE is None:
        _LIBRARY_PROBE = _library_probe()
    return _LIBRARY_PROBE or None


def _library_probe():
    argv = [sys.executable, "-I", "-c", "import dlcourse"]
    try:
        done = subprocess.run(
            command(base_view(), argv), capture_output=True, text=True, timeout=120, cwd="/"
        )
    except (OSError, subprocess.TimeoutExpired, SandboxUnavailable) as err:
        return f"the sandbox could not start ({err})"
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        return f"the bubblewrap sandbox cannot import this dlcourse ({last})"
    return ""
