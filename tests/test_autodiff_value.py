"""The scalar engine ``Value``: known answers, each operation, and random expressions vs torch."""

import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from dlcourse.autodiff import Value
from dlcourse.autodiff.value import topological_order

torch = pytest.importorskip("torch", reason="the reference gradients come from torch.autograd")


def test_known_answer_worked_by_hand():
    a, b = Value(2.0, label="a"), Value(-3.0, label="b")
    c = a * b + a  # c = ab + a = -4; dc/da = b + 1 = -2; dc/db = a = 2
    c.backward()
    assert c.data == -4.0
    assert (a.grad, b.grad, c.grad) == (-2.0, 2.0, 1.0)


def test_neuron_like_micrograd_by_hand():
    # o = tanh(x1 w1 + x2 w2 + b) with the numbers chosen so that the sum is 0.8814,
    # tanh(0.8814) = 0.7071 and do/dsum = 1 - 0.7071**2 = 0.5
    x1, x2, w1, w2 = Value(2.0), Value(0.0), Value(-3.0), Value(1.0)
    b = Value(6.8813735870195432)
    o = (x1 * w1 + x2 * w2 + b).tanh()
    o.backward()
    assert o.data == pytest.approx(math.sqrt(0.5), rel=1e-9)
    assert w1.grad == pytest.approx(0.5 * 2.0, rel=1e-9)  # do/dw1 = 0.5 * x1
    assert x1.grad == pytest.approx(0.5 * -3.0, rel=1e-9)  # do/dx1 = 0.5 * w1
    assert w2.grad == pytest.approx(0.0)  # x2 = 0 switches w2 off
    assert b.grad == pytest.approx(0.5, rel=1e-9)


# Each operation: (name, as a function of Values or torch tensors, an input where it is smooth)
UNARY_CASES = [
    ("neg", lambda a: -a, 1.3),
    ("exp", lambda a: a.exp(), 0.7),
    ("log", lambda a: a.log(), 2.5),
    ("tanh", lambda a: a.tanh(), -0.4),
    ("relu_pos", lambda a: a.relu(), 1.5),
    ("relu_neg", lambda a: a.relu(), -1.5),
    ("sigmoid_pos", lambda a: a.sigmoid(), 2.0),
    ("sigmoid_neg", lambda a: a.sigmoid(), -30.0),
    ("square", lambda a: a**2, -1.7),
    ("cube", lambda a: a**3, 1.1),
    ("sqrt", lambda a: a**0.5, 3.0),
    ("inverse", lambda a: a**-1, 0.8),
    ("radd", lambda a: 2 + a, 0.3),
    ("rsub", lambda a: 1 - a, 0.3),
    ("rmul", lambda a: 2 * a, 0.3),
    ("rdiv", lambda a: 1 / a, 0.3),
]

BINARY_CASES = [
    ("add", lambda a, b: a + b),
    ("sub", lambda a, b: a - b),
    ("mul", lambda a, b: a * b),
    ("div", lambda a, b: a / b),
    ("add_number", lambda a, b: a + 1.5 + b),
    ("same_input_twice", lambda a, b: a * a + b * a),
]


def _torch_value_and_grads(fn, *numbers):
    xs = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in numbers]
    out = fn(*xs)
    grads = torch.autograd.grad(out, xs, allow_unused=True)
    return out.item(), [0.0 if g is None else g.item() for g in grads]


@pytest.mark.parametrize("name, fn, x", UNARY_CASES, ids=[c[0] for c in UNARY_CASES])
def test_unary_op_matches_torch(name, fn, x):
    a = Value(x)
    out = fn(a)
    out.backward()
    value, (grad,) = _torch_value_and_grads(fn, x)
    assert out.data == pytest.approx(value, rel=1e-12, abs=1e-300)
    assert a.grad == pytest.approx(grad, rel=1e-12, abs=1e-300)


@pytest.mark.parametrize("name, fn", BINARY_CASES, ids=[c[0] for c in BINARY_CASES])
def test_binary_op_matches_torch(name, fn):
    a, b = Value(1.7), Value(-0.6)
    out = fn(a, b)
    out.backward()
    value, grads = _torch_value_and_grads(fn, 1.7, -0.6)
    assert out.data == pytest.approx(value, rel=1e-12)
    assert [a.grad, b.grad] == pytest.approx(grads, rel=1e-12)


def test_sigmoid_stays_finite_for_large_inputs():
    for x in (-800.0, 800.0):
        v = Value(x)
        s = v.sigmoid()
        s.backward()
        assert 0.0 <= s.data <= 1.0
        assert v.grad == 0.0


def test_relu_slope_at_zero_is_zero_like_torch():
    v = Value(0.0)
    v.relu().backward()
    _, (grad,) = _torch_value_and_grads(lambda a: a.relu(), 0.0)
    assert v.grad == grad == 0.0


# ----- random expressions against torch.autograd -----

UNARY = {
    "neg": lambda a: -a,
    "exp": lambda a: a.exp(),
    "log": lambda a: (a * a + 1.0).log(),
    "tanh": lambda a: a.tanh(),
    "relu": lambda a: a.relu(),
    "sigmoid": lambda a: a.sigmoid(),
    "square": lambda a: a**2,
    "cube": lambda a: a**3,
    "sqrt": lambda a: (a * a + 0.5) ** 0.5,
    "radd": lambda a: 0.5 + a,
    "rsub": lambda a: 1.5 - a,
    "rmul": lambda a: 2.5 * a,
    "rdiv": lambda a: 1.0 / (a * a + 1.0),
}
BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / (b * b + 0.5),  # a denominator that cannot reach 0
}
N_INPUTS = 3


