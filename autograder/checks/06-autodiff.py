"""Out-of-kernel checks for solutions/06-autodiff.py: one Exercise per graded cell.

The expected answers come from the formulas below (the local rules and
unbroadcasting) and, for ``backward``, from dlcourse.autodiff.Value run by
this trusted process on the same graphs that the sandbox builds from the
notebook's ``Scalar`` class.
"""

import numpy as np

from dlcourse.grading import Exercise
from dlcourse.grading.spec import RECURRENT_BACKWARD

# ----- exercise 1: the local backward rules ------------------------------------------------


def _local_rules_inputs(rng):
    cases = []
    for shape, dtype in [((3, 4), np.float64), ((7,), np.float64), ((2, 3, 2), np.float32)]:
        a = rng.uniform(0.5, 2.0, size=shape)  # positive: a ** 0.5 is real
        b = rng.uniform(0.5, 2.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)
        dout = rng.standard_normal(shape)
        a, b, dout = (x.astype(dtype) for x in (a, b, dout))
        for n in (3, 0.5, -2):
            cases.append({"dout": dout, "a": a, "b": b, "n": n, "ea": np.exp(a)})
    return cases


def _local_rules_expected(dout, a, b, n, ea):
    return (
        dout * b,
        dout * a,
        dout / b,
        -dout * a / (b * b),
        (dout * n * a ** (n - 1)).astype(a.dtype),
        dout * ea,
    )


LOCAL_RULES = Exercise(
    grade_id="check_local_rules",
    solution=("local_rules",),
    call="(*mul_backward(dout, a, b), *div_backward(dout, a, b), pow_backward(dout, a, n), "
    "exp_backward(dout, a, ea))",
    expected=_local_rules_expected,
    inputs=_local_rules_inputs,
)

# ----- exercise 2: topological order and backward -------------------------------------------

# The graphs, as source: the sandbox builds them from Scalar, this process from Value.
GRAPHS_SOURCE = """
def _worked_example(a, b, c):
    return (a * b + c) * a


def _uneven_paths(a, b, c):
    x = a * b
    y = (x * c).tanh()
    return (y * x + x) * c


def _deep_chain(a, b, c):
    v = a
    for _ in range(100):
        v = (v * b).tanh() + c * 0.5
    return v


def _many_uses(a, b, c):
    x = a + b
    return x * x * x + x.exp() * c + x


def _two_outputs_joined(a, b, c):
    p = (a * c).exp()
    q = p * b + p * a
    return p * q + c  # p first: a depth-first search meets p by its short path first


_GRAPHS = [_worked_example, _uneven_paths, _deep_chain, _many_uses, _two_outputs_joined]
"""

DRIVER = (
    GRAPHS_SOURCE
    + '''

def _graph_grads(graph, values):
    """Build graph ``graph`` from Scalars, run the student's backward, return the inputs' grads."""
    leaves = [Scalar(float(v)) for v in values]
    backward(_GRAPHS[int(graph)](*leaves))
    return np.array([leaf.grad for leaf in leaves], dtype=np.float64)


def _order_is_topological(graph, values):
    """1.0 when topological_order lists every node once, each after its inputs, root last."""
    leaves = [Scalar(float(v)) for v in values]
    root = _GRAPHS[int(graph)](*leaves)
    reachable, stack = set(), [root]
    while stack:
        node = stack.pop()
        if id(node) not in reachable:
            reachable.add(id(node))
            stack.extend(node._prev)
    order = list(topological_order(root))
    ids = [id(node) for node in order]
    position = {i: k for k, i in enumerate(ids)}
    ok = (
        len(ids) == len(set(ids))
        and set(ids) == reachable
        and bool(order)
        and order[-1] is root
        and all(position[id(p)] < position[id(n)] for n in order for p in n._prev)
    )
    return 1.0 if ok else 0.0
'''
)


