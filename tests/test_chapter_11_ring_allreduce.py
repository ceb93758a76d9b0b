"""Chapter 11's exercise 3, the ring all-reduce: the visible check on real gloo processes and
the grader's ranks-as-threads agree, pass the solution, and name each classic mistake.

No mocks: the notebook's check forks real gloo processes on 127.0.0.1, and the grader's
spec runs in this process (``run_exercise``) and through the real grading engine.
"""

import pytest

from chapter_helpers import cell_sources, load_checks, real_grader, run_all_cells_to_check
from dlcourse.course import cells
from test_course_samples import ROOT

pytest.importorskip("jupytext", reason="reading the solutions needs jupytext (extra 'course')")
pytest.importorskip("torch", reason="the ring runs on torch.distributed (extra 'torch')")

from chapter_helpers import run_exercise  # noqa: E402

CHAPTER = "11-speed-and-scale"
GRADE_ID = "ring_allreduce"
GATHER = "    for step in range(world_size - 1):  # all-gather"
INCOMING = "incoming = (rank - step) % world_size, (rank - step - 1) % world_size"

# classic mistakes, made in the instructor's solution: name -> (old, new)
ISEND = "sending = dist.isend(chunks[outgoing].clone(), right)\n        dist.recv(received, left)"
BLOCKING = "dist.send(chunks[outgoing].clone(), right)\n        dist.recv(received, left)"
SPLIT = "    chunks = torch.tensor_split"
OFF_BY_ONE = INCOMING.replace("(rank - step - 1)", "(rank - step)")

# classic mistakes, made in the instructor's solution: name -> (old, new)
MISTAKES = {
    # the reduce-scatter only: each rank owns one summed chunk, the rest are partial sums
    "no all-gather": (GATHER, "    for step in range(0):  # all-gather"),
    # adds the neighbour's chunk into the one it just sent: an off-by-one chunk index
    "off-by-one chunk": (INCOMING, OFF_BY_ONE),
    # the collective does the work
    "dist.all_reduce": (SPLIT, "    dist.all_reduce(tensor)\n    return tensor\n" + SPLIT),
    # a blocking send first on every rank: nobody receives
    "blocking sends": (ISEND + "\n        sending.wait()", BLOCKING),
}
GRADER_WORDS = {
    "no all-gather": "all-gather phase",
    "off-by-one chunk": "chunk",
    "dist.all_reduce": "dist.all_reduce is not allowed in ring_allreduce",
    "blocking sends": "every rank sent before anyone received",
}
NOTEBOOK_WORDS = {
    "no all-gather": "all-gather phase",
    "dist.all_reduce": "dist.all_reduce is not allowed in ring_allreduce",
    "blocking sends": "every rank sent before anyone received",
}


@pytest.fixture(scope="module")
def sources():
    return cell_sources(CHAPTER)


@pytest.fixture(scope="module")
def spec():
    return next(e for e in load_checks(CHAPTER) if e.grade_id == "check_ring_allreduce")


def mistake(sources, name):
    old, new = MISTAKES[name]
    assert old in sources[GRADE_ID], f"the solution no longer contains {old!r}: update the test"
    return {GRADE_ID: sources[GRADE_ID].replace(old, new)}


def test_the_grader_passes_the_solution(sources, spec):
    assert run_exercise(spec, sources, seed=3) == []


@pytest.mark.parametrize("name", sorted(MISTAKES))
def test_the_grader_fails_each_mistake_and_says_why(sources, spec, name):
    failures = run_exercise(spec, sources, mistake(sources, name), seed=4)
    assert failures, f"{name} passed the grader"
    assert all(GRADER_WORDS[name] in message for message in failures), failures


def test_the_grader_names_a_rank_left_with_its_own_values(sources, spec):
    # one round of reduce-scatter too few with 3 ranks: a chunk is never summed
    old = "    for step in range(world_size - 1):  # reduce-scatter"
    short = {GRADE_ID: sources[GRADE_ID].replace(old, old.replace("- 1", "- 2"))}
    failures = run_exercise(spec, sources, short, seed=5)
    three_ranks = [m for m in failures if m.startswith("with 3 ranks")]
    assert three_ranks and any("partial sum" in m for m in three_ranks), failures


def test_the_notebook_check_passes_the_solution_on_gloo():
    import nbformat  # noqa: F401 -- read_solution below needs it

    from dlcourse.course.source import read_solution

    nb = read_solution(ROOT / "solutions" / f"{CHAPTER}.py")
    namespace = {}
    for cell in nb.cells:
        gid = cells.grade_id(cell)
        if gid in ("setup", "torch_distributed", GRADE_ID, "check_ring_allreduce"):
            exec(cell.source, namespace)  # raises if any rank is wrong
    assert "check_ring_allreduce" in namespace


@pytest.mark.parametrize("name", sorted(NOTEBOOK_WORDS))
def test_the_notebook_check_names_each_mistake(sources, name):
    from dlcourse.course.source import read_solution

    nb = read_solution(ROOT / "solutions" / f"{CHAPTER}.py")
    kept = [
        c
        for c in nb.cells
        if cells.grade_id(c) in ("setup", "torch_distributed", GRADE_ID, "check_ring_allreduce")
    ]
    nb.cells = kept
    message = run_all_cells_to_check(nb, "check_ring_allreduce", mistake(sources, name))
    assert NOTEBOOK_WORDS[name] in message, message


def graders_library():
    """Where the grading engine's isolated interpreter (``python -I``) imports dlcourse from."""
    import subprocess
    import sys

    command = [sys.executable, "-I", "-c", "import dlcourse; print(dlcourse.__file__)"]
    return subprocess.run(command, capture_output=True, text=True, check=False).stdout.strip()


@pytest.fixture(scope="module", params=["bubblewrap", "child process"])
def grade(request, tmp_path_factory):
    library = graders_library()
    if not library.startswith(str(ROOT / "lib")):  # a worktree beside the installed checkout
        pytest.skip(f"the grading engine imports another checkout's dlcourse ({library})")
    return real_grader(CHAPTER, request.param, tmp_path_factory.mktemp("graded"))


def test_the_real_grader_gives_points_to_the_ring_and_none_to_the_collective(grade, sources):
    assert grade({})["check_ring_allreduce"] == 3
    assert grade(mistake(sources, "dist.all_reduce"))["check_ring_allreduce"] == 0
    assert grade(mistake(sources, "no all-gather"))["check_ring_allreduce"] == 0
