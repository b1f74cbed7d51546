"""Tests for the data set loaders in wafersim.training.data."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from wafersim.training.data import (
    DataError,
    Dataset,
    load_dataset,
    load_digits,
    load_mnist,
    make_synthetic,
    read_idx,
    split,
)

REAL_MNIST_DIR = Path("/work/shared/data/mnist")

_IDX_CODES = {np.dtype("u1"): 0x08, np.dtype("i1"): 0x09, np.dtype("i2"): 0x0B,
              np.dtype("i4"): 0x0C, np.dtype("f4"): 0x0D, np.dtype("f8"): 0x0E}


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode an array in the IDX format (big-endian header and data)."""
    array = np.asarray(array)
    header = bytes([0, 0, _IDX_CODES[array.dtype], array.ndim])
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_idx(path: Path, array: np.ndarray) -> Path:
    """Write an IDX file, gzip-compressed when the name ends in .gz."""
    data = idx_bytes(array)
    if path.suffix == ".gz":
        with gzip.open(path, "wb") as fh:
            fh.write(data)
    else:
        path.write_bytes(data)
    return path


def write_mnist_pair(directory: Path, prefix: str, n: int, seed: int, gz: bool) -> tuple[np.ndarray, np.ndarray]:
    """Write `n` random 28x28 ubyte images and 0..9 labels under the standard MNIST names."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = (np.arange(n) % 10).astype(np.uint8)
    suffix = ".gz" if gz else ""
    write_idx(directory / f"{prefix}-images-idx3-ubyte{suffix}", images)
    write_idx(directory / f"{prefix}-labels-idx1-ubyte{suffix}", labels)
    return images, labels


def rows_as_set(X: np.ndarray) -> set[bytes]:
    return {row.tobytes() for row in X}


def assert_well_formed(ds: Dataset, n_features: int) -> None:
    for X in (ds.X_train, ds.X_test):
        assert X.dtype == np.float32 and X.flags.c_contiguous
        assert X.ndim == 2 and X.shape[1] == n_features
        assert X.min() >= 0.0 and X.max() <= 1.0
    for y in (ds.y_train, ds.y_test):
        assert y.dtype == np.int64 and y.flags.c_contiguous
        assert y.min() >= 0 and y.max() < ds.n_classes
    assert ds.X_train.shape[0] == ds.y_train.shape[0]
    assert ds.X_test.shape[0] == ds.y_test.shape[0]
    assert ds.n_features == n_features


# --- split and digits -------------------------------------------------------


def test_split_sizes_and_errors():
    X = np.arange(20, dtype=np.float32).reshape(10, 2)
    y = np.arange(10)
    Xtr, ytr, Xte, yte = split(X, y, 0.3, seed=1)
    assert len(yte) == 3 and len(ytr) == 7
    assert sorted(np.concatenate([ytr, yte]).tolist()) == list(range(10))
    # Labels still travel with their rows.
    np.testing.assert_array_equal(Xtr[:, 0], 2 * ytr)
    # A tiny fraction still leaves one test sample; a huge one still leaves one train sample.
    assert len(split(X, y, 0.01, seed=1)[3]) == 1
    assert len(split(X, y, 0.99, seed=1)[1]) == 1
    with pytest.raises(DataError):
        split(X[:1], y[:1], 0.5, seed=1)
    with pytest.raises(DataError):
        split(X, y, 0.0, seed=1)


def test_digits_shapes_dtypes_and_sizes():
    ds = load_digits(test_fraction=0.2, seed=0)
    assert_well_formed(ds, 64)
    assert ds.name == "digits" and ds.n_classes == 10
    n_test = round(0.2 * 1797)
    assert ds.X_test.shape == (n_test, 64)
    assert ds.X_train.shape == (1797 - n_test, 64)
    assert set(np.unique(ds.y_train)) == set(range(10))


def test_digits_deterministic_and_seed_dependent():
    a = load_digits(0.2, seed=3)
    b = load_digits(0.2, seed=3)
    c = load_digits(0.2, seed=4)
    for field in ("X_train", "y_train", "X_test", "y_test"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert not np.array_equal(a.y_train, c.y_train)


def test_digits_split_is_partition_of_full_set():
    from sklearn.datasets import load_digits as sk_load_digits

    full = sk_load_digits()
    X_full = (full.data / 16.0).astype(np.float32)
    ds = load_digits(0.2, seed=7)
    X_all = np.concatenate([ds.X_train, ds.X_test])
    y_all = np.concatenate([ds.y_train, ds.y_test])
    assert X_all.shape == X_full.shape
    # Sort by (label, pixels) so equal multisets compare equal.
    def canonical(X, y):
        keys = np.column_stack([y, X])
        return keys[np.lexsort(keys.T[::-1])]
    np.testing.assert_array_equal(canonical(X_all, y_all), canonical(X_full, full.target))
    # The digit images are all distinct, so disjoint rows mean disjoint samples.
    assert not rows_as_set(ds.X_train) & rows_as_set(ds.X_test)
    # The test part is the head of the seeded permutation, the train part its tail.
    idx = np.random.default_rng(7).permutation(1797)
    n_test = round(0.2 * 1797)
    np.testing.assert_array_equal(ds.X_test, X_full[idx[:n_test]])
    np.testing.assert_array_equal(ds.X_train, X_full[idx[n_test:]])


# --- IDX --------------------------------------------------------------------


@pytest.mark.parametrize("name", ["images-idx3-ubyte", "images-idx3-ubyte.gz"])
def test_read_idx_round_trips_ubyte_images(tmp_path, name):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4) * 7
    out = read_idx(write_idx(tmp_path / name, images))
    assert out.dtype == np.uint8 and out.shape == (2, 3, 4)
    np.testing.assert_array_equal(out, images)


@pytest.mark.parametrize("name", ["labels-idx1-ubyte", "labels-idx1-ubyte.gz"])
def test_read_idx_round_trips_labels(tmp_path, name):
    labels = np.array([3, 1, 4, 1, 5, 9, 2, 6], dtype=np.uint8)
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / name, labels)), labels)


@pytest.mark.parametrize("dtype", ["i1", "i2", "i4", "f4", "f8"])
def test_read_idx_other_types_are_big_endian(tmp_path, dtype):
    values = np.array([[-3, 0, 1], [2, 100, -100]], dtype=dtype)
    out = read_idx(write_idx(tmp_path / "x.idx", values))
    assert out.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(out, values)


def test_read_idx_missing_file(tmp_path):
    path = tmp_path / "nope-idx1-ubyte"
    with pytest.raises(DataError, match="nope-idx1-ubyte"):
        read_idx(path)


def test_read_idx_bad_magic(tmp_path):
    path = tmp_path / "bad-magic"
    path.write_bytes(b"\x01\x02\x08\x01" + struct.pack(">I", 2) + b"\x00\x01")
    with pytest.raises(DataError, match="magic") as err:
        read_idx(path)
    assert str(path) in str(err.value)
    # An unknown type code is also a bad magic number.
    path.write_bytes(b"\x00\x00\x07\x01" + struct.pack(">I", 2) + b"\x00\x01")
    with pytest.raises(DataError, match="magic"):
        read_idx(path)


@pytest.mark.parametrize("name", ["short-idx3-ubyte", "short-idx3-ubyte.gz"])
def test_read_idx_truncated(tmp_path, name):
    data = idx_bytes(np.zeros((4, 5, 5), dtype=np.uint8))[:-10]
    path = tmp_path / name
    if name.endswith(".gz"):
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)
    with pytest.raises(DataError, match="truncated") as err:
        read_idx(path)
    assert name in str(err.value)


def test_read_idx_truncated_header(tmp_path):
    path = tmp_path / "header-only"
    path.write_bytes(b"\x00\x00\x08\x03" + struct.pack(">I", 4))
    with pytest.raises(DataError, match="truncated"):
        read_idx(path)


def test_read_idx_corrupt_gzip(tmp_path):
    path = tmp_path / "broken.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.zeros(100, dtype=np.uint8)))[:-12])
    with pytest.raises(DataError, match="broken.gz"):
        read_idx(path)


# --- MNIST ------------------------------------------------------------------


@pytest.mark.parametrize("gz", [True, False])
def test_load_mnist_single_pair_is_split(tmp_path, gz):
    images, labels = write_mnist_pair(tmp_path, "t10k", 50, seed=0, gz=gz)
    ds = load_mnist(tmp_path, test_fraction=0.2, seed=1)
    assert_well_formed(ds, 784)
    assert ds.name == "mnist" and ds.n_classes == 10
    assert ds.X_test.shape == (10, 784) and ds.X_train.shape == (40, 784)
    expected = (images.reshape(50, -1) / 255.0).astype(np.float32)
    assert rows_as_set(np.concatenate([ds.X_train, ds.X_test])) == rows_as_set(expected)
    again = load_mnist(tmp_path, test_fraction=0.2, seed=1)
    np.testing.assert_array_equal(ds.X_train, again.X_train)


def test_load_mnist_only_train_pair_is_split(tmp_path):
    write_mnist_pair(tmp_path, "train", 30, seed=0, gz=False)
    ds = load_mnist(tmp_path, test_fraction=0.5, seed=0)
    assert len(ds.y_train) == 15 and len(ds.y_test) == 15


def test_load_mnist_both_pairs_used_as_given(tmp_path):
    train_images, train_labels = write_mnist_pair(tmp_path, "train", 40, seed=0, gz=True)
    test_images, test_labels = write_mnist_pair(tmp_path, "t10k", 12, seed=1, gz=False)
    ds = load_mnist(tmp_path, test_fraction=0.5, seed=9)
    np.testing.assert_array_equal(ds.X_train, (train_images.reshape(40, -1) / 255.0).astype(np.float32))
    np.testing.assert_array_equal(ds.y_train, train_labels.astype(np.int64))
    np.testing.assert_array_equal(ds.X_test, (test_images.reshape(12, -1) / 255.0).astype(np.float32))
    np.testing.assert_array_equal(ds.y_test, test_labels.astype(np.int64))


def test_load_mnist_empty_dir(tmp_path):
    with pytest.raises(DataError) as err:
        load_mnist(tmp_path, 0.2, 0)
    message = str(err.value)
    assert str(tmp_path) in message
    assert "t10k-images-idx3-ubyte" in message and "train-labels-idx1-ubyte" in message


def test_load_mnist_images_without_labels_is_no_pair(tmp_path):
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", np.zeros((3, 28, 28), dtype=np.uint8))
    with pytest.raises(DataError, match="no MNIST image\\+label pair"):
        load_mnist(tmp_path, 0.2, 0)


def test_load_mnist_missing_or_file_directory(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_mnist(tmp_path / "absent", 0.2, 0)
    not_dir = tmp_path / "file"
    not_dir.write_text("x")
    with pytest.raises(DataError, match="not a directory"):
        load_mnist(not_dir, 0.2, 0)


def test_load_mnist_count_mismatch(tmp_path):
    write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((5, 28, 28), dtype=np.uint8))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(4, dtype=np.uint8))
    with pytest.raises(DataError, match="5 images but .*4 labels"):
        load_mnist(tmp_path, 0.2, 0)


def test_load_mnist_images_not_3d(tmp_path):
    write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((5, 784), dtype=np.uint8))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(5, dtype=np.uint8))
    with pytest.raises(DataError, match="expected 3"):
        load_mnist(tmp_path, 0.2, 0)


@pytest.mark.skipif(
    not (REAL_MNIST_DIR / "t10k-images-idx3-ubyte.gz").is_file(),
    reason="real MNIST t10k files not present",
)
def test_real_mnist_t10k():
    ds = load_mnist(REAL_MNIST_DIR, test_fraction=0.2, seed=0)
    assert_well_formed(ds, 784)
    assert len(ds.y_train) + len(ds.y_test) == 10000
    assert len(ds.y_test) == 2000
    assert set(np.unique(np.concatenate([ds.y_train, ds.y_test]))) == set(range(10))


# --- synthetic --------------------------------------------------------------


def test_synthetic_deterministic_balanced_and_well_formed():
    a = make_synthetic(600, 20, 6, seed=5, test_fraction=0.25)
    b = make_synthetic(600, 20, 6, seed=5, test_fraction=0.25)
    c = make_synthetic(600, 20, 6, seed=6, test_fraction=0.25)
    assert_well_formed(a, 20)
    assert a.name == "synthetic" and a.n_classes == 6
    assert len(a.y_test) == 150 and len(a.y_train) == 450
    np.testing.assert_array_equal(a.X_train, b.X_train)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert not np.array_equal(a.X_train, c.X_train)
    counts = np.bincount(np.concatenate([a.y_train, a.y_test]), minlength=6)
    assert counts.tolist() == [100] * 6


def test_synthetic_is_learnable_by_nearest_centre():
    ds = make_synthetic(2000, 16, 10, seed=0, test_fraction=0.2)
    centres = np.stack([ds.X_train[ds.y_train == k].mean(axis=0) for k in range(10)])  # (10, 16)
    dist = ((ds.X_test[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)  # (n_test, 10)
    accuracy = float((dist.argmin(axis=1) == ds.y_test).mean())
    assert accuracy > 0.8  # chance is 0.1


def test_synthetic_rejects_bad_shapes():
    with pytest.raises(DataError):
        make_synthetic(5, 4, 10, seed=0, test_fraction=0.2)
    with pytest.raises(DataError):
        make_synthetic(100, 4, 1, seed=0, test_fraction=0.2)


# --- load_dataset -----------------------------------------------------------


def test_load_dataset_synthetic_default_and_explicit_samples():
    ds = load_dataset("synthetic", None, 0.2, 0, n_features=8, n_classes=3)
    assert len(ds.y_train) + len(ds.y_test) == 2000
    assert ds.n_features == 8 and ds.n_classes == 3
    small = load_dataset("synthetic", None, 0.2, 0, n_features=8, n_classes=3, samples=100)
    assert len(small.y_train) + len(small.y_test) == 100


def test_load_dataset_digits_subset():
    ds = load_dataset("digits", None, 0.25, 1, n_features=64, n_classes=10, samples=200)
    assert len(ds.y_test) == 50 and len(ds.y_train) == 150
    again = load_dataset("digits", None, 0.25, 1, n_features=64, n_classes=10, samples=200)
    np.testing.assert_array_equal(ds.X_train, again.X_train)
    with pytest.raises(DataError, match="dataset.samples"):
        load_dataset("digits", None, 0.25, 1, n_features=64, n_classes=10, samples=5000)


def test_load_dataset_mnist_subset_both_pairs(tmp_path):
    write_mnist_pair(tmp_path, "train", 40, seed=0, gz=False)
    write_mnist_pair(tmp_path, "t10k", 10, seed=1, gz=False)
    ds = load_dataset("mnist", tmp_path, 0.2, 0, n_features=784, n_classes=10, samples=25)
    assert len(ds.y_train) == 20 and len(ds.y_test) == 5


def test_load_dataset_mnist_single_pair(tmp_path):
    write_mnist_pair(tmp_path, "t10k", 50, seed=0, gz=True)
    ds = load_dataset("mnist", tmp_path, 0.2, 0, n_features=784, n_classes=10, samples=20)
    assert len(ds.y_train) == 16 and len(ds.y_test) == 4


def test_load_dataset_mnist_without_path():
    with pytest.raises(DataError, match="dataset.path"):
        load_dataset("mnist", None, 0.2, 0, n_features=784, n_classes=10)


def test_load_dataset_feature_mismatch():
    with pytest.raises(DataError) as err:
        load_dataset("digits", None, 0.2, 0, n_features=100, n_classes=10)
    assert str(err.value) == (
        "model.layers[0] is 100 but the digits inputs have 64 features; set model.layers[0] to 64"
    )


def test_load_dataset_class_mismatch():
    with pytest.raises(DataError) as err:
        load_dataset("digits", None, 0.2, 0, n_features=64, n_classes=5)
    assert "model.layers[-1] is 5 but digits has 10 classes" in str(err.value)
    assert "set model.layers[-1] to 10" in str(err.value)


def test_load_dataset_mnist_mismatch(tmp_path):
    write_mnist_pair(tmp_path, "t10k", 10, seed=0, gz=False)
    with pytest.raises(DataError, match=r"model\.layers\[0\] is 64 but the mnist inputs have 784 features"):
        load_dataset("mnist", tmp_path, 0.2, 0, n_features=64, n_classes=10)


def test_load_dataset_unknown_name():
    with pytest.raises(DataError, match="dataset.name"):
        load_dataset("cifar", None, 0.2, 0, n_features=3, n_classes=10)


def test_generated_data_is_made_once_per_process_and_read_only():
    """A sweep's runs of one synthetic set share it; no run can change it for the next."""
    a = load_dataset("synthetic", None, 0.25, 3, n_features=5, n_classes=3, samples=40)
    b = load_dataset("synthetic", None, 0.25, 3, n_features=5, n_classes=3, samples=40)
    assert a is b
    with pytest.raises(ValueError):
        a.X_train[0, 0] = 1.0
    other = load_dataset("synthetic", None, 0.25, 4, n_features=5, n_classes=3, samples=40)
    assert not np.array_equal(other.X_train, a.X_train)
