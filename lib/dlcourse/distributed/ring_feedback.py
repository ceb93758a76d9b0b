"""What a wrong ring all-reduce did, in words, from every rank's input and result.

Both the notebook's check (real gloo processes) and the grader (ranks as
threads in the sandbox) end with the same question: every rank should hold
the sum of all the ranks' tensors. When one does not, the chunks tell why. The
ring cuts a tensor of length L into ``world_size`` chunks the way
``torch.tensor_split`` does (the first ``L % world_size`` chunks one longer);
after the reduce-scatter each rank owns one fully summed chunk and holds
partial sums elsewhere, so a result whose chunks are partial sums is an
all-gather that never ran, and an untouched chunk was never summed at all.
"""

import itertools

import numpy as np


def chunk_slices(length, world_size):
    """The ``world_size`` chunks of a tensor of ``length`` values, as torch.tensor_split cuts."""
    bounds = np.cumsum([0] + [len(c) for c in np.array_split(np.arange(length), world_size)])
    return [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]


def _partial_sum_of(inputs, part, value):
    """The ranks whose inputs sum to ``value`` on ``part`` (a proper subset), or None."""
    world_size = len(inputs)
    for count in range(1, world_size):
        for ranks in itertools.combinations(range(world_size), count):
            if np.allclose(sum(inputs[r][part] for r in ranks), value, rtol=1e-10, atol=1e-10):
                return ranks
    return None


def _chunk_problem(inputs, rank, part, index, value):
    total = sum(inputs)[part]
    world_size = len(inputs)
    if np.allclose(value, inputs[rank][part], rtol=1e-10, atol=1e-10):
        return (
            f"chunk {index} of rank {rank} still holds rank {rank}'s own values: it was never "
            f"summed with the other ranks' nor received in the all-gather phase"
        )
    ranks = _partial_sum_of(inputs, part, value)
    if ranks is not None:
        return (
            f"chunk {index} of rank {rank} holds the values of ranks {list(ranks)} only, a "
            f"partial sum: the reduce-scatter stopped early, or the all-gather phase that "
            f"should bring the finished chunk from its owner is missing"
        )
    for times in range(2, world_size + 2):
        if np.allclose(value, times * total, rtol=1e-10, atol=1e-10):
            return (
                f"chunk {index} of rank {rank} holds {times} times the sum: a chunk was added "
                f"where it should have been copied (the all-gather copies finished chunks)"
            )
    return f"chunk {index} of rank {rank} (values {part.start} to {part.stop - 1}) is wrong"


def _is_partial(inputs, rank, part, value):
    own = np.allclose(value, inputs[rank][part], rtol=1e-10, atol=1e-10)
    return own or _partial_sum_of(inputs, part, value) is not None


def _rank_problem(inputs, rank, result):
    """What is wrong with one rank's result, chunk by chunk."""
    total = sum(inputs)
    parts = [p for p in chunk_slices(total.size, len(inputs)) if p.stop > p.start]
    wrong = [
        (index, part)
        for index, part in enumerate(parts)
        if not np.allclose(result[part], total[part], rtol=1e-10, atol=1e-10)
    ]
    right = [index for index, _ in enumerate(parts) if index not in dict(wrong)]
    if right and all(_is_partial(inputs, rank, part, result[part]) for _, part in wrong):
        return (
            f"rank {rank} holds the full sum of chunk {right[0] if len(right) == 1 else right} "
            f"only, and partial sums in chunks {[index for index, _ in wrong]}: the "
            f"reduce-scatter worked, but the all-gather phase, which passes each finished chunk "
            f"around the ring, is missing or stops early"
        )
    return "; ".join(_chunk_problem(inputs, rank, part, i, result[part]) for i, part in wrong)


def explain_ring_result(inputs, results):
    """None when every rank holds the sum of ``inputs``; otherwise what went wrong, in words.

    inputs: one array per rank (what each rank started with); results: what each rank's
    call left (its returned tensor, or the tensor itself when it returned None).
    """
    inputs = [np.asarray(x, dtype=np.float64) for x in inputs]
    total = sum(inputs)
    problems = []
    for rank, result in enumerate(results):
        result = np.asarray(result, dtype=np.float64)
        if result.shape != total.shape:
            problems.append(
                f"rank {rank} ended with a tensor of shape {result.shape}, not {total.shape}: "
                f"the result must have the input's shape (put the chunks back in place)"
            )
            continue
        if np.allclose(result, total, rtol=1e-10, atol=1e-10):
            continue
        problems.append(_rank_problem(inputs, rank, result))
    if not problems:
        return None
    more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
    return (
        f"with {len(inputs)} ranks and {total.size} values: " + "; ".join(problems[:3]) + more + "."
    )
