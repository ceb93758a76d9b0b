"""The torch backend's fused layers give the numbers of the general path.

On the torch backend an LSTM, GRU or SimpleRNN runs as ``torch.lstm``,
``torch.gru`` or ``torch.rnn_tanh``, attention as
``scaled_dot_product_attention`` and layer norm as ``layer_norm``
(``dlcourse.backends._torch_fused``). Each check computes a layer's outputs,
and the gradients of a random mix of them for every weight and input, twice
on the same float64 weights: with the routine, and with the backend's fused
methods switched off (the layer then computes with ops, as on every other
backend). They must agree to 1e-12 (they differ only in summation order), and
the fused routine must have run. The options a routine cannot take must keep
the general path.
"""

import numpy as np
import pytest

import dlcourse
from dlcourse import backends
from dlcourse.backends.base import Backend
from dlcourse.nn import GRU, LSTM, LayerNormalization, MultiHeadAttention, SimpleRNN

torch = pytest.importorskip("torch", reason="the torch backend needs PyTorch")
from dlcourse.backends import _torch_fused  # noqa: E402  (imports torch)

TOL = 1e-12
FUSED = ("fused_recurrence", "fused_attention", "fused_layer_norm")


@pytest.fixture
def torch_backend():
    with dlcourse.backend("torch", device="cpu"):
        yield backends.current()


@pytest.fixture
def calls(monkeypatch):
    """How many times each routine of _torch_fused ran (returned something)."""
    counts = {"recurrence": 0, "attention": 0, "layer_norm": 0}
    for name in counts:
        original = getattr(_torch_fused, name)

        def counted(*args, _original=original, _name=name):
            result = _original(*args)
            counts[_name] += result is not None
            return result

        monkeypatch.setattr(_torch_fused, name, counted)
    return counts


def _general_path(monkeypatch, backend):
    """Switch the backend's fused methods off: each answers None, as Backend's do."""
    for name in FUSED:
        monkeypatch.setattr(backend, name, getattr(Backend, name).__get__(backend))


def _tensor(array):
    return torch.tensor(array, dtype=torch.float64, requires_grad=True)


def _outputs_and_grads(layer, inputs, call):
    """The layer's outputs (NumPy) and the gradients of a random mix of them for its
    weights and ``inputs``."""
    outputs = call(*inputs)
    outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
    mix = np.random.default_rng(3)
    total = sum((o * torch.from_numpy(mix.standard_normal(tuple(o.shape)))).sum() for o in outputs)
    wrt = [*layer.trainable_weights, *inputs]
    grads = torch.autograd.grad(total, wrt, allow_unused=True)
    return [o.detach().numpy() for o in outputs], [None if g is None else g.numpy() for g in grads]


def _perturb(layer, seed=5):
    # random weights everywhere: the zero biases of a fresh layer would hide a swapped gate
    noise = np.random.default_rng(seed)
    layer.set_weights([w + noise.standard_normal(w.shape) * 0.3 for w in layer.get_weights()])


def _both_paths(monkeypatch, backend, make_layer, inputs, call):
    """(fused result, general result), from one layer with the same weights."""
    layer = make_layer()
    call(layer, *inputs)  # builds it
    _perturb(layer)
    fused = _outputs_and_grads(layer, inputs, lambda *xs: call(layer, *xs))
    with monkeypatch.context() as patch:
        _general_path(patch, backend)
        general = _outputs_and_grads(layer, inputs, lambda *xs: call(layer, *xs))
    return fused, general


def _assert_same(fused, general):
    for a, b in zip(fused[0] + fused[1], general[0] + general[1]):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_allclose(a, b, rtol=TOL, atol=TOL)


# ------------------------------------------------------------------- recurrences
RECURRENT = {"SimpleRNN": (SimpleRNN, 1), "LSTM": (LSTM, 2), "GRU": (GRU, 1)}
OPTIONS = [
    {},
    {"return_sequences": True},
    {"return_state": True},
    {"return_sequences": True, "return_state": True},
]


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: ",".join(o) or "last output")
@pytest.mark.parametrize("given_states", [False, True], ids=["zeros", "initial_state"])
@pytest.mark.parametrize("kind", list(RECURRENT))
def test_recurrent_layers_run_torch_routine_with_the_general_numbers(
    torch_backend, calls, monkeypatch, kind, options, given_states
):
    cls, state_count = RECURRENT[kind]
    rng = np.random.default_rng(0)
    inputs = [_tensor(rng.standard_normal((4, 6, 3)))]
    if given_states:
        inputs += [_tensor(rng.standard_normal((4, 5))) for _ in range(state_count)]

    def call(layer, x, *states):
        return layer(x, initial_state=list(states)) if states else layer(x)

    fused, general = _both_paths(
        monkeypatch, torch_backend, lambda: cls(5, dtype="float64", **options), inputs, call
    )
    assert calls["recurrence"] == 2  # the build's call and the fused run, not the general one
    _assert_same(fused, general)
    assert all(g is not None and np.any(g != 0) for g in fused[1])  # every input matters


class SquaredLSTM(LSTM):
    """An LSTM whose step is its own: the fused routine would ignore it."""

    def _step(self, carry, x_t):
        h, c = super()._step(carry, x_t)
        return (h * h, c)


