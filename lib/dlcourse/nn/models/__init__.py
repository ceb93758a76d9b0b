"""The models of ``dlcourse.nn``: the ``Model`` base, ``Sequential`` chains and Functional graphs.

- ``model.py``: ``Model``, what every model shares, and model subclassing;
- ``sequential.py``: ``Sequential``, a chain of layers;
- ``functional.py``: ``Model(inputs, outputs)``, any graph of layers;
- ``graph.py``: reading a graph back from its outputs (topological order);
- ``inputs.py``: checking the ``x`` a model is given (an array, a list or a dict).
"""

from dlcourse.nn.models.functional import Functional
from dlcourse.nn.models.model import Model
from dlcourse.nn.models.sequential import Sequential
from dlcourse.nn.symbolic import Input

__all__ = ["Functional", "Input", "Model", "Sequential"]
