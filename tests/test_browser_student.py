"""A student's session in a real browser: JupyterLab, a chapter, nbgrader's Validate button.

``dlcourse start`` runs on a temporary copy of course/; headless Chromium opens
chapter 02 and works through it the way a student does: run all cells, read the
first exercise's NotImplementedError, type a solution, re-run, see the check
pass, press nbgrader's Validate, finish the other exercises, validate again.
The screenshots (test-artifacts/browser/student/NN-step.png) show each step.
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

CHAPTER = "02-activations"

# What a student types into each solution cell (the stub is replaced entirely).
SOLUTIONS = {
    "sigmoid_backward": "    s = cache\n    return dout * s * (1 - s)\n",
    "tanh_backward": "    return dout * (1 - cache**2)\n",
    "relu_backward": "    return dout * (cache > 0)\n",
    "softmax_backward": (
        "    s, axis = cache\n    return s * (dout - (dout * s).sum(axis=axis, keepdims=True))\n"
    ),
}
SOLUTIONS_AS_CELLS = {name: f"def {name}(dout, cache):\n{body}" for name, body in SOLUTIONS.items()}
# nbgrader's lab extension announces each of its plugins in the console as it activates.
NBGRADER_PLUGINS = [
    "JupyterLab extension validate-assignment is activated!",
    "JupyterLab extension assignment-list is activated!",
    "JupyterLab extension formgrader is activated!",
    'Extension "create_assignment" activated.',
]


@pytest.fixture
def student_course(tmp_path):
    """A copy of course/ to work in, and an environment that keeps Jupyter's files in tmp."""
    shutil.copytree(ROOT / "course", tmp_path / "course")
    return tmp_path / "course", isolated_jupyter_env(tmp_path)


def menu(page, *path):
    """Click through JupyterLab's menu bar, e.g. menu(page, "Run", "Run All Cells")."""
    for label in path:
        page.get_by_role("menuitem", name=label, exact=True).click()


def code_cell(page, text):
    """The code cell whose source contains ``text``."""
    editor = page.locator(".jp-InputArea-editor", has_text=text)
    return page.locator(".jp-CodeCell").filter(has=editor).first


def replace_source(page, cell, source):
    """Select all of ``cell``'s source and type ``source`` in its place, like a paste."""
    cell.scroll_into_view_if_needed()
    cell.locator(".cm-content").click()
    page.keyboard.press("Control+a")
    page.keyboard.insert_text(source)  # one input event: no auto-indent, no auto-brackets


def validate(page):
    """Press nbgrader's Validate button; return its result dialog once shown."""
    page.locator(".jp-NotebookPanel-toolbar .validate-button").click()
    dialog = page.locator(".jp-Dialog", has_text="Validation Results")
    dialog.wait_for(timeout=120_000)  # nbgrader runs the whole notebook in a fresh kernel
    return dialog


def test_a_student_solves_an_exercise_and_validates_in_jupyterlab(student_course):
    chromium = require_browser()
    course, env = student_course
    port = free_port()
    args = ["--port", port, "--course", course]
    with running_server(args, ROOT, env) as server, browser_page("student", chromium) as rec:
        page = rec.page
        url = server.urls[0]
        assert url.startswith(f"http://127.0.0.1:{port}/lab?token=")

        # 1. open the chapter; nbgrader's Validate button sits in the notebook's toolbar
        page.goto(url.replace("/lab?", f"/lab/tree/{CHAPTER}.ipynb?"))
        page.locator(".jp-NotebookPanel-toolbar .validate-button").wait_for()
        # the status bar names the kernel once it is connected (before: "No Kernel"); running
        # cells any earlier makes JupyterLab ask which kernel to start
        page.locator("#jp-main-statusbar").get_by_text("Python 3 (ipykernel) | Idle").wait_for()
        assert page.get_by_role("menuitem", name="Nbgrader", exact=True).is_visible()
        rec.shot("opened")

        # 2. run everything: the notebook stops at the first exercise, not yet written
        menu(page, "Run", "Run All Cells")
        check = code_cell(page, "check_sigmoid(rng.normal(size=(4, 5)))")
        error = wait_for_text(check.locator(".jp-OutputArea-output"), "NotImplementedError")
        assert "sigmoid_backward" in error.text_content()  # the traceback names the exercise
        rec.shot("first-exercise-not-implemented")

        # 3. write the first exercise in place of the stub
        solution = code_cell(page, "def sigmoid_backward(dout, cache):")
        replace_source(page, solution, SOLUTIONS_AS_CELLS["sigmoid_backward"])
        assert "raise NotImplementedError" not in solution.locator(".cm-content").inner_text()
        rec.shot("solution-typed")

        # 4. run again: the first check passes, the notebook now stops at exercise 2
        menu(page, "Run", "Run All Cells")
        wait_for_text(check.locator(".jp-OutputArea-output"), "All visible checks passed.")
        tanh_check = code_cell(page, "check_tanh(rng.normal(size=(4, 5)))")
        wait_for_text(tanh_check.locator(".jp-OutputArea-output"), "NotImplementedError")
        check.scroll_into_view_if_needed()
        rec.shot("first-check-passes")

        # 5. Validate (it saves the notebook first): nbgrader names the next unsolved exercise
        dialog = validate(page)
        assert "The following cell failed" in dialog.inner_text()
        assert "check_tanh" in dialog.inner_text()
        rec.shot("validate-names-the-next-exercise")
        dialog.get_by_role("button", name="Ok").click()
        dialog.wait_for(state="detached")

        # 6. the other three exercises, then Validate again: success
        for name in ("tanh_backward", "relu_backward", "softmax_backward"):
            replace_source(page, code_cell(page, f"def {name}("), SOLUTIONS_AS_CELLS[name])
        dialog = validate(page)
        assert "Success! Your notebook passes all the tests." in dialog.inner_text()
        rec.shot("validate-success")
        dialog.get_by_role("button", name="Ok").click()

        # 7. the student's work is on disk (Validate saved it)
        saved = json.loads((course / f"{CHAPTER}.ipynb").read_text(encoding="utf-8"))
        sources = ["".join(cell["source"]) for cell in saved["cells"]]
        for name, body in SOLUTIONS.items():
            assert any(body.strip() in source for source in sources), name

        # 8. nbgrader's Assignment List opens (the course's exchange is in autograder/)
        menu(page, "Nbgrader", "Assignment List")
        page.locator(".jp-MainAreaWidget", has_text="Released assignments").first.wait_for()
        rec.shot("assignment-list")

        for plugin in NBGRADER_PLUGINS:
            assert plugin in "\n".join(rec.console), f"not activated: {plugin}\n{rec.console}"
        problems = rec.errors("nbgrader", "formgrader", "assignment", "validate", "pageerror")
        assert not problems, "\n".join(problems)