def test_a_subclass_with_its_own_step_runs_that_step(torch_backend, calls):
    x = torch.tensor(np.random.default_rng(1).standard_normal((2, 4, 3)))
    layer = SquaredLSTM(3, dtype="float64")
    out = layer(x).detach().numpy()
    assert calls["recurrence"] == 0
    np.testing.assert_allclose(out, _last_h_step_by_step(layer, x), rtol=TOL)


def _last_h_step_by_step(layer, x):
    h = c = torch.zeros((x.shape[0], layer.units), dtype=x.dtype)
    xs = torch.einsum("btf,fg->btg", x, layer.kernel) + layer.bias
    for t in range(x.shape[1]):
        h, c = layer._step((h, c), xs[:, t])
    return h.detach().numpy()


def test_what_torch_routines_cannot_take_keeps_the_general_path(torch_backend):
    w = torch.zeros((3, 8), dtype=torch.float64)
    r, b = torch.zeros((2, 8), dtype=torch.float64), torch.zeros(8, dtype=torch.float64)
    x64, x32 = torch.zeros((1, 4, 3), dtype=torch.float64), torch.zeros((1, 4, 3))
    assert _torch_fused.recurrence("lstm", x64, None, w, r, b) is not None
    assert _torch_fused.recurrence("lstm", x32, None, w, r, b) is None  # mixed dtypes
    assert _torch_fused.recurrence("peephole", x64, None, w, r, b) is None  # unknown kind
    assert _torch_fused.layer_norm(x32, w[0, :3], None, 1e-3) is None
    q = torch.zeros((1, 1, 3, 2), dtype=torch.float64)
    hides_row_0 = np.ones((3, 3), dtype=bool)
    hides_row_0[0] = False
    assert _torch_fused.attention(q, q, q, 1.0, hides_row_0) is None


# --------------------------------------------------------------------- attention
@pytest.mark.parametrize("causal", [False, True], ids=["no mask", "causal"])
@pytest.mark.parametrize("cross", [False, True], ids=["self", "cross"])
def test_attention_runs_sdpa_with_the_general_numbers(
    torch_backend, calls, monkeypatch, causal, cross
):
    rng = np.random.default_rng(0)
    query = _tensor(rng.standard_normal((3, 5, 6)))
    inputs = [query, _tensor(rng.standard_normal((3, 5 if causal else 4, 7)))] if cross else [query]

    def call(layer, q, v=None):
        v = q if v is None else v
        return layer(q, v, use_causal_mask=causal)

    fused, general = _both_paths(
        monkeypatch, torch_backend, lambda: MultiHeadAttention(2, 3, dtype="float64"), inputs, call
    )
    assert calls["attention"] == 2
    _assert_same(fused, general)


def test_a_given_mask_and_the_scores_keep_the_general_path(torch_backend, calls):
    x = torch.tensor(np.random.default_rng(2).standard_normal((2, 4, 6)))
    mha = MultiHeadAttention(2, 3, dtype="float64")
    mha(x, x)
    calls["attention"] = 0
    mask = torch.ones((2, 4, 4), dtype=torch.bool)
    mha(x, x, attention_mask=mask)
    out, scores = mha(x, x, use_causal_mask=False, return_attention_scores=True)
    assert calls["attention"] == 0
    assert tuple(scores.shape) == (2, 2, 4, 4)


def test_attention_as_products_lets_torchs_flop_counter_see_the_attention():
    from torch.utils.flop_counter import FlopCounterMode

    q = torch.randn((2, 4, 8, 16), dtype=torch.float64)
    products = 2 * 2 * 2 * 4 * 8 * 8 * 16  # q k^T and p v, 2 FLOPs per multiply-add
    with FlopCounterMode(display=False) as fused:
        _torch_fused.attention(q, q, q, 0.25)
    with FlopCounterMode(display=False) as counted, _torch_fused.attention_as_products():
        assert _torch_fused.attention(q, q, q, 0.25) is None  # the layer runs its products
        torch.softmax(q @ q.transpose(-1, -2) * 0.25, -1) @ q
    assert fused.get_total_flops() < products  # PyTorch has no formula for the CPU kernel
    assert counted.get_total_flops() == products
    assert _torch_fused.attention(q, q, q, 0.25) is not None  # the routine is back after


def test_a_causal_mask_that_is_not_square_lines_up_top_left():
    mask = np.tri(3, 5, dtype=bool)
    q, k = (
        torch.randn((1, 1, 3, 2), dtype=torch.float64),
        torch.randn((1, 1, 5, 2), dtype=torch.float64),
    )
    scores = (q @ k.transpose(-1, -2)).masked_fill(~torch.from_numpy(mask), -torch.inf)
    expected = torch.softmax(scores, -1) @ k
    np.testing.assert_allclose(_torch_fused.attention(q, k, k, 1.0, mask), expected, rtol=TOL)


# -------------------------------------------------------------------- layer norm
@pytest.mark.parametrize(
    "options",
    [{}, {"center": False}, {"scale": False}, {"center": False, "scale": False}],
    ids=repr,
)
def test_layer_norm_runs_torch_routine_with_the_general_numbers(
    torch_backend, calls, monkeypatch, options
):
    inputs = [_tensor(np.random.default_rng(0).standard_normal((3, 4, 6)) * 3 + 1)]
    fused, general = _both_paths(
        monkeypatch,
        torch_backend,
        lambda: LayerNormalization(dtype="float64", **options),
        inputs,
        lambda layer, x: layer(x),
    )
    assert calls["layer_norm"] == 2
    _assert_same(fused, general)
