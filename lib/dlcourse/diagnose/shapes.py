"""Explaining a gradient of the wrong shape: transposed, an axis too many or too few."""

import itertools

from dlcourse.diagnose.arrays import format_shape

# Beyond 5 axes there are too many orders to try (6! = 720) for a likely mistake.
_MAX_PERMUTED_AXES = 5

# One hint for every wrong shape: it is the rule that makes the right shape obvious.
_SHAPE_RULE = "a gradient always has the shape of the array it is the gradient of"


def transpositions(got_shape, expected_shape):
    """Axis orders ``axes`` with ``transpose(got, axes).shape == expected_shape``.

    Empty unless ``got_shape`` is a reordering of ``expected_shape``; the
    identity is left out (that would be the right shape already).
    """
    n = len(got_shape)
    if n != len(expected_shape) or sorted(got_shape) != sorted(expected_shape):
        return []
    if got_shape == expected_shape or n > _MAX_PERMUTED_AXES:
        return []
    identity = tuple(range(n))
    return [
        axes
        for axes in itertools.permutations(range(n))
        if axes != identity and tuple(got_shape[i] for i in axes) == tuple(expected_shape)
    ]


def transposed_message(name, got_shape, expected_shape, axes):
    """Why ``name`` looks transposed and how to fix it."""
    got, want = format_shape(got_shape), format_shape(expected_shape)
    if len(got_shape) == 2:
        return (
            f"{name} has shape {got} but should be {want}: it looks transposed; swap and "
            f"transpose the factors of the matrix product (for a dense layer compute "
            f"dw = x.T @ dout rather than dout.T @ x), or return {name}.T."
        )
    return (
        f"{name} has shape {got} but should be {want}: its axes look permuted; "
        f"xp.permute_dims({name}, {tuple(axes)}) has the expected values, so reorder the axes "
        f"of the computation that produces it."
    )


def square_transposed_message(name, shape):
    """A square gradient with the right shape whose transpose is the right answer."""
    return (
        f"{name} has the right shape {format_shape(shape)} but its values are transposed: "
        f"{name}.T matches the expected gradient; swap and transpose the factors of the "
        f"matrix product (for a dense layer dw = x.T @ dout, not dout.T @ x)."
    )


def _without_ones(shape):
    return tuple(n for n in shape if n != 1)


def shape_message(name, got_shape, expected_shape, batch_size=None):
    """Say how ``got_shape`` differs from ``expected_shape`` and the likely fix."""
    got, want = format_shape(got_shape), format_shape(expected_shape)
    start = f"{name} has shape {got} but should be {want}"
    g, e = tuple(got_shape), tuple(expected_shape)

    if _without_ones(g) == _without_ones(e):
        if len(g) > len(e):
            return (
                f"{start}: it has an extra axis of length 1; sum without keepdims=True, "
                f"or reshape it to {want}."
            )
        return f"{start}: an axis of length 1 is missing; sum with keepdims=True, or reshape it."

    # Checked before the batch axis: (N, N) against (N,) is the classic broadcasting slip.
    if len(g) == 2 and g[0] == g[1] and _without_ones(e) == (g[0],):
        return (
            f"{start}: broadcasting an ({g[0]},) array against a ({g[0]}, 1) array makes "
            f"{got}; give both operands the same shape (reshape, or keepdims=True)."
        )
    if len(g) == len(e) + 1 and g[1:] == e:
        if batch_size == g[0]:
            return (
                f"{start}: it still has the batch axis (length {g[0]}); the gradient of a "
                f"parameter shared by all samples sums over it, e.g. {name} = dout.sum(axis=0)."
            )
        # The batch size is unknown (or another length): name the axis, not a cause.
        return f"{start}: it has an extra first axis (length {g[0]}); sum over axis=0."
    if len(g) == len(e) + 1 and g[:-1] == e:
        return f"{start}: it has an extra last axis (length {g[-1]}); sum over axis=-1."
    if len(g) + 1 == len(e) and g == e[1:]:
        return (
            f"{start}: the first axis (length {e[0]}) was summed away; keep one entry per "
            f"sample, and sum over the batch only for parameters."
        )
    if len(g) == 0:
        # What reduced it (a sum, a mean, float(), .item()) is not known: ask for the shape.
        return f"{start}: it is a single number; return an array of shape {want}."
    return f"{start}: {_SHAPE_RULE}; check the axes of your matrix products and sums."
