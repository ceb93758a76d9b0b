"""Argument checks shared by the layers' constructors."""

import numbers

__all__ = ["positive_int"]


def positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name}: expected a positive integer, got {value!r}.")
    return int(value)
