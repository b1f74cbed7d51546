"""Tests for the image data set loaders in wafersim.training.images (CIFAR-10/100, SVHN, MNIST/digits as images).

Every file is a tiny one built here in the real format (a few images each), in the layouts the archives
extract to; every error message is pinned.
"""

from __future__ import annotations

import os
import pickle
import struct
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from wafersim.training import data as data_module
from wafersim.training import images
from wafersim.training.data import DataError, load_digits, load_mnist, split
from wafersim.training.images import (
    ChannelStats,
    ImageDataset,
    as_images,
    channel_stats,
    cifar_folder,
    image_counts,
    load_cifar10,
    load_cifar100,
    load_digits_images,
    load_images,
    load_mnist_images,
    load_svhn,
    normalize_channels,
    read_cifar_binary,
    read_cifar_python,
    read_svhn,
    split_images,
    to_images,
)

from .test_data import write_mnist_pair

# --- builders of files in each format ----------------------------------------------------


def pixels(n: int, seed: int) -> np.ndarray:
    """n random CIFAR rows, uint8 (n, 3072)."""
    return np.random.default_rng(seed).integers(0, 256, size=(n, 3072), dtype=np.uint8)


def batch_pickle(data: np.ndarray, labels, key: bytes = b"labels", protocol: int = pickle.HIGHEST_PROTOCOL,
                 **extra) -> bytes:
    batch = {b"batch_label": b"a test batch", b"data": data, key: [int(v) for v in labels],
             b"filenames": [b"x.png"] * len(data)}
    batch.update({k.encode(): v for k, v in extra.items()})
    return pickle.dumps(batch, protocol=protocol)


def py2_batch_pickle(data: np.ndarray, labels, key: bytes = b"labels") -> bytes:
    """A batch as the CIFAR site ships it: cPickle protocol 2 from Python 2 with NumPy 1 (py2 str keys,
    numpy.core.multiarray._reconstruct), assembled opcode by opcode."""
    def string(b: bytes) -> bytes:  # SHORT_BINSTRING: a py2 str, bytes under encoding="bytes"
        return b"U" + bytes([len(b)]) + b
    raw = data.tobytes()
    out = b"\x80\x02}(" + string(b"batch_label") + string(b"training batch 1 of 5")
    out += string(b"data") + b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85" + string(b"b")
    out += b"\x87R(K\x01J" + struct.pack("<i", len(data)) + b"M" + struct.pack("<H", 3072) + b"\x86"
    out += b"cnumpy\ndtype\n" + string(b"u1") + b"K\x00K\x01\x87R(K\x03" + string(b"|")
    out += b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
    out += b"\x89T" + struct.pack("<I", len(raw)) + raw + b"tb"
    out += string(key) + b"](" + b"".join(b"K" + bytes([int(v)]) for v in labels) + b"eu."
    return out


def binary_records(data: np.ndarray, labels, coarse=None) -> bytes:
    """CIFAR-10 records (label, 3072 pixels), or CIFAR-100 ones (coarse, fine, 3072 pixels) when coarse is given."""
    heads = [np.asarray(labels, np.uint8)[:, None]]
    if coarse is not None:
        heads.insert(0, np.asarray(coarse, np.uint8)[:, None])
    return np.concatenate([*heads, data], axis=1).tobytes()


def write_cifar10(folder: Path, version: str, per_batch: int = 2, n_test: int = 3, seed: int = 0,
                  train: bool = True, test: bool = True):
    """The CIFAR-10 files of one version in `folder`; returns (train rows, train labels, test rows, test labels)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = pixels(5 * per_batch + n_test, seed)
    labels = rng.integers(0, 10, size=len(rows))
    suffix = ".bin" if version == "binary" else ""
    for k in range(5 if train else 0):
        sl = slice(k * per_batch, (k + 1) * per_batch)
        write_cifar_file(folder / f"data_batch_{k + 1}{suffix}", version, rows[sl], labels[sl])
    if test:
        write_cifar_file(folder / f"test_batch{suffix}", version, rows[5 * per_batch:], labels[5 * per_batch:])
    return rows[: 5 * per_batch], labels[: 5 * per_batch], rows[5 * per_batch:], labels[5 * per_batch:]


def write_cifar_file(path: Path, version: str, rows, labels) -> None:
    path.write_bytes(binary_records(rows, labels) if version == "binary" else batch_pickle(rows, labels))


def write_cifar100(folder: Path, version: str, n_train: int = 4, n_test: int = 2, seed: int = 0):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = pixels(n_train + n_test, seed)
    fine = rng.integers(0, 100, size=len(rows))
    coarse = fine // 5
    for name, sl in (("train", slice(0, n_train)), ("test", slice(n_train, None))):
        if version == "binary":
            (folder / f"{name}.bin").write_bytes(binary_records(rows[sl], fine[sl], coarse[sl]))
        else:
            (folder / name).write_bytes(batch_pickle(rows[sl], fine[sl], key=b"fine_labels",
                                                     coarse_labels=[int(c) for c in coarse[sl]]))
    return rows[:n_train], fine[:n_train], rows[n_train:], fine[n_train:]


def svhn_arrays(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """X uint8 (32, 32, 3, n) and y (n, 1) of labels 1..10, as SVHN's .mat files hold them."""
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 256, size=(32, 32, 3, n), dtype=np.uint8)
    y = (np.arange(n) % 10 + 1).astype(np.uint8).reshape(n, 1)
    return X, y


def write_mat(path: Path, compress: bool = False, **variables) -> Path:
    scipy.io.savemat(path, variables, do_compression=compress)
    return path


