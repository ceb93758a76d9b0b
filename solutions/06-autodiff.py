# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 06. Autodiff by building it
#
# In chapter 04 you derived the backward pass of a network by hand, layer by layer. That works,
# but every new model means a new derivation. **Automatic differentiation** (autodiff) does the
# derivation for you, for any program made of known operations, and it is what PyTorch,
# TensorFlow and JAX do each time you ask for a gradient. There is no magic in it: it is the
# chain rule, applied by a loop, in the reverse order of the computation.
#
# In this notebook you will build one, piece by piece:
#
# 1. break a formula into single $+$ and $\times$ steps and push numbers backwards through it;
# 2. write the *local* backward rule of a few operations;
# 3. meet `Value`, a number that records how it was computed, and draw its graph;
# 4. write `backward`, the loop that visits the graph in reverse topological order;
# 5. move from numbers to arrays with `Tensor`, where **broadcasting** needs care;
# 6. write the backward of a matrix product, and train a small network with your rules.
#
# **This notebook is worth 10 points**:
#
# | exercise | you write | points |
# |---|---|---|
# | 1 | `mul_backward`, `div_backward`, `pow_backward`, `exp_backward` | 3 |
# | 2 | `topological_order(root)` and `backward(root)` | 3 |
# | 3 | `unbroadcast(grad, shape)` and `add_backward(dout, a, b)` | 2 |
# | 4 | `matmul_backward(dout, a, b)` | 2 |
#
# Run the cells from top to bottom. Where you see `raise NotImplementedError()`, replace that
# line with your code and run the check cell below it: each check compares your answer with the
# course's engine `dlcourse.autodiff` and with finite differences, and says what is wrong.
#
# **How this notebook is graded.** The grader runs the solution cell of each exercise on its
# own, after this notebook's locked set-up cells, in a fresh process outside the notebook and
# on inputs of its own; the check cells are not run there, and a helper defined in any other
# cell is missing. The engine's own answers to these exercises, `topological_order` and
# `run_backward` in `dlcourse.autodiff` and its `unbroadcast`, are stubs there, and so are
# relatives that compute a matrix product's gradient (the recurrent cells' backward functions
# in `dlcourse.functional`): a solution that calls one scores zero for that exercise.
# There each exercise may use 20 CPU seconds and 4 GB of memory; code that needs more is stopped
# and scores zero for it. `dlcourse check --grader` on the saved notebook shows the points the
# grader would give. Beyond the visible checks:
#
# * exercise 1, `check_local_rules`, also tested: float32 inputs keep float32, 1-D and 3-D
#   arrays, negative `b`, and `pow_backward` with `n` = 0.5 and -2 as well as 3;
# * exercise 2, `check_backward`, also tested: a fifth graph in which one node feeds two paths
#   that join again, one of them much shorter than the other;
# * exercise 3, `check_broadcast_add`, also tested: float32 inputs keep float32, a square batch
#   plus a row, a scalar `b` of shape `()`, both inputs of a 3-D sum stretched at once, and a
#   `(1,)` input against a 3-D one;
# * exercise 4, `check_matmul_backward`, also tested: float32 inputs keep float32, square
#   matrices, a single row in `a`, and a single column in `b`.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false}
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import display

from dlcourse.autodiff import Function, Tensor, Value, cross_entropy, draw_graph
from dlcourse.data import make_moons
from dlcourse.diagnose import check_not_modified, diagnose
from dlcourse.gradcheck import numerical_gradient

np.set_printoptions(precision=4, suppress=True)
rng = np.random.default_rng(0)  # a fixed seed: the same numbers on every run


def expect_close(got, expected, name, context="", **options):
    """Fail with dlcourse.diagnose's explanation unless ``got`` matches ``expected``."""
    d = diagnose(got, expected, name=name, **options)
    assert d.ok, f"{context}: {d.message}" if context else d.message


# %% [markdown]
# ## 1. Only $+$ and $\times$, and the chain rule backwards
#
# Take $L = (a b + c)\,a$ with $a = 2$, $b = -3$, $c = 10$. A computer evaluates it one
# operation at a time, naming every intermediate result:
#
# $$ d = a \times b = -6, \qquad e = d + c = 4, \qquad L = e \times a = 8 .$$
#
# Each step is trivial to differentiate on its own. Two rules cover this whole formula:
#
# * $+$: $\partial(u + v)/\partial u = 1$ and $\partial(u + v)/\partial v = 1$. The gradient
#   passes through unchanged to both inputs.
# * $\times$: $\partial(u v)/\partial u = v$ and $\partial(u v)/\partial v = u$. Each input
#   gets the gradient times the *other* input.
#
# Going **backwards** from $L$, each step turns the gradient of its output into gradients of
# its inputs. Writing `dv` for $\partial L / \partial v$:
#
# | step | local derivatives | gradients sent back |
# |---|---|---|
# | start | | `dL` = 1 |
# | $L = e \times a$ | $a = 2$ for $e$, $e = 4$ for $a$ | `de` = 1 × 2 = 2, `da` += 1 × 4 = 4 |
# | $e = d + c$ | 1 and 1 | `dd` = 2, `dc` = 2 |
# | $d = a \times b$ | $b = -3$ for $a$, $a = 2$ for $b$ | `da` += 2 × (−3) = −6, `db` = 2 × 2 = 4 |
#
# $a$ is used twice, so it collects two contributions: `da` = 4 − 6 = −2. By hand,
# $L = a^2 b + a c$ gives $\partial L/\partial a = 2ab + c = -2$,
# $\partial L/\partial b = a^2 = 4$ and $\partial L/\partial c = a = 2$: the same numbers,
# found without ever writing down the formula of the derivative.

