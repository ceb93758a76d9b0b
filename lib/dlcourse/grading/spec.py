"""What one graded cell checks, written by the instructor in ``autograder/checks/``.

Each ``autograder/checks/NN-name.py`` (named like the assignment) defines
``EXERCISES``, a list of :class:`Exercise`, one per graded cell of the
notebook. The grader runs each exercise like this:

1. a fresh sandbox process runs the instructor's ``setup`` cells, taken from
   the source notebook (never from the submission);
2. it binds ``provided``: reference versions of functions the student wrote in
   earlier exercises, so one mistake is not punished twice;
3. it runs the student's ``solution`` cells, taken from the submission by
   ``grade_id`` (cells the student added are ignored), then ``driver``;
4. for every case from ``inputs(rng)``, with the case's arrays bound as
   variables, it evaluates ``call`` and sends the result back as arrays;
5. the trusted parent computes ``expected(**case)`` with the references and
   compares the two with ``compare`` (default: dlcourse.diagnose with
   dtype-aware tolerances). Every case must pass for the cell's points.

The references in ``hidden``, and their ``equivalents`` (other functions that
compute the same answer), are stubs in the sandbox, on disk and in memory, so
a student who calls ``dlcourse.functional.relu_backward`` (or
``leaky_relu_backward`` with slope 0) from ``relu_backward`` fails. What
``forbid`` lists cannot be imported there at all.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# What an exercise that asks for a derivative by hand may not use: the engines that would
# take it for the student (symbolic, automatic or numerical). The notebook's own visible
# checks still use some of them as oracles; only the graded run goes without.
BY_HAND = (
    "torch",
    "functorch",
    "jax",
    "jaxlib",
    "tensorflow",
    "keras",
    "tf_keras",
    "pytensor",
    "autograd",
    "sympy",
    "dlcourse.autodiff",
    "dlcourse.gradcheck",
)

# Limits for an exercise whose graded function is NumPy on the grader's small inputs: an
# honest answer needs milliseconds and under 200 MB (a Python loop over the rows included),
# so a loop that never ends or a memory bomb is stopped in seconds, not in 20 s and 4 GB.
SMALL_NUMPY_LIMITS = {"timeout_s": 3.0, "memory_mb": 1024}

# The library's recurrent backward functions, helpers included: given a cache made by hand
# (a zero state, a chosen output) each returns a tanh', sigmoid' or dense layer's gradient,
# so the exercises that ask for those list them among their equivalents.
RECURRENT_BACKWARD = tuple(
    f"dlcourse.functional.{module}:{name}"
    for module, prefix in (("recurrent", "rnn"), ("lstm", "lstm"), ("gru", "gru"))
    for name in ("_cell_backward", f"{prefix}_step_backward", f"{prefix}_backward")
)


@dataclass(frozen=True)
class Exercise:
    """The out-of-kernel check of one graded cell.

    Attributes:
        grade_id: the graded (test) cell whose points this check decides.
        solution: grade_ids of the student's solution cells to run, in order.
        call: a Python expression evaluated in the sandbox for each case, with
            the case's inputs bound as variables, e.g.
            ``"sigmoid_backward(dout, cache)"``. It may return an array, a
            number, a tuple/list of those, or a dict of those.
        expected: trusted Python, ``expected(**case)`` returns what ``call``
            should give, in the same structure.
        inputs: ``inputs(rng)`` returns a list of cases, each a dict of NumPy
            arrays and plain Python numbers; ``rng`` is seeded from a secret
            per student, so no two students get the same numbers.
        setup: grade_ids of the instructor's locked cells to run first, read
            from the source notebook.
        hidden: references made unreachable in the sandbox, as
            ``"module:attribute"`` strings, e.g.
            ``"dlcourse.functional:relu_backward"``.
        equivalents: other library functions, classes or methods that compute
            what the exercise asks for (``"dlcourse.functional:leaky_relu_backward"``
            for ``relu_backward``, a layer's ``"module:Dense.backward"``), stubbed
            like ``hidden``.
        forbid: modules the student's code may not import while graded
            (:data:`BY_HAND` for the chapters that ask for derivatives by hand);
            the feedback says so in one sentence.
        provided: names bound in the sandbox before the student's cells, to
            references given as ``"module:attribute"`` (for exercises that
            build on earlier ones).
        driver: trusted source run in the sandbox after the student's cells,
            for helpers that ``call`` uses (e.g. to turn a layer object into
            arrays).
        compare: ``compare(got, expected, case)`` returns a
            ``dlcourse.diagnose`` Diagnosis (``.ok``, ``.message``) or None
            for a pass; default: diagnose each array against the expected one.
        kinks: name of the case input at which any subgradient is accepted
            (ReLU at 0), passed to diagnose as ``at=``.
        timeout_s: CPU seconds the sandbox may use for this exercise.
        memory_mb: address-space limit of the sandbox.
        names: display names of the returned arrays for the feedback, by
            position or key in the result (``{"0": "dx", "1": "dw"}``; ``""``
            names a single array); default ``result[0]`` etc.
        batch_of: name of a case input whose first axis is the batch, so that
            the diagnosis can recognise a gradient off by the batch size.
        rounding: trusted Python, ``rounding(**case)`` returns the absolute
            rounding error a correct result may carry, where its elements are
            small differences of large terms (passed to diagnose as ``noise=``);
            default: none beyond the dtype's floor.
    """

    grade_id: str
    solution: tuple[str, ...]
    call: str
    expected: Callable[..., Any]
    inputs: Callable[[Any], list[dict[str, Any]]]
    setup: tuple[str, ...] = ("setup",)
    hidden: tuple[str, ...] = ()
    equivalents: tuple[str, ...] = ()
    forbid: tuple[str, ...] = ()
    provided: dict[str, str] = field(default_factory=dict)
    driver: str = ""
    compare: Callable[..., Any] | None = None
    kinks: str | None = None
    timeout_s: float = 20.0
    memory_mb: int = 4096
    names: dict[str, str] = field(default_factory=dict)
    batch_of: str | None = None
    rounding: Callable[..., float] | None = None