def write_svhn(folder: Path, n_train: int = 5, n_test: int = 3, n_extra: int | None = None):
    folder.mkdir(parents=True, exist_ok=True)
    parts = {}
    for name, n, seed in (("train", n_train, 1), ("test", n_test, 2), ("extra", n_extra, 3)):
        if n is not None:
            X, y = svhn_arrays(n, seed)
            write_mat(folder / f"{name}_32x32.mat", X=X, y=y)
            parts[name] = (X, y)
    return parts


def expected_images(rows: np.ndarray) -> np.ndarray:
    """CIFAR rows as the loaders should give them: (n, 3, 32, 32) of v / 255 in float32."""
    return (rows.reshape(-1, 3, 32, 32).astype(np.float64) / 255.0).astype(np.float32)


def error(call, *args, **kwargs) -> str:
    """The DataError message `call` raises: one line and short."""
    with pytest.raises(DataError) as err:
        call(*args, **kwargs)
    message = str(err.value)
    assert "\n" not in message and len(message.encode()) <= 1500
    return message


# --- CIFAR ---------------------------------------------------------------------------------


@pytest.mark.parametrize("version, folder", [("binary", "cifar-10-batches-bin"), ("python", "cifar-10-batches-py")])
def test_cifar10_from_the_archive_folder_or_its_parent(tmp_path, version, folder):
    Xtr, ytr, Xte, yte = write_cifar10(tmp_path / folder, version)
    for path in (tmp_path, tmp_path / folder):
        assert cifar_folder(path, "cifar10") == (tmp_path / folder, version)
        data = load_cifar10(path)
        assert data.name == "cifar10" and data.n_classes == 10
        assert data.X_train.shape == (10, 3, 32, 32) and data.X_test.shape == (3, 3, 32, 32)
        assert data.X_train.dtype == np.float32 and data.y_train.dtype == np.int64
        assert data.X_train.flags.c_contiguous and data.X_test.flags.c_contiguous
        assert data.image_shape == (3, 32, 32) and data.n_features == 3072
        np.testing.assert_array_equal(data.X_train, expected_images(Xtr))  # batches 1..5 in order
        np.testing.assert_array_equal(data.X_test, expected_images(Xte))
        np.testing.assert_array_equal(data.y_train, ytr)
        np.testing.assert_array_equal(data.y_test, yte)
        assert 0.0 <= data.X_train.min() and data.X_train.max() <= 1.0


@pytest.mark.parametrize("version", ["binary", "python"])
@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_cifar_pixel_order_is_red_green_blue_planes_row_major(tmp_path, name, version):
    # Row value at offset o = c * 1024 + h * 32 + w is o % 251: the image's pixel (c, h, w) must hold it.
    row = (np.arange(3072) % 251).astype(np.uint8)[None, :]
    path = tmp_path / ("f.bin" if version == "binary" else "f")
    if version == "binary":
        path.write_bytes(binary_records(row, [7], coarse=[1] if name == "cifar100" else None))
        image, labels = read_cifar_binary(path, name)
    else:
        path.write_bytes(batch_pickle(row, [7], key=b"labels" if name == "cifar10" else b"fine_labels"))
        image, labels = read_cifar_python(path, name)
    c, h, w = np.indices((3, 32, 32))
    assert image.dtype == np.uint8 and image.shape == (1, 3, 32, 32)
    np.testing.assert_array_equal(image[0], (c * 1024 + h * 32 + w) % 251)
    assert image[0, 0, 0, 1] == 1 and image[0, 0, 1, 0] == 32 and image[0, 1, 0, 0] == 1024 % 251
    assert labels.tolist() == [7] and labels.dtype == np.int64


def test_cifar10_both_versions_give_the_same_data(tmp_path):
    write_cifar10(tmp_path / "cifar-10-batches-bin", "binary", seed=4)
    write_cifar10(tmp_path / "cifar-10-batches-py", "python", seed=4)
    binary, python = load_cifar10(tmp_path / "cifar-10-batches-bin"), load_cifar10(tmp_path / "cifar-10-batches-py")
    for field in ("X_train", "y_train", "X_test", "y_test"):
        np.testing.assert_array_equal(getattr(binary, field), getattr(python, field))


def test_the_binary_version_is_chosen_when_both_are_there(tmp_path):
    write_cifar10(tmp_path, "python", seed=1)
    _, ytr, _, _ = write_cifar10(tmp_path, "binary", seed=2)
    assert cifar_folder(tmp_path, "cifar10") == (tmp_path, "binary")
    np.testing.assert_array_equal(load_cifar10(tmp_path).y_train, ytr)
    # The same for the two archive folders side by side.
    write_cifar10(tmp_path / "top" / "cifar-10-batches-py", "python")
    write_cifar10(tmp_path / "top" / "cifar-10-batches-bin", "binary")
    assert cifar_folder(tmp_path / "top", "cifar10") == (tmp_path / "top" / "cifar-10-batches-bin", "binary")


def test_a_python2_batch_as_the_cifar_site_ships_it(tmp_path):
    rows = pixels(3, seed=5)
    (tmp_path / "test_batch").write_bytes(py2_batch_pickle(rows, [0, 9, 4]))
    image, labels = read_cifar_python(tmp_path / "test_batch")
    np.testing.assert_array_equal(image.reshape(3, -1), rows)
    assert labels.tolist() == [0, 9, 4]


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_batches_pickled_at_any_protocol(tmp_path, protocol):
    rows = pixels(2, seed=protocol)
    (tmp_path / "b").write_bytes(batch_pickle(rows, [1, 2], protocol=protocol))
    image, labels = read_cifar_python(tmp_path / "b")
    np.testing.assert_array_equal(image.reshape(2, -1), rows)
    assert labels.tolist() == [1, 2]