# %%
a, b, c = 2.0, -3.0, 10.0
d = a * b
e = d + c
L = e * a

dL = 1.0
de, da = dL * a, dL * e  # L = e * a
dd, dc = de, de  # e = d + c
da, db = da + dd * b, dd * a  # d = a * b: a's second contribution is added, not assigned
print(f"L = {L}; dL/da = {da}, dL/db = {db}, dL/dc = {dc}")
print(f"by the formula: 2ab + c = {2 * a * b + c}, a**2 = {a**2}, a = {a}")

# %% [markdown]
# That is reverse-mode autodiff in miniature. The cost of the backward pass is a small multiple
# of the forward's, **whatever the number of inputs**: one sweep gives the derivative with
# respect to all of them. A network with a million weights needs one backward pass, not a
# million.
#
# **Why backwards?** The chain rule can also be applied in the order of the computation:
# *forward mode* carries, next to every value $v$, its derivative
# $\dot v = \partial v / \partial a$ with respect to **one** chosen input. Here, starting from
# $\dot a = 1$ and $\dot b = \dot c = 0$: $\dot d = \dot a\, b + a\, \dot b = -3$,
# $\dot e = \dot d + \dot c = -3$, and $\dot L = \dot e\, a + e\, \dot a = -6 + 4 = -2$, the
# same $\partial L / \partial a$ as above. But
# $\partial L / \partial b$ and $\partial L / \partial c$ would each need another pass:
# forward mode costs one pass **per input**, reverse mode one pass **per output**. Training
# has millions of inputs (the weights) and one output (the loss), so it runs in reverse; forward
# mode wins the other way round, with few inputs and many outputs (`jax.jvp` and
# `torch.func.jvp` provide it). Reverse mode's price is memory: the forward's intermediate
# values are kept until the backward pass has used them.
#
# ## 2. Every operation brings its own backward rule
#
# An autodiff engine knows a short list of operations, and for each one its **local backward
# rule**: given `dout` $= \partial L / \partial\,\text{out}$, return the gradient of $L$ with
# respect to each input. The rest is bookkeeping. A few more rules, from the derivatives you
# know:
#
# | operation | forward | backward |
# |---|---|---|
# | multiply | $a b$ | $da = dout \cdot b$, $db = dout \cdot a$ |
# | divide | $a / b$ | $da = dout / b$, $db = -dout \cdot a / b^2$ |
# | power (constant $n$) | $a^n$ | $da = dout \cdot n\,a^{n-1}$ |
# | exponential | $e^a$ | $da = dout \cdot e^a$ = `dout * out` |
#
# The exponential's rule reuses the forward's output: the engine keeps it, so the backward costs
# one multiplication. Many rules are cheapest written with what the forward already computed.
#
# ### Exercise 1 (3 points): four local backward rules
#
# Write the four functions below. Each receives `dout` and the forward's inputs (and, for
# `exp_backward`, its output `out`), and returns the gradient(s) of the inputs. Write them with
# plain arithmetic (`*`, `/`, `**`): then they work for Python numbers and, element by element,
# for NumPy arrays of the same shape, which is how the checks call them. Do not modify the
# inputs.


# %% nbgrader={"grade": false, "grade_id": "local_rules", "locked": false, "schema_version": 3, "solution": true}
def mul_backward(dout, a, b):
    """out = a * b. Returns (da, db)."""
    ### BEGIN SOLUTION
    return dout * b, dout * a
    ### END SOLUTION


def div_backward(dout, a, b):
    """out = a / b. Returns (da, db)."""
    ### BEGIN SOLUTION
    return dout / b, -dout * a / (b * b)
    ### END SOLUTION


def pow_backward(dout, a, n):
    """out = a ** n for a constant number n. Returns da."""
    ### BEGIN SOLUTION
    return dout * n * a ** (n - 1)
    ### END SOLUTION


def exp_backward(dout, a, out):
    """out = exp(a). Returns da (use out: it is exp(a), already computed)."""
    ### BEGIN SOLUTION
    return dout * out
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "check_local_rules", "locked": true, "points": 3, "schema_version": 3, "solution": false}
def engine_gradients(op, *arrays, dout):
    """What dlcourse.autodiff's Tensor engine gives for op(*arrays), upstream gradient dout."""
    tensors = [Tensor(np.array(x, dtype=np.float64), requires_grad=True) for x in arrays]
    op(*tensors).backward(dout)
    return [t.grad for t in tensors]


def numerical(op, arrays, i, dout):
    """Finite differences of sum(op(...) * dout) with respect to input i."""

    def f(x):
        return op(*arrays[:i], x, *arrays[i + 1 :])

    return numerical_gradient(f, arrays[i], dout=dout)


