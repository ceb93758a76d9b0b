"""Tests for dlcourse.data: bundled digits, toy generators, IDX parsing, cached MNIST.

The MNIST tests never touch the internet: they build tiny fake IDX files, serve them
from a local http.server on 127.0.0.1, and point HOME, the cache and the mirror
environment variable at temporary folders.
"""

import gzip
import hashlib
import http.server
import socket
import threading

import numpy as np
import pytest

from dlcourse import data
from dlcourse.data import (
    ChecksumMismatch,
    DatasetError,
    DatasetUnavailable,
    load_digits,
    load_mnist,
    make_moons,
    make_spirals,
    read_idx,
)
from dlcourse.data.mnist import MNIST_FILES, MNIST_SHA256

# ----------------------------------------------------------------------------- helpers


def closed_port_url():
    """A URL on 127.0.0.1 where nothing listens: connecting is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/mnist/"


def idx_bytes(array, type_byte):
    """Encode ``array`` as an IDX file by the format's definition (header + big-endian)."""
    big = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    header = bytes([0, 0, type_byte, array.ndim])
    header += b"".join(int(s).to_bytes(4, "big") for s in array.shape)
    return header + np.ascontiguousarray(array, dtype=big[type_byte]).tobytes()


def sha256(raw):
    return hashlib.sha256(raw).hexdigest()


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """No test may reach the real internet or write into the real home or cwd."""
    home, cwd = tmp_path / "home", tmp_path / "cwd"
    home.mkdir()
    cwd.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(cwd)
    monkeypatch.delenv("DLCOURSE_CACHE", raising=False)
    # A default download would go to a closed local port, never to the real mirror.
    monkeypatch.setenv("DLCOURSE_MNIST_URL", closed_port_url())
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "*")
    return {"home": home, "cwd": cwd}


@pytest.fixture(scope="module")
def fake_mnist():
    """Four small gzipped IDX files shaped like MNIST's, plus what they contain."""
    rng = np.random.default_rng(123)
    arrays = {
        "train_images": rng.integers(0, 256, size=(6, 28, 28), dtype=np.uint8),
        "train_labels": np.array([3, 1, 4, 1, 5, 9], dtype=np.uint8),
        "test_images": rng.integers(0, 256, size=(4, 28, 28), dtype=np.uint8),
        "test_labels": np.array([2, 6, 5, 0], dtype=np.uint8),
    }
    arrays["train_images"][0, 0, 0], arrays["train_images"][0, 0, 1] = 0, 255
    files = {
        MNIST_FILES[key]: gzip.compress(idx_bytes(a, 0x08), mtime=0) for key, a in arrays.items()
    }
    sums = {name: sha256(raw) for name, raw in files.items()}
    return {"arrays": arrays, "files": files, "sums": sums}


class FakeMirror:
    """An HTTP server on 127.0.0.1 that serves ``files`` and records each request."""

    def __init__(self, files):
        self.files = dict(files)
        self.requests = []
        mirror = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                mirror.requests.append(self.path)
                name = self.path.rsplit("/", 1)[-1]
                if name not in mirror.files:
                    self.send_error(404, "Not Found")
                    return
                body = mirror.files[name]
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):  # keep the test output quiet
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/mnist/"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def mirror(fake_mnist):
    server = FakeMirror(fake_mnist["files"])
    yield server
    server.close()


@pytest.fixture
def cache(tmp_path):
    return tmp_path / "cache"


def load_fake(cache, mirror, fake_mnist, **kwargs):
    return load_mnist(cache, mirror.url, checksums=fake_mnist["sums"], progress=False, **kwargs)


