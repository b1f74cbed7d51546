"""Corrupt, unreadable and oversized data sets: each is refused with a DataError naming the file or the key."""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np
import pytest

from wafersim.training import data as data_module
from wafersim.training.data import (
    DIGITS_SAMPLES,
    MAX_DATASET_SAMPLES,
    MAX_IDX_BYTES,
    MAX_SYNTHETIC_VALUES,
    SYNTHETIC_NOISE_SIGMA,
    DataError,
    load_dataset,
    make_synthetic,
    read_idx,
    split,
    train_size,
)

from .test_data import idx_bytes, write_idx, write_mnist_pair


def mnist_error(directory: Path, **kwargs) -> str:
    with pytest.raises(DataError) as err:
        load_dataset("mnist", directory, 0.2, 0, n_features=784, n_classes=10, **kwargs)
    message = str(err.value)
    assert len(message.encode()) < 2048
    return message


def write_labels_and(directory: Path, images_name: str, images_bytes: bytes, n: int = 10) -> None:
    (directory / images_name).write_bytes(images_bytes)
    write_idx(directory / "t10k-labels-idx1-ubyte", (np.arange(n) % 10).astype(np.uint8))


# --- corrupt files -----------------------------------------------------------------------


def test_gz_that_is_not_gzip(tmp_path):
    write_labels_and(tmp_path, "t10k-images-idx3-ubyte.gz", idx_bytes(np.zeros((10, 28, 28), np.uint8)))
    message = mnist_error(tmp_path)
    assert f"IDX file {tmp_path / 't10k-images-idx3-ubyte.gz'} is not gzip data although its name ends in .gz" in message
    assert "remove the .gz suffix if it is a raw IDX file" in message


def test_gz_cut_short(tmp_path):
    packed = gzip.compress(idx_bytes(np.zeros((10, 28, 28), np.uint8)))
    write_labels_and(tmp_path, "t10k-images-idx3-ubyte.gz", packed[: len(packed) // 2])
    assert "t10k-images-idx3-ubyte.gz is truncated: its gzip data ends early; download it again" in mnist_error(tmp_path)


def test_gz_with_corrupt_deflate_data(tmp_path):
    packed = bytearray(gzip.compress(np.random.default_rng(0).bytes(5000)))
    packed[20:60] = b"\xff" * 40
    path = tmp_path / "x-idx1-ubyte.gz"
    path.write_bytes(bytes(packed))
    with pytest.raises(DataError, match="x-idx1-ubyte.gz"):
        read_idx(path)


def test_truncated_raw_file(tmp_path):
    write_labels_and(tmp_path, "t10k-images-idx3-ubyte", idx_bytes(np.zeros((10, 28, 28), np.uint8))[:-100])
    assert ("t10k-images-idx3-ubyte is truncated: shape (10, 28, 28) needs 7840 data bytes but only 7740 are "
            "present; download it again") in mnist_error(tmp_path)


def test_trailing_bytes(tmp_path):
    path = tmp_path / "x-idx1-ubyte"
    path.write_bytes(idx_bytes(np.zeros(5, np.uint8)) + b"\0" * 7)
    with pytest.raises(DataError, match=r"has 7 bytes after the data of shape \(5,\); it is corrupt"):
        read_idx(path)


def test_header_declaring_more_than_the_bound(tmp_path):
    header = bytes([0, 0, 8, 3]) + struct.pack(">III", 2**31, 2**31, 2**31)
    write_labels_and(tmp_path, "t10k-images-idx3-ubyte", header)
    message = mnist_error(tmp_path)
    assert "declares shape (2147483648, 2147483648, 2147483648), 9,903,520,314,283,042,199,192,993,792 bytes" in message
    assert f"more than the {MAX_IDX_BYTES:,} an IDX file may hold here" in message


def test_gzip_bomb_is_not_read_past_its_header(tmp_path):
    # A header of one 1-byte element followed by 64 MiB of zeros: the reader stops after the first extra byte
    # it needs to see, and counts the rest without keeping it.
    path = tmp_path / "bomb-idx1-ubyte.gz"
    with gzip.open(path, "wb") as fh:
        fh.write(bytes([0, 0, 8, 1]) + struct.pack(">I", 1) + b"\0")
        for _ in range(64):
            fh.write(bytes(1 << 20))
    with pytest.raises(DataError, match=f"has {64 << 20} bytes after the data of shape"):
        read_idx(path)


def test_header_of_255_dimensions_gives_a_short_message(tmp_path):
    path = tmp_path / "wide-idx1-ubyte"
    path.write_bytes(bytes([0, 0, 8, 255]) + struct.pack(">255I", *([2] * 255)))
    with pytest.raises(DataError) as err:
        read_idx(path)
    assert "declares shape (2, 2, 2, 2, ... 255 dimensions)" in str(err.value)
    assert len(str(err.value)) < 400


def test_images_of_no_pixels(tmp_path):
    write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((5, 0, 28), np.uint8))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(5, np.uint8))
    assert "holds no pixels (shape (5, 0, 28))" in mnist_error(tmp_path)


