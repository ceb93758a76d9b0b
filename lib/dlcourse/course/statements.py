"""Which top-level statements of a notebook cell only *define* things, and cheaply.

The leak test (:mod:`dlcourse.course.leak_probe`) needs the functions a student
notebook defines, not its demos: training a model or importing TensorFlow would
cost minutes over the whole course. So from demo and check cells it keeps only
imports, ``def``, ``class`` and assignments whose value is cheap by construction
(literals, lambdas, NumPy and a few builtins); ``if`` and ``try`` blocks are kept
with their bodies filtered the same way. Set-up cells run whole: the grader runs
them too, so they must be cheap already.
"""

import ast

# Callables an assignment may call and still count as cheap: builtins that build values,
# and anything reached from NumPy or math (np.array([...]), float(np.sqrt(2 / np.pi))).
CHEAP_BUILTINS = frozenset(
    "abs bool complex dict enumerate float frozenset int len list max min range round set "
    "slice sorted str sum tuple zip".split()
)
CHEAP_MODULES = frozenset({"np", "numpy", "math"})

_DEFINITIONS = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def without_magics(source):
    """``source`` with IPython lines (``%matplotlib inline``, ``!pip ...``) made into ``pass``."""
    lines = []
    for line in source.splitlines():
        stripped = line.lstrip()
        if stripped.startswith(("%", "!")):
            line = line[: len(line) - len(stripped)] + "pass  # " + stripped
        lines.append(line)
    return "\n".join(lines)


def _root(node):
    # The name a call chain starts from: np in np.random.default_rng(0).normal(...)
    while isinstance(node, ast.Attribute | ast.Call | ast.Subscript):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _cheap_call(call):
    if isinstance(call.func, ast.Name):
        return call.func.id in CHEAP_BUILTINS
    return _root(call.func) in CHEAP_MODULES


def _calls_outside_lambdas(node):
    # A lambda's body runs only when it is called, so its calls cost nothing here.
    if isinstance(node, ast.Lambda):
        return
    if isinstance(node, ast.Call):
        yield node
    for child in ast.iter_child_nodes(node):
        yield from _calls_outside_lambdas(child)


def is_cheap(expression):
    """Whether evaluating ``expression`` (an AST node) calls nothing but cheap callables."""
    return all(_cheap_call(call) for call in _calls_outside_lambdas(expression))


def _filtered(body):
    return [kept for statement in body if (kept := defining(statement)) is not None]


def defining(statement):
    """``statement`` if it only defines something cheaply, a pruned copy, or None to skip it."""
    if isinstance(statement, _DEFINITIONS):
        return statement
    if isinstance(statement, ast.Assign | ast.AnnAssign):
        value = statement.value
        return statement if value is None or is_cheap(value) else None
    if isinstance(statement, ast.If) and is_cheap(statement.test):
        body, orelse = _filtered(statement.body), _filtered(statement.orelse)
        if not body and not orelse:
            return None
        pruned = ast.If(test=statement.test, body=body or [ast.Pass()], orelse=orelse)
        return ast.copy_location(pruned, statement)
    if isinstance(statement, ast.Try):
        body = _filtered(statement.body)
        if not body:
            return None
        handlers = [
            ast.ExceptHandler(type=h.type, name=h.name, body=_filtered(h.body) or [ast.Pass()])
            for h in statement.handlers
        ]
        pruned = ast.Try(
            body=body,
            handlers=handlers,
            orelse=_filtered(statement.orelse),
            finalbody=_filtered(statement.finalbody),
        )
        return ast.copy_location(pruned, statement)
    return None  # calls, loops, with-blocks, asserts, prints: demos and checks, not definitions


def statements(source, *, whole):
    """The top-level statements of a cell to run, as AST nodes with the cell's line numbers.

    ``whole=True`` keeps every statement (set-up cells); otherwise only what
    :func:`defining` keeps. A cell that is not valid Python gives no statements.
    """
    try:
        tree = ast.parse(without_magics(source))
    except SyntaxError:
        return []
    if whole:
        return list(tree.body)
    kept = _filtered(tree.body)
    for node in kept:
        ast.fix_missing_locations(node)  # the pruned copies of if/try need locations
    return kept


def defined_names(source):
    """Names bound at the top level of a cell by ``def`` or ``class`` (also inside if/try)."""
    try:
        tree = ast.parse(without_magics(source))
    except SyntaxError:
        return []
    return list(_names_in(tree.body))


def _names_in(body):
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            yield node.name
        elif isinstance(node, ast.If | ast.Try):
            yield from _names_in(node.body)
            yield from _names_in(node.orelse)