@pytest.mark.parametrize("version, folder", [("binary", "cifar-100-binary"), ("python", "cifar-100-python")])
def test_cifar100_uses_the_fine_labels(tmp_path, version, folder):
    Xtr, ytr, Xte, yte = write_cifar100(tmp_path / folder, version)
    for path in (tmp_path, tmp_path / folder):
        data = load_cifar100(path)
        assert data.name == "cifar100" and data.n_classes == 100
        assert data.X_train.shape == (4, 3, 32, 32) and data.X_test.shape == (2, 3, 32, 32)
        np.testing.assert_array_equal(data.X_train, expected_images(Xtr))
        np.testing.assert_array_equal(data.X_test, expected_images(Xte))
        np.testing.assert_array_equal(data.y_train, ytr)
        np.testing.assert_array_equal(data.y_test, yte)


@pytest.mark.parametrize("version", ["binary", "python"])
def test_a_lone_test_batch_is_split_by_the_seed_as_data_split_does(tmp_path, version):
    _, _, Xte, yte = write_cifar10(tmp_path, version, n_test=10, train=False)
    data = load_cifar10(tmp_path, test_fraction=0.3, seed=7)
    Xtr_, ytr_, Xte_, yte_ = split(expected_images(Xte), yte, 0.3, 7)
    assert data.X_train.shape == (7, 3, 32, 32) and data.X_test.shape == (3, 3, 32, 32)
    np.testing.assert_array_equal(data.X_train, Xtr_)
    np.testing.assert_array_equal(data.y_test, yte_)


def test_lone_training_batches_are_split(tmp_path):
    Xtr, ytr, _, _ = write_cifar10(tmp_path, "binary", per_batch=2, test=False)
    data = load_cifar10(tmp_path, test_fraction=0.2, seed=3)
    assert data.X_train.shape[0] == 8 and data.X_test.shape[0] == 2
    expected = split_images(expected_images(Xtr), ytr, 0.2, 3)
    for got, want in zip((data.X_train, data.y_train, data.X_test, data.y_test), expected):
        np.testing.assert_array_equal(got, want)


def test_split_images_keeps_the_image_shape():
    X = np.random.default_rng(0).random((10, 1, 4, 4))
    Xtr, ytr, Xte, yte = split_images(X, np.arange(10), 0.2, 0)
    assert Xtr.shape == (8, 1, 4, 4) and Xte.shape == (2, 1, 4, 4) and Xtr.dtype == np.float32


# --- SVHN ----------------------------------------------------------------------------------


@pytest.mark.parametrize("compress", [False, True])
def test_svhn_images_are_hwc_per_image_and_label_10_is_digit_0(tmp_path, compress):
    X, y = svhn_arrays(12, seed=0)
    write_mat(tmp_path / "train_32x32.mat", compress, X=X, y=y)
    images_, labels = read_svhn(tmp_path / "train_32x32.mat")
    assert images_.shape == (12, 3, 32, 32) and images_.dtype == np.uint8 and images_.flags.c_contiguous
    for i in (0, 5, 11):
        for c in range(3):
            np.testing.assert_array_equal(images_[i, c], X[:, :, c, i])
    assert images_[3, 2, 7, 9] == X[7, 9, 2, 3]
    assert labels.dtype == np.int64
    assert labels.tolist() == [1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2]


def test_svhn_train_and_test(tmp_path):
    parts = write_svhn(tmp_path, n_train=5, n_test=3)
    data = load_svhn(tmp_path)
    assert data.name == "svhn" and data.n_classes == 10
    assert data.X_train.shape == (5, 3, 32, 32) and data.X_test.shape == (3, 3, 32, 32)
    assert data.X_train.dtype == np.float32 and data.y_test.dtype == np.int64
    X, y = parts["test"]
    want = (X.transpose(3, 2, 0, 1).astype(np.float64) / 255.0).astype(np.float32)
    np.testing.assert_array_equal(data.X_test, want)
    np.testing.assert_array_equal(data.y_test, y.ravel() % 10)


def test_svhn_extra_is_read_only_when_asked(tmp_path):
    parts = write_svhn(tmp_path, n_train=5, n_test=3, n_extra=4)
    assert load_svhn(tmp_path).X_train.shape[0] == 5
    data = load_svhn(tmp_path, extra=True)
    assert data.X_train.shape[0] == 9 and data.X_test.shape[0] == 3
    np.testing.assert_array_equal(data.y_train, np.concatenate([parts["train"][1], parts["extra"][1]]).ravel() % 10)


def test_svhn_labels_saved_as_doubles_or_a_row(tmp_path):
    X, y = svhn_arrays(4, seed=1)
    write_mat(tmp_path / "a.mat", X=X, y=y.astype(np.float64))
    assert read_svhn(tmp_path / "a.mat")[1].tolist() == [1, 2, 3, 4]
    write_mat(tmp_path / "b.mat", X=X, y=y.reshape(1, 4))
    assert read_svhn(tmp_path / "b.mat")[1].tolist() == [1, 2, 3, 4]


def test_a_lone_svhn_test_set_is_split(tmp_path):
    X, y = svhn_arrays(10, seed=2)
    write_mat(tmp_path / "test_32x32.mat", X=X, y=y)
    data = load_svhn(tmp_path, test_fraction=0.2, seed=1)
    assert data.X_train.shape[0] == 8 and data.X_test.shape[0] == 2
    np.testing.assert_array_equal(data.y_test, split(np.zeros((10, 1)), y.ravel() % 10, 0.2, 1)[3])


# --- MNIST and digits as images ------------------------------------------------------------


def test_mnist_as_images(tmp_path):
    write_mnist_pair(tmp_path, "train", 6, seed=0, gz=True)
    write_mnist_pair(tmp_path, "t10k", 4, seed=1, gz=False)
    flat = load_mnist(tmp_path, 0.2, 0)
    data = load_mnist_images(tmp_path, 0.2, 0)
    assert data.X_train.shape == (6, 1, 28, 28) and data.X_test.shape == (4, 1, 28, 28)
    assert data.X_train.dtype == np.float32 and data.n_classes == 10 and data.name == "mnist"
    np.testing.assert_array_equal(data.X_train.reshape(6, -1), flat.X_train)
    np.testing.assert_array_equal(data.y_test, flat.y_test)


