"""Write the autograder's corpus (``submissions.py``) in nbgrader's submitted layout.

Each submission becomes ``OUT/<student_id>/<assignment>/<assignment>.ipynb``,
made from the student version ``course/<assignment>.ipynb`` with the
submission's solution cells filled in and its edits applied. A submission
without a notebook still gets its (empty) folder, as when a student hands in
nothing.

From the command line::

    python autograder/corpus/make.py OUT [--assignment 02-activations] [--copies N]

``--copies N`` writes every submission N times (``s02-correct``,
``s02-correct-2``, ...), for benchmarks that need many students. From Python,
``write_corpus(out, assignment=None)`` does the same and returns the
submissions it wrote.
"""

import argparse
import copy
import dataclasses
import importlib.util
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def load_submissions():
    """The ``submissions`` module next to this file (the folder is not a package)."""
    spec = importlib.util.spec_from_file_location(
        "dlcourse_corpus_submissions", HERE / "submissions.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def solution_sources(assignment, root=ROOT):
    """``{grade_id: source}`` of the instructor's solution cells, without the nbgrader markers."""
    import jupytext

    nb = jupytext.read(root / "solutions" / f"{assignment}.py")
    sources = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution") and cell.cell_type == "code":
            lines = [
                line
                for line in cell.source.splitlines()
                if line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION")
            ]
            sources[meta["grade_id"]] = "\n".join(lines)
    return sources


def student_notebook(assignment, root=ROOT):
    """The released student version, as JSON."""
    path = root / "course" / f"{assignment}.ipynb"
    return json.loads(path.read_text(encoding="utf-8"))


def build(submission, template, solutions, correct_marker):
    """The bytes of one submission's notebook, or None when it has none."""
    nb = copy.deepcopy(template)
    for cell in nb["cells"]:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id in submission.cells:
            source = submission.cells[grade_id]
            if source == correct_marker:
                source = solutions[grade_id]
            cell["source"] = source.strip("\n") + "\n"
            cell["outputs"] = []
            cell["execution_count"] = None
    result = submission.mutate(nb) if submission.mutate is not None else nb
    if result is None or isinstance(result, bytes):
        return result
    return (json.dumps(result, indent=1, ensure_ascii=False) + "\n").encode("utf-8")


def write_corpus(out, assignment=None, copies=1, root=ROOT):
    """Write the corpus (or one assignment's part of it) under ``out``; return the submissions.

    With ``copies`` > 1 every submission is written that many times under
    new student ids (``<id>-2``, ``<id>-3``, ...); the returned list holds them all.
    """
    module = load_submissions()
    out = Path(out)
    written = []
    cache = {}
    for submission in module.SUBMISSIONS:
        if assignment is not None and submission.assignment != assignment:
            continue
        if submission.assignment not in cache:
            cache[submission.assignment] = (
                student_notebook(submission.assignment, root),
                solution_sources(submission.assignment, root),
            )
        template, solutions = cache[submission.assignment]
        data = build(submission, template, solutions, module.CORRECT)
        for copy_number in range(1, copies + 1):
            student = submission.student_id + ("" if copy_number == 1 else f"-{copy_number}")
            folder = out / student / submission.assignment
            folder.mkdir(parents=True, exist_ok=True)
            if data is not None:
                (folder / f"{submission.assignment}.ipynb").write_bytes(data)
            written.append(dataclasses.replace(submission, student_id=student))
    return written


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="folder to write the submissions into")
    parser.add_argument("--assignment", help="only this assignment (e.g. 02-activations)")
    parser.add_argument("--copies", type=int, default=1, help="write every submission N times")
    args = parser.parse_args(argv)
    if args.copies < 1:
        parser.error(f"--copies: expected a positive number, got {args.copies}")
    written = write_corpus(args.out, args.assignment, args.copies)
    print(f"wrote {len(written)} submissions under {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