def check_rule(name, rule, op, arrays, dout, *, extra=(), returns_pair=True, mistakes=()):
    """Check ``rule`` against the engine and finite differences, and for classic mistakes."""
    kept = [np.copy(x) for x in (dout, *arrays)]
    got = rule(dout, *arrays, *extra)
    for before, after in zip(kept, (dout, *arrays)):
        assert np.array_equal(before, after), (
            f"{name} changed one of its inputs: return new arrays."
        )
    got = list(got) if returns_pair else [got]
    assert len(got) == (2 if returns_pair else 1), f"{name} should return (da, db), a pair."
    expected = engine_gradients(op, *arrays, dout=dout)
    for (label, g), (wrong, why) in zip(zip(("da", "db"), got), mistakes):
        if wrong is not None and np.allclose(g, wrong(dout, *arrays), rtol=1e-6):
            raise AssertionError(f"{name}: {label} {why}")
    for i, (label, g, e) in enumerate(zip(("da", "db"), got, expected)):
        expect_close(g, e, label, f"{name} (against dlcourse.autodiff)")
        expect_close(g, numerical(op, arrays, i, dout), label, f"{name} (finite differences)")


a, b = rng.uniform(0.5, 2.0, size=(2, 3, 4))
dout = rng.standard_normal((3, 4))
check_rule(
    "mul_backward",
    mul_backward,
    lambda a, b: a * b,
    [a, b],
    dout,
    mistakes=[(lambda g, a, b: g * a, "is dout * a: each input gets dout times the OTHER one.")],
)
check_rule(
    "div_backward",
    div_backward,
    lambda a, b: a / b,
    [a, b],
    dout,
    mistakes=[
        (None, ""),
        (lambda g, a, b: g * a / b**2, "has the wrong sign: d(a/b)/db = -a / b**2."),
    ],
)
check_rule(
    "pow_backward",
    pow_backward,
    lambda a: a**3,
    [a],
    dout,
    extra=(3,),
    returns_pair=False,
    mistakes=[(lambda g, a: g * a**2, "forgot the factor n: d(a**n)/da = n * a**(n-1).")],
)
check_rule(
    "exp_backward",
    exp_backward,
    lambda a: a.exp() if isinstance(a, Tensor) else np.exp(a),
    [a],
    dout,
    extra=(np.exp(a),),
    returns_pair=False,
    mistakes=[(lambda g, a: np.exp(a), "forgot to multiply by dout.")],
)
# worked numbers: out = a * b at a = 2, b = -3 with dout = 1 sends (-3, 2) back
expect_close(np.array(mul_backward(1.0, 2.0, -3.0)), np.array([-3.0, 2.0]), "(da, db) of 2 * -3")
print("All visible checks passed.")
### BEGIN HIDDEN TESTS
hidden = np.random.default_rng(606)
a, b = hidden.uniform(-2.0, 2.0, size=(2, 5))
b = np.where(np.abs(b) < 0.3, 1.0, b)  # keep away from dividing by 0
dout = hidden.standard_normal(5)
check_rule("mul_backward", mul_backward, lambda a, b: a * b, [a, b], dout)
check_rule("div_backward", div_backward, lambda a, b: a / b, [a, b], dout)
pos = np.abs(a) + 0.5
check_rule("pow_backward", pow_backward, lambda a: a**0.5, [pos], dout, extra=(0.5,),
           returns_pair=False)  # fmt: skip
check_rule("pow_backward", pow_backward, lambda a: a**-2, [pos], dout, extra=(-2,),
           returns_pair=False)  # fmt: skip
check_rule("exp_backward", exp_backward, lambda a: a.exp() if isinstance(a, Tensor) else np.exp(a),
           [a], dout, extra=(np.exp(a),), returns_pair=False)  # fmt: skip
# plain Python numbers, as the scalar engine uses them
assert np.isclose(div_backward(2.0, 3.0, 4.0)[1], -2.0 * 3.0 / 16.0), "div_backward: db"
assert np.isclose(pow_backward(1.5, 2.0, 3), 1.5 * 3 * 4.0), "pow_backward on numbers"
### END HIDDEN TESTS

# %% [markdown]
# ## 3. `Value`: a number that remembers where it came from
#
# To apply those rules automatically, the engine must remember, for every result, which
# operation made it and from which inputs. `dlcourse.autodiff.Value` wraps one number and does
# exactly that: each operation on Values returns a new Value holding the result, links to its
# inputs (`_prev`), the operation's name (`_op`) and a small function `_backward(grad)` that
# applies the local rule and **adds** the inputs' shares to their `.grad`. Printing the
# multiplication's source shows the pattern: the forward, then its backward rule right under it.

# %%
import inspect  # noqa: E402 -- to read the engine's source, right here

print(inspect.getsource(Value.__mul__))

# %% [markdown]
# The worked example again, with Values. `L.backward()` does what we did by hand in section 1.
# The picture is the **computational graph**: boxes are values (with their gradients after
# the backward pass), ovals the operations that made them.

# %%
a, b, c = Value(2.0, label="a"), Value(-3.0, label="b"), Value(10.0, label="c")
d = a * b
d.label = "d"
e = d + c
e.label = "e"
L = e * a
L.label = "L"
L.backward()
print(f"dL/da = {a.grad}, dL/db = {b.grad}, dL/dc = {c.grad}")
display(draw_graph(L))
plt.close("all")

