"""Picking the PyTorch device for the ``torch`` and ``manual(array="torch")`` backends.

PyTorch is imported by the caller (a backend being created), never here at
import time.
"""

__all__ = ["resolve_device"]


def resolve_device(torch, requested):
    """A ``torch.device`` for ``requested`` ("cpu", "cuda", "cuda:1", "mps" or None).

    None picks the fastest present: CUDA, then Apple's MPS, then the CPU. Asking
    for a device that is not there is an error that says what is there instead.
    """
    mps = getattr(torch.backends, "mps", None)
    has_mps = mps is not None and mps.is_available()
    if requested is None:
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if has_mps else "cpu")
    try:
        device = torch.device(requested)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"device: {err}; use 'cpu', 'cuda' or 'mps'.") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={requested!r}: this PyTorch sees no CUDA GPU "
            f"(torch.cuda.is_available() is False); use device='cpu' or leave device unset."
        )
    if device.type == "mps" and not has_mps:
        raise ValueError(f"device={requested!r}: Apple's MPS is not available here; use 'cpu'.")
    return device
