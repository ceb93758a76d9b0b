"""SparseCategoricalCrossentropy with one class per step: (N, T, C) predictions, (N, T) labels.

The value must be the mean over every step of every example, as Keras computes
it, and the manual gradient must be the one autodiff takes of the same value.
"""

import numpy as np
import pytest

from dlcourse import functional as F
from dlcourse.nn import SparseCategoricalCrossentropy


def test_value_and_grad_are_the_flat_loss_over_every_step():
    rng = np.random.default_rng(0)
    logits, labels = rng.standard_normal((3, 4, 5)), rng.integers(0, 5, (3, 4))
    value, grad = SparseCategoricalCrossentropy(from_logits=True).value_and_grad(labels, logits)
    flat_value, flat_grad = F.softmax_cross_entropy(logits.reshape(12, 5), labels.reshape(12))
    assert np.isclose(value, flat_value) and grad.shape == logits.shape
    np.testing.assert_allclose(grad.reshape(12, 5), flat_grad)


def test_torch_differentiates_the_same_value():
    torch = pytest.importorskip("torch")
    import dlcourse

    rng = np.random.default_rng(1)
    logits, labels = rng.standard_normal((2, 6, 3)), rng.integers(0, 3, (2, 6))
    loss = SparseCategoricalCrossentropy(from_logits=True)
    want_value, want_grad = loss.value_and_grad(labels, logits)
    with dlcourse.backend("torch"):
        x = torch.tensor(logits, requires_grad=True)
        value = loss(torch.tensor(labels), x)
        value.backward()
    assert np.isclose(value.item(), want_value)
    np.testing.assert_allclose(x.grad.numpy(), want_grad, atol=1e-12)


def test_labels_must_have_one_class_per_step():
    loss = SparseCategoricalCrossentropy(from_logits=True)
    assert loss.prepare_targets(np.zeros((2, 4), int), (None, 4, 7)).shape == (2, 4)
    with pytest.raises(ValueError, match=r"per example and step, shape \(N, 4\)"):
        loss.prepare_targets(np.zeros(2, int), (None, 4, 7))
