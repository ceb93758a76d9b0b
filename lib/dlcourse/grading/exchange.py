"""nbgrader's exchange, where the instructor releases and the students fetch and submit.

It is nbgrader's standard one (``/usr/local/share/nbgrader/exchange``) unless the course's
``nbgrader_config.py`` sets ``Exchange.root``. nbgrader makes the course's
folders in it writable by everyone (the students submit there), so it is one
folder per machine, outside every repository and home.
"""

import os
import stat
from pathlib import Path

from dlcourse.grading.coursedir import CONFIG_NAME


def _standard_root():
    from nbgrader.exchange.default.exchange import Exchange

    return Exchange.root.default_value  # read, not copied: nbgrader 0.9 moved it from /srv


STANDARD_ROOT = _standard_root()


def _course_config(course_dir):
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    path = Path(course_dir) / CONFIG_NAME
    if not path.is_file():
        return Config()
    return PyFileConfigLoader(path.name, path=str(path.parent)).load_config()


def exchange_root(course_dir):
    """The exchange folder the course's config names, or nbgrader's standard one."""
    return Path(_course_config(course_dir).Exchange.get("root", STANDARD_ROOT))


def course_id(course_dir):
    return _course_config(course_dir).CourseDirectory.get("course_id", "dlcourse")


def released_notebook(course_dir, assignment):
    """Where ``nbgrader release_assignment`` put the student version of ``assignment``."""
    outbound = exchange_root(course_dir) / course_id(course_dir) / "outbound" / assignment
    return outbound / f"{assignment}.ipynb"


def released_assignments(course_dir):
    """The assignments released to the exchange (sorted), [] when there is no exchange."""
    outbound = exchange_root(course_dir) / course_id(course_dir) / "outbound"
    try:
        return sorted(p.name for p in outbound.iterdir() if p.is_dir())
    except OSError:
        return []


def ensure_exchange(course_dir):
    """Make a missing exchange folder as nbgrader's docs do, when allowed; a message, or None.

    Only root may make the standard one (``/srv`` is root's): then it is made
    like ``/tmp``, writable by all and sticky, so that no user can remove
    another's course. Otherwise the message says the command to run.
    """
    root = exchange_root(course_dir)
    if root.is_dir():
        return None
    fix = f"sudo mkdir -p {root} && sudo chmod 1777 {root}"
    if os.geteuid() != 0:
        return (
            f"nbgrader's exchange {root} does not exist, so the Assignment List cannot fetch or "
            f"submit. Make it once per machine: {fix} (or set c.Exchange.root in "
            f"{Path(course_dir) / CONFIG_NAME})."
        )
    root.mkdir(parents=True)
    root.chmod(0o777 | stat.S_ISVTX)
    return f"made nbgrader's exchange {root} (mode 1777, as nbgrader's docs ask)"
