"""The out-of-kernel checks of 02-activations and 04-backprop, on the real solutions.

Verification only (``--no-in-kernel``): the instructor's solutions get every
point, the student version with its stubs gets none, and classic mistakes
lose exactly their exercise with a diagnosis that names them.
"""

import json
import shutil
import subprocess
import sys

import pytest

pytest.importorskip("nbgrader", reason="dlcourse autograde drives nbgrader")
pytest.importorskip("jupytext", reason="the source notebooks are built from jupytext files")

from dlcourse.course.paths import find_root  # noqa: E402

ROOT = find_root()

# assignment -> student -> {solution grade_id: replacement source}
STUDENTS = {
    "02-activations": {
        "right": {},
        "inplace_relu": {
            "relu_backward": "def relu_backward(dout, cache):\n"
            "    dout[cache <= 0] = 0\n    return dout\n"
        },
        "softmax_no_keepdims": {
            "softmax_backward": "def softmax_backward(dout, cache):\n    s, axis = cache\n"
            "    return s * (dout - (dout * s).sum(axis=axis))\n"
        },
        "float64_sigmoid": {
            "sigmoid_backward": "import numpy as np\ndef sigmoid_backward(dout, cache):\n"
            "    return (dout * cache * (1 - cache)).astype(np.float64)\n"
        },
    },
    "04-backprop": {
        "right": {},
        "mean_db": {
            "dense_backward": "def dense_backward(dout, cache):\n    x, w = cache\n"
            "    return dout @ w.T, x.T @ dout, dout.mean(axis=0)\n"
        },
    },
}
EXPECTED = {
    ("02-activations", "right"): 10.0,
    ("02-activations", "inplace_relu"): 8.0,
    ("02-activations", "softmax_no_keepdims"): 6.0,
    ("02-activations", "float64_sigmoid"): 8.0,
    ("04-backprop", "right"): 10.0,
    ("04-backprop", "mean_db"): 5.0,  # two_layer_backward is graded with the reference dense
    ("04-backprop", "stubs"): 0.0,
}


def _write(folder, student, assignment, nb):
    target = folder / student / assignment
    target.mkdir(parents=True)
    (target / f"{assignment}.ipynb").write_text(json.dumps(nb), encoding="utf-8")


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    from dlcourse.grading.coursedir import ensure_source

    base = tmp_path_factory.mktemp("checks")
    course = base / "course"
    (course / "checks").mkdir(parents=True)
    found = {}
    for assignment, students in STUDENTS.items():
        shutil.copy2(ROOT / "autograder" / "checks" / f"{assignment}.py", course / "checks")
        ensure_source(assignment, course, ROOT / "solutions")
        source = json.loads((course / "source" / assignment / f"{assignment}.ipynb").read_text())
        release = json.loads((course / "release" / assignment / f"{assignment}.ipynb").read_text())
        submitted = base / f"sub-{assignment}"
        for student, replacements in students.items():
            nb = json.loads(json.dumps(source))
            for cell in nb["cells"]:
                gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
                cell["source"] = replacements.get(gid, cell["source"])
            _write(submitted, student, assignment, nb)
        if assignment == "04-backprop":
            _write(submitted, "stubs", assignment, release)
        out = base / f"out-{assignment}"
        command = [sys.executable, "-m", "dlcourse", "autograde", assignment, "--no-in-kernel"]
        command += ["--submitted", str(submitted), "--out", str(out), "--course-dir", str(course)]
        command += ["--solutions", str(ROOT / "solutions"), "--quiet"]
        done = subprocess.run(command, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        for path in (out / "records").glob("*.json"):
            found[(assignment, path.stem)] = json.loads(path.read_text())
    return found


def test_scores(records):
    assert {key: r["score"] for key, r in records.items()} == EXPECTED


def _exercise(record, grade_id):
    return next(e for e in record["exercises"] if e["grade_id"] == grade_id)


def test_diagnoses_name_the_mistake(records):
    inplace = _exercise(records[("02-activations", "inplace_relu")], "check_relu_backward")
    assert "dout after your function ran" in inplace["diagnosis"]
    keepdims = _exercise(
        records[("02-activations", "softmax_no_keepdims")], "check_softmax_backward"
    )
    assert not keepdims["verified"] and (keepdims["diagnosis"] or keepdims["reason"])
    dtype = _exercise(records[("02-activations", "float64_sigmoid")], "check_sigmoid_backward")
    assert "float32" in dtype["diagnosis"]
    mean = _exercise(records[("04-backprop", "mean_db")], "check_dense_backward")
    assert "batch size" in mean["diagnosis"] and "db" in mean["diagnosis"]


def test_stubs_get_a_reason_not_a_crash(records):
    for exercise in records[("04-backprop", "stubs")]["exercises"]:
        assert exercise["points"] == 0.0
        assert "NotImplementedError" in exercise["reason"]