def test_digits_as_images():
    flat = load_digits(0.2, 0)
    data = load_digits_images(0.2, 0)
    assert data.X_train.shape == (flat.X_train.shape[0], 1, 8, 8)
    np.testing.assert_array_equal(data.X_test[:, 0], flat.X_test.reshape(-1, 8, 8))
    np.testing.assert_array_equal(data.y_train, flat.y_train)


def test_rows_as_images_of_a_given_shape():
    X = np.arange(24, dtype=np.float32).reshape(2, 12)
    images_ = as_images(X, (3, 2, 2))
    assert images_.shape == (2, 3, 2, 2) and images_[1, 2, 1, 0] == 12 + 2 * 4 + 2
    assert error(as_images, X, (1, 3, 3)) == "rows of shape (2, 12) cannot be images of shape (1, 3, 3): each row needs 9 values"
    flat = data_module.Dataset("x", X, np.zeros(2), X, np.zeros(2), n_classes=2)
    assert error(to_images, flat) == ("x has 12 features, not a square number of pixels; give the image shape "
                                      "(channels, height, width)")
    assert to_images(flat, (3, 2, 2)).image_shape == (3, 2, 2)


def test_flat_rows_are_the_images_channel_by_channel(tmp_path):
    Xtr, ytr, _, _ = write_cifar10(tmp_path, "binary")
    flat = load_cifar10(tmp_path).flat()
    assert isinstance(flat, data_module.Dataset) and flat.n_features == 3072 and flat.n_classes == 10
    np.testing.assert_array_equal(flat.X_train, (Xtr.astype(np.float64) / 255).astype(np.float32))
    np.testing.assert_array_equal(flat.y_train, ytr)


# --- normalization -------------------------------------------------------------------------


def small_set(seed: int = 0) -> ImageDataset:
    rng = np.random.default_rng(seed)
    Xtr = rng.random((7, 3, 4, 5)).astype(np.float32) * np.array([1.0, 0.5, 0.2], np.float32)[:, None, None]
    Xte = rng.random((3, 3, 4, 5)).astype(np.float32)
    return ImageDataset("t", Xtr, np.arange(7) % 2, Xte, np.arange(3) % 2, n_classes=2)


def test_channel_statistics_come_from_the_training_images():
    data = small_set()
    normal, stats = normalize_channels(data)
    X = data.X_train.astype(np.float64)
    np.testing.assert_allclose(stats.mean, X.mean(axis=(0, 2, 3)), rtol=1e-12)
    np.testing.assert_allclose(stats.std, X.std(axis=(0, 2, 3)), rtol=1e-12)
    assert isinstance(stats, ChannelStats) and len(stats.mean) == 3 and all(isinstance(m, float) for m in stats.mean)
    # Train comes out standardized; test gets the training transform, not its own.
    np.testing.assert_allclose(normal.X_train.mean(axis=(0, 2, 3)), 0.0, atol=1e-6)
    np.testing.assert_allclose(normal.X_train.std(axis=(0, 2, 3)), 1.0, atol=1e-5)
    mean, std = np.array(stats.mean)[:, None, None], np.array(stats.std)[:, None, None]
    np.testing.assert_allclose(normal.X_test, (data.X_test.astype(np.float64) - mean) / std, rtol=1e-6, atol=1e-6)
    assert normal.X_test.dtype == np.float32 and normal.X_test.shape == data.X_test.shape
    np.testing.assert_array_equal(normal.y_train, data.y_train)
    assert normal.name == "t" and normal.n_classes == 2


def test_statistics_over_several_chunks(monkeypatch):
    monkeypatch.setattr(images, "_CHUNK", 2)
    data = small_set(1)
    stats = channel_stats(data.X_train)
    np.testing.assert_allclose(stats.std, data.X_train.astype(np.float64).std(axis=(0, 2, 3)), rtol=1e-12)
    np.testing.assert_allclose(stats.apply(data.X_test), normalize_channels(data)[0].X_test)


def test_a_constant_channel_is_only_centred():
    X = np.full((2, 2, 3, 3), 0.5, np.float32)
    X[:, 1] = np.arange(18, dtype=np.float32).reshape(2, 3, 3) / 17
    stats = channel_stats(X)
    assert stats.mean[0] == 0.5 and stats.std[0] == 1.0
    assert np.all(stats.apply(X)[:, 0] == 0.0)


def test_statistics_of_no_images():
    assert error(channel_stats, np.zeros((0, 3, 2, 2))) == ("channel statistics need images (samples, channels, "
                                                           "height, width), got shape (0, 3, 2, 2)")
    assert error(ChannelStats((0.0,), (1.0,)).apply, np.zeros((1, 3, 2, 2))) == (
        "cannot normalize images of shape (1, 3, 2, 2) with statistics of 1 channels")


# --- by name, counts -----------------------------------------------------------------------


