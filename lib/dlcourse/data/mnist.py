"""MNIST: 70,000 handwritten digits of 28x28 pixels, downloaded once and cached.

The four gzipped IDX files are fetched from :data:`MNIST_URL` (or the mirror named by
the ``url`` argument or the ``DLCOURSE_MNIST_URL`` environment variable), checked
against :data:`MNIST_SHA256`, and kept in ``<cache_dir>/mnist/``. Later calls read the
cache and never touch the network.
"""

import os
from pathlib import Path

import numpy as np

from dlcourse.data.dataset import Dataset
from dlcourse.data.download import default_cache_dir, fetch_file
from dlcourse.data.errors import DatasetError
from dlcourse.data.idx import read_idx

__all__ = ["load_mnist", "MNIST_URL", "MNIST_URL_ENV", "MNIST_FILES", "MNIST_SHA256"]

# The Google Cloud Storage copy that TensorFlow's datasets download; the same four files
# are served by https://ossci-datasets.s3.amazonaws.com/mnist/ (PyTorch's mirror).
MNIST_URL = "https://storage.googleapis.com/cvdf-datasets/mnist/"
MNIST_URL_ENV = "DLCOURSE_MNIST_URL"

MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}

# SHA-256 of the original gzipped files (9,912,422 / 28,881 / 1,648,877 / 4,542 bytes),
# as pinned by TensorFlow Datasets' checksum list for the mirror above.
MNIST_SHA256 = {
    "train-images-idx3-ubyte.gz": (
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"
    ),
    "train-labels-idx1-ubyte.gz": (
        "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"
    ),
    "t10k-images-idx3-ubyte.gz": (
        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"
    ),
    "t10k-labels-idx1-ubyte.gz": (
        "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"
    ),
}


def _checksum_table(checksums):
    table = dict(MNIST_SHA256)
    if checksums:
        unknown = sorted(set(checksums) - set(table))
        if unknown:
            raise ValueError(
                f"checksums: expected keys among {sorted(table)}, got unknown {unknown}."
            )
        table.update(checksums)
    return table


def _pixels(path, flat):
    images = read_idx(path, name=path.name)
    if images.ndim != 3 or images.shape[1:] != (28, 28) or images.dtype != np.uint8:
        raise DatasetError(
            f"{path.name}: expected uint8 images of shape (n, 28, 28), "
            f"got {images.dtype} {images.shape}."
        )
    x = images.astype(np.float32) / np.float32(255.0)
    return x.reshape(len(x), 784) if flat else x.reshape(len(x), 1, 28, 28)


def _labels(path, n_images, images_name):
    labels = read_idx(path, name=path.name)
    if labels.shape != (n_images,):
        raise DatasetError(
            f"{path.name}: expected one label per image of {images_name}, shape "
            f"({n_images},), got shape {labels.shape}."
        )
    if labels.size and labels.max() > 9:
        raise DatasetError(f"{path.name}: expected labels 0..9, got {int(labels.max())}.")
    return labels.astype(np.int64)


def load_mnist(cache_dir=None, url=None, *, flat=True, checksums=None, timeout=30.0, progress=True):
    """The MNIST digits with their official split: 60,000 to train on, 10,000 to test.

    Args:
        cache_dir: folder for downloads; the files go to ``<cache_dir>/mnist/``. Default:
            ``$DLCOURSE_CACHE``, else ``~/.cache/dlcourse``.
        url: base URL of a mirror holding the four ``*-ubyte.gz`` files. Default:
            ``$DLCOURSE_MNIST_URL``, else :data:`MNIST_URL`. ``file:///some/folder/`` works.
        flat: True -> ``x`` has shape (n, 784); False -> (n, 1, 28, 28) NCHW images.
        checksums: ``{file name: sha256}`` replacing entries of :data:`MNIST_SHA256`,
            for a mirror that serves other files.
        timeout: seconds to wait for the server.
        progress: show a progress bar while downloading.

    Returns:
        A :class:`Dataset` like :func:`load_digits`'s: float32 pixels in [0, 1], int64
        labels 0..9, ``class_names == ("0", ..., "9")``.

    Raises:
        DatasetUnavailable: a file is not cached and the mirror cannot be reached; the
            message names the URL, the cache path and how to fix it.
        ChecksumMismatch: a downloaded file differs from its expected SHA-256.
    """
    base = url or os.environ.get(MNIST_URL_ENV) or MNIST_URL
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    folder = root / "mnist"
    table = _checksum_table(checksums)
    hint = (
        f"MNIST needs the four files {', '.join(MNIST_FILES.values())} in {folder}; "
        f"or set {MNIST_URL_ENV} (or pass url=) to a mirror you can reach."
    )
    paths = {}
    for key, name in MNIST_FILES.items():
        paths[key] = fetch_file(
            base.rstrip("/") + "/" + name,
            folder / name,
            table[name],
            timeout=timeout,
            progress=progress,
            hint=hint,
        )
    x_train = _pixels(paths["train_images"], flat)
    y_train = _labels(paths["train_labels"], len(x_train), MNIST_FILES["train_images"])
    x_test = _pixels(paths["test_images"], flat)
    y_test = _labels(paths["test_labels"], len(x_test), MNIST_FILES["test_images"])
    return Dataset(x_train, y_train, x_test, y_test, tuple(str(d) for d in range(10)))
