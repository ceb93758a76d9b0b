"""Generated 2-D classification problems that no straight line can separate.

Two input features means every model's decision boundary can be drawn on a plane:
the quickest way to see what a hidden layer buys you. Both generators return
``n`` points *per class*, ordered class by class (all of class 0, then class 1 ...);
shuffle before taking minibatches.
"""

import math
import numbers

import numpy as np

__all__ = ["make_spirals", "make_moons"]

_SPIRAL_SWEEP = 4.0  # radians each arm turns from the centre to its tip


def _check_count(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {value!r}.")
    return int(value)


def _check_noise(noise):
    if not isinstance(noise, numbers.Real) or not math.isfinite(noise) or noise < 0:
        raise ValueError(f"noise: expected a finite number >= 0, got {noise!r}.")
    return float(noise)


def make_spirals(n, classes=3, noise=0.2, seed=0):
    """Interleaved spiral arms, one arm per class, starting at the origin.

    Point ``i`` of arm ``k`` sits at radius ``r = i / (n - 1)`` and angle
    ``2*pi*k/classes + 4*r`` radians, plus Gaussian jitter of the angle with
    standard deviation ``noise`` (radians). With ``noise=0`` every point lies
    exactly on its arm.

    Args:
        n: points per class.
        classes: number of arms (>= 2).
        noise: angle jitter; 0.2 makes the arms fuzzy but still separable.
        seed: the same seed always gives the same points.

    Returns:
        ``(x, y)``: ``x`` float32 of shape (n * classes, 2), ``y`` int64 of shape
        (n * classes,), with ``n`` points of each class, ordered by class.
    """
    n = _check_count("n", n, 1)
    classes = _check_count("classes", classes, 2)
    noise = _check_noise(noise)
    rng = np.random.default_rng(seed)
    radius = np.linspace(0.0, 1.0, n)
    xs, ys = [], []
    for k in range(classes):
        angle = 2 * np.pi * k / classes + _SPIRAL_SWEEP * radius
        angle = angle + noise * rng.standard_normal(n)
        xs.append(np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1))
        ys.append(np.full(n, k))
    return np.concatenate(xs).astype(np.float32), np.concatenate(ys).astype(np.int64)


def make_moons(n, noise=0.1, seed=0):
    """Two interleaving half circles ("moons") of radius 1.

    Class 0 is the upper half of the unit circle centred at (0, 0); class 1 is the
    lower half of the unit circle centred at (1, 0.5), hooked into the first one.
    Each point then gets Gaussian noise with standard deviation ``noise`` on both
    coordinates.

    Args:
        n: points per class, evenly spaced along each half circle.
        noise: standard deviation of the added noise; 0 puts points on the circles.
        seed: the same seed always gives the same points.

    Returns:
        ``(x, y)``: ``x`` float32 of shape (2 * n, 2), ``y`` int64 of shape (2 * n,),
        class 0 first.
    """
    n = _check_count("n", n, 1)
    noise = _check_noise(noise)
    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, np.pi, n)
    upper = np.stack([np.cos(t), np.sin(t)], axis=1)
    lower = np.stack([1.0 - np.cos(t), 0.5 - np.sin(t)], axis=1)
    x = np.concatenate([upper, lower]) + noise * rng.standard_normal((2 * n, 2))
    y = np.repeat(np.arange(2), n)
    return x.astype(np.float32), y.astype(np.int64)
