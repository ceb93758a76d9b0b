"""The library as the sandbox sees it: graded references replaced by stubs, source and bytecode.

For every reference an exercise hides (and its equivalents: other functions
that compute the same answer), the module file that defines it is rewritten
with the function's body (or the class's) replaced by one ``raise``, then
compiled. Both are laid over the real files in the sandbox's view, the
``.py`` and every compiled copy in ``__pycache__``, so the reference exists
nowhere the student's code can read: not in memory (the sandbox process
never imported it), not as source, not as bytecode.
"""

import ast
import hashlib
import importlib
import inspect
import os
import py_compile
from pathlib import Path


class StrippingError(ValueError):
    """A reference to hide cannot be found or rewritten; the message names it."""


def resolve(reference):
    """The object named by ``"module:attribute[.attribute]"``."""
    module_name, _, attribute = reference.partition(":")
    try:
        obj = importlib.import_module(module_name)
        for part in attribute.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as err:
        raise StrippingError(f"cannot find {reference} to hide it: {err}") from err
    return obj


def _definition(reference):
    """(source file, qualified name) where the reference's function or class is defined."""
    obj = inspect.unwrap(resolve(reference))
    obj = getattr(obj, "__func__", obj)  # a classmethod or staticmethod
    if not (inspect.isfunction(obj) or inspect.isclass(obj)):
        raise StrippingError(f"{reference} is a {type(obj).__name__}, not a function or class")
    try:
        path = inspect.getsourcefile(obj)
    except TypeError as err:
        raise StrippingError(f"{reference} has no Python source to hide") from err
    if path is None:
        raise StrippingError(f"{reference} has no Python source to hide")
    return os.path.realpath(path), obj.__qualname__


def _raising(message):
    """The statement ``raise RuntimeError(message)`` (locations are fixed by the caller)."""
    return ast.parse(f"raise RuntimeError({message!r})").body


class _Stubber(ast.NodeTransformer):
    def __init__(self, targets):
        self.targets = targets  # qualname -> message
        self.found = set()
        self.scope = []

    def _visit_scope(self, node):
        qualname = ".".join([*self.scope, node.name])
        if qualname in self.targets:
            self.found.add(qualname)
            message = self.targets[qualname]
            if isinstance(node, ast.ClassDef):  # a class raises when it is made
                init = ast.parse("def __init__(self, *args, **kwargs):\n    pass").body[0]
                init.body = _raising(message)
                node.body = [init]
            else:
                node.body = _raising(message)
            return node
        self.scope.append(node.name)
        self.generic_visit(node)
        self.scope.pop()
        return node

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _visit_scope


def stub_message(reference, why):
    return f"{reference.replace(':', '.')} is not available while grading: {why}"


def stripped_source(text, targets, filename):
    """``text`` with each qualified name in ``targets`` (name -> message) replaced by a stub."""
    tree = ast.parse(text, filename=filename)
    stubber = _Stubber(targets)
    tree = ast.fix_missing_locations(stubber.visit(tree))
    missing = set(targets) - stubber.found
    if missing:
        raise StrippingError(f"{', '.join(sorted(missing))} not found in {filename}")
    return ast.unparse(tree) + "\n"


def overlays(references, staging, why):
    """Write the stripped modules under ``staging``; ``[(staged file, real file)]`` to lay over.

    ``references`` maps each ``"module:attribute"`` to hide to the sentence
    that its stub raises (``why``, e.g. what the exercise asks for, is used
    when the value is None).
    """
    by_file = {}
    for reference, reason in references.items():
        path, qualname = _definition(reference)
        by_file.setdefault(path, {})[qualname] = stub_message(reference, reason or why)
    staging = Path(staging)
    staging.mkdir(parents=True, exist_ok=True)
    laid = []
    for path, targets in sorted(by_file.items()):
        text = Path(path).read_text(encoding="utf-8")
        name = hashlib.sha256(path.encode()).hexdigest()[:16]
        source = staging / f"{name}.py"
        source.write_text(stripped_source(text, targets, path), encoding="utf-8")
        compiled = staging / f"{name}.pyc"
        py_compile.compile(
            str(source),
            cfile=str(compiled),
            dfile=path,
            doraise=True,
            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        )
        os.chmod(source, 0o644)
        os.chmod(compiled, 0o644)
        laid.append((source, path))
        laid.extend((compiled, cached) for cached in _compiled_copies(path))
    return laid


def _compiled_copies(path):
    """Every file in the module's ``__pycache__`` compiled from it, for any Python version."""
    path = Path(path)
    cache = path.parent / "__pycache__"
    if not cache.is_dir():
        return []
    return sorted(str(p) for p in cache.glob(f"{path.stem}.*.pyc") if p.is_file())
