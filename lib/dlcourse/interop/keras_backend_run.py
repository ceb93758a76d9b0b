"""Run a saved dlcourse model as a Keras 3 model, in this process's Keras backend.

Keras 3 reads ``KERAS_BACKEND`` (tensorflow, jax or torch) once, when it is
first imported, and cannot switch afterwards. To compare the three backends,
run this module once per backend, each time in a fresh process::

    KERAS_BACKEND=jax python -m dlcourse.interop.keras_backend_run model.npz data.npz out.json

It loads the model saved with ``model.save("model.npz")``, converts it with
``to_keras`` (same weights), predicts ``x`` from ``data.npz`` with both and
measures the largest difference, then trains the Keras model for an epoch (by default)
on ``(x_train, y_train)`` to show that Keras's own training runs on that
backend. The figures are written as JSON to ``out.json`` (and printed), so the
caller never has to import Keras itself. Nothing is imported until ``main``
runs, so importing this module stays light.
"""

import argparse
import json
import os
import sys
import time

__all__ = ["main", "run"]


def run(model_path, data_path, epochs=1):
    """The comparison and the short training, as a dict of plain numbers and strings."""
    import numpy as np

    started = time.perf_counter()
    import keras  # the backend is fixed here, from KERAS_BACKEND

    from dlcourse.interop import to_keras
    from dlcourse.nn import load_model

    import_seconds = time.perf_counter() - started
    model = load_model(model_path)
    with np.load(data_path, allow_pickle=False) as data:
        x, y = data["x"], data["y"]
        x_train, y_train = data["x_train"], data["y_train"]
    keras_model = to_keras(model)
    ours = model.predict(x)
    theirs = np.asarray(keras_model.predict(x, verbose=0))
    keras_model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    # shuffle=False: the same batches in the same order on every backend, no seed needed
    history = keras_model.fit(
        x_train, y_train, epochs=epochs, batch_size=32, shuffle=False, verbose=0
    )
    _, accuracy_after = keras_model.evaluate(x, y, verbose=0)
    return {
        "backend": keras.backend.backend(),
        "keras_version": keras.__version__,
        "max_abs_difference": float(np.abs(ours - theirs).max()),
        "same_predicted_classes": bool((ours.argmax(1) == theirs.argmax(1)).all()),
        "accuracy_converted": float((theirs.argmax(1) == y).mean()),
        "keras_fit_losses": [float(v) for v in history.history["loss"]],
        "accuracy_after_keras_fit": float(accuracy_after),
        "import_seconds": import_seconds,
        "total_seconds": time.perf_counter() - started,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a model saved with model.save (.npz)")
    parser.add_argument("data", help=".npz with arrays x, y (to compare) and x_train, y_train")
    parser.add_argument("out", help="where to write the results (JSON)")
    parser.add_argument("--epochs", type=int, default=1, help="Keras training epochs")
    args = parser.parse_args(argv)
    if not os.environ.get("KERAS_BACKEND"):
        print("note: KERAS_BACKEND is not set; Keras uses its default (tensorflow)")
    results = run(args.model, args.data, epochs=args.epochs)
    with open(args.out, "w") as file:
        json.dump(results, file, indent=1)
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
