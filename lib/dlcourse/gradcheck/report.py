"""What a gradient check found, per argument, in a form that prints well."""

from dataclasses import dataclass


@dataclass(frozen=True)
class ArgumentCheck:
    """The comparison of one argument's gradient with its reference."""

    name: str
    passed: bool
    max_rel_error: float
    tolerance: float
    worst_index: tuple = ()
    got: float = float("nan")
    expected: float = float("nan")
    hint: str = ""

    def __str__(self):
        mark = "ok  " if self.passed else "FAIL"
        line = f"  {mark} {self.name}: max relative error {self.max_rel_error:.2e}"
        line += f" (tolerance {self.tolerance:.0e})"
        if not self.passed:
            line += (
                f"; worst at index {self.worst_index}: got {self.got:.6g}, "
                f"expected {self.expected:.6g}"
            )
            if self.hint:
                line += f"\n       {self.hint}"
        return line


@dataclass(frozen=True)
class GradientReport:
    """The result of ``check_gradients`` and of the autodiff oracles.

    ``passed`` is True when every argument is within tolerance. ``skipped``
    is True (and ``passed`` False) when the reference could not be computed,
    for example because an oracle's framework is not installed; ``note`` says why.
    """

    reference: str
    arguments: tuple = ()
    nudged: int = 0
    skipped: bool = False
    note: str = ""
    dtype: str = ""

    @property
    def passed(self):
        return not self.skipped and all(a.passed for a in self.arguments)

    @property
    def errors(self):
        """Argument name -> its largest relative error."""
        return {a.name: a.max_rel_error for a in self.arguments}

    def __getitem__(self, name):
        for a in self.arguments:
            if a.name == name:
                return a
        raise KeyError(name)

    def __bool__(self):
        return self.passed

    def __str__(self):
        if self.skipped:
            return f"gradient check against {self.reference} skipped: {self.note}"
        verdict = "passed" if self.passed else "FAILED"
        lines = [f"gradient check against {self.reference} ({self.dtype}): {verdict}"]
        lines += [str(a) for a in self.arguments]
        if self.nudged:
            lines.append(
                f"  ({self.nudged} input element(s) sat on a kink such as ReLU at 0 or a tie "
                f"in a max, and were moved slightly before checking)"
            )
        if self.note:
            lines.append(f"  {self.note}")
        return "\n".join(lines)

    __repr__ = __str__
