"""scikit-learn's 8x8 handwritten digits: small, bundled, always available offline."""

import numpy as np

from dlcourse.data.dataset import Dataset, stratified_split

__all__ = ["load_digits"]

_MAX_PIXEL = 16.0  # the digits store ink counts 0..16 per pixel


def load_digits(test_fraction=0.2, seed=0, flat=True):
    """The 1,797 8x8 digit images of scikit-learn, split into train and test.

    Args:
        test_fraction: share of each class held out for testing (0.2 -> 360 test images).
        seed: fixes the split; the same seed always gives the same split.
        flat: True -> ``x`` has shape (n, 64), one row per image, ready for a dense layer;
            False -> (n, 1, 8, 8), channels-first (NCHW) images for a convolution.

    Returns:
        A :class:`Dataset` with float32 pixels scaled to [0, 1], int64 labels 0..9 and
        ``class_names == ("0", ..., "9")``.
    """
    from sklearn.datasets import load_digits as _sklearn_digits

    pixels, labels = _sklearn_digits(return_X_y=True)
    x = (pixels / _MAX_PIXEL).astype(np.float32)
    y = labels.astype(np.int64)
    if not flat:
        x = x.reshape(-1, 1, 8, 8)
    train, test = stratified_split(y, test_fraction, seed)
    names = tuple(str(d) for d in range(10))
    return Dataset(x[train], y[train], x[test], y[test], names)
