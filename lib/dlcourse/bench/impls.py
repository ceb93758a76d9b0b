"""Who trains the networks: the rows of the benchmark, and what each one needs.

A row is an implementation (``impl``) on a computing library (``backend``):

- ``impl="dlcourse"``: ``model.fit`` of ``dlcourse.nn`` on one of its backends,
  ``manual``, ``autodiff``, ``torch``, ``tensorflow``, ``jax`` or ``pytensor``;
- ``impl="pytorch"``: the same network as a plain PyTorch training loop (the
  reference every ``ratio_to_torch`` divides by);
- ``impl="keras"``: Keras 3's ``model.fit`` with ``KERAS_BACKEND`` set to
  ``tensorflow``, ``jax`` or ``torch`` before Keras is imported.

On the command line and in ``run_bench(impls=...)`` a row is named by one word:
``manual``, ``autodiff``, ``torch``, ``tensorflow``, ``jax``, ``pytensor`` (the
dlcourse backends; note that ``torch`` is dlcourse's torch backend), ``pytorch``
(the plain loop), ``keras-tensorflow``, ``keras-jax``, ``keras-torch``; or by
a group: ``dlcourse`` (every backend) and ``keras`` (every Keras backend).
``keras:jax`` and ``dlcourse:manual`` are accepted too.
"""

import importlib.util
from dataclasses import dataclass

__all__ = ["IMPLS", "Impl", "missing_packages", "resolve_impls"]

DLCOURSE_BACKENDS = ("manual", "autodiff", "torch", "tensorflow", "jax", "pytensor")
KERAS_BACKENDS = ("tensorflow", "jax", "torch")
TORCH_CPU_HINT = "pip install torch --index-url https://download.pytorch.org/whl/cpu"


@dataclass(frozen=True)
class Impl:
    """One row kind: its name, (impl, backend) for the report, and what it needs."""

    name: str
    impl: str
    backend: str
    packages: tuple  # importable module names the row needs
    install: str  # the command that installs them
    networks: tuple = ("mlp", "cnn", "rnn", "transformer")
    devices: tuple = ("cpu", "cuda")
    keras_backend: str = None  # KERAS_BACKEND for the row's process

    @property
    def library(self):
        """The library that computes: numpy for manual and autodiff, else the backend."""
        return "numpy" if self.backend in ("manual", "autodiff") else self.backend

    def unsupported(self, network, device):
        """Why this row cannot run ``network`` on ``device``; None when it can."""
        if network not in self.networks:
            return f"{self.name} does not run the {network} network"
        if device not in self.devices:
            return f"the {self.name} backend runs on the CPU only"
        return None


def _dlcourse(backend):
    extra = {"manual": None, "autodiff": None}.get(backend, backend)
    packages = ("numpy",) if extra is None else (extra,)
    install = 'pip install "dlcourse"' if extra is None else f'pip install "dlcourse[{extra}]"'
    if backend == "torch":
        install = TORCH_CPU_HINT
    gpu = backend in ("manual", "torch", "tensorflow", "jax")
    return Impl(
        name=backend,
        impl="dlcourse",
        backend=backend,
        packages=packages,
        install=install,
        devices=("cpu", "cuda") if gpu else ("cpu",),
    )


def _keras(backend):
    install = "pip install keras " + (
        "torch --index-url https://download.pytorch.org/whl/cpu" if backend == "torch" else backend
    )
    return Impl(
        name=f"keras-{backend}",
        impl="keras",
        backend=backend,
        packages=("keras", backend),
        install=install,
        keras_backend=backend,
    )


IMPLS = {
    "pytorch": Impl("pytorch", "pytorch", "torch", ("torch",), TORCH_CPU_HINT),
    **{b: _dlcourse(b) for b in DLCOURSE_BACKENDS},
    **{f"keras-{b}": _keras(b) for b in KERAS_BACKENDS},
}
GROUPS = {
    "dlcourse": [b for b in DLCOURSE_BACKENDS],
    "keras": [f"keras-{b}" for b in KERAS_BACKENDS],
}


def missing_packages(impl):
    """The packages ``impl`` needs that are not installed (found without importing them)."""
    return [p for p in impl.packages if importlib.util.find_spec(p) is None]


def _one(name):
    key = str(name).strip().lower().replace(":", "-").replace("/", "-")
    if key.startswith("dlcourse-"):
        key = key[len("dlcourse-") :]
    if key in GROUPS:
        return GROUPS[key]
    if key in IMPLS:
        return [key]
    raise ValueError(
        f"unknown implementation {name!r}; choose from: {', '.join([*IMPLS, *GROUPS])}."
    )


def resolve_impls(impls=None):
    """The ``Impl`` rows named by ``impls`` (a list, or a comma-separated string), in order.

    ``None`` means all of them. The plain PyTorch loop always comes first: it is the
    reference of every ratio.
    """
    if impls is None:
        names = list(IMPLS)
    else:
        if isinstance(impls, str):
            impls = [part for part in impls.split(",") if part.strip()]
        names = [n for name in impls for n in _one(name)]
        if not names:
            raise ValueError("impls: expected at least one implementation, got none.")
    ordered = ["pytorch"] + [n for n in dict.fromkeys(names) if n != "pytorch"]
    return [IMPLS[n] for n in ordered]