def files_under(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


# ----------------------------------------------------------------------------- digits


@pytest.fixture(scope="module")
def sklearn_digits():
    from sklearn.datasets import load_digits as sk_load

    return sk_load(return_X_y=True)


def test_digits_shapes_dtypes_and_range():
    ds = load_digits()
    assert ds.x_train.dtype == np.float32 and ds.x_test.dtype == np.float32
    assert ds.y_train.dtype == np.int64 and ds.y_test.dtype == np.int64
    assert ds.x_train.shape[1:] == (64,) and ds.x_test.shape[1:] == (64,)
    assert len(ds.x_train) == len(ds.y_train) and len(ds.x_test) == len(ds.y_test)
    assert len(ds.x_train) + len(ds.x_test) == 1797
    for x in (ds.x_train, ds.x_test):
        assert x.min() == 0.0 and x.max() == 1.0
    assert ds.class_names == tuple("0123456789") and ds.num_classes == 10
    assert set(np.unique(ds.y_train)) == set(range(10))
    assert f"x_train=float32{ds.x_train.shape}" in repr(ds)  # shapes, not numbers


def test_digits_split_is_a_stratified_partition(sklearn_digits):
    pixels, labels = sklearn_digits
    ds = load_digits(test_fraction=0.25, seed=3)
    # Every original image appears exactly once across train and test, with its label.
    together = np.concatenate([ds.x_train, ds.x_test]) * 16
    got = np.concatenate([together, np.concatenate([ds.y_train, ds.y_test])[:, None]], 1)
    want = np.concatenate([pixels, labels[:, None]], 1)
    order = lambda a: a[np.lexsort(a.T[::-1])]  # noqa: E731 - sort rows lexicographically
    np.testing.assert_array_equal(order(got), order(want))
    # Each class keeps its share of the test set.
    per_class = np.bincount(labels, minlength=10)
    test_counts = np.bincount(ds.y_test, minlength=10)
    assert np.all(np.abs(test_counts - 0.25 * per_class) <= 0.5 + 1e-9)
    # Classes are mixed, not sorted, inside each part.
    assert not np.all(np.diff(ds.y_train) >= 0)


def test_digits_is_reproducible_and_seed_changes_the_split():
    a, b, c = load_digits(seed=7), load_digits(seed=7), load_digits(seed=8)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert a.x_test.shape == c.x_test.shape
    assert not np.array_equal(a.x_test, c.x_test)


def test_digits_images_layout_matches_flat():
    flat, images = load_digits(flat=True), load_digits(flat=False)
    assert images.x_train.shape == (len(flat.x_train), 1, 8, 8)
    assert images.x_test.shape == (len(flat.x_test), 1, 8, 8)
    np.testing.assert_array_equal(images.x_train.reshape(-1, 64), flat.x_train)


@pytest.mark.parametrize("bad", [0, 1, -0.1, 1.5])
def test_digits_rejects_bad_test_fraction(bad):
    with pytest.raises(ValueError, match="test_fraction"):
        load_digits(test_fraction=bad)


# ----------------------------------------------------------------------------- toy data


def test_spirals_shapes_balance_and_dtypes():
    x, y = make_spirals(40, classes=4, noise=0.3, seed=1)
    assert x.shape == (160, 2) and x.dtype == np.float32
    assert y.shape == (160,) and y.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(y), [40, 40, 40, 40])


def test_spirals_are_reproducible():
    x1, y1 = make_spirals(30, seed=5)
    x2, y2 = make_spirals(30, seed=5)
    x3, _ = make_spirals(30, seed=6)
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)
    assert not np.allclose(x1, x3)


def test_spirals_without_noise_are_rotated_copies_of_one_arm():
    n, classes = 50, 3
    x, y = make_spirals(n, classes=classes, noise=0.0)
    arm0 = x[y == 0].astype(np.float64)
    # Radii grow evenly from the centre to 1.
    np.testing.assert_allclose(np.hypot(arm0[:, 0], arm0[:, 1]), np.linspace(0, 1, n), atol=1e-6)
    # The arm turns around the centre (its direction changes monotonically, > 90 degrees).
    angle = np.unwrap(np.arctan2(arm0[1:, 1], arm0[1:, 0]))
    assert np.all(np.diff(angle) > 0) and angle[-1] - angle[0] > np.pi / 2
    for k in range(1, classes):
        a = 2 * np.pi * k / classes
        rotation = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        np.testing.assert_allclose(x[y == k], arm0 @ rotation.T, atol=1e-6)