# %% [markdown]
# Why **add** to `.grad` rather than assign? Because `a` feeds two operations: each one sends
# its share, and the multivariable chain rule says the shares add up,
#
# $$ \frac{\partial L}{\partial a} = \sum_{\text{uses } u \text{ of } a}
# \frac{\partial L}{\partial u}\,\frac{\partial u}{\partial a} .$$
#
# A neuron, $\tanh(w_1 x_1 + w_2 x_2 + b)$, is a bigger graph of the same kind. Its numbers,
# like $a = 2$, $b = -3$, $c = 10$ above, are those of Andrej Karpathy's lecture *The
# spelled-out intro to neural networks and backpropagation: building micrograd*, where the same
# neuron is differentiated by hand, step by step; the bias is chosen so that the output is
# about $0.7071$:

# %%
x1, x2 = Value(2.0, label="x1"), Value(0.0, label="x2")
w1, w2 = Value(-3.0, label="w1"), Value(1.0, label="w2")
bias = Value(6.8813735870195432, label="b")
neuron = (x1 * w1 + x2 * w2 + bias).tanh()
neuron.label = "out"
neuron.backward()
print(f"out = {neuron.data:.4f}; dout/dw1 = {w1.grad:.4f}, dout/dx1 = {x1.grad:.4f}")
display(draw_graph(neuron))
plt.close("all")

# %% [markdown]
# ## 4. The order of the backward pass
#
# A node may pass its gradient on only once it is **complete**: once every operation that used
# it has sent its share. In the example above, `a` must wait for both `L = e * a` and
# `d = a * b`. The safe order is a **topological order** of the graph (every node after the
# nodes it was computed from), walked backwards from the output.
#
# A depth-first search gives such an order: visit a node's inputs first, then append the node
# itself. Keep a set of nodes already visited, so that a node reached along two paths is
# listed (and later run) once:
#
# ```
# order = []
# visit(node): if node not seen: mark it seen; visit each input; append node to order
# ```
#
# Then `backward` sets the output's gradient to 1 ($\partial L/\partial L$) and calls each
# node's `_backward(node.grad)` in **reversed** order. Two easy ways to get it wrong:
#
# * the order of a breadth-first walk from the output ("nearest first") is not topological:
#   a node used both near the output and deep inside the graph passes its gradient on before
#   the deep use has sent its share;
# * without the visited set, a node reached along two paths runs its rule twice and sends its
#   gradient twice.
#
# A recursive `visit` is the shortest code, but Python stops recursion at about 1,000 nested
# calls (`sys.getrecursionlimit()`): the engines of this course use a loop with an explicit
# stack instead, which works for graphs of any depth. The checks use graphs a few hundred
# nodes deep, so either works here.
#
# Below is `Scalar`, a stripped-down `Value` with the same `data`, `grad`, `_prev` and
# `_backward`, but **no** `backward` method: that is your exercise.


# %% nbgrader={"grade": false, "grade_id": "scalar_class", "locked": true, "schema_version": 3, "solution": false}
class Scalar:
    """A number in a computational graph: data, grad, its inputs _prev and its _backward rule."""

    def __init__(self, data, _prev=()):
        self.data = float(data)
        self.grad = 0.0
        self._prev = tuple(_prev)  # the Scalars this one was computed from
        self._backward = None  # grad -> adds this node's share to its inputs' .grad

    def __repr__(self):
        return f"Scalar(data={self.data:.4g}, grad={self.grad:.4g})"

    def __add__(self, other):
        other = other if isinstance(other, Scalar) else Scalar(other)
        out = Scalar(self.data + other.data, (self, other))

        def _backward(grad):
            self.grad += grad
            other.grad += grad

        out._backward = _backward
        return out

    def __mul__(self, other):
        other = other if isinstance(other, Scalar) else Scalar(other)
        out = Scalar(self.data * other.data, (self, other))

        def _backward(grad):
            self.grad += other.data * grad
            other.grad += self.data * grad

        out._backward = _backward
        return out

    __radd__ = __add__
    __rmul__ = __mul__

    def tanh(self):
        t = float(np.tanh(self.data))
        out = Scalar(t, (self,))

        def _backward(grad):
            self.grad += (1.0 - t * t) * grad

        out._backward = _backward
        return out

    def exp(self):
        e = float(np.exp(self.data))
        out = Scalar(e, (self,))

        def _backward(grad):
            self.grad += e * grad

        out._backward = _backward
        return out


# %% [markdown]
# ### Exercise 2 (3 points): `topological_order` and `backward`
#
# * `topological_order(root)` returns a list of every node `root` depends on (itself included),
#   each node once, every node after all of its inputs (`node._prev`): so `root` comes last.
# * `backward(root)` sets `root.grad = 1.0` and calls `node._backward(node.grad)` for every
#   node that has a rule (`_backward is not None`; inputs have none), in reverse topological
#   order. It returns nothing: the results are in the `.grad` of the nodes.
#
# Use only `_prev` and `_backward`; the checks run your `backward` on graphs built from
# `Scalar` and compare the gradients with those of `dlcourse.autodiff.Value`.


