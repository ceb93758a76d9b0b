"""Which computing library runs a model, and the contract every backend fulfils.

Choosing a backend
==================
Choose once, before a model is built::

    dlcourse.set_backend("torch")                            # torch.autograd, GPU when present
    dlcourse.set_backend("manual", array="torch", device="cuda")  # hand-written math on a GPU
    with dlcourse.backend("manual"):                         # just for this block
        ...
    DLCOURSE_BACKEND=torch python train.py                   # from the shell

A model remembers the backend it was built with, so switching later does not
disturb a model that already exists. Nothing here imports PyTorch, TensorFlow
or JAX: a backend's module is imported the first time a model needs it.

How a model runs on a backend (the architecture)
================================================
Three pieces, each knowing as little as possible about the others:

1. ``dlcourse.ops``: functions (``matmul``, ``relu``, ``conv2d``, ...) that call
   the method of the same name on the *current* backend. Layers are written
   against these functions only, so one layer runs on every backend.
2. A **backend object**, a subclass of :class:`~dlcourse.backends.base.Backend`:
   it converts arrays, creates weights, implements the ops, and builds the
   train step.
3. ``dlcourse.nn``: layers, models (``Sequential``, Functional graphs made with
   ``Model(inputs, outputs)``, subclassed ``Model`` s), losses, optimizers and
   the ``fit`` loop. They know nothing about any library; they call backend
   methods.

Weights live on the model as the backend's native arrays (NumPy arrays, torch
tensors, ``tf.Variable``...), as attributes of their layer (``dense.kernel``),
and travel as NumPy through ``get_weights``/``set_weights``. They are created
in NumPy from a seed and then converted, so every backend starts from the same
numbers.

The forward pass is also available as a pure function for compiling backends::

    y, new_state = model.stateless_call(params, state, x, training)

``params`` (trainable weights) and ``state`` (batch-norm statistics and random
generator states) are lists of native arrays in the model's order (layers
inside layers included); nothing on the model changes. JAX can ``jit`` a train
step built from it, PyTensor can call it once on symbolic variables,
TensorFlow can wrap it in ``tf.function``; the
step then writes the new values back with ``model.bind(params, state)`` (or by
assigning its variables). Eager backends (``manual``, ``torch``) simply call
the layers.

What a backend's steps are handed as ``x``: for a model with one input, a
native array; for a model with several (a Functional graph), a **tuple** of
native arrays in ``model.inputs`` order. Eager steps pass it to
``model.call`` as it is; a compiled step treats it as a pytree (JAX), a nested
input signature (TensorFlow) or one symbolic input per entry of
``model.input_signature`` (PyTensor, which needs each input's shape and
dtype). ``take`` and ``asarray`` are only ever called on single arrays:
``fit`` applies them to each input.

Integer inputs stay integer. A model whose first layer reads token ids
(``Embedding``, ``Layer.integer_inputs``) or whose ``Input(dtype="int32")``
says so has an integer entry in ``model.input_signature``; ``fit`` and
``predict`` hand such inputs over as integers (int64 unless the ``Input``
says otherwise) and a backend keeps them so (``asarray(x, "int64")``, an
integer placeholder or signature). Only floats are cast to the model's dtype.
``ops.embedding(ids, table)`` is the lookup; its gradient reaches the table only.

Loops over time are ``ops.scan(step, init, xs)`` (recurrent layers). The base
class runs it as a Python loop, which eager backends keep; a compiling backend
must override it with its own loop construct (``jax.lax.scan``, ``tf.scan``,
``pytensor.scan``), so that a traced graph holds one loop rather than a copy
of the step for every time step.

Layers change their state by rebinding the attribute (batch norm does
``self.moving_mean = ops.stop_gradient(new)``; dropout does
``out, self.seed_state = ops.dropout(x, rate, self.seed_state)``), never by
writing into an array, so the same layer code serves eager and traced backends.

The ``manual`` backend is the one exception to "layers only need ``call``": it
runs each layer's ``forward``/``backward`` pair (``Backend.needs_backward``).
It asks the model itself: ``model.prepare_backward()`` once (which checks that
every layer that needs a derivative has one), then per step
``model.forward(x, training)`` and ``model.backward(dout)``. A ``Sequential``
goes back through its layers last to first, a Functional model through its
graph in reverse topological order (summing the gradients of a tensor used
twice), and a subclassed model runs its own ``backward``; each weight's
gradient is then read from ``layer.grads`` of the layer that made it
(``model.weight_slots()``).

Adding a backend
================
1. Write ``dlcourse/backends/<name>_backend.py`` with a subclass of
   ``Backend`` and a module-level ``create(**options)`` returning an instance.
   The module must not import its library at import time (``tests/test_import``
   checks): import it inside ``create`` or ``__init__`` and keep it in a
   module-level global.
2. Implement the methods that ``Backend`` marks *required* (array conversion,
   weights, the primitive ops, ``make_train_step``, ``loss_and_gradients``).
   Composite ops (``softmax``, ``dense``, the losses) have generic versions in
   the base class; override them only to call a fused routine of the library.
3. Register it below: ``BACKENDS`` (name -> pip extra) and ``_MODULES``
   (name -> module). The six backends of the course are registered already,
   under ``manual``, ``autodiff_backend``, ``torch_backend``,
   ``tensorflow_backend``, ``jax_backend`` and ``pytensor_backend``.
4. Test it like ``tests/test_backends_torch.py`` (whose op cases and model
   builders can be imported): the same model from the same weights must give
   the same predictions, loss and gradients as ``manual``.
"""

