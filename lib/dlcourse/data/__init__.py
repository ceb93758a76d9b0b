"""Datasets for the course: bundled, generated, and downloaded-then-cached.

Everything here works offline except the first call of :func:`load_mnist`:

- :func:`load_digits` -- scikit-learn's 8x8 handwritten digits, shipped with scikit-learn;
- :func:`make_spirals`, :func:`make_moons` -- 2-D toy problems for decision-boundary plots;
- :func:`load_mnist` -- the 28x28 MNIST digits, downloaded once, checked by SHA-256, cached.

Images come back as float32 in [0, 1] and labels as int64, in a :class:`Dataset`
with a fixed train/test split, so a model written for the digits runs on MNIST
by changing one line.
"""

from dlcourse.data.dataset import Dataset, stratified_split
from dlcourse.data.digits import load_digits
from dlcourse.data.download import default_cache_dir, fetch_file, sha256_of
from dlcourse.data.errors import ChecksumMismatch, DatasetError, DatasetUnavailable
from dlcourse.data.idx import read_idx
from dlcourse.data.mnist import load_mnist
from dlcourse.data.toy import make_moons, make_spirals

__all__ = [
    "Dataset",
    "stratified_split",
    "load_digits",
    "load_mnist",
    "make_spirals",
    "make_moons",
    "read_idx",
    "fetch_file",
    "sha256_of",
    "default_cache_dir",
    "DatasetError",
    "DatasetUnavailable",
    "ChecksumMismatch",
]