def test_spirals_noise_moves_points_along_the_arm():
    clean, _ = make_spirals(200, noise=0.0)
    noisy, _ = make_spirals(200, noise=0.2)
    assert not np.allclose(clean, noisy, atol=1e-3)
    np.testing.assert_allclose(
        np.linalg.norm(noisy, axis=1), np.linalg.norm(clean, axis=1), atol=1e-6
    )


def test_moons_shapes_balance_and_reproducible():
    x, y = make_moons(25, noise=0.1, seed=2)
    assert x.shape == (50, 2) and x.dtype == np.float32
    assert y.shape == (50,) and y.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(y), [25, 25])
    x2, _ = make_moons(25, noise=0.1, seed=2)
    x3, _ = make_moons(25, noise=0.1, seed=3)
    np.testing.assert_array_equal(x, x2)
    assert not np.allclose(x, x3)


def test_moons_without_noise_lie_on_two_hooked_half_circles():
    x, y = make_moons(60, noise=0.0)
    upper, lower = x[y == 0].astype(np.float64), x[y == 1].astype(np.float64)
    np.testing.assert_allclose(np.hypot(*upper.T), 1.0, atol=1e-6)
    assert upper[:, 1].min() >= -1e-6
    np.testing.assert_allclose(np.hypot(lower[:, 0] - 1.0, lower[:, 1] - 0.5), 1.0, atol=1e-6)
    assert lower[:, 1].max() <= 0.5 + 1e-6
    # Both ends of each half circle are reached: x spans [-1, 1] and [0, 2].
    np.testing.assert_allclose([upper[:, 0].min(), upper[:, 0].max()], [-1, 1], atol=1e-6)
    np.testing.assert_allclose([lower[:, 0].min(), lower[:, 0].max()], [0, 2], atol=1e-6)


def test_moons_noise_has_the_requested_spread():
    clean, _ = make_moons(4000, noise=0.0)
    noisy, _ = make_moons(4000, noise=0.3, seed=4)
    assert abs(np.std(noisy - clean) - 0.3) < 0.015


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: make_spirals(0), "n"),
        (lambda: make_spirals(10, classes=1), "classes"),
        (lambda: make_spirals(10, noise=-1), "noise"),
        (lambda: make_moons(2.5), "n"),
        (lambda: make_moons(10, noise=float("nan")), "noise"),
    ],
)
def test_toy_generators_name_the_bad_argument(call, name):
    with pytest.raises(ValueError, match=rf"^{name}:"):
        call()


# ----------------------------------------------------------------------------- IDX files


