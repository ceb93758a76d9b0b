"""Moving arrays between libraries: to float64 NumPy for checking, and back."""

import numpy as np
from array_api_compat import is_array_api_obj, is_torch_array


def to_numpy(x, dtype=None):
    """A NumPy copy of an array or tensor from any supported library (on any device)."""
    if is_torch_array(x):
        x = x.detach().cpu().numpy()
    elif hasattr(x, "numpy") and not isinstance(x, np.ndarray):
        x = x.numpy()  # TensorFlow tensors
    return np.array(x, dtype=dtype, copy=True)


def like(values, reference):
    """``values`` (NumPy) as an array of the same library, dtype and device as ``reference``."""
    if is_torch_array(reference):
        import torch

        return torch.as_tensor(values, dtype=reference.dtype, device=reference.device)
    return np.asarray(values, dtype=reference.dtype)


def is_float_array(x):
    if not is_array_api_obj(x):
        return False
    from dlcourse.functional._common import namespace

    return namespace(x).isdtype(x.dtype, "real floating")
