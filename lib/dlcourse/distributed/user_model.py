"""What ``dlcourse train --model ... --data ... --output ...`` trains, found and checked.

``--model`` names a compiled dlcourse model in one of two ways:

- a file written by ``model.save`` / ``save_model`` (architecture, weights
  and the compile settings), e.g. ``--model runs/mlp.npz``;
- ``module:function``, a function that returns a compiled model, e.g.
  ``--model my_models:small_cnn`` for ``def small_cnn():`` in
  ``my_models.py`` in the current folder (or in an installed package).

``--data`` is an ``.npz`` with arrays ``x`` and ``y`` (and, optionally,
``x_val`` and ``y_val`` for validation); without it, scikit-learn's digits
(the validation pair: its test split). Every problem is found before a
worker starts, and its message names the file or name and the fix.
"""

import importlib
import os
import re
import sys
from pathlib import Path

import numpy as np

__all__ = ["CommandError", "load_data", "output_path", "resolve_model"]

_MODULE_FUNCTION = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


class CommandError(ValueError):
    """A problem with what the command was given; the message says how to fix it."""


def resolve_model(spec):
    """The compiled model named by ``--model`` (a saved file or ``module:function``)."""
    if Path(spec).is_file():
        return _saved(spec)
    if _MODULE_FUNCTION.match(spec):
        return _built(spec)
    raise CommandError(
        f"--model {spec}: there is no such file, and it is not of the form module:function. "
        "Give the path of a model saved with model.save('model.npz'), or the function that "
        "builds your compiled model, e.g. --model my_models:build for def build() in "
        "my_models.py in this folder."
    )


def _saved(path):
    from dlcourse.nn.saving import load_model

    try:
        model = load_model(path)
    except (ValueError, OSError, KeyError) as err:
        raise CommandError(
            f"--model {path}: cannot read it as a saved dlcourse model ({err}). If it uses "
            "layer classes of your own, give instead the function that builds the model "
            "from them: --model my_module:build."
        ) from None
    return _compiled(model, f"the model saved in {path}", "save it after model.compile(...)")


def _built(spec):
    module_name, function_name = spec.split(":")
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # my_models.py next to where the command runs
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise CommandError(
            f"--model {spec}: cannot import module {module_name!r} ({err}). Run the "
            f"command in the folder that holds {module_name.replace('.', '/')}.py, or "
            "install the package it belongs to."
        ) from None
    function = module
    for part in function_name.split("."):
        function = getattr(function, part, None)
    if not callable(function):
        raise CommandError(
            f"--model {spec}: module {module_name!r} has no function {function_name!r}; "
            "name a function that builds and compiles the model and returns it."
        )
    try:
        model = function()
    except Exception as err:
        raise CommandError(
            f"--model {spec}: {function_name}() raised {type(err).__name__}: {err}"
        ) from err
    return _compiled(model, f"{function_name}() of {module_name}", "return it after compile")


def _compiled(model, what, fix):
    from dlcourse.nn.models import Model

    if not isinstance(model, Model):
        raise CommandError(
            f"--model: {what} gave {type(model).__name__}, not a dlcourse model; it must "
            "give a dlcourse.nn model (Sequential, or Model(inputs, outputs))."
        )
    if not model.compiled:
        raise CommandError(
            f"--model: {what} is not compiled: call model.compile(optimizer=..., loss=...) "
            f"and {fix}."
        )
    return model


def load_data(path):
    """``(x, y, validation or None)`` from ``--data`` (None: the digits demo data)."""
    if path is None:
        from dlcourse.data import load_digits

        digits = load_digits()
        return digits.x_train, digits.y_train, (digits.x_test, digits.y_test)
    if not Path(path).is_file():
        raise CommandError(f"--data {path}: no such file; give an .npz with arrays x and y.")
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise CommandError(f"--data {path}: cannot read it as an .npz file ({err}).") from None
    with data:
        missing = [name for name in ("x", "y") if name not in data.files]
        if missing:
            raise CommandError(
                f"--data {path}: it has no array {' or '.join(missing)} (it holds "
                f"{', '.join(data.files) or 'nothing'}). Write it with "
                "np.savez(path, x=inputs, y=targets), adding x_val=..., y_val=... for "
                "validation."
            )
        given = [name for name in ("x_val", "y_val") if name in data.files]
        if len(given) == 1:
            raise CommandError(
                f"--data {path}: it has {given[0]} but not its partner; give both x_val "
                "and y_val, or neither."
            )
        validation = (data["x_val"], data["y_val"]) if given else None
        return data["x"], data["y"], validation


def output_path(path, overwrite):
    """The file ``model.save(path)`` will write; refused when it exists, unless ``overwrite``."""
    if path is None:
        raise CommandError(
            "--model needs --output PATH: where to write the trained model (an .npz file)."
        )
    target = Path(path if str(path).endswith(".npz") else f"{path}.npz")
    if target.exists() and not overwrite:
        raise CommandError(
            f"--output {target}: the file exists already and would be overwritten. Choose "
            "another name, or add --overwrite to replace it."
        )
    if not target.parent.is_dir():
        raise CommandError(f"--output {target}: the folder {target.parent} does not exist.")
    return target