def test_load_images_by_name(tmp_path):
    write_cifar10(tmp_path / "c10" / "cifar-10-batches-bin", "binary")
    write_cifar100(tmp_path / "c100" / "cifar-100-python", "python")
    write_svhn(tmp_path / "svhn", n_extra=2)
    assert load_images("cifar10", tmp_path / "c10", 0.2, 0).X_train.shape == (10, 3, 32, 32)
    assert load_images("cifar100", str(tmp_path / "c100"), 0.2, 0).n_classes == 100
    assert load_images("svhn", tmp_path / "svhn", 0.2, 0, extra=True).X_train.shape[0] == 7
    assert images.IMAGE_DATASET_NAMES == ("cifar10", "cifar100", "svhn")
    assert error(load_images, "cifar10", None, 0.2, 0) == (
        "dataset.path is needed for cifar10; set it to the folder holding the CIFAR-10 batches "
        "(cifar-10-batches-py or cifar-10-batches-bin)")
    assert error(load_images, "svhn", None, 0.2, 0) == (
        "dataset.path is needed for svhn; set it to the folder holding train_32x32.mat and test_32x32.mat")
    assert error(load_images, "imagenet", tmp_path, 0.2, 0) == (
        "dataset.name is 'imagenet'; the image data sets are cifar10, cifar100, svhn")
    assert error(load_images, "cifar10", tmp_path / "c10", 0.2, 0, extra=True) == (
        "the extra set is SVHN's; cifar10 has none: do not ask for it")


def test_image_counts(tmp_path):
    write_cifar10(tmp_path / "bin", "binary", per_batch=3, n_test=4)
    write_cifar10(tmp_path / "py", "python", per_batch=2, n_test=5, test=True)
    write_cifar100(tmp_path / "c100" / "cifar-100-binary", "binary", n_train=6, n_test=1)
    write_svhn(tmp_path / "svhn", n_train=5, n_test=3, n_extra=2)
    write_cifar10(tmp_path / "only-test", "binary", n_test=4, train=False)
    assert image_counts("cifar10", tmp_path / "bin") == (15, 4)
    assert image_counts("cifar10", tmp_path / "py") == (10, 5)
    assert image_counts("cifar100", tmp_path / "c100") == (6, 1)
    assert image_counts("svhn", tmp_path / "svhn") == (5, 3)
    assert image_counts("svhn", tmp_path / "svhn", extra=True) == (7, 3)
    assert image_counts("cifar10", tmp_path / "only-test") == (None, 4)


def test_pixels_scale_as_datas_mnist_does():
    values = np.arange(256, dtype=np.uint8)
    np.testing.assert_array_equal(images._scaled(values), (values.astype(np.float64) / 255.0).astype(np.float32))


def test_the_error_class_is_datas():
    assert images.DataError is data_module.DataError


# --- errors: folders and files -------------------------------------------------------------


def test_missing_directories(tmp_path):
    missing = tmp_path / "nowhere"
    assert error(load_cifar10, missing) == (
        f"CIFAR-10 directory {missing} does not exist; set dataset.path to the folder holding the CIFAR-10 batches "
        "(cifar-10-batches-py or cifar-10-batches-bin, or the folder they were extracted into)")
    assert error(load_cifar100, missing) == (
        f"CIFAR-100 directory {missing} does not exist; set dataset.path to the folder holding the CIFAR-100 "
        "batches (cifar-100-python or cifar-100-binary, or the folder they were extracted into)")
    assert error(load_svhn, missing) == (
        f"SVHN directory {missing} does not exist; set dataset.path to the folder holding train_32x32.mat and "
        "test_32x32.mat")


def test_a_path_that_is_a_file(tmp_path):
    (tmp_path / "f").write_bytes(b"")
    assert error(load_cifar10, tmp_path / "f").startswith(f"CIFAR-10 path {tmp_path / 'f'} is not a directory; set")
    assert error(load_svhn, tmp_path / "f").startswith(f"SVHN path {tmp_path / 'f'} is not a directory; set")


def test_a_folder_without_batches(tmp_path):
    assert error(load_cifar10, tmp_path) == (
        f"no CIFAR-10 batches found in {tmp_path}: looked for data_batch_1..5 and test_batch (python version) or "
        "the same names ending in .bin (binary version), there and in its cifar-10-batches-bin and "
        "cifar-10-batches-py folders; point dataset.path at the extracted archive")
    assert error(load_cifar100, tmp_path) == (
        f"no CIFAR-100 batches found in {tmp_path}: looked for train and test (python version) or the same names "
        "ending in .bin (binary version), there and in its cifar-100-binary and cifar-100-python folders; point "
        "dataset.path at the extracted archive")


def test_a_folder_with_the_archive_not_extracted(tmp_path):
    (tmp_path / "cifar-10-python.tar.gz").write_bytes(b"\x1f\x8b")
    assert error(load_cifar10, tmp_path).endswith(
        "cifar-10-batches-py folders; it holds cifar-10-python.tar.gz: extract it first (tar xzf cifar-10-python.tar.gz)")


def test_a_folder_of_the_other_cifar(tmp_path):
    write_cifar100(tmp_path / "cifar-100-binary", "binary")
    assert error(load_cifar10, tmp_path).endswith(
        "cifar-10-batches-py folders; it holds CIFAR-100 files: set dataset.name to cifar100")
    write_cifar10(tmp_path / "ten", "python")
    assert error(load_cifar100, tmp_path / "ten").endswith(
        "cifar-100-python folders; it holds CIFAR-10 files: set dataset.name to cifar10")


def test_some_training_batches_missing(tmp_path):
    write_cifar10(tmp_path, "binary")
    (tmp_path / "data_batch_3.bin").unlink()
    (tmp_path / "data_batch_5.bin").unlink()
    assert error(load_cifar10, tmp_path) == (
        f"CIFAR-10 folder {tmp_path} has data_batch_1.bin, data_batch_2.bin, data_batch_4.bin but not "
        "data_batch_3.bin, data_batch_5.bin; extract cifar-10-binary.tar.gz again so that all 5 training batches "
        "are there")


