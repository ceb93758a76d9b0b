"""``dlcourse start``: JupyterLab on the course folder, on this machine only.

JupyterLab runs as a child process listening on 127.0.0.1, with a fresh random
token (handed over in the environment, so it never shows in the process list).
Once the server answers, the URL with the token is printed. Ctrl-C stops it:
the child runs in its own session, so JupyterLab's "Shutdown this server
(y/[n])?" prompt never appears; it gets SIGTERM instead, shuts its kernels
down, and the command exits 0.

The same server serves two views: students land on JupyterLab (``/lab``), the
instructor on nbgrader's formgrader (``/formgrader``); ``landing`` picks one.
"""

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

HOST = "127.0.0.1"
DEFAULT_PORT = 8888
START_TIMEOUT = 120  # seconds for the first start on a slow machine
STOP_TIMEOUT = 10


class LabError(Exception):
    """JupyterLab could not start; the message says why."""


def port_is_free(port, host=HOST):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(preferred=DEFAULT_PORT, host=HOST, tries=50):
    """``preferred`` if nobody listens there, else the next free port above it."""
    for port in range(preferred, preferred + tries):
        if port_is_free(port, host):
            return port
    raise LabError(f"no free port in {preferred}..{preferred + tries - 1}: pass --port N.")


def lab_command(notebook_dir, port, open_browser, *, landing="/lab", disabled=()):
    """The command line that runs JupyterLab on ``notebook_dir`` with the course's settings.

    ``landing`` is the page the browser opens (and ``/`` redirects to);
    ``disabled`` names Jupyter server extensions to switch off for this run only,
    without touching the user's Jupyter configuration.
    """
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        f"--ServerApp.root_dir={notebook_dir}",
        f"--ServerApp.ip={HOST}",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",  # the printed URL must be the real one
        f"--ServerApp.open_browser={open_browser}",
        # JupyterLab sets the server's landing page to /lab unless told otherwise.
        f"--ServerApp.default_url={landing}",
        f"--LabApp.default_url={landing}",
        # The course runs offline: no announcements feed, no update checks.
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        # keep the terminal for the URL and real problems
        "--ServerApp.log_level=WARN",
        "--LabApp.log_level=WARN",
    ]
    command += [f"--ServerApp.jpserver_extensions={name}=False" for name in disabled]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        # Containers (and CI) often run as root, which JupyterLab refuses without this.
        command.append("--ServerApp.allow_root=True")
    return command


def server_status(port, token, host=HOST, timeout=2):
    """The server's ``/api/status`` as a dict, or None while it does not answer."""
    request = urllib.request.Request(
        f"http://{host}:{port}/api/status", headers={"Authorization": f"token {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read().decode("utf-8"))
    except (urllib.error.URLError, OSError, ValueError):
        return None


def _wait_until_ready(child, port, token):
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise LabError(f"JupyterLab exited with status {child.returncode} before it started.")
        if server_status(port, token) is not None:
            return
        time.sleep(0.25)
    raise LabError(f"JupyterLab did not answer on port {port} within {START_TIMEOUT} s.")


def _stop(child, log):
    if child.poll() is None:
        log("Stopping JupyterLab ...")
        child.send_signal(signal.SIGTERM)  # JupyterLab shuts its kernels down on SIGTERM
        try:
            child.wait(STOP_TIMEOUT)
        except (subprocess.TimeoutExpired, KeyboardInterrupt):  # too slow, or a second Ctrl-C
            log("Killing JupyterLab.")
            child.kill()
            child.wait()


def _say(line):
    print(line, flush=True)  # flushed: a script reading our output waits for the URL


class _StopRequested(Exception):
    pass


def _raise_stop(signum, frame):
    raise _StopRequested(signal.Signals(signum).name)


def lab_url(port, path="/lab", token="", host=HOST):
    """The address of ``path`` on the server, with the token that logs the browser in."""
    return f"http://{host}:{port}{path}?token={token}"


def run_lab(
    notebook_dir,
    *,
    port=None,
    open_browser=True,
    workdir=None,
    landing="/lab",
    disabled=(),
    title="The course",
    log=_say,
):
    """Run JupyterLab on ``notebook_dir`` until Ctrl-C (or SIGTERM); return the exit status.

    ``port=None`` takes the first free port from 8888 up. The URL of
    ``landing``, token included, is printed as soon as the server answers
    (after "``title`` is open at"). ``workdir`` is the server's working folder
    (default: ``notebook_dir``); nbgrader's extensions look for
    ``nbgrader_config.py`` there. ``disabled``: server extensions to switch off.
    """
    port = free_port() if port is None else port
    if not port_is_free(port):
        raise LabError(f"port {port} is in use: pick another with --port N.")
    token = secrets.token_hex(24)
    env = dict(os.environ, JUPYTER_TOKEN=token)
    if workdir is not None:
        # nbgrader's assignment list reads nbgrader_config.py from the notebook folder or
        # Jupyter's config path, not from the working folder: put the latter on that path.
        env["JUPYTER_CONFIG_PATH"] = os.pathsep.join(
            p for p in (str(workdir), os.environ.get("JUPYTER_CONFIG_PATH")) if p
        )
    command = lab_command(notebook_dir, port, open_browser, landing=landing, disabled=disabled)
    # Its own session: Ctrl-C in the terminal reaches this process only, which then
    # stops JupyterLab without its interactive confirmation prompt.
    child = subprocess.Popen(command, cwd=workdir or notebook_dir, env=env, start_new_session=True)
    stop_signals = [getattr(signal, n) for n in ("SIGTERM", "SIGHUP") if hasattr(signal, n)]
    previous = {sig: signal.signal(sig, _raise_stop) for sig in stop_signals}
    try:
        _wait_until_ready(child, port, token)
        log(f"\n{title} is open at  {lab_url(port, landing, token)}")
        if landing != "/lab":
            log(f"JupyterLab, same server:  {lab_url(port, '/lab', token)}")
        log("(only on this machine; press Ctrl-C to stop)")
        return child.wait()  # JupyterLab's File > Shut Down ends it too
    except (KeyboardInterrupt, _StopRequested):
        _stop(child, log)
        log("JupyterLab stopped.")
        return 0
    finally:
        _stop(child, log)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