import importlib
import importlib.util
import inspect
import os
from contextlib import contextmanager

from dlcourse.backends.base import Backend

# name -> the pip extra that installs what it needs (None: nothing beyond the core)
BACKENDS = {
    "manual": None,
    "autodiff": None,
    "torch": "torch",
    "tensorflow": "tensorflow",
    "jax": "jax",
    "pytensor": "pytensor",
}
# name -> the module that holds its Backend class and create(**options)
_MODULES = {
    "manual": "dlcourse.backends.manual",
    "autodiff": "dlcourse.backends.autodiff_backend",
    "torch": "dlcourse.backends.torch_backend",
    "tensorflow": "dlcourse.backends.tensorflow_backend",
    "jax": "dlcourse.backends.jax_backend",
    "pytensor": "dlcourse.backends.pytensor_backend",
}
DEFAULT = "manual"

__all__ = [
    "BACKENDS",
    "Backend",
    "available",
    "backend",
    "current",
    "get_backend",
    "load",
    "running",
    "set_backend",
]

_chosen = None  # (name, options) from set_backend; None: $DLCOURSE_BACKEND or DEFAULT
_instances = {}  # (name, options) -> Backend: one object per configuration
_running = None  # the backend of the model that is computing right now, if any


def _validate(name):
    if name not in BACKENDS:
        known = ", ".join(BACKENDS)
        raise ValueError(f"unknown backend {name!r}; choose one of: {known}.")
    return name


def _package_missing(name):
    """The pip extra to install when ``name``'s library is absent, else None."""
    extra = BACKENDS[name]
    if extra is None:
        return None
    if importlib.util.find_spec(extra) is None:
        return extra
    return None


def available():
    """The backends whose library is installed (their code may still be on its way)."""
    return [name for name in BACKENDS if _package_missing(name) is None]


def get_backend():
    """The chosen backend's name: set_backend's choice, else $DLCOURSE_BACKEND, else 'manual'."""
    if _chosen is not None:
        return _chosen[0]
    env = os.environ.get("DLCOURSE_BACKEND")
    if env:
        try:
            return _validate(env.strip().lower())
        except ValueError as err:
            raise ValueError(f"DLCOURSE_BACKEND: {err}") from None
    return DEFAULT


def _chosen_options():
    return _chosen[1] if _chosen is not None else {}


def set_backend(name, **options):
    """Choose the backend for models built from now on.

    ``options`` go to the backend: ``device=`` ("cpu", "cuda", "mps") for
    ``torch`` and ``manual``, and ``array="numpy"|"torch"`` for ``manual``.
    """
    global _chosen
    _validate(name)
    extra = _package_missing(name)
    if extra is not None:
        raise ImportError(
            f"backend {name!r} needs the {extra} package, which is not installed; "
            f'install it with: pip install "dlcourse[{extra}]"'
        )
    _chosen = (name, dict(options))
    return name


@contextmanager
def backend(name, **options):
    """Use backend ``name`` inside a ``with`` block, then restore the previous choice."""
    global _chosen
    previous = _chosen
    set_backend(name, **options)
    try:
        yield name
    finally:
        _chosen = previous


def load(name=None, **options):
    """The Backend object for ``name`` and ``options`` (the chosen one when name is None).

    The backend's module is imported here, not before; the same configuration
    always gives back the same object.
    """
    if name is None:
        name, options = get_backend(), {**_chosen_options(), **options}
    _validate(name)
    key = (name, tuple(sorted(options.items())))
    if key in _instances:
        return _instances[key]
    extra = _package_missing(name)
    if extra is not None:
        raise ImportError(
            f"backend {name!r} needs the {extra} package, which is not installed; "
            f'install it with: pip install "dlcourse[{extra}]"'
        )
    try:
        module = importlib.import_module(_MODULES[name])
    except ModuleNotFoundError as err:
        if err.name != _MODULES[name]:
            raise
        ready = ", ".join(n for n in _MODULES if importlib.util.find_spec(_MODULES[n]))
        raise NotImplementedError(
            f"backend {name!r} is not part of this version of dlcourse yet; "
            f"the backends ready here are: {ready}."
        ) from None
    accepted = inspect.signature(module.create).parameters
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(
            f"backend {name!r} has no option {', '.join(unknown)}; "
            f"its options are: {', '.join(accepted) or 'none'}."
        )
    instance = module.create(**options)
    _instances[key] = instance
    return instance


def current():
    """The backend that ``dlcourse.ops`` uses now: the running model's, else the chosen one."""
    return _running if _running is not None else load()


@contextmanager
def running(instance):
    """Make ``instance`` the backend of ``dlcourse.ops`` while a model computes with it."""
    global _running
    previous = _running
    _running = instance
    try:
        yield instance
    finally:
        _running = previous