def test_svhn_files_missing(tmp_path):
    assert error(load_svhn, tmp_path) == (
        f"no SVHN files found in {tmp_path}: looked for train_32x32.mat and test_32x32.mat; download them from "
        "the SVHN site (ufldl.stanford.edu/housenumbers, cropped digits) into it or point dataset.path at the "
        "folder holding them")
    write_svhn(tmp_path)
    assert error(load_svhn, tmp_path, extra=True) == (
        f"SVHN extra set {tmp_path / 'extra_32x32.mat'} does not exist; put extra_32x32.mat there or do not ask "
        "for the extra set")
    assert error(read_svhn, tmp_path / "x.mat") == (
        f"SVHN file {tmp_path / 'x.mat'} does not exist; download it from the SVHN site "
        "(ufldl.stanford.edu/housenumbers) or point dataset.path at the folder holding it")


def _denied(*_args, **_kwargs):
    raise PermissionError(13, "Permission denied")


def test_files_that_cannot_be_read(tmp_path, monkeypatch):
    write_cifar10(tmp_path / "bin", "binary")
    write_cifar10(tmp_path / "py", "python")
    write_svhn(tmp_path / "svhn")
    monkeypatch.setattr(scipy.io, "whosmat", _denied)
    assert error(load_svhn, tmp_path / "svhn") == (
        f"SVHN file {tmp_path / 'svhn' / 'train_32x32.mat'} cannot be read: permission denied; make it readable "
        "(chmod a+r)")
    monkeypatch.setattr(Path, "open", _denied)
    assert error(load_cifar10, tmp_path / "bin") == (
        f"CIFAR-10 file {tmp_path / 'bin' / 'data_batch_1.bin'} cannot be read: permission denied; make it readable "
        "(chmod a+r)")
    assert "data_batch_1 cannot be read: permission denied" in error(load_cifar10, tmp_path / "py")


def test_a_folder_that_cannot_be_searched(tmp_path, monkeypatch):
    write_cifar10(tmp_path, "binary")
    monkeypatch.setattr(Path, "is_file", _denied)
    assert error(load_cifar10, tmp_path) == (
        f"folder {tmp_path} cannot be searched: permission denied; make it readable (chmod a+rx) or point "
        "dataset.path at a readable copy")


def test_a_file_larger_than_the_bound(tmp_path, monkeypatch):
    write_cifar10(tmp_path, "binary")
    monkeypatch.setattr(images, "MAX_IMAGE_FILE_BYTES", 1000)
    assert error(load_cifar10, tmp_path) == (
        f"CIFAR-10 file {tmp_path / 'data_batch_1.bin'} is more than 1,000 bytes, more than any CIFAR-10 file "
        "holds; it is not a CIFAR-10 file: point dataset.path at the standard files")


# --- errors: binary records ----------------------------------------------------------------


def test_a_truncated_binary_record(tmp_path):
    write_cifar10(tmp_path, "binary")
    path = tmp_path / "test_batch.bin"
    path.write_bytes(path.read_bytes()[:-100])
    assert error(load_cifar10, tmp_path) == (
        f"CIFAR-10 file {path} is truncated: its 9,119 bytes are 2 records of 3073 bytes (1 label byte and 3072 "
        "pixel bytes) and 2973 bytes of a cut-off one; download cifar-10-binary.tar.gz again")
    (tmp_path / "x.bin").write_bytes(binary_records(pixels(2, 0), [1, 2], coarse=[0, 0])[:-1])
    assert error(read_cifar_binary, tmp_path / "x.bin", "cifar100") == (
        f"CIFAR-100 file {tmp_path / 'x.bin'} is truncated: its 6,147 bytes are 1 record of 3074 bytes (1 "
        "coarse-label byte, 1 fine-label byte and 3072 pixel bytes) and 3073 bytes of a cut-off one; download "
        "cifar-100-binary.tar.gz again")


def test_an_empty_binary_file(tmp_path):
    (tmp_path / "test_batch.bin").write_bytes(b"")
    assert error(load_cifar10, tmp_path) == (
        f"CIFAR-10 file {tmp_path / 'test_batch.bin'} is empty; download cifar-10-binary.tar.gz again")


def test_records_of_the_other_cifars_size(tmp_path):
    (tmp_path / "test_batch.bin").write_bytes(binary_records(pixels(3, 0), [1, 2, 3], coarse=[0, 0, 0]))
    assert error(load_cifar10, tmp_path) == (
        f"CIFAR-10 file {tmp_path / 'test_batch.bin'} has 9,222 bytes, whole records of 3074 bytes (1 coarse-label "
        "byte, 1 fine-label byte and 3072 pixel bytes) but not of the 3073 bytes of a CIFAR-10 record (1 label byte "
        "and 3072 pixel bytes); it looks like a CIFAR-100 file: set dataset.name to cifar100 or point dataset.path "
        "at the CIFAR-10 files")
    (tmp_path / "test.bin").write_bytes(binary_records(pixels(2, 0), [1, 2]))
    assert error(load_cifar100, tmp_path) == (
        f"CIFAR-100 file {tmp_path / 'test.bin'} has 6,146 bytes, whole records of 3073 bytes (1 label byte and "
        "3072 pixel bytes) but not of the 3074 bytes of a CIFAR-100 record (1 coarse-label byte, 1 fine-label byte "
        "and 3072 pixel bytes); it looks like a CIFAR-10 file: set dataset.name to cifar10 or point dataset.path "
        "at the CIFAR-100 files")


def test_binary_labels_out_of_range(tmp_path):
    (tmp_path / "a.bin").write_bytes(binary_records(pixels(3, 0), [1, 10, 3]))
    assert error(read_cifar_binary, tmp_path / "a.bin") == (
        f"CIFAR-10 file {tmp_path / 'a.bin'} has label 10 at image 1, outside 0..9; it is not a CIFAR-10 file or "
        "is corrupt; download it again")
    (tmp_path / "b.bin").write_bytes(binary_records(pixels(3, 0), [1, 2, 100], coarse=[0, 1, 2]))
    assert error(read_cifar_binary, tmp_path / "b.bin", "cifar100") == (
        f"CIFAR-100 file {tmp_path / 'b.bin'} has fine label 100 at image 2, outside 0..99; it is not a CIFAR-100 "
        "file or is corrupt; download it again")
    (tmp_path / "c.bin").write_bytes(binary_records(pixels(2, 0), [1, 2], coarse=[20, 1]))
    assert error(read_cifar_binary, tmp_path / "c.bin", "cifar100") == (
        f"CIFAR-100 file {tmp_path / 'c.bin'} has coarse label 20 at image 0, outside 0..19; it is not a CIFAR-100 "
        "file or is corrupt; download it again")