# %% nbgrader={"grade": false, "grade_id": "backward", "locked": false, "schema_version": 3, "solution": true}
def topological_order(root):
    """Every node root depends on, each once, each after its inputs (root last)."""
    ### BEGIN SOLUTION
    order, seen = [], set()
    stack = [(root, False)]
    while stack:
        node, inputs_done = stack.pop()
        if inputs_done:
            order.append(node)
        elif id(node) not in seen:
            seen.add(id(node))
            stack.append((node, True))
            stack.extend((child, False) for child in node._prev)
    return order
    ### END SOLUTION


def backward(root):
    """Fill .grad of every node root depends on with d(root)/d(node)."""
    ### BEGIN SOLUTION
    root.grad = 1.0
    for node in reversed(topological_order(root)):
        if node._backward is not None:
            node._backward(node.grad)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "check_backward", "locked": true, "points": 3, "schema_version": 3, "solution": false}
# Graphs of three inputs (a, b, c), written once and built from Scalar or from Value.
def worked_example(a, b, c):
    return (a * b + c) * a


def uneven_paths(a, b, c):  # x is used right below the output and, through y, deeper down
    x = a * b
    y = (x * c).tanh()
    return (y * x + x) * c


def deep_chain(a, b, c):
    v = a
    for _ in range(100):  # about 500 nodes in a row
        v = (v * b).tanh() + c * 0.5
    return v


def many_uses(a, b, c):
    x = a + b
    return x * x * x + x.exp() * c + x


GRAPHS = [worked_example, uneven_paths, deep_chain, many_uses]


def your_gradients(graph, values, run=None):
    """The inputs' gradients after your backward (or ``run``) on graph(Scalar(...) ...)."""
    leaves = [Scalar(v) for v in values]
    (run or backward)(graph(*leaves))
    return np.array([leaf.grad for leaf in leaves])


def value_gradients(graph, values):
    """The same gradients from dlcourse.autodiff.Value, the course's engine."""
    leaves = [Value(float(v)) for v in values]
    graph(*leaves).backward()
    return np.array([leaf.grad for leaf in leaves])


def nodes_of(root):
    """Every node root depends on, by id (in no particular order)."""
    found, stack = {}, [root]
    while stack:
        node = stack.pop()
        if id(node) not in found:
            found[id(node)] = node
            stack.extend(node._prev)
    return found


def topological_problem(graph, values):
    """What is wrong with topological_order(graph(...)), or None: every node once, inputs first."""
    root = graph(*[Scalar(v) for v in values])
    order, nodes, name = topological_order(root), nodes_of(root), graph.__name__
    if not isinstance(order, list):
        return f"topological_order should return a list, got {type(order).__name__}."
    ids = [id(n) for n in order]
    if len(ids) != len(set(ids)):
        return (
            f"{name}: topological_order lists a node more than once: keep a set of the nodes "
            f"already visited."
        )
    if set(ids) != set(nodes):
        return (
            f"{name}: topological_order should list the {len(nodes)} nodes root depends on "
            f"(itself included), got {len(order)}."
        )
    if order[-1] is not root:
        return f"{name}: topological_order should list the root last."
    position = {i: k for k, i in enumerate(ids)}
    for k, node in enumerate(order):
        for child in node._prev:
            if position[id(child)] > k:
                return f"{name}: node {k} ({node}) comes before one of its inputs ({child})."
    return None


def traced_backward(graph, values):
    """Run your backward on graph(Scalar(...) ...), recording every rule it calls.

    Returns the root, the nodes by id, and the calls: (node, grad it was given, node.grad then).
    """
    root = graph(*[Scalar(v) for v in values])
    nodes, calls = nodes_of(root), []
    for node in nodes.values():
        if node._backward is not None:

            def recorded(grad, node=node, rule=node._backward):
                calls.append((node, grad, node.grad))
                rule(grad)

            node._backward = recorded
    backward(root)
    return root, nodes, calls


def order_problem(graph, values):
    """What is wrong with the way your backward visits graph's nodes, or None."""
    root, nodes, calls = traced_backward(graph, values)
    with_rule = {i for i, n in nodes.items() if n._backward is not None}
    ran = [id(node) for node, _, _ in calls]
    name = graph.__name__
    if not ran:
        return f"{name}: backward called no node's _backward: call it for every node that has one."
    twice = len(ran) - len(set(ran))
    if twice:
        return (
            f"{name}: {twice} rule(s) ran more than once; each node must run its rule once, or "
            f"it sends its gradient twice (does topological_order keep a set of visited nodes?)."
        )
    if id(root) not in ran:
        start = "root.grad is 1.0, but" if root.grad == 1.0 else "root.grad is not 1.0, and"
        return (
            f"{name}: {start} the root's own rule never ran, so no gradient left it: the loop "
            f"skips the root. It comes first in reversed(topological_order(root)); every node "
            f"with a rule, the root included, must run it."
        )
    root_grad = next(grad for node, grad, _ in calls if node is root)
    if root_grad != 1.0:
        return (
            f"{name}: the root's rule ran with grad = {root_grad}: set root.grad = 1.0 (dL/dL) "
            f"before the loop."
        )
    for _, grad, own in calls:
        if grad != own:
            return (
                f"{name}: a rule was called with {grad:.4g} while its node's grad was {own:.4g}: "
                f"call node._backward(node.grad)."
            )
    if with_rule - set(ran):
        return (
            f"{name}: {len(with_rule - set(ran))} of the {len(with_rule)} nodes with a rule "
            f"never ran it: visit every node that root depends on."
        )
    position = {i: k for k, i in enumerate(ran)}
    late = [
        (user, used)
        for user in nodes.values()
        for used in user._prev
        if id(used) in position and position[id(used)] < position[id(user)]
    ]
    if late and ran[-1] == id(root):
        return (
            f"{name}: the rules ran inputs first and the root's last, the topological order "
            f"itself: reverse it, so that the output's rule runs first."
        )
    if late:
        return (
            f"{name}: a node ran its rule before a node that uses it had sent its share, so "
            f"the gradient it passed on was not complete (a breadth-first order, nearest "
            f"first, does that). Use reversed(topological_order(root))."
        )
    return None


