"""A student's layer, written once against dlcourse.ops, runs on every autodiff backend.

``ScaleNoBackward`` has only ``call``; the autodiff backends differentiate it
themselves, and must agree with ``manual`` running ``Scale``, the same layer
with a hand-written ``backward``.
"""

import numpy as np
import pytest

from backend_cases import require_backend
from dlcourse.backends import BACKENDS
from test_nn_layers import Scale, ScaleNoBackward, custom_model

AUTODIFF_BACKENDS = [name for name in BACKENDS if name != "manual"]


@pytest.mark.parametrize("backend", AUTODIFF_BACKENDS)
def test_a_layer_without_backward_gets_the_hand_written_gradients(backend):
    require_backend(backend)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((6, 5)), rng.standard_normal((6, 3))
    by_hand = custom_model("manual", Scale())
    derived = custom_model(backend, ScaleNoBackward())
    loss_hand, grads_hand = by_hand.loss_and_gradients(x, y)
    loss_auto, grads_auto = derived.loss_and_gradients(x, y)
    assert abs(loss_hand - loss_auto) <= 1e-10 * abs(loss_hand)
    assert len(grads_hand) == len(grads_auto) == 5  # two Dense layers and the scale
    for g_hand, g_auto in zip(grads_hand, grads_auto):
        np.testing.assert_allclose(g_auto, g_hand, rtol=1e-8, atol=1e-12)
    history = derived.fit(x, y, epochs=3, batch_size=3, shuffle=False, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