# --- errors: pickles -----------------------------------------------------------------------

FIX10 = "download cifar-10-python.tar.gz again, or use the binary version (cifar-10-binary.tar.gz)"


def test_a_pickle_with_the_wrong_keys(tmp_path):
    path = tmp_path / "test_batch"
    path.write_bytes(batch_pickle(pixels(2, 0), [1, 2], key=b"fine_labels"))
    assert error(load_cifar10, tmp_path) == (
        f"CIFAR-10 file {path} is a dict without b'labels' (its keys: b'batch_label', b'data', b'fine_labels', "
        "b'filenames'); it is not a CIFAR-10 python batch (CIFAR-100 batches have b'fine_labels': set dataset.name "
        f"to cifar100): {FIX10}")
    path.write_bytes(pickle.dumps({"data": pixels(1, 0), "labels": [1]}))
    assert error(load_cifar10, tmp_path) == (
        f"CIFAR-10 file {path} is a dict without b'data' (its keys: 'data', 'labels'); it is not a CIFAR-10 "
        f"python batch: {FIX10}")
    path.write_bytes(pickle.dumps({}))
    assert "is a dict without b'data' (its keys: none)" in error(load_cifar10, tmp_path)
    (tmp_path / "c100").write_bytes(batch_pickle(pixels(1, 0), [1]))
    assert error(read_cifar_python, tmp_path / "c100", "cifar100") == (
        f"CIFAR-100 file {tmp_path / 'c100'} is a dict without b'fine_labels' (its keys: b'batch_label', b'data', "
        "b'labels', b'filenames'); it is not a CIFAR-100 python batch (CIFAR-10 batches have b'labels': set "
        "dataset.name to cifar10): download cifar-100-python.tar.gz again, or use the binary version "
        "(cifar-100-binary.tar.gz)")


def test_a_pickle_that_is_not_a_dict(tmp_path):
    path = tmp_path / "test_batch"
    path.write_bytes(pickle.dumps([1, 2, 3]))
    assert error(load_cifar10, tmp_path) == (
        f"CIFAR-10 file {path} holds a list, not a dict with b'data' and b'labels'; it is not a CIFAR-10 python "
        f"batch: {FIX10}")


class _Mkdir:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return os.mkdir, (str(self.path),)


