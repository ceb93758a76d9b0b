"""The answer ``diagnose`` gives: what kind of mistake, and a sentence about it."""

from dataclasses import dataclass

# Every kind a Diagnosis can have, in the order ``diagnose`` looks for them
# ("inplace" comes from ``check_not_modified`` instead).
KINDS = (
    "none",
    "device",
    "shape",
    "transposed",
    "nan",
    "dtype",
    "ok",
    "sign",
    "batch_scale",
    "scale",
    "kink",
    "elementwise",
    "inplace",
)

# A kink is a difference only where the function has no derivative: any
# subgradient is usually a valid answer there, so it is a warning, not an error.
_WARNINGS = frozenset({"kink"})


@dataclass(frozen=True)
class Diagnosis:
    """What is wrong with one gradient (or that nothing is).

    ``kind`` names the mistake (one of ``KINDS``) and ``message`` says, in one
    or two sentences, which array, what was expected, what was got and the
    likely fix. The other fields are filled in when they make sense for the
    kind and are ``None`` otherwise:

    - ``worst_index``: index of the element that differs most (or the first
      NaN, or the first changed element);
    - ``got_value`` / ``expected_value``: the two values at ``worst_index``;
    - ``max_rel_error``: the largest element-wise relative error;
    - ``factor``: got / expected for ``sign``, ``batch_scale`` and ``scale``;
    - ``mismatches``: how many elements differ.
    """

    kind: str
    message: str
    name: str = "grad"
    worst_index: tuple[int, ...] | None = None
    got_value: float | None = None
    expected_value: float | None = None
    max_rel_error: float | None = None
    factor: float | None = None
    mismatches: int | None = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind: expected one of {', '.join(KINDS)}, got {self.kind!r}.")

    @property
    def severity(self) -> str:
        """``"ok"``, ``"warning"`` (a kink) or ``"error"``."""
        if self.kind == "ok":
            return "ok"
        return "warning" if self.kind in _WARNINGS else "error"

    @property
    def ok(self) -> bool:
        """True when the gradient is acceptable: it matches, or differs only at a kink."""
        return self.severity != "error"

    def __str__(self) -> str:
        label = self.kind if self.severity != "warning" else f"{self.kind} (warning)"
        return f"{label}: {self.message}"