# the order first (it explains wrong numbers better than the numbers do): of the nodes ...
for graph in GRAPHS:
    problem = topological_problem(graph, rng.uniform(-1.0, 1.0, size=3))
    assert problem is None, problem
# ... and of the rules backward runs
for graph in GRAPHS:
    problem = order_problem(graph, rng.uniform(-1.0, 1.0, size=3))
    assert problem is None, problem
values = np.array([2.0, -3.0, 10.0])
expect_close(your_gradients(worked_example, values), np.array([-2.0, 4.0, 2.0]), "(da, db, dc)",
             "(a * b + c) * a, worked by hand")  # fmt: skip
for graph in GRAPHS:
    values = rng.uniform(-1.0, 1.0, size=3)
    expect_close(your_gradients(graph, values), value_gradients(graph, values), "(da, db, dc)",
                 graph.__name__)  # fmt: skip
print("All visible checks passed.")
### BEGIN HIDDEN TESTS
hidden = np.random.default_rng(616)
for graph in GRAPHS:
    for _ in range(3):
        values = hidden.uniform(-1.5, 1.5, size=3)
        expect_close(your_gradients(graph, values), value_gradients(graph, values),
                     "(da, db, dc)", graph.__name__)  # fmt: skip
# a lone input: its own gradient is 1, and the order is just the node
alone = Scalar(3.0)
backward(alone)
assert alone.grad == 1.0 and topological_order(alone) == [alone], "a graph of one node"
### END HIDDEN TESTS

# %% [markdown]
# ## 5. From numbers to arrays: `Tensor`, and the sum that broadcasting hides
#
# One node per number is far too slow for a network: `dlcourse.autodiff.Tensor` is the same
# engine with one **array** per node. Each operation is a `Function` with a `forward` and a
# `backward` working on whole arrays, and `backward()` walks the graph exactly like yours.
# The elementwise rules of exercise 1 carry over unchanged, element by element... with one
# catch: **broadcasting**.
#
# A dense layer adds a bias $b$ of shape $(M,)$ to a batch $z$ of shape $(N, M)$: NumPy
# reuses $b$ for every row, as if it were copied $N$ times. Each copy influences the loss
# separately, so, as for $a$ in section 1, the gradient of $b$ is the **sum** of what its copies
# receive:
#
# $$ \text{out}_{nm} = z_{nm} + b_m \quad\Longrightarrow\quad
# \frac{\partial L}{\partial b_m} = \sum_{n=1}^{N} dout_{nm} .$$
#
# In general, sum `dout` over every axis that broadcasting **added** (the leading ones) or
# **stretched** (size 1 in the input, larger in the output), and give the result the input's
# shape. For shapes $(4, 1) + (1, 3) \to (4, 3)$: the first input's gradient is summed over axis
# 1 (kept, shape $(4, 1)$), the second's over axis 0 (kept, $(1, 3)$). The engine agrees:

# %%
col = Tensor(np.arange(4.0).reshape(4, 1), requires_grad=True)
row = Tensor(np.array([[10.0, 20.0, 30.0]]), requires_grad=True)
upstream = np.arange(12.0).reshape(4, 3)
(col + row).backward(upstream)
print("dout =\n", upstream)
print("gradient of the (4, 1) column: sums of the rows\n", col.grad)
print("gradient of the (1, 3) row: sums of the columns\n", row.grad)

# %% [markdown]
# ### Exercise 3 (2 points): `unbroadcast` and `add_backward`
#
# * `unbroadcast(grad, shape)`: `grad` has the shape of a broadcast result; return it summed
#   down to `shape` (a tuple), the shape of one input. Sum over the leading axes that
#   broadcasting added, then over the axes where `shape` has a 1 and `grad` does not (with
#   `keepdims=True`, or reshape at the end). A `shape` of `()` (a 0-d array) means: sum all.
# * `add_backward(dout, a, b)`: out = a + b with NumPy broadcasting; return `(da, db)`, each
#   with the shape of its input.
#
# A **mean** instead of a sum is a classic mistake: each copy of $b$ passes on its whole
# gradient, nothing is averaged.


# %% nbgrader={"grade": false, "grade_id": "broadcast_add", "locked": false, "schema_version": 3, "solution": true}
def unbroadcast(grad, shape):
    """Sum grad (shaped like a broadcast result) down to ``shape``."""
    ### BEGIN SOLUTION
    shape = tuple(shape)
    extra = grad.ndim - len(shape)
    grad = grad.sum(axis=tuple(range(extra))) if extra else grad
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    return np.reshape(grad, shape)
    ### END SOLUTION


