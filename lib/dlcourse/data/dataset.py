"""The container every loader returns, and the stratified split that fills it."""

from dataclasses import dataclass

import numpy as np

__all__ = ["Dataset", "stratified_split"]


@dataclass(frozen=True, repr=False, eq=False)  # arrays have no single truth value
class Dataset:
    """A classification dataset already split into a training and a test part.

    Attributes:
        x_train: float32 inputs, shape (n_train, ...) -- e.g. (n, 64) flat or (n, 1, 8, 8).
        y_train: int64 class indices in ``range(len(class_names))``, shape (n_train,).
        x_test, y_test: the same for the held-out test examples.
        class_names: ``class_names[k]`` is the readable name of class ``k``.

    Unpack what you need by name: ``ds.x_train``, ``ds.y_train`` ... The test part is
    for the final score only; tune on a slice of the training part.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple

    @property
    def num_classes(self):
        """How many classes there are (the width of a one-hot label)."""
        return len(self.class_names)

    def __repr__(self):
        # Print shapes, not a wall of numbers.
        return (
            f"Dataset(x_train={self.x_train.dtype}{tuple(self.x_train.shape)}, "
            f"y_train={self.y_train.dtype}{tuple(self.y_train.shape)}, "
            f"x_test={self.x_test.dtype}{tuple(self.x_test.shape)}, "
            f"y_test={self.y_test.dtype}{tuple(self.y_test.shape)}, "
            f"classes={list(self.class_names)})"
        )


def stratified_split(y, test_fraction=0.2, seed=0):
    """Indices ``(train_idx, test_idx)`` that hold out ``test_fraction`` of every class.

    Stratified means each class keeps its share in both parts, so a rare class cannot
    vanish from the test set by bad luck. The same ``seed`` always gives the same
    split; both index arrays are shuffled so classes are mixed within each part.
    """
    if not 0.0 < float(test_fraction) < 1.0:
        raise ValueError(
            f"test_fraction: expected a number strictly between 0 and 1, got {test_fraction!r}."
        )
    y = np.asarray(y)
    rng = np.random.default_rng(seed)
    train, test = [], []
    for label in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == label))
        n_test = int(round(test_fraction * len(members)))
        test.append(members[:n_test])
        train.append(members[n_test:])
    train_idx = rng.permutation(np.concatenate(train))
    test_idx = rng.permutation(np.concatenate(test))
    return train_idx, test_idx
