import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from array_strategies import float_arrays, small
from dlcourse import functional as F
from dlcourse.gradcheck import (
    check_against_jax,
    check_against_tensorflow,
    check_against_torch,
    check_loss_gradient,
    loss_as_layer,
)


@st.composite
def logits_and_labels(draw, bound=10.0):
    n, c = draw(small), draw(st.integers(2, 6))
    logits = draw(float_arrays((n, c), bound=bound))
    labels = np.array(draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n)), dtype=np.int64)
    return logits, labels


@given(logits_and_labels())
def test_cross_entropy_gradient(data):
    logits, labels = data
    report = check_loss_gradient(F.softmax_cross_entropy, {"logits": logits, "labels": labels})
    assert report.passed, report


@given(logits_and_labels())
def test_cross_entropy_matches_torch(data):
    logits, labels = data
    loss, dlogits = F.softmax_cross_entropy(logits, labels)
    t = torch.tensor(logits, requires_grad=True)
    expected = torch.nn.functional.cross_entropy(t, torch.tensor(labels))
    expected.backward()
    np.testing.assert_allclose(loss, expected.item(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dlogits, t.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_cross_entropy_is_stable_for_logits_of_1e4():
    logits = np.array([[1e4, 0.0, -1e4], [-1e4, 1e4, 0.0]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        loss, dlogits = F.softmax_cross_entropy(logits, np.array([0, 0]))
    # first row: right with certainty (loss 0); second: off by 2e4 (loss 2e4); mean 1e4
    np.testing.assert_allclose(loss, 1e4)
    np.testing.assert_allclose(dlogits, [[0, 0, 0], [-0.5, 0.5, 0]], atol=1e-15)
    for dtype in (np.float32, torch.float32):
        big = torch.tensor(logits, dtype=dtype) if dtype is torch.float32 else logits.astype(dtype)
        value, grad = F.softmax_cross_entropy(
            big, big.argmax(1) if dtype is torch.float32 else big.argmax(1)
        )
        assert float(value) == 0.0 and bool((grad == 0).all())


def test_cross_entropy_known_answer():
    loss, dlogits = F.softmax_cross_entropy(np.zeros((2, 4)), np.array([1, 3]))
    np.testing.assert_allclose(loss, np.log(4))  # uniform over 4 classes
    np.testing.assert_allclose(
        dlogits, [[0.125, -0.375, 0.125, 0.125], [0.125, 0.125, 0.125, -0.375]]
    )


@given(float_arrays((3, 2)), float_arrays((3, 2)))
def test_mse_gradient(pred, target):
    report = check_loss_gradient(F.mse_loss, {"pred": pred, "target": target})
    assert report.passed, report


def test_mse_known_answer():
    loss, dpred = F.mse_loss(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 1.0, 1.0, 1.0]))
    np.testing.assert_allclose(loss, (0 + 1 + 4 + 9) / 4)
    np.testing.assert_allclose(dpred, [0, 0.5, 1.0, 1.5])  # 2 (p - t) / 4


@st.composite
def logits_and_targets(draw):
    shape = (draw(small), draw(small))
    logits = draw(float_arrays(shape, bound=10.0))
    targets = draw(float_arrays(shape, bound=1.0))
    return logits, np.abs(targets)


@given(logits_and_targets())
def test_binary_cross_entropy_gradient(data):
    logits, targets = data
    report = check_loss_gradient(
        F.binary_cross_entropy_with_logits, {"logits": logits, "targets": targets}
    )
    assert report.passed, report


@given(logits_and_targets())
def test_binary_cross_entropy_matches_torch(data):
    logits, targets = data
    loss, dlogits = F.binary_cross_entropy_with_logits(logits, targets)
    t = torch.tensor(logits, requires_grad=True)
    expected = torch.nn.functional.binary_cross_entropy_with_logits(t, torch.tensor(targets))
    expected.backward()
    np.testing.assert_allclose(loss, expected.item(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dlogits, t.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_binary_cross_entropy_is_stable_for_huge_logits():
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        loss, grad = F.binary_cross_entropy_with_logits(np.array([1e4, -1e4]), np.array([0.0, 1.0]))
    np.testing.assert_allclose(loss, 1e4)
    np.testing.assert_allclose(grad, [0.5, -0.5])


@pytest.mark.parametrize(
    "loss_fn, inputs, reference",
    [
        (
            F.mse_loss,
            ("pred", "target"),
            lambda tf: lambda pred, target: tf.reduce_mean((pred - target) ** 2),
        ),
        (
            F.binary_cross_entropy_with_logits,
            ("logits", "targets"),
            lambda tf: (
                lambda logits, targets: tf.reduce_mean(
                    tf.nn.sigmoid_cross_entropy_with_logits(labels=targets, logits=logits)
                )
            ),
        ),
    ],
)
def test_oracles_on_float_losses(loss_fn, inputs, reference, rng):
    arrays = {inputs[0]: rng.standard_normal((4, 3)), inputs[1]: rng.uniform(0, 1, (4, 3))}
    forward, backward = loss_as_layer(loss_fn)
    wrt = (inputs[0],)
    assert check_against_torch(forward, backward, arrays, wrt=wrt).passed
    pytest.importorskip("jax", reason="the jax.vjp oracle needs jax")
    assert check_against_jax(forward, backward, arrays, wrt=wrt).passed
    tf = pytest.importorskip("tensorflow", reason="the tf.GradientTape oracle needs tensorflow")
    report = check_against_tensorflow(forward, backward, arrays, wrt=wrt, reference=reference(tf))
    assert report.passed, report


def test_cross_entropy_against_tensorflow(rng):
    tf = pytest.importorskip("tensorflow", reason="the tf.GradientTape oracle needs tensorflow")
    forward, backward = loss_as_layer(F.softmax_cross_entropy)
    inputs = {"logits": rng.standard_normal((5, 3)), "labels": np.array([0, 2, 1, 1, 0])}

    def reference(logits, labels):
        return tf.reduce_mean(
            tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
        )

    report = check_against_tensorflow(
        forward, backward, inputs, wrt=("logits",), reference=reference
    )
    assert report.passed, report


@pytest.mark.parametrize(
    "labels, message",
    [
        (np.array([0.0, 1.0]), "labels: expected integer class indices"),
        (np.array([0, 3]), r"labels: class indices must lie in \[0, 3\)"),
        (np.array([0, -1]), "got values from -1 to 0"),
        (np.array([[1, 0, 0], [0, 1, 0]]), r"labels: expected shape \(2,\)"),
    ],
)
def test_bad_labels_say_the_fix(labels, message):
    with pytest.raises(ValueError, match=message):
        F.softmax_cross_entropy(np.zeros((2, 3)), labels)


def test_mse_shape_mismatch():
    with pytest.raises(
        ValueError, match=r"target: expected the same shape as pred \(4, 1\), got \(4,\)"
    ):
        F.mse_loss(np.zeros((4, 1)), np.zeros(4))


def test_losses_on_torch_tensors():
    logits = torch.tensor([[2.0, 0.5], [0.1, 0.3]])
    loss, grad = F.softmax_cross_entropy(logits, torch.tensor([0, 1]))
    assert isinstance(grad, torch.Tensor) and grad.dtype == torch.float32
    expected = torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1]))
    assert abs(float(loss) - expected.item()) < 1e-6
