"""``dlcourse autograde`` at class scale: the adversarial corpus against a benign one.

Writes the autograder's corpus of 02-activations (``autograder/corpus``: correct
work, classic mistakes, tampering, an infinite loop, a memory bomb, sandbox
escapes) ``--copies`` times, and as many benign submissions (correct work and
classic mistakes, as in ``autograde_speed.py``), then grades each with
``dlcourse autograde --workers W`` from a fresh course folder and reports, per
corpus:

- seconds per submission (the target: adversarial within 1.5x benign);
- the peak memory of the grader's whole process tree (the sum of the resident
  sets of the autograde process and everything it started, sandboxes included,
  sampled every 50 ms); what the adversarial corpus adds over the benign peak
  is bounded by workers x the per-exercise memory limit;
- the most file descriptors any one of those processes held (a leak shows here
  long before SQLite says ``unable to open database file``);
- the records where nbgrader's in-kernel pass or a worker failed, by corpus
  submission: the copies of one submission that kills its own kernel fail
  alike; a batch-wide failure shows as many submissions.

    python benchmarks/autograde_scale.py                 # 9 copies: 198 submissions each
    python benchmarks/autograde_scale.py --copies 2 --workers 1
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "autograder" / "corpus"))

import autograde_speed  # noqa: E402 -- found through benchmarks/ on sys.path
import make  # noqa: E402 -- the corpus writer, found through autograder/corpus/

ASSIGNMENT = autograde_speed.ASSIGNMENT
# Words of the flags that say grading itself failed (not what a submission was caught doing).
TROUBLE = ("nbgrader could not grade", "worker", "unable to open database file")


def process_tree(root_pid):
    """``{pid: (rss_bytes, open_fds)}`` of ``root_pid`` and every process below it."""
    parents, stats = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            parents[int(entry)] = int(fields[1])
            rss = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
            stats[int(entry)] = (rss, len(os.listdir(f"/proc/{entry}/fd")))
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile, or not ours to read
    tree, frontier = {}, {root_pid}
    while frontier:
        tree.update({pid: stats[pid] for pid in frontier if pid in stats})
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - set(tree)
    return tree


class TreeSampler(threading.Thread):
    """Samples a process tree until stopped: the peak summed RSS and the most fds one held."""

    def __init__(self, pid, every=0.05):
        super().__init__(daemon=True)
        self.pid, self.every = pid, every
        self.peak_rss = self.peak_fds = 0
        self.stopped = threading.Event()

    def run(self):
        while not self.stopped.wait(self.every):
            tree = process_tree(self.pid)
            if tree:
                self.peak_rss = max(self.peak_rss, sum(rss for rss, _ in tree.values()))
                self.peak_fds = max(self.peak_fds, max(fds for _, fds in tree.values()))


def grade(base, name, submitted, workers):
    """Grade ``submitted`` from a fresh course folder; seconds, sampler, records, stderr."""
    course = autograde_speed.fresh_course(base, f"course-{name}")
    out = base / f"out-{name}"
    command = [sys.executable, "-m", "dlcourse", "autograde", ASSIGNMENT, "--quiet"]
    command += ["--submitted", str(submitted), "--out", str(out)]
    command += ["--course-dir", str(course), "--workers", str(workers)]
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sampler = TreeSampler(process.pid)
    sampler.start()
    stdout, stderr = process.communicate()
    seconds = time.perf_counter() - start
    sampler.stopped.set()
    sampler.join()
    if process.returncode:
        sys.exit(f"dlcourse autograde ({name}) failed:\n{stderr[-4000:]}")
    records = [json.loads(p.read_text()) for p in sorted((out / "records").glob("*.json"))]
    return seconds, sampler, records, stdout + stderr


def troubled(records):
    """The records with a flag that says the grader, not the submission, went wrong."""
    return [r for r in records if any(word in f for f in r["flags"] for word in TROUBLE)]


def memory_limit_mb():
    """The largest address-space limit among the assignment's exercises."""
    from dlcourse.grading.checks import load_exercises

    return max(e.memory_mb for e in load_exercises(ROOT / "autograder", ASSIGNMENT).values())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=9, help="copies of the corpus (default 9)")
    parser.add_argument("--workers", type=int, default=2, help="grading workers (default 2)")
    args = parser.parse_args()

    base = Path(tempfile.mkdtemp(prefix="autograde-scale-"))
    try:
        adversarial = base / "adversarial"
        count = len(make.write_corpus(adversarial, ASSIGNMENT, args.copies))
        benign = base / "benign"
        autograde_speed.make_submissions(
            autograde_speed.fresh_course(base, "template"), benign, count
        )
        limit = args.workers * memory_limit_mb()
        results, peaks = {}, {}
        for name, submitted in (("benign", benign), ("adversarial", adversarial)):
            seconds, sampler, records, output = grade(base, name, submitted, args.workers)
            bad = troubled(records)
            results[name] = seconds / count
            peaks[name] = sampler.peak_rss / 2**20
            by_submission = Counter(re.sub(r"-\d+$", "", r["student_id"]) for r in bad)
            print(
                f"{name}: {count} submissions in {seconds:.1f} s = {seconds / count:.2f} s each; "
                f"peak memory {sampler.peak_rss / 2**20:.0f} MB (workers x limit = {limit} MB); "
                f"most fds in one process {sampler.peak_fds}; "
                f"{len(bad)} record(s) where nbgrader's pass or a worker failed"
            )
            # one submission's copies failing alike is that submission; many is the batch
            for student, copies in sorted(by_submission.items()):
                first = next(r for r in bad if r["student_id"].startswith(student))
                print(f"  {student} (x{copies}): {first['flags'][0][:200]!r}")
        ratio = results["adversarial"] / results["benign"]
        print(f"adversarial / benign: {ratio:.2f}x (target 1.5x)")
        # what the attacks add on top of grading itself is what the limits bound
        rise = peaks["adversarial"] - peaks["benign"]
        print(f"memory the attacks add over the benign peak: {rise:.0f} MB (bound {limit} MB)")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