def test_read_idx_round_trips_several_types(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    np.testing.assert_array_equal(read_idx(idx_bytes(images, 0x08)), images)
    ints = np.array([[-70000, 1], [2, 123456789]], dtype=np.int32)
    got = read_idx(idx_bytes(ints, 0x0C))
    np.testing.assert_array_equal(got, ints)
    assert got.dtype == np.int32 and got.dtype.isnative
    floats = np.array([0.5, -2.25], dtype=np.float64)
    np.testing.assert_array_equal(read_idx(idx_bytes(floats, 0x0E)), floats)
    path = tmp_path / "x-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(idx_bytes(images, 0x08)))
    np.testing.assert_array_equal(read_idx(path), images)


def test_read_idx_rejects_bad_files_naming_them():
    good = idx_bytes(np.zeros((2, 2), np.uint8), 0x08)
    with pytest.raises(ValueError, match="my-file.*not an IDX file"):
        read_idx(b"\x1f\x8b\x08\x00" + good, name="my-file")
    with pytest.raises(ValueError, match=r"short-file.*\(2, 2\)"):
        read_idx(good[:-1], name="short-file")


# ----------------------------------------------------------------------------- MNIST


def test_mnist_downloads_parses_and_caches(cache, mirror, fake_mnist, capsys):
    ds = load_mnist(cache, mirror.url, checksums=fake_mnist["sums"])
    arrays = fake_mnist["arrays"]
    assert ds.x_train.shape == (6, 784) and ds.x_test.shape == (4, 784)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    assert ds.x_train.min() == 0.0 and ds.x_train.max() == 1.0
    np.testing.assert_allclose(
        ds.x_train, arrays["train_images"].reshape(6, 784) / 255.0, rtol=1e-6
    )
    np.testing.assert_allclose(ds.x_test, arrays["test_images"].reshape(4, 784) / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(ds.y_train, arrays["train_labels"])
    np.testing.assert_array_equal(ds.y_test, arrays["test_labels"])
    assert ds.class_names == tuple("0123456789")
    assert sorted(mirror.requests) == sorted(f"/mnist/{n}" for n in MNIST_FILES.values())
    for name, raw in fake_mnist["files"].items():
        assert (cache / "mnist" / name).read_bytes() == raw
    assert "train-images-idx3-ubyte.gz" in capsys.readouterr().err  # the progress bar


def test_mnist_second_call_reads_the_cache_only(cache, mirror, fake_mnist):
    load_fake(cache, mirror, fake_mnist)
    assert len(mirror.requests) == 4
    ds = load_fake(cache, mirror, fake_mnist, flat=False)
    assert len(mirror.requests) == 4
    assert ds.x_train.shape == (6, 1, 28, 28) and ds.x_test.shape == (4, 1, 28, 28)
    np.testing.assert_allclose(
        ds.x_train[:, 0], fake_mnist["arrays"]["train_images"] / 255.0, rtol=1e-6
    )


def test_mnist_redownloads_a_corrupted_cache_file(cache, mirror, fake_mnist):
    load_fake(cache, mirror, fake_mnist)
    damaged = cache / "mnist" / "train-labels-idx1-ubyte.gz"
    damaged.write_bytes(b"half a download")
    with pytest.warns(UserWarning, match="damaged"):
        ds = load_fake(cache, mirror, fake_mnist)
    assert mirror.requests[4:] == ["/mnist/train-labels-idx1-ubyte.gz"]
    assert damaged.read_bytes() == fake_mnist["files"]["train-labels-idx1-ubyte.gz"]
    np.testing.assert_array_equal(ds.y_train, fake_mnist["arrays"]["train_labels"])


def test_mnist_corrupted_cache_is_not_kept_when_offline(cache, mirror, fake_mnist):
    load_fake(cache, mirror, fake_mnist)
    damaged = cache / "mnist" / "t10k-images-idx3-ubyte.gz"
    damaged.write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="damaged"), pytest.raises(DatasetUnavailable):
        load_mnist(cache, closed_port_url(), checksums=fake_mnist["sums"], progress=False)
    assert not damaged.exists()


def test_mnist_wrong_bytes_raise_checksum_error_naming_the_file(cache, mirror, fake_mnist):
    wrong = gzip.compress(b"not the labels you are looking for")
    mirror.files["train-labels-idx1-ubyte.gz"] = wrong
    with pytest.raises(ChecksumMismatch) as info:
        load_fake(cache, mirror, fake_mnist)
    message = str(info.value)
    expected = fake_mnist["sums"]["train-labels-idx1-ubyte.gz"]
    assert "train-labels-idx1-ubyte.gz" in message
    assert expected in message and sha256(wrong) in message
    assert (info.value.file, info.value.expected, info.value.got) == (
        "train-labels-idx1-ubyte.gz",
        expected,
        sha256(wrong),
    )
    # The bad download left nothing behind: only the file verified before it is cached.
    assert files_under(cache / "mnist") == ["train-images-idx3-ubyte.gz"]


def test_mnist_default_checksums_are_the_real_ones(cache, mirror, fake_mnist):
    assert set(MNIST_SHA256) == set(MNIST_FILES.values())
    assert all(len(h) == 64 and set(h) <= set("0123456789abcdef") for h in MNIST_SHA256.values())
    # The fake files are not MNIST, so the built-in table must reject them.
    with pytest.raises(ChecksumMismatch) as info:
        load_mnist(cache, mirror.url, progress=False)
    assert info.value.expected == MNIST_SHA256["train-images-idx3-ubyte.gz"]


def test_mnist_offline_error_names_url_cache_path_and_fix(cache, fake_mnist):
    url = closed_port_url()
    with pytest.raises(DatasetUnavailable) as info:
        load_mnist(cache, url, checksums=fake_mnist["sums"], progress=False, timeout=5)
    message = str(info.value)
    assert isinstance(info.value, RuntimeError)
    assert url + "train-images-idx3-ubyte.gz" in message
    assert str(cache / "mnist" / "train-images-idx3-ubyte.gz") in message
    assert "DLCOURSE_MNIST_URL" in message and "copy" in message
    assert not (cache / "mnist").exists()  # nothing created when nothing was downloaded


def test_mnist_missing_file_on_mirror_is_unavailable(cache, mirror, fake_mnist):
    del mirror.files["t10k-labels-idx1-ubyte.gz"]
    with pytest.raises(DatasetUnavailable, match="404"):
        load_fake(cache, mirror, fake_mnist)


def test_mnist_writes_nothing_outside_the_cache(tmp_path, isolated, cache, mirror, fake_mnist):
    load_fake(cache, mirror, fake_mnist)
    assert files_under(cache) == ["mnist", *(f"mnist/{n}" for n in sorted(MNIST_FILES.values()))]
    assert files_under(isolated["home"]) == []
    assert files_under(isolated["cwd"]) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "cwd", "home"]


