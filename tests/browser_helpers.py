"""What the browser tests share: a real ``dlcourse start`` server and a real Chromium page.

The server is the installed ``dlcourse`` command run as a subprocess, exactly as
a student types it; the browser is the system's Chromium (Debian's
``chromium``) driven by Playwright's Python package. Playwright's own browser
download is never used, so nothing but ``pip install playwright`` and
``apt-get install chromium`` is needed.

Every step of a test saves a screenshot under ``test-artifacts/browser/``; when
a step fails, the page as it was and the browser's console log are saved next
to them, so a failure in CI can be read without re-running it.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
START_TIMEOUT = 120  # seconds: the first JupyterLab start on a busy machine is slow
STEP_TIMEOUT = 60_000  # milliseconds, Playwright's unit: one step (run all cells, validate)


def chromium_path():
    """The system Chromium: $DLCOURSE_CHROMIUM, else the first of CHROMIUM_NAMES on PATH."""
    given = os.environ.get("DLCOURSE_CHROMIUM")
    if given:
        return given if Path(given).is_file() else None
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def require_browser():
    """Skip unless Playwright's Python package and a system Chromium are both installed."""
    pytest.importorskip(
        "playwright.sync_api", reason="the browser tests need Playwright: pip install playwright"
    )
    path = chromium_path()
    if path is None:
        pytest.skip("the browser tests need Chromium: apt-get install chromium")
    return path


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def dlcourse_command():
    script = shutil.which("dlcourse", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "dlcourse.cli"]


def isolated_jupyter_env(tmp_path):
    """Environment for a server that leaves the user's Jupyter folders alone.

    Runtime files, JupyterLab's settings and workspaces go under ``tmp_path``;
    the settings answer JupyterLab's "get notified about Jupyter news?" toast
    with "never", so that it does not cover the notebook in screenshots.
    """
    settings = tmp_path / "lab-settings"
    notification = settings / "@jupyterlab" / "apputils-extension"
    notification.mkdir(parents=True)
    (notification / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}), encoding="utf-8"
    )
    return {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(settings),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "lab-workspaces"),
    }


class Server:
    """A ``dlcourse start`` subprocess: its printed URLs, its output, and how to stop it."""

    def __init__(self, args, cwd, env):
        self.lines = []
        self.urls = []
        self._ready = threading.Event()
        self.process = subprocess.Popen(
            [*dlcourse_command(), "start", "--no-browser", *map(str, args)],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stdout:
            self.lines.append(line)
            if "token=" in line:
                self.urls.append(line.split()[-1])
            if "Ctrl-C to stop" in line:
                self._ready.set()
        self._ready.set()  # the process ended: stop waiting

    @property
    def output(self):
        return "".join(self.lines)

    def wait_until_ready(self, timeout=START_TIMEOUT):
        self._ready.wait(timeout)
        if not self.urls:
            raise AssertionError(f"dlcourse start printed no URL in {timeout} s:\n{self.output}")
        return self.urls[0]

    def stop(self):
        """Ctrl-C, as a person would; the command's exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                return self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:  # then SIGTERM: dlcourse still stops JupyterLab
                self.process.terminate()
                try:
                    self.process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    self.process.kill()
        return self.process.wait()


@contextmanager
def running_server(args, cwd, env):
    """Start ``dlcourse start --no-browser ARGS``; yield the Server once its URL is printed."""
    server = Server(args, cwd, env)
    try:
        server.wait_until_ready()
        yield server
    finally:
        status = server.stop()
    assert status == 0, f"dlcourse start exited with {status}:\n{server.output}"
    # JupyterLab logs at WARN level: an error line (nbgrader's extensions log theirs there
    # too, e.g. a course folder they cannot use) or a traceback is a failure.
    errors = [line for line in server.lines if line.startswith("[E ") or "Traceback" in line]
    assert not errors, f"the server reported errors:\n{server.output}"


class Recorder:
    """A Playwright page that saves ``NN-step.png`` screenshots and keeps the console log."""

    def __init__(self, page, folder):
        self.page = page
        self.folder = folder
        self.count = 0
        self.console = []  # "type: text" for every console message
        self.failed_requests = []  # "STATUS URL" for every HTTP error answer
        page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: self.console.append(f"pageerror: {e}"))
        page.on(
            "response",
            lambda r: r.status >= 400 and self.failed_requests.append(f"{r.status} {r.url}"),
        )

    def shot(self, step):
        """Save the page as ``NN-step.png`` (NN counts the steps) and return its path."""
        self.count += 1
        path = self.folder / f"{self.count:02d}-{step}.png"
        self.page.screenshot(path=path)
        return path

    def errors(self, *words):
        """Console errors and failed requests that mention any of ``words`` (case-insensitive)."""
        problems = [m for m in self.console if m.startswith(("error:", "pageerror:"))]
        problems += [f"HTTP {r}" for r in self.failed_requests]
        return [p for p in problems if any(w.lower() in p.lower() for w in words)]

    def save_log(self, name="console.log"):
        lines = [*self.console, *(f"HTTP {r}" for r in self.failed_requests)]
        (self.folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8")


@contextmanager
def browser_page(name, chromium):
    """A fresh headless Chromium page; its screenshots go to test-artifacts/browser/NAME/.

    On failure the page is saved as ``failed.png`` with the console log, then
    the error is raised again.
    """
    from playwright.sync_api import sync_playwright

    folder = ARTIFACTS / name
    shutil.rmtree(folder, ignore_errors=True)  # this run's screenshots only
    folder.mkdir(parents=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.set_default_timeout(STEP_TIMEOUT)
            recorder = Recorder(page, folder)
            try:
                yield recorder
            except BaseException:
                try:
                    page.screenshot(path=folder / "failed.png")
                finally:
                    recorder.save_log("console-at-failure.log")
                raise
            recorder.save_log()
        finally:
            browser.close()


def wait_for_text(locator, text, timeout=STEP_TIMEOUT):
    """Wait until ``locator`` shows ``text``; return the matching element, scrolled into view."""
    found = locator.filter(has_text=text).first
    found.wait_for(state="attached", timeout=timeout)
    found.scroll_into_view_if_needed()
    return found