def _value_graphs():
    namespace = {}
    exec(GRAPHS_SOURCE, namespace)  # trusted source, written above
    return namespace["_GRAPHS"]


def _backward_inputs(rng):
    cases = []
    for graph in range(len(_value_graphs())):
        for _ in range(2):
            cases.append({"graph": graph, "values": rng.uniform(-1.5, 1.5, size=3)})
    return cases


def _backward_expected(graph, values):
    from dlcourse.autodiff import Value

    leaves = [Value(float(v)) for v in values]
    _value_graphs()[int(graph)](*leaves).backward()
    return np.array([leaf.grad for leaf in leaves]), 1.0


BACKWARD = Exercise(
    grade_id="check_backward",
    setup=("setup", "scalar_class"),
    solution=("backward",),
    driver=DRIVER,
    call="(_graph_grads(graph, values), _order_is_topological(graph, values))",
    expected=_backward_expected,
    inputs=_backward_inputs,
    hidden=(
        "dlcourse.autodiff.value:topological_order",
        "dlcourse.autodiff.backprop:topological_order",
        "dlcourse.autodiff.backprop:run_backward",
    ),
)

# ----- exercise 3: broadcasting add ----------------------------------------------------------


def _unbroadcast(grad, shape):
    extra = grad.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(
        extra + i for i, n in enumerate(shape) if n == 1 and grad.shape[extra + i] != 1
    )
    return np.sum(grad, axis=axes).reshape(shape) if axes else grad.reshape(shape)


def _broadcast_add_inputs(rng):
    shapes = [
        ((5, 3), (3,)),
        ((4, 1), (1, 3)),
        ((2, 3, 4), (3, 1)),
        ((3, 3), (3,)),
        ((6,), ()),
        ((2, 1, 5), (2, 4, 1)),
        ((4, 2), (4, 2)),
        ((1,), (2, 3, 1)),
    ]
    cases = []
    for k, (sa, sb) in enumerate(shapes):
        dtype = np.float32 if k % 3 == 2 else np.float64
        a = rng.standard_normal(sa).astype(dtype)
        b = np.asarray(rng.standard_normal(sb)).astype(dtype)
        dout = rng.standard_normal(np.broadcast_shapes(sa, sb)).astype(dtype)
        cases.append({"dout": dout, "a": a, "b": b})
    return cases


def _broadcast_add_expected(dout, a, b):
    return _unbroadcast(dout, a.shape), _unbroadcast(dout, b.shape), _unbroadcast(dout, a.shape)


BROADCAST_ADD = Exercise(
    grade_id="check_broadcast_add",
    solution=("broadcast_add",),
    call="(*add_backward(dout, a, b), unbroadcast(dout, np.shape(a)))",
    expected=_broadcast_add_expected,
    inputs=_broadcast_add_inputs,
    hidden=("dlcourse.autodiff.ops._broadcast:unbroadcast",),
)

# ----- exercise 4: matrix product ------------------------------------------------------------


def _matmul_inputs(rng):
    cases = []
    for (n, d, m), dtype in [
        ((5, 3, 4), np.float64),
        ((4, 4, 4), np.float64),
        ((1, 6, 2), np.float64),
        ((7, 2, 1), np.float32),
    ]:
        a, b, dout = (rng.standard_normal(s).astype(dtype) for s in ((n, d), (d, m), (n, m)))
        cases.append({"dout": dout, "a": a, "b": b})
    return cases


MATMUL = Exercise(
    grade_id="check_matmul_backward",
    solution=("matmul_backward",),
    call="matmul_backward(dout, a, b)",
    expected=lambda dout, a, b: (dout @ b.T, a.T @ dout),
    inputs=_matmul_inputs,
    equivalents=RECURRENT_BACKWARD,  # a recurrent step with a zero state is a matmul's backward
)

EXERCISES = [LOCAL_RULES, BACKWARD, BROADCAST_ADD, MATMUL]
