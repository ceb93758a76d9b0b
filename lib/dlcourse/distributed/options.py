"""What a data-parallel run is asked to do, checked once, shared by every engine.

A :class:`TrainOptions` travels from the command (or ``train()``) to the
worker processes as JSON, so every rank reads the same settings. The helpers
here are what every engine needs in the same form, so that a 2-process torch
run, a 2-device TensorFlow run and a 1-process run draw the same batches:

- :func:`build_model` -- the dlcourse model, from the seed (same initial weights everywhere);
- :func:`load_data` -- the training and test arrays;
- :func:`epoch_order` and :func:`shard` -- which rows each rank trains on at each step.
"""

import dataclasses
import json
import os

import numpy as np

__all__ = [
    "ENGINES",
    "FAIL_HOOK",
    "TrainOptions",
    "build_model",
    "epoch_order",
    "injected_failure",
    "load_data",
    "shard",
    "steps_per_epoch",
]

ENGINES = ("torch", "tensorflow")
MODELS = ("mlp",)
DATASETS = ("digits",)
OPTIMIZERS = ("sgd", "adam")
DTYPES = ("float32", "float64")

#: Test hook: "RANK:STEP" makes that rank raise at that (0-based, global) step.
FAIL_HOOK = "DLCOURSE_TRAIN_FAIL"


@dataclasses.dataclass
class TrainOptions:
    """Settings of one run; ``batch_size`` is the *global* batch, split over the ranks.

    ``threads``: CPU threads per torch rank (default: the cores shared out over
    the ranks), or TensorFlow's intra-op threads (default: TensorFlow's choice).
    """

    engine: str
    nproc: int
    model: str = "mlp"
    dataset: str = "digits"
    epochs: int = 3
    batch_size: int = 64
    lr: float = 0.01
    optimizer: str = "adam"
    dtype: str = "float32"
    seed: int = 0
    timeout: float = 300.0
    steps_per_epoch: int | None = None
    device: str | None = None
    threads: int | None = None
    json_path: str | None = None
    verbose: bool = True

    def __post_init__(self):
        _choice("engine", self.engine, ENGINES)
        _choice("model", self.model, MODELS)
        _choice("dataset", self.dataset, DATASETS)
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _choice("dtype", self.dtype, DTYPES)
        _positive_int("nproc", self.nproc)
        _positive_int("epochs", self.epochs)
        _positive_int("batch_size", self.batch_size)
        if self.steps_per_epoch is not None:
            _positive_int("steps_per_epoch", self.steps_per_epoch)
        if self.threads is not None:
            _positive_int("threads", self.threads)
        if not (isinstance(self.lr, (int, float)) and self.lr > 0):
            raise ValueError(f"lr: expected a positive number, got {self.lr!r}.")
        if not (isinstance(self.timeout, (int, float)) and self.timeout > 0):
            raise ValueError(
                f"timeout: expected a positive number of seconds, got {self.timeout!r}."
            )
        if self.batch_size % self.nproc:
            raise ValueError(
                f"batch_size: the global batch ({self.batch_size}) must split evenly over "
                f"nproc={self.nproc} ranks; use a multiple of {self.nproc}, e.g. "
                f"{self.nproc * max(1, self.batch_size // self.nproc)}."
            )

    @property
    def local_batch(self):
        """Rows each rank takes from every global batch."""
        return self.batch_size // self.nproc

    def to_json(self):
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text):
        return cls(**json.loads(text))


def _choice(name, value, allowed):
    if value not in allowed:
        raise ValueError(f"{name}: expected one of {', '.join(allowed)}; got {value!r}.")


def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}: expected a positive whole number, got {value!r}.")


def load_data(options):
    """``(x_train, y_train, x_test, y_test)`` as NumPy, x in the run's dtype."""
    from dlcourse.data import load_digits

    data = load_digits()
    cast = options.dtype
    return data.x_train.astype(cast), data.y_train, data.x_test.astype(cast), data.y_test


def build_model(options, input_features):
    """The compiled dlcourse model on the backend chosen now (same seed -> same weights)."""
    from dlcourse.nn import Dense, Sequential, optimizers

    model = Sequential(
        [Dense(64, activation="relu"), Dense(10, activation="softmax")],
        seed=options.seed,
        dtype=options.dtype,
        input_shape=(input_features,),
    )
    rule = {"sgd": optimizers.SGD, "adam": optimizers.Adam}[options.optimizer]
    model.compile(
        optimizer=rule(learning_rate=options.lr),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def steps_per_epoch(options, n_examples):
    """Whole global batches per epoch; the incomplete last one is dropped so that every
    rank always gets the same number of rows (unequal shards would weigh ranks unequally)."""
    steps = n_examples // options.batch_size
    if steps == 0:
        raise ValueError(
            f"batch_size: the global batch ({options.batch_size}) is larger than the "
            f"{n_examples} training examples; use a smaller one."
        )
    if options.steps_per_epoch is not None:
        steps = min(steps, options.steps_per_epoch)
    return steps


def epoch_order(options, n_examples, epochs):
    """One row permutation per epoch, drawn from the seed: the same on every rank."""
    rng = np.random.default_rng([options.seed, 7])  # independent of the weights' stream
    return [rng.permutation(n_examples) for _ in range(epochs)]


def shard(order, step, options, rank):
    """The rows rank ``rank`` trains on at ``step``: its contiguous slice of the global batch."""
    start = step * options.batch_size + rank * options.local_batch
    return order[start : start + options.local_batch]


def injected_failure(rank, global_step):
    """Fail when the test hook ``DLCOURSE_TRAIN_FAIL`` names this rank and step.

    ``"RANK:STEP"`` raises a RuntimeError there; ``"RANK:STEP:hang"`` stops
    there forever instead, as a deadlocked or stuck worker would. It lets the
    tests (and a curious student) see what happens when one worker dies or
    stalls in the middle of training.
    """
    hook = os.environ.get(FAIL_HOOK)
    if not hook:
        return
    parts = hook.split(":")
    try:
        fail_rank, fail_step = int(parts[0]), int(parts[1])
        if len(parts) > 3 or parts[2:] not in ([], ["hang"]):
            raise ValueError
    except (ValueError, IndexError):
        raise ValueError(f"{FAIL_HOOK}={hook!r}: expected RANK:STEP or RANK:STEP:hang.") from None
    if fail_rank != rank or fail_step != global_step:
        return
    if parts[2:] == ["hang"]:
        import time

        while True:  # only the launcher's timeout ends this
            time.sleep(1)
    raise RuntimeError(f"injected failure at step {global_step} ({FAIL_HOOK}={hook})")