def test_float_labels_that_are_not_whole(tmp_path):
    write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((3, 28, 28), np.uint8))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.array([1.0, np.nan, 2.0]))
    assert "holds labels that are not whole numbers" in mnist_error(tmp_path)


def test_pixels_outside_0_255(tmp_path):
    write_idx(tmp_path / "t10k-images-idx3-ubyte", np.full((3, 28, 28), 300, np.int32))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(3, np.uint8))
    assert "has pixels outside 0..255" in mnist_error(tmp_path)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", np.full((3, 28, 28), np.inf))
    assert "holds non-finite pixels" in mnist_error(tmp_path)


# --- unreadable files and folders --------------------------------------------------------


def _denied(*_args, **_kwargs):
    raise PermissionError(13, "Permission denied")


def test_folder_that_cannot_be_searched(tmp_path, monkeypatch):
    write_mnist_pair(tmp_path, "t10k", 10, seed=0, gz=True)
    monkeypatch.setattr(Path, "is_file", _denied)
    assert (f"folder {tmp_path} cannot be searched: permission denied; make it readable (chmod a+rx) or point "
            "dataset.path at a readable copy") in mnist_error(tmp_path)


def test_file_that_cannot_be_read(tmp_path, monkeypatch):
    write_mnist_pair(tmp_path, "t10k", 10, seed=0, gz=False)
    monkeypatch.setattr(Path, "open", _denied)
    assert (f"IDX file {tmp_path / 't10k-images-idx3-ubyte'} cannot be read: permission denied; make it "
            "readable (chmod a+r)") in mnist_error(tmp_path)


def test_gz_file_that_cannot_be_read(tmp_path, monkeypatch):
    write_mnist_pair(tmp_path, "t10k", 10, seed=0, gz=True)
    monkeypatch.setattr(data_module.gzip, "open", _denied)
    assert "t10k-images-idx3-ubyte.gz cannot be read: permission denied" in mnist_error(tmp_path)


def test_parent_folder_that_cannot_be_reached(tmp_path, monkeypatch):
    monkeypatch.setattr(Path, "exists", _denied)
    assert f"MNIST directory {tmp_path} cannot be reached: permission denied" in mnist_error(tmp_path)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="permissions do not apply to root")