def test_a_pickle_that_would_run_code_is_refused_unrun(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "test_batch"
    path.write_bytes(pickle.dumps({b"data": _Mkdir(marker), b"labels": [1]}))
    assert error(load_cifar10, tmp_path) == (
        f"CIFAR-10 file {path} is a pickle that uses posix.mkdir, which a CIFAR batch never does; refused without "
        "running it: use files from the CIFAR site, or the binary version (cifar-10-binary.tar.gz)")
    assert not marker.exists()
    # numpy's own names, called with arguments NumPy never pickles (an array of a shape the file chooses)
    path.write_bytes(b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nJ\x00\xca\x9a\x3b\x85U\x01b\x87R.")
    assert error(load_cifar10, tmp_path) == (
        f"CIFAR-10 file {path} is a pickle that uses numpy _reconstruct with arguments NumPy never pickles, which a "
        "CIFAR batch never does; refused without running it: use files from the CIFAR site, or the binary version "
        "(cifar-10-binary.tar.gz)")
    path.write_bytes(b"\x80\x02cnumpy\nndarray\nK\x05\x85R.")  # calling ndarray itself
    assert "cannot be unpickled (TypeError: " in error(load_cifar10, tmp_path)


def test_a_truncated_or_garbage_pickle(tmp_path):
    path = tmp_path / "test_batch"
    path.write_bytes(batch_pickle(pixels(2, 0), [1, 2])[:-50])
    assert error(load_cifar10, tmp_path) == (
        f"CIFAR-10 file {path} cannot be unpickled (UnpicklingError: 'pickle data was truncated'); it is not a "
        f"CIFAR-10 python batch or is corrupt: {FIX10}")
    path.write_bytes(b"")
    assert error(load_cifar10, tmp_path) == (
        f"CIFAR-10 file {path} cannot be unpickled (EOFError: 'Ran out of input'); it is not a CIFAR-10 python "
        f"batch or is corrupt: {FIX10}")
    path.write_bytes(b"hello, this is not a pickle")
    assert f"CIFAR-10 file {path} cannot be unpickled (UnpicklingError: " in error(load_cifar10, tmp_path)


def test_pickled_data_of_the_wrong_type_or_shape(tmp_path):
    path = tmp_path / "test_batch"
    for data, described in ((pixels(2, 0).astype(np.float64), "a float64 array of shape (2, 3072)"),
                            (pixels(2, 0)[:, :100], "a uint8 array of shape (2, 100)"),
                            (np.zeros((0, 3072), np.uint8), "a uint8 array of shape (0, 3072)"),
                            (b"\0" * 3072, "a bytes")):
        path.write_bytes(pickle.dumps({b"data": data, b"labels": [1, 2]}))
        assert error(load_cifar10, tmp_path) == (
            f"CIFAR-10 file {path}: b'data' is {described}; expected a uint8 array of shape (images, 3072), one or "
            f"more images: {FIX10}")


def test_pickled_labels_that_do_not_fit(tmp_path):
    path = tmp_path / "test_batch"
    path.write_bytes(batch_pickle(pixels(2, 0), [1, 2, 3]))
    assert error(load_cifar10, tmp_path) == (
        f"CIFAR-10 file {path} holds 2 images but 3 labels in b'labels': {FIX10}")
    path.write_bytes(pickle.dumps({b"data": pixels(2, 0), b"labels": [1.5, 2.0]}))
    assert error(load_cifar10, tmp_path) == (
        f"CIFAR-10 file {path}: b'labels' is a list, not a list of whole numbers: {FIX10}")
    path.write_bytes(pickle.dumps({b"data": pixels(2, 0), b"labels": [1, [2]]}))
    assert "b'labels' is a list, not a list of whole numbers" in error(load_cifar10, tmp_path)
    path.write_bytes(batch_pickle(pixels(2, 0), [1, -1]))
    assert error(load_cifar10, tmp_path) == (
        f"CIFAR-10 file {path} has label -1 at image 1, outside 0..9; it is not a CIFAR-10 file or is corrupt; "
        "download it again")
    (tmp_path / "test").write_bytes(batch_pickle(pixels(1, 0), [100], key=b"fine_labels"))
    assert "has fine label 100 at image 0, outside 0..99" in error(load_cifar100, tmp_path)


# --- errors: SVHN .mat files ---------------------------------------------------------------

SVHN_FIX = "it is not an SVHN cropped-digits file: download train_32x32.mat again"


def test_a_mat_without_x_or_y(tmp_path):
    X, y = svhn_arrays(3, seed=0)
    path = tmp_path / "train_32x32.mat"
    write_mat(path, images=X, y=y)
    assert error(load_svhn, tmp_path) == (
        f"SVHN file {path} has no variable X (SVHN's files hold the images X, (32, 32, 3, images), and the labels "
        f"y, (images, 1)); {SVHN_FIX}")
    write_mat(path, X=X, labels=y)
    assert error(load_svhn, tmp_path) == (
        f"SVHN file {path} has no variable y (SVHN's files hold the images X, (32, 32, 3, images), and the labels "
        f"y, (images, 1)); {SVHN_FIX}")


def test_a_mat_with_images_of_the_wrong_shape_or_class(tmp_path):
    X, y = svhn_arrays(3, seed=0)
    path = tmp_path / "train_32x32.mat"
    write_mat(path, X=X[:, :, :1], y=y)
    assert error(load_svhn, tmp_path) == (
        f"SVHN file {path}: X is a uint8 array of shape (32, 32, 1, 3); expected uint8 of shape (32, 32, 3, images), "
        f"one or more images; {SVHN_FIX}")
    write_mat(path, X=X.astype(np.float64), y=y)
    assert error(load_svhn, tmp_path) == f"SVHN file {path}: X is of MATLAB class double, not uint8; {SVHN_FIX}"


def test_a_mat_with_labels_out_of_range_or_miscounted(tmp_path):
    X, y = svhn_arrays(3, seed=0)
    path = tmp_path / "train_32x32.mat"
    for bad in (0, 11):
        labels = y.copy()
        labels[2, 0] = bad
        write_mat(path, X=X, y=labels)
        assert error(load_svhn, tmp_path) == (
            f"SVHN file {path} has label {bad} at image 2, outside 1..10 (10 is the digit 0); {SVHN_FIX}")
    write_mat(path, X=X, y=y[:2])
    assert error(load_svhn, tmp_path) == (
        f"SVHN file {path}: y is a uint8 array of shape (2, 1); expected 3 labels of shape (3, 1), as X holds 3 "
        f"images; {SVHN_FIX}")
    write_mat(path, X=X, y=np.array([[1.0], [2.5], [3.0]]))
    assert error(load_svhn, tmp_path) == f"SVHN file {path}: y holds labels that are not whole numbers; {SVHN_FIX}"


def test_a_mat_file_that_cannot_be_read(tmp_path):
    path = tmp_path / "train_32x32.mat"
    X, y = svhn_arrays(3, seed=0)
    whole = write_mat(path, X=X, y=y).read_bytes()
    path.write_bytes(whole[: len(whole) // 2])
    assert error(load_svhn, tmp_path) == (
        f"SVHN file {path} cannot be read as a MATLAB file (OSError: 'could not read bytes'); it is truncated or not "
        "an SVHN .mat file: download it again")
    path.write_bytes(b"hello world" * 20)
    assert error(load_svhn, tmp_path) == (
        f"SVHN file {path} cannot be read as a MATLAB file (ValueError: 'Unknown mat file type, version 108, 111'); "
        "it is truncated or not an SVHN .mat file: download it again")
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, HDF5 schema 1.00 .".ljust(116) + b"\0" * 8 + b"\x00\x02IM"
    path.write_bytes(header + b"\0" * 400)
    assert error(load_svhn, tmp_path) == (
        f"SVHN file {path} is a MATLAB v7.3 (HDF5) file; SVHN's files are MATLAB v5: download train_32x32.mat again "
        "from the SVHN site")


def test_a_mat_declaring_too_many_images(tmp_path, monkeypatch):
    write_svhn(tmp_path, n_train=3)
    monkeypatch.setattr(images, "MAX_IMAGE_FILE_BYTES", 5000)
    assert error(load_svhn, tmp_path) == (
        f"SVHN file {tmp_path / 'train_32x32.mat'}: X declares shape (32, 32, 3, 3), more than 5,000 bytes; "
        f"{SVHN_FIX}")


def test_svhn_without_scipy(tmp_path, monkeypatch):
    write_svhn(tmp_path)
    monkeypatch.setitem(sys.modules, "scipy.io", None)
    assert error(load_svhn, tmp_path) == (
        "reading SVHN's .mat files needs SciPy, which is not installed; pip install scipy")