def add_backward(dout, a, b):
    """out = a + b, broadcast. Returns (da, db), shaped like a and b."""
    ### BEGIN SOLUTION
    return unbroadcast(dout, np.shape(a)), unbroadcast(dout, np.shape(b))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "check_broadcast_add", "locked": true, "points": 2, "schema_version": 3, "solution": false}
def check_add(a_shape, b_shape, seed=0, dtype=np.float64):
    gen = np.random.default_rng(seed)
    a = gen.standard_normal(a_shape).astype(dtype)
    b = gen.standard_normal(b_shape).astype(dtype)
    dout = gen.standard_normal(np.broadcast_shapes(a_shape, b_shape)).astype(dtype)
    context = f"a {a_shape} + b {b_shape}"
    untouched = check_not_modified(add_backward, dout, a, b)
    assert untouched.ok, f"{context}: {untouched.message}"
    got = add_backward(dout, a, b)
    assert isinstance(got, tuple | list) and len(got) == 2, f"{context}: return (da, db)."
    expected = engine_gradients(lambda a, b: a + b, a, b, dout=dout)
    batch = dout.size // max(np.size(b), 1)  # how many copies of b the sum adds up
    for label, g, e, x in zip(("da", "db"), got, expected, (a, b)):
        expect_close(np.asarray(g), e.astype(dtype), label, context, batch_size=batch)
        num = numerical_gradient(lambda v, x=x: v + (b if x is a else a), x, dout=dout)
        expect_close(np.asarray(g), num.astype(dtype), label, context + " (finite differences)")


# the worked example of the text: the column's gradient sums rows, the row's sums columns
summed = unbroadcast(np.arange(12.0).reshape(4, 3), (4, 1))
assert not np.allclose(summed, np.array([[1.0], [4], [7], [10]])), (
    "unbroadcast averages (a mean) where it should sum: each copy of a broadcast input passes "
    "on its whole gradient, and those gradients add up."
)
expect_close(unbroadcast(np.arange(12.0).reshape(4, 3), (4, 1)), np.array([[3.0], [12], [21], [30]]),
             "unbroadcast to (4, 1)")  # fmt: skip
expect_close(unbroadcast(np.arange(12.0).reshape(4, 3), (3,)), np.array([18.0, 22, 26]),
             "unbroadcast to (3,)")  # fmt: skip
check_add((5, 3), (3,))  # a bias added to a batch
check_add((4, 1), (1, 3), seed=1)  # a column plus a row
check_add((2, 3, 4), (3, 1), seed=2)  # one added axis and one stretched
print("All visible checks passed.")
### BEGIN HIDDEN TESTS
check_add((3, 3), (3,), seed=3)  # square: an axis mix-up keeps the shape right
check_add((6,), (), seed=4)  # a 0-d array: sum everything
check_add((2, 1, 5), (2, 4, 1), seed=5)  # both stretched
check_add((4, 2), (4, 2), seed=6)  # no broadcasting at all
check_add((3, 5), (1, 5), seed=7, dtype=np.float32)
check_add((1,), (2, 3, 1), seed=8)
### END HIDDEN TESTS

# %% [markdown]
# ## 6. The matrix product
#
# For $\text{out} = a\,b$ with $a$ of shape $(N, D)$ and $b$ of shape $(D, M)$, chapter 04's
# dense layer already told you the answer:
#
# $$ da = dout\; b^{\top} \quad (N, D), \qquad db = a^{\top}\, dout \quad (D, M).$$
#
# Each element $a_{nd}$ multiplies a whole row of $b$ and is used in every output of row $n$:
# the sum over those uses is the matrix product with $b^{\top}$. **Shapes decide**: $dout$ is
# $(N, M)$, and there is only one way to combine it with $b$ into an $(N, D)$ array.
#
# ### Exercise 4 (2 points): `matmul_backward`


# %% nbgrader={"grade": false, "grade_id": "matmul_backward", "locked": false, "schema_version": 3, "solution": true}
def matmul_backward(dout, a, b):
    """out = a @ b for matrices a (N, D) and b (D, M). Returns (da, db)."""
    ### BEGIN SOLUTION
    return dout @ b.T, a.T @ dout
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "check_matmul_backward", "locked": true, "points": 2, "schema_version": 3, "solution": false}
def check_matmul(n, d, m, seed=0, dtype=np.float64):
    gen = np.random.default_rng(seed)
    a = gen.standard_normal((n, d)).astype(dtype)
    b = gen.standard_normal((d, m)).astype(dtype)
    dout = gen.standard_normal((n, m)).astype(dtype)
    context = f"a {a.shape} @ b {b.shape}"
    untouched = check_not_modified(matmul_backward, dout, a, b)
    assert untouched.ok, f"{context}: {untouched.message}"
    got = matmul_backward(dout, a, b)
    assert isinstance(got, tuple | list) and len(got) == 2, f"{context}: return (da, db)."
    expected = engine_gradients(lambda a, b: a @ b, a, b, dout=dout)
    for label, g, e in zip(("da", "db"), got, expected):
        expect_close(g, e.astype(dtype), label, context)
    num = numerical_gradient(lambda v: a @ v, b, dout=dout)
    expect_close(got[1], num.astype(dtype), "db", context + " (finite differences)")


