"""Explain a wrong gradient: which array, what kind of mistake, and the likely fix.

>>> import numpy as np
>>> from dlcourse.diagnose import diagnose
>>> x, dout = np.ones((4, 3)), np.ones((4, 2))
>>> print(diagnose(dout.T @ x, x.T @ dout, "dw"))  # doctest: +ELLIPSIS
transposed: dw has shape (2, 3) but should be (3, 2): it looks transposed; ...

``diagnose(got, expected, name)`` returns a :class:`Diagnosis` whose ``kind``
is one of ``KINDS``:

==============  ==============================================================
ok              every element matches within the dtype's tolerance
none            nothing was returned (``got`` is None)
device          another library (NumPy vs PyTorch) or device (cpu vs cuda)
shape           the wrong shape (an extra batch axis, keepdims, ...)
transposed      the transpose (or another axis order) is right
nan             NaN or inf where a number was expected: an unstable formula
dtype           right values, wrong dtype (float64 for float32 inputs)
sign            the negative of the expected gradient
batch_scale     off by the batch size (given as ``batch_size``): a missing or extra mean
scale           off by another constant factor (2, 1/2, or any other, the batch size
                included when it was not given: then no cause is guessed)
kink            wrong only where the input is 0 (a warning: any subgradient is fine)
elementwise     anything else; the worst element is named
inplace         (from ``check_not_modified``) a backward changed its inputs
==============  ==============================================================

See ``dlcourse.diagnose.gradient`` for the order in which kinds are tested and why.
"""

from dlcourse.diagnose.diagnosis import KINDS, Diagnosis
from dlcourse.diagnose.gradient import diagnose
from dlcourse.diagnose.inplace import check_not_modified

__all__ = ["KINDS", "Diagnosis", "check_not_modified", "diagnose"]