def test_folder_without_permissions(tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    write_mnist_pair(folder, "t10k", 10, seed=0, gz=True)
    folder.chmod(0)
    try:
        assert "cannot be searched: permission denied" in mnist_error(folder)
    finally:
        folder.chmod(0o755)


def test_path_with_a_nul_character():
    assert r"MNIST directory /tmp/a\x00b does not exist" in mnist_error(Path("/tmp/a\0b"))


def test_newline_in_a_path_stays_on_one_line(tmp_path):
    message = mnist_error(tmp_path / "a\nb")
    assert "\n" not in message and f"{tmp_path}/a\\nb does not exist" in message


def test_long_path_gives_a_short_message(tmp_path):
    message = mnist_error(tmp_path / ("d" * 3000))
    assert message.startswith(f"MNIST directory {tmp_path}/ddd") and "d...d" in message
    assert message.endswith("check dataset.path")


# --- sizes -------------------------------------------------------------------------------


def test_synthetic_samples_are_bounded():
    with pytest.raises(DataError) as err:
        load_dataset("synthetic", None, 0.2, 0, n_features=8, n_classes=4, samples=10**12)
    assert str(err.value) == (f"dataset.samples is 1,000,000,000,000; synthetic data is generated whole in memory, "
                              f"at most {MAX_DATASET_SAMPLES:,} samples: lower dataset.samples")


def test_synthetic_values_are_bounded():
    with pytest.raises(DataError) as err:
        load_dataset("synthetic", None, 0.2, 0, n_features=100_000, n_classes=4, samples=1000)
    assert str(err.value) == ("dataset.samples (1,000) times model.layers[0] (100,000) is 100,000,000 generated "
                              f"values, more than the {MAX_SYNTHETIC_VALUES:,} synthetic data may hold; lower "
                              "dataset.samples or model.layers[0]")


def test_synthetic_data_is_the_same_as_before_generation_went_in_place():
    ds = make_synthetic(300, 7, 3, seed=5, test_fraction=0.25)
    rng = np.random.default_rng(5)
    centres = rng.uniform(0.0, 1.0, size=(3, 7))
    y = np.arange(300, dtype=np.int64) % 3
    noise = rng.normal(0.0, SYNTHETIC_NOISE_SIGMA, size=(300, 7))
    X = np.clip(centres[y] + noise, 0.0, 1.0).astype(np.float32)
    X_train, y_train, X_test, y_test = split(X, y, 0.25, 5)
    assert ds.X_train.tobytes() == X_train.tobytes() and ds.X_test.tobytes() == X_test.tobytes()
    assert ds.y_train.tobytes() == y_train.tobytes() and ds.y_test.tobytes() == y_test.tobytes()


def test_digits_count_is_the_loaders():
    assert len(load_dataset("digits", None, 0.5, 0, n_features=64, n_classes=10).y_train) + \
        len(load_dataset("digits", None, 0.5, 0, n_features=64, n_classes=10).y_test) == DIGITS_SAMPLES


@pytest.mark.parametrize("name, fraction, samples", [
    ("digits", 0.2, None), ("digits", 0.3, 101), ("synthetic", 0.2, None), ("synthetic", 0.1, 57)])
def test_train_size_is_what_loading_gives(name, fraction, samples):
    n_features = 64 if name == "digits" else 8
    ds = load_dataset(name, None, fraction, 3, n_features=n_features, n_classes=10, samples=samples)
    assert train_size(name, None, fraction, samples) == len(ds.y_train)


@pytest.mark.parametrize("pairs, samples", [
    (("t10k",), None), (("train",), 17), (("train", "t10k"), None), (("train", "t10k"), 23)])
def test_train_size_of_mnist_from_headers(tmp_path, pairs, samples):
    for i, prefix in enumerate(pairs):
        write_mnist_pair(tmp_path, prefix, 30 + 11 * i, seed=i, gz=bool(i))
    ds = load_dataset("mnist", tmp_path, 0.25, 0, n_features=784, n_classes=10, samples=samples)
    assert train_size("mnist", tmp_path, 0.25, samples) == len(ds.y_train)


def test_train_size_is_unknown_when_the_data_cannot_load(tmp_path):
    assert train_size("mnist", tmp_path, 0.2) is None
    assert train_size("mnist", None, 0.2) is None
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(b"junk")
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(b"junk")
    assert train_size("mnist", tmp_path, 0.2) is None