check_matmul(5, 3, 4)
print("All visible checks passed.")
### BEGIN HIDDEN TESTS
check_matmul(4, 4, 4, seed=1)  # square: a transposed answer has the right shape
check_matmul(1, 6, 2, seed=2)
check_matmul(7, 2, 1, seed=3, dtype=np.float32)
### END HIDDEN TESTS

# %% [markdown]
# ## 7. Your rules inside the engine
#
# An engine learns a new operation from a `Function` subclass: a `forward` on arrays that saves
# what the backward needs, and a `backward` that returns one gradient per input. Here are
# `MyMatMul` and `MyAdd`, made of **your** `matmul_backward` and `add_backward` (the ReLU and
# the loss are the engine's own); the network below, a two-layer classifier on the two moons,
# is trained by the engine's `backward()` running them.


# %%
class MyMatMul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a @ b

    @staticmethod
    def backward(ctx, grad):
        return matmul_backward(grad, *ctx.saved_tensors)


class MyAdd(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a + b

    @staticmethod
    def backward(ctx, grad):
        return add_backward(grad, *ctx.saved_tensors)


def my_network(x, params):
    h = MyAdd.apply(MyMatMul.apply(x, params["w1"]), params["b1"]).relu()
    return MyAdd.apply(MyMatMul.apply(h, params["w2"]), params["b2"])


x_moons, y_moons = make_moons(100, noise=0.15, seed=0)
x_moons = x_moons.astype(np.float64)
init = np.random.default_rng(1)
params = {
    "w1": Tensor(init.standard_normal((2, 32)), requires_grad=True),
    "b1": Tensor(np.zeros(32), requires_grad=True),
    "w2": Tensor(init.standard_normal((32, 2)) / np.sqrt(32), requires_grad=True),
    "b2": Tensor(np.zeros(2), requires_grad=True),
}
losses = []
for _ in range(300):
    loss = cross_entropy(my_network(x_moons, params), y_moons)
    for p in params.values():
        p.zero_grad()
    loss.backward()
    for p in params.values():
        p.data = p.data - 0.5 * p.grad  # gradient descent, outside the graph
    losses.append(float(loss))

accuracy = np.mean(my_network(x_moons, params).numpy().argmax(axis=1) == y_moons)
grid = np.stack(np.meshgrid(np.linspace(-1.5, 2.5, 200), np.linspace(-1.3, 1.6, 150)), -1)
scores = my_network(grid.reshape(-1, 2), params).numpy()
fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 3.5))
ax0.plot(losses)
ax0.set_xlabel("gradient descent step")
ax0.set_ylabel("cross-entropy")
ax0.set_title("training with your backward rules")
ax1.contourf(grid[..., 0], grid[..., 1], scores.argmax(1).reshape(grid.shape[:2]), alpha=0.3,
             cmap="coolwarm")  # fmt: skip
ax1.scatter(x_moons[:, 0], x_moons[:, 1], c=y_moons, s=8, cmap="coolwarm")
ax1.set_title(f"decision regions, training accuracy {accuracy:.0%}")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Summary
#
# * Any program is a graph of small operations. Reverse-mode autodiff runs it forward, keeping
#   what each operation's backward needs, then walks the graph **backwards in topological
#   order**, each node turning the gradient of its output into gradients of its inputs.
# * $+$ passes the gradient through; $\times$ sends each input the gradient times the other;
#   every operation has such a local rule, often cheapest with the forward's own output.
# * A value used several times **adds up** the gradients of all its uses: that is why `.grad`
#   is accumulated with `+=`, why a node must wait until it is complete, and why the gradient of
#   a **broadcast** input is a **sum** over the axes it was copied along.
# * The matrix product's rules, $da = dout\,b^{\top}$ and $db = a^{\top} dout$, are those of the
#   dense layer: with them, `+` and a few elementwise rules, an engine can train a network.
#
# **Next**, chapter 07 lets the "fancy calculators" take the derivatives: PyTorch, TensorFlow
# and JAX compute the same gradients as your hand-written code and this engine, and the
# hand-written code itself runs on PyTorch tensors, on a GPU when there is one.

# %% [markdown]
# ## Further reading
#
# * Andrej Karpathy, *The spelled-out intro to neural networks and backpropagation: building
#   micrograd* (video lecture, 2022), and its code, the `micrograd` repository: a whole
#   autodiff engine on single numbers in about a hundred lines.
# * Atılım Güneş Baydin, Barak Pearlmutter, Alexey Radul and Jeffrey Siskind, *Automatic
#   Differentiation in Machine Learning: a Survey* (JMLR, 2018): forward and reverse mode, and
#   how autodiff differs from symbolic and numerical differentiation.
# * The PyTorch documentation, *Autograd mechanics* and *Extending PyTorch*: the
#   `torch.autograd.Function` with `ctx.save_for_backward`, which the engine's `Function`
#   (section 7) imitates.
# * *Dive into Deep Learning*, section *Automatic Differentiation*.
#
# Credits: the numbers of section 1 ($a = 2$, $b = -3$, $c = 10$) and section 3's neuron
# ($x = (2, 0)$, $w = (-3, 1)$, $b = 6.8813735870195432$) come from Karpathy's micrograd lecture,
# and `Value` (each operation's `_backward` written next to its forward, `_prev`, `_op`, a
# topological sort) follows micrograd's `engine.py`.
