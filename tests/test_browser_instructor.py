"""The instructor's view in a real browser: nbgrader's formgrader, inside and outside JupyterLab.

``dlcourse start --instructor`` runs on a temporary nbgrader course folder (a
copy of autograder/nbgrader_config.py and one hand-edited source notebook): it
must keep the edit aside, build the source assignments from solutions/,
register them in a fresh gradebook, and land on the formgrader's list of
assignments. Screenshots go to test-artifacts/browser/instructor/.
"""

import json
import shutil

import pytest

from browser_helpers import (
    ROOT,
    browser_page,
    free_port,
    isolated_jupyter_env,
    require_browser,
    running_server,
    wait_for_text,
)

pytestmark = pytest.mark.slow  # a real JupyterLab and a real Chromium: about a minute

CHAPTERS = sorted(p.stem for p in (ROOT / "solutions").glob("[0-9]*.py"))
SHOWN = "02-activations"  # the chapter whose source notebook the test opens
EDIT_MARK = "an instructor's edit"


def expected_cell_types(notebook):
    """What the Create Assignment panel should show for each cell, from its nbgrader metadata."""
    types = []
    for cell in json.loads(notebook.read_text(encoding="utf-8"))["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("solution") and meta.get("grade"):
            types.append("manual")
        elif meta.get("solution"):
            types.append("solution")
        elif meta.get("grade"):
            types.append("tests")
        elif meta.get("locked"):
            types.append("readonly")
        else:
            types.append("")
    return types


@pytest.fixture
def instructor_course(tmp_path):
    """An nbgrader course folder with only the course's config, and an isolated environment."""
    autograder = tmp_path / "autograder"
    autograder.mkdir()
    shutil.copy(ROOT / "autograder" / "nbgrader_config.py", autograder)
    # an instructor's earlier edit of a source notebook: rebuilt, but kept aside first
    edited = autograder / "source" / SHOWN / f"{SHOWN}.ipynb"
    edited.parent.mkdir(parents=True)
    edited.write_text(json.dumps({"cells": [], "metadata": {"edited": EDIT_MARK}}), "utf-8")
    return autograder, isolated_jupyter_env(tmp_path)


def test_the_instructor_lands_on_the_formgrader_with_every_chapter(instructor_course):
    chromium = require_browser()
    autograder, env = instructor_course
    assert SHOWN in CHAPTERS
    port = free_port()
    args = ["--instructor", "--port", port, "--course", autograder]
    with running_server(args, ROOT, env) as server, browser_page("instructor", chromium) as rec:
        page = rec.page
        formgrader_url, lab_url = server.urls
        assert formgrader_url.startswith(f"http://127.0.0.1:{port}/formgrader?token=")
        assert lab_url.startswith(f"http://127.0.0.1:{port}/lab?token=")
        for chapter in CHAPTERS:  # built from solutions/ and registered before the server
            assert (autograder / "source" / chapter / f"{chapter}.ipynb").is_file()
        assert (autograder / "gradebook.db").is_file()
        (backup,) = (autograder / ".backups").glob(f"{SHOWN}-*.ipynb")
        assert EDIT_MARK in backup.read_text(encoding="utf-8")
        assert f"previous version kept in {backup}" in server.output

        # 1. the printed URL: nbgrader's "Manage Assignments" page lists every chapter
        page.goto(formgrader_url)
        table = page.locator("table")
        for chapter in CHAPTERS:
            wait_for_text(table.locator("tr"), chapter)
        assert page.url.endswith("/formgrader/manage_assignments")
        rec.shot("formgrader-assignments")

        # 2. the same page inside JupyterLab, from nbgrader's menu
        page.goto(lab_url)
        page.get_by_role("menuitem", name="Nbgrader", exact=True).click()
        page.get_by_role("menuitem", name="Formgrader", exact=True).click()
        frame = page.frame_locator("#formgrader-iframe iframe")
        wait_for_text(frame.locator("table tr"), SHOWN)
        rec.shot("formgrader-in-jupyterlab")

        # 3. a source notebook, and nbgrader's "Create Assignment" panel showing each cell's
        #    nbgrader type, read from the notebook's metadata
        page.goto(lab_url.replace("/lab?", f"/lab/tree/source/{SHOWN}/{SHOWN}.ipynb?"))
        page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for()
        sidebar = page.locator(".jp-SideBar.jp-mod-right .lm-TabBar-tab")
        sidebar.filter(has_text="Create Assignment").click()
        types = page.locator(".nbgrader-CreateAssignmentWidget .nbgrader-CellWidget select")
        types.first.wait_for()
        shown = [types.nth(i).input_value() for i in range(types.count())]
        assert shown == expected_cell_types(autograder / "source" / SHOWN / f"{SHOWN}.ipynb")
        rec.shot("create-assignment-panel")

        problems = rec.errors("nbgrader", "formgrader", "pageerror")
        assert not problems, "\n".join(problems)
