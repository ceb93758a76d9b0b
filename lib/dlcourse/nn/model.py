"""Where ``Sequential`` lived before ``dlcourse.nn.models``; kept so old imports work."""

from dlcourse.nn.arrays import as_numpy
from dlcourse.nn.models import Functional, Model, Sequential

__all__ = ["Functional", "Model", "Sequential", "as_numpy"]