def test_mnist_env_vars_choose_mirror_and_cache(tmp_path, monkeypatch, mirror, fake_mnist):
    monkeypatch.setenv("DLCOURSE_MNIST_URL", mirror.url)
    monkeypatch.setenv("DLCOURSE_CACHE", str(tmp_path / "env-cache"))
    ds = load_mnist(checksums=fake_mnist["sums"], progress=False)
    assert len(ds.y_test) == 4 and len(mirror.requests) == 4
    assert (tmp_path / "env-cache" / "mnist" / "t10k-labels-idx1-ubyte.gz").exists()


def test_default_cache_dir_is_under_home_unless_overridden(isolated, tmp_path, monkeypatch):
    assert data.default_cache_dir() == isolated["home"] / ".cache" / "dlcourse"
    monkeypatch.setenv("DLCOURSE_CACHE", str(tmp_path / "elsewhere"))
    assert data.default_cache_dir() == tmp_path / "elsewhere"


def test_mnist_rejects_unknown_checksum_names(cache):
    with pytest.raises(ValueError, match="checksums"):
        load_mnist(cache, checksums={"mnist.npz": "0" * 64})


def test_mnist_label_count_must_match_images(cache, mirror, fake_mnist):
    labels = gzip.compress(idx_bytes(np.arange(5, dtype=np.uint8), 0x08))
    mirror.files["train-labels-idx1-ubyte.gz"] = labels
    sums = {**fake_mnist["sums"], "train-labels-idx1-ubyte.gz": sha256(labels)}
    with pytest.raises(DatasetError, match=r"train-labels-idx1-ubyte.gz.*\(6,\)"):
        load_mnist(cache, mirror.url, checksums=sums, progress=False)


def test_importing_data_stays_light():
    import subprocess
    import sys

    code = (
        "import sys, dlcourse.data; "
        "heavy = {'torch', 'tensorflow', 'jax', 'sklearn', 'matplotlib', 'tqdm'}; "
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