def expressions():
    """Random expression trees over inputs 0..N_INPUTS-1, as nested tuples."""
    leaves = st.integers(0, N_INPUTS - 1).map(lambda i: ("input", i))

    def extend(children):
        return st.one_of(
            st.tuples(st.just("unary"), st.sampled_from(sorted(UNARY)), children),
            st.tuples(st.just("binary"), st.sampled_from(sorted(BINARY)), children, children),
        )

    return st.recursive(leaves, extend, max_leaves=10)


def evaluate(tree, inputs, seen=None):
    """The value of ``tree`` with Values or torch tensors; records every intermediate."""
    kind = tree[0]
    if kind == "input":
        out = inputs[tree[1]]
    elif kind == "unary":
        out = UNARY[tree[1]](evaluate(tree[2], inputs, seen))
    else:
        out = BINARY[tree[1]](evaluate(tree[2], inputs, seen), evaluate(tree[3], inputs, seen))
    if seen is not None:
        seen.append(float(out.data if isinstance(out, Value) else out.item()))
    return out


numbers = st.floats(-3, 3, allow_nan=False, width=64)


@given(expressions(), st.lists(numbers, min_size=N_INPUTS, max_size=N_INPUTS))
def test_random_expressions_match_torch(tree, xs):
    ts = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in xs]
    intermediates = []
    with np.errstate(all="ignore"):
        expected = evaluate(tree, ts, intermediates)
    # keep expressions whose intermediate values stay moderate: exp(exp(exp(3))) is no test
    assume(all(math.isfinite(v) and abs(v) < 1e6 for v in intermediates))
    expected_grads = [
        0.0 if g is None else g.item() for g in torch.autograd.grad(expected, ts, allow_unused=True)
    ]
    assume(all(math.isfinite(g) and abs(g) < 1e8 for g in expected_grads))

    vs = [Value(x) for x in xs]
    out = evaluate(tree, vs)
    out.backward()

    # exp, log, tanh may differ in the last bit between math and torch; differences
    # of such large terms can leave that bit visible, so the tolerance scales with them
    scale = max([1.0] + [abs(v) for v in intermediates] + [abs(g) for g in expected_grads])
    np.testing.assert_allclose(out.data, expected.item(), rtol=1e-9, atol=1e-12 * scale)
    np.testing.assert_allclose([v.grad for v in vs], expected_grads, rtol=1e-9, atol=1e-12 * scale)


# ----- the backward pass itself -----


def test_backward_twice_accumulates_like_torch_with_retain_graph():
    a, b = Value(0.8), Value(-1.3)
    out = (a * b).tanh() + a
    out.backward()
    out.backward()

    ta = torch.tensor(0.8, dtype=torch.float64, requires_grad=True)
    tb = torch.tensor(-1.3, dtype=torch.float64, requires_grad=True)
    tout = (ta * tb).tanh() + ta
    tout.backward(retain_graph=True)
    tout.backward()
    assert a.grad == pytest.approx(ta.grad.item(), rel=1e-12)
    assert b.grad == pytest.approx(tb.grad.item(), rel=1e-12)


def test_second_backward_leaves_intermediate_grads_of_one_pass():
    a = Value(0.5)
    hidden = a * 3.0
    out = hidden.tanh()
    out.backward()
    first = hidden.grad
    out.backward()
    assert hidden.grad == first  # intermediate: restarts at 0 on every pass
    assert a.grad == pytest.approx(2 * 3.0 * first)  # leaf: accumulates


def test_reset_leaf_grad_gives_a_fresh_gradient():
    a = Value(0.5)
    out = a * a
    out.backward()
    a.grad = 0.0
    out.backward()
    assert a.grad == pytest.approx(1.0)


def test_deep_graph_needs_no_recursion():
    x = Value(0.5)
    y = x
    for _ in range(10_000):
        y = y * 1.0001 + 0.0
    y.backward()
    assert x.grad == pytest.approx(1.0001**10_000, rel=1e-9)
    assert len(topological_order(y)) > 20_000


def test_topological_order_puts_inputs_first():
    a, b = Value(1.0), Value(2.0)
    c = a + b
    d = c * a
    order = topological_order(d)
    position = {id(v): i for i, v in enumerate(order)}
    assert position[id(a)] < position[id(c)] < position[id(d)]
    assert position[id(b)] < position[id(c)]
    assert len(order) == 4  # a appears once although it is used twice


# ----- errors a student meets -----


def test_log_of_non_positive_explains():
    with pytest.raises(ValueError, match="only defined for positive numbers, got -1"):
        Value(-1.0).log()


def test_value_exponent_is_refused_with_a_way_out():
    with pytest.raises(TypeError, match=r"\(b \* a.log\(\)\).exp\(\)"):
        Value(2.0) ** Value(3.0)


def test_fractional_power_of_negative_number_is_refused():
    with pytest.raises(ValueError, match="not a real number"):
        Value(-8.0) ** 0.5


def test_combining_with_a_non_number_says_what_is_allowed():
    with pytest.raises(TypeError, match="use a number or a Value"):
        Value(1.0) + "2"
    with pytest.raises(TypeError, match="expected a real number"):
        Value([1.0])


def test_repr_shows_label_data_and_grad():
    v = Value(1.5, label="w")
    v.grad = 0.25
    assert repr(v) == "Value(w: data=1.5, grad=0.25)"
