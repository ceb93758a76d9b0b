"""The grading worker's OS sandboxes: one warm sandbox per view, started on first use.

A view (:func:`group_view`) is the Python environment with the references of
its exercises and their equivalents replaced by stubs, and the packages they
forbid masked. Exercises that can share a view (:mod:`dlcourse.grading.view_groups`)
share one :class:`SandboxServer`, a bubblewrap sandbox running
:mod:`dlcourse.grading.sandbox_server`, whose ``/job`` is a folder of the
worker's. The parent writes a job there, says ``run``, waits for the status
with a wall-clock limit (killing the whole sandbox when it passes), then reads
the answers back and empties the folder for the next job.
"""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from dlcourse.grading import osbox, stripping, view_groups
from dlcourse.grading.forkserver import Outcome, ServerDied, read_answer


def _forbidden_locations(names):
    """(folders to mask, module files to replace) for the modules an exercise forbids."""
    folders, files = [], []
    for name in names:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            spec = None
        if spec is None:
            continue  # not installed: nothing to hide
        if spec.submodule_search_locations:
            folders.extend(os.path.realpath(p) for p in spec.submodule_search_locations)
        elif spec.origin and os.path.isfile(spec.origin):
            files.append(os.path.realpath(spec.origin))
    return _outermost(folders), files


def _outermost(folders):
    """``folders`` without those inside another: a package imported in this process may list
    its own subfolders on its path (TensorFlow adds ``tensorflow/_api/v2``), and bubblewrap
    cannot mask a folder inside one it has masked already."""
    unique = sorted({f for f in folders if os.path.isdir(f)})
    return [f for f in unique if not any(f.startswith(o + os.sep) for o in unique if o != f)]


def group_view(exercises, staging, forbidden_paths):
    """The :class:`~dlcourse.grading.osbox.View` in which ``exercises`` (one group of
    :func:`~dlcourse.grading.view_groups.group_exercises`) run."""
    from dlcourse.grading import byhand

    view = osbox.base_view(forbidden_paths)
    hidden = {ref: None for exercise in exercises for ref in view_groups.stubbed(exercise)}
    why = (
        "this assignment grades your own version of it, so write it without calling the "
        "course's reference (or a function that computes the same)."
    )
    if hidden:
        view.overlays.extend(stripping.overlays(hidden, Path(staging) / "stripped", why))
    folders, files = _forbidden_locations(exercises[0].forbid if exercises else ())
    view.masked.extend(folders)
    for index, path in enumerate(files):
        refusal = Path(staging) / f"refused-{index}.py"
        refusal.write_text(f"raise ImportError({byhand.message(Path(path).stem)!r})\n")
        os.chmod(refusal, 0o644)
        view.overlays.append((refusal, path))
    return view


def exercise_view(exercise, staging, forbidden_paths):
    """The view in which ``exercise`` runs on its own."""
    return group_view([exercise], staging, forbidden_paths)


class SandboxServer:
    """The parent's handle on one warm sandbox (started lazily, restarted when it dies)."""

    def __init__(self, view, forbid, job_dir, start_timeout=120.0):
        self.view = view
        self.forbid = list(forbid)
        self.job_dir = Path(job_dir)
        self.view.writable = str(self.job_dir)
        self.start_timeout = start_timeout
        self.process = None
        self.restarts = 0

    def start(self):
        osbox.prepare_writable(self.job_dir)
        argv = [sys.executable, "-I", "-m", "dlcourse.grading.sandbox_server"]
        self.process = osbox.popen(
            self.view,
            [*argv, json.dumps(self.forbid)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            bufsize=1,
        )
        if self._read(self.start_timeout) is None:
            self.stop()
            raise ServerDied("the grading sandbox did not start (is bubblewrap working?)")

    def _read(self, timeout):
        return read_answer(self.process.stdout, timeout)

    def fresh_job_dir(self):
        """The job folder, emptied of the previous job (no sandbox process runs now)."""
        if self.job_dir.exists():
            for entry in self.job_dir.iterdir():
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
        else:
            osbox.prepare_writable(self.job_dir)
        return self.job_dir

    def run(self, job_dir, wall_s):
        """Run the job written in the job folder; an :class:`Outcome`."""
        if self.process is None or self.process.poll() is not None:
            if self.process is not None:
                self.restarts += 1
            self.start()
        try:
            self.process.stdin.write("run\n")
            self.process.stdin.flush()
        except (BrokenPipeError, OSError):
            self.stop()
            return Outcome(server_died=True)
        ended = self._read(wall_s)
        if ended is None:
            try:  # a sandbox whose pipe just closed may take a moment to be gone
                self.process.wait(timeout=5)
                timed_out = False
            except subprocess.TimeoutExpired:
                timed_out = True
            self.stop()
            return Outcome(timed_out=timed_out, server_died=not timed_out)
        status = ended.get("status")
        if not isinstance(status, int):
            self.stop()
            return Outcome(server_died=True)
        return Outcome(status)

    def stop(self):
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, 9)
        except (ProcessLookupError, PermissionError):
            pass
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            try:
                stream.close()
            except OSError:
                pass
        self.process = None


class SandboxPool:
    """One :class:`SandboxServer` per group of exercises that can share a view."""

    def __init__(self, folder, forbidden_paths, exercises, setup_sources):
        self.folder = Path(folder)
        self.forbidden_paths = list(forbidden_paths)
        self.groups = view_groups.group_exercises(list(exercises), setup_sources)
        self.servers = {}

    def server_for(self, exercise):
        index = next(i for i, g in enumerate(self.groups) if any(e is exercise for e in g))
        if index not in self.servers:
            place = self.folder / f"view-{index}"
            place.mkdir(parents=True, exist_ok=True)
            view = group_view(self.groups[index], place, self.forbidden_paths)
            self.servers[index] = SandboxServer(view, exercise.forbid, place / "job")
        return self.servers[index]

    def stop(self):
        for server in self.servers.values():
            server.stop()
