"""Seconds per submission: ``dlcourse autograde --workers 2`` against plain serial nbgrader.

Makes N submissions of 02-activations (default 40) from the student notebook:
a quarter fully correct, the others each with one classic mistake (a sign,
a missing ``dout``, a softmax sum without ``keepdims``, an exercise left
undone), then, in the same run and on the same files, times

- ``dlcourse autograde 02-activations --workers W`` (nbgrader's in-kernel pass
  plus the out-of-kernel verification of every graded cell), and
- ``nbgrader autograde 02-activations`` as an instructor would run it:
  serial, in nbgrader's own course folder, with its own gradebook.

Both start from a fresh course folder, so neither profits from the other.

    python benchmarks/autograde_speed.py                  # 40 submissions, 2 workers
    python benchmarks/autograde_speed.py --count 8 --workers 1
    python benchmarks/autograde_speed.py --skip-nbgrader  # only ours
    python benchmarks/autograde_speed.py --profile        # also: where our time goes
    python benchmarks/autograde_speed.py --in-kernel graded

``--in-kernel full`` runs nbgrader on the whole notebook, ``graded`` only on
its nbgrader cells (the demos and plots skipped); both are timed by default.
"""

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT = "02-activations"

# grade_id -> replacement source; each variant is one classic mistake (None: correct)
MISTAKES = [
    None,
    {
        "sigmoid_backward": "def sigmoid_backward(dout, cache):\n"
        "    return -dout * cache * (1 - cache)\n"
    },
    {"tanh_backward": "def tanh_backward(dout, cache):\n    return 1 - cache * cache\n"},
    {
        "relu_backward": "def relu_backward(dout, cache):\n"
        "    dout[cache <= 0] = 0\n    return dout\n"
    },
    {
        "softmax_backward": "def softmax_backward(dout, cache):\n    s, axis = cache\n"
        "    return s * (dout - (dout * s).sum(axis=axis))\n"
    },
    {"softmax_backward": "def softmax_backward(dout, cache):\n    raise NotImplementedError()\n"},
]


def _solutions(source_nb):
    return {
        c["metadata"]["nbgrader"]["grade_id"]: c["source"]
        for c in source_nb["cells"]
        if c.get("metadata", {}).get("nbgrader", {}).get("solution")
    }


def make_submissions(course, folder, count):
    """``folder/<student>/02-activations/02-activations.ipynb`` for ``count`` students."""
    source = json.loads((course / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_text())
    release = (course / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_text()
    solved = _solutions(source)
    for index in range(count):
        nb = json.loads(release)
        mistake = MISTAKES[index % len(MISTAKES)] or {}
        for cell in nb["cells"]:
            gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            if gid in solved:
                cell["source"] = mistake.get(gid, solved[gid])
        target = folder / f"s{index:03d}" / ASSIGNMENT
        target.mkdir(parents=True)
        (target / f"{ASSIGNMENT}.ipynb").write_text(json.dumps(nb), encoding="utf-8")


def fresh_course(base, name):
    from dlcourse.grading.coursedir import ensure_source

    course = base / name
    (course / "checks").mkdir(parents=True)
    shutil.copy2(ROOT / "autograder" / "nbgrader_config.py", course)
    shutil.copy2(ROOT / "autograder" / "checks" / f"{ASSIGNMENT}.py", course / "checks")
    ensure_source(ASSIGNMENT, course, ROOT / "solutions")
    return course


def time_ours(base, submitted, workers, profile, in_kernel):
    course = fresh_course(base, f"ours-{in_kernel}")
    command = [sys.executable, "-m", "dlcourse", "autograde", ASSIGNMENT, "--quiet"]
    command += ["--in-kernel", in_kernel]
    command += ["--submitted", str(submitted), "--out", str(base / f"out-{in_kernel}")]
    command += ["--course-dir", str(course), "--workers", str(workers)]
    if profile:
        command[1:3] = ["-m", "cProfile", "-s", "cumulative", "-m", "dlcourse"]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode:
        sys.exit(f"dlcourse autograde failed:\n{done.stderr[-4000:]}")
    if profile:
        print("\n".join(done.stdout.splitlines()[:45]))
    return seconds


def time_nbgrader(base, submitted):
    course = fresh_course(base, "nbgrader")
    shutil.copytree(submitted, course / "submitted")
    nbgrader = Path(sys.executable).with_name("nbgrader")
    start = time.perf_counter()
    done = subprocess.run(
        [str(nbgrader), "autograde", ASSIGNMENT, "--force"],
        cwd=course,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - start
    if done.returncode:
        print(f"(nbgrader autograde exited with {done.returncode})", file=sys.stderr)
    return seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=40, help="submissions (default 40)")
    parser.add_argument("--workers", type=int, default=2, help="our workers (default 2)")
    parser.add_argument("--skip-nbgrader", action="store_true", help="time only ours")
    parser.add_argument("--profile", action="store_true", help="cProfile our parent process")
    parser.add_argument(
        "--in-kernel",
        nargs="+",
        default=["full", "graded"],
        choices=("full", "graded", "none"),
        help="our modes of nbgrader's in-kernel pass to time (default: full graded)",
    )
    args = parser.parse_args()

    base = Path(tempfile.mkdtemp(prefix="autograde-speed-"))
    try:
        submitted = base / "submitted"
        make_submissions(fresh_course(base, "template"), submitted, args.count)
        for mode in args.in_kernel:
            ours = time_ours(base, submitted, args.workers, args.profile, mode)
            print(
                f"dlcourse autograde --workers {args.workers} --in-kernel {mode}: {ours:.1f} s "
                f"for {args.count} submissions = {ours / args.count:.2f} s per submission"
            )
        if not args.skip_nbgrader:
            plain = time_nbgrader(base, submitted)
            print(
                f"nbgrader autograde (serial):  {plain:.1f} s for {args.count} "
                f"submissions = {plain / args.count:.2f} s per submission"
            )
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
