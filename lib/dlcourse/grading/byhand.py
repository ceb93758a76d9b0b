"""The by-hand policy inside the sandbox: forbidden packages cannot be imported.

An exercise that asks for a derivative written by hand lists in ``forbid``
what would do the work for the student (autodiff engines, the course's own
autodiff and numerical gradients). Their folders are masked in the sandbox's
view (:mod:`dlcourse.grading.osbox`), so they are not on disk at all; this
module is the second layer that turns the import error into a sentence the
student understands.

The instructor's setup cells still run first and may import such a package
for the notebook's visible checks: until :func:`lock` they get a stand-in
module whose every attribute raises that sentence when used.
"""

import importlib.abc
import importlib.machinery
import sys
import types

BY_HAND = (
    "this exercise asks for the derivative written by hand, so {name} (which would "
    "compute it for you) cannot be used while it is graded"
)


def message(name):
    return BY_HAND.format(name=name)


def _matches(fullname, forbidden):
    return any(fullname == name or fullname.startswith(name + ".") for name in forbidden)


class _Refusal:
    """What a setup cell's ``from forbidden import thing`` binds: raises when used."""

    def __init__(self, name):
        self._name = name

    def __call__(self, *args, **kwargs):
        raise ImportError(message(self._name))

    def __getattr__(self, attribute):
        if attribute.startswith("__"):
            raise AttributeError(attribute)
        return _Refusal(f"{self._name}.{attribute}")

    def __repr__(self):
        return f"<{self._name}: not available while grading>"


class _StandIn(types.ModuleType):
    def __getattr__(self, attribute):
        if attribute.startswith("__"):
            raise AttributeError(attribute)
        return _Refusal(f"{self.__name__}.{attribute}")


class _Loader(importlib.abc.Loader):
    def create_module(self, spec):
        module = _StandIn(spec.name)
        module.__path__ = []  # a package, so that submodules come here too
        return module

    def exec_module(self, module):
        pass


class ByHandFinder(importlib.abc.MetaPathFinder):
    """Refuses the forbidden modules; before :meth:`lock`, lends stand-ins instead."""

    def __init__(self, forbidden):
        self.forbidden = tuple(forbidden)
        self.locked = False

    def find_spec(self, fullname, path=None, target=None):
        if not _matches(fullname, self.forbidden):
            return None
        if self.locked:
            raise ImportError(message(fullname), name=fullname)
        return importlib.machinery.ModuleSpec(fullname, _Loader(), is_package=True)

    def lock(self):
        """From now on, importing a forbidden module raises; stand-ins already lent stay inert."""
        self.locked = True
        for name in list(sys.modules):
            if _matches(name, self.forbidden):
                del sys.modules[name]


def install(forbidden):
    """Put a :class:`ByHandFinder` first on ``sys.meta_path``; returns it (None if none)."""
    if not forbidden:
        return None
    finder = ByHandFinder(forbidden)
    sys.meta_path.insert(0, finder)
    return finder
