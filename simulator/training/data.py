"""Labelled classification data sets (digits, MNIST, synthetic) loaded as seeded train/test splits."""

from __future__ import annotations

import gzip
import math
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..messages import one_line

DATASET_NAMES = ("digits", "mnist", "synthetic", "cifar10", "cifar100", "svhn")
IMAGE_SETS = ("cifar10", "cifar100", "svhn")  # in images.py: (channels, height, width) images from their files

# Sample count for the synthetic set when the configuration gives none.
DEFAULT_SYNTHETIC_SAMPLES = 2000

# Standard deviation of the Gaussian noise around each synthetic class centre,
# in feature units (features live in [0, 1]).
SYNTHETIC_NOISE_SIGMA = 0.15

MNIST_CLASSES = 10

# The 8x8 handwritten digits: 1797 images of 64 pixels (a test pins this against the loader).
DIGITS_SAMPLES = 1797
DIGITS_FEATURES = 64
# A byte-for-byte copy of scikit-learn's sklearn/datasets/data/digits.csv.gz (BSD-3-Clause): the
# test part of the UCI "Optical Recognition of Handwritten Digits" set, one row per image (64
# pixels 0..16, then the label 0..9). Shipped with the package so loading it needs no scikit-learn.
DIGITS_PATH = Path(__file__).with_name("digits.csv.gz")
# Characters of the decompressed file at most (it has 264,712: at most two digits and a separator per value).
DIGITS_MAX_CHARS = DIGITS_SAMPLES * (DIGITS_FEATURES + 1) * 3

# Sizes a data set may have. Synthetic data is generated whole in memory as float64 before
# it is stored as float32, so it is bounded in samples and in values (samples x
# features: 2**26, 67 million, is a little more than full MNIST's 55 million and needs about
# 1.3 GB while being generated); no real IDX file of a data set this simulator can train on
# holds a GiB.
MAX_DATASET_SAMPLES = 1_000_000
MAX_SYNTHETIC_VALUES = 1 << 26
MAX_IDX_BYTES = 1 << 30

# Longest DataError message, in bytes of UTF-8: a long path is elided in the middle.
_MESSAGE_BYTES = 1500

# The four standard MNIST file names; each may also carry a ".gz" suffix.
MNIST_TRAIN_IMAGES = "train-images-idx3-ubyte"
MNIST_TRAIN_LABELS = "train-labels-idx1-ubyte"
MNIST_TEST_IMAGES = "t10k-images-idx3-ubyte"
MNIST_TEST_LABELS = "t10k-labels-idx1-ubyte"

# IDX type code -> big-endian numpy dtype of one element.
_IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


class DataError(Exception):
    """A data set that cannot be loaded; the message names the file or directory and the fix (at most 1.5 KB)."""

    def __init__(self, message: str):
        # One line whatever the path holds: control characters (a newline in dataset.path) are escaped.
        super().__init__(one_line(message, _MESSAGE_BYTES))


def coerce_parts(data) -> None:
    """Make a frozen data set's X_train/X_test float32 and y_train/y_test int64, C-contiguous, once, so
    every consumer can rely on dtype and layout."""
    for field, dtype in (("X_train", np.float32), ("y_train", np.int64), ("X_test", np.float32), ("y_test", np.int64)):
        object.__setattr__(data, field, np.ascontiguousarray(getattr(data, field), dtype=dtype))


@dataclass(frozen=True)
class Dataset:
    """A labelled classification data set split into train and test parts."""

    name: str
    # float32, shape (n_train, n_features), C-contiguous, values in [0, 1]
    X_train: np.ndarray
    # int64, shape (n_train,), values in [0, n_classes)
    y_train: np.ndarray
    # float32, shape (n_test, n_features), C-contiguous, values in [0, 1]
    X_test: np.ndarray
    # int64, shape (n_test,), values in [0, n_classes)
    y_test: np.ndarray
    n_classes: int

    def __post_init__(self) -> None:
        coerce_parts(self)
        if self.X_train.ndim != 2 or self.X_test.ndim != 2:
            raise DataError(f"{self.name}: inputs must be 2-D (samples, features)")
        if self.X_train.shape[1] != self.X_test.shape[1]:
            raise DataError(f"{self.name}: train and test parts have different feature counts")
        if self.X_train.shape[0] != self.y_train.shape[0] or self.X_test.shape[0] != self.y_test.shape[0]:
            raise DataError(f"{self.name}: input and label counts differ")

    @property
    def n_features(self) -> int:
        """Number of input features per sample."""
        return int(self.X_train.shape[1])


def split(
    X: np.ndarray, y: np.ndarray, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Shuffle (X, y) with a seeded permutation and cut off round(test_fraction * n) samples for test.

    Returns (X_train, y_train, X_test, y_test); the test part is the first samples of the
    permutation. Both parts keep at least one sample.
    """
    X = np.asarray(X)
    y = np.asarray(y)
    n = X.shape[0]
    if y.shape[0] != n:
        raise DataError(f"cannot split: {n} inputs but {y.shape[0]} labels")
    if not 0.0 < test_fraction < 1.0:
        raise DataError(f"test fraction is {test_fraction}; set it strictly between 0 and 1")
    if n < 2:
        raise DataError(f"cannot split {n} sample(s) into non-empty train and test parts; use at least 2 samples")
    n_test = _test_count(n, test_fraction)
    order = np.random.default_rng(seed).permutation(n)
    test_idx, train_idx = order[:n_test], order[n_test:]
    return (
        np.ascontiguousarray(X[train_idx], dtype=np.float32),
        np.ascontiguousarray(y[train_idx], dtype=np.int64),
        np.ascontiguousarray(X[test_idx], dtype=np.float32),
        np.ascontiguousarray(y[test_idx], dtype=np.int64),
    )


def _test_count(n: int, test_fraction: float) -> int:
    """Samples `split` puts in the test part of n: round(test_fraction * n), at least one on each side."""
    return min(max(int(round(test_fraction * n)), 1), n - 1)


def _kept_test(samples: int, n_train: int, n_test: int) -> int:
    """Test samples of a subset of `samples` drawn from a given split, in its train:test proportion."""
    return min(max(int(round(samples * n_test / (n_train + n_test))), 1), samples - 1)


def _digits_table(path: Path) -> np.ndarray:
    """The rows of the digits CSV at `path` as float64 (DIGITS_SAMPLES, 65): 64 pixels 0..16, then the label."""
    try:
        with gzip.open(path, "rt", encoding="ascii") as fh:
            # Read at most the size of the shipped file plus one byte, so a damaged file stays small.
            text = fh.read(DIGITS_MAX_CHARS + 1)
    except FileNotFoundError:
        raise DataError(f"the digits data file {path} is missing; reinstall wafersim") from None
    except (OSError, EOFError, UnicodeDecodeError, zlib.error) as exc:
        raise DataError(f"the digits data file {path} cannot be read ({exc}); reinstall wafersim") from None
    try:
        # float64, as scikit-learn parses the same file; the integers 0..16 are exact.
        table = np.loadtxt(text.splitlines(), delimiter=",", dtype=np.float64, ndmin=2)
    except ValueError as exc:
        raise DataError(f"the digits data file {path} is damaged ({exc}); reinstall wafersim") from None
    pixels, labels = table[:, :-1], table[:, -1:]
    if (len(text) > DIGITS_MAX_CHARS or table.shape != (DIGITS_SAMPLES, DIGITS_FEATURES + 1)
            or not (np.isin(pixels, np.arange(17)).all() and np.isin(labels, np.arange(10)).all())):
        raise DataError(f"the digits data file {path} is damaged (it should hold {DIGITS_SAMPLES} rows of "
                        f"{DIGITS_FEATURES} pixels 0..16 and a label 0..9); reinstall wafersim")
    return table


def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """The 8x8 digits as X float32 (1797, 64) in [0, 1] and y int64 (1797,), bit for bit what
    `sklearn.datasets.load_digits` gives, without importing scikit-learn (about a second)."""
    table = _digits_table(DIGITS_PATH)
    X = (table[:, :-1] / 16.0).astype(np.float32)  # pixel intensities are integers 0..16
    y = table[:, -1].astype(np.int64)
    return X, y


def load_digits(test_fraction: float, seed: int) -> Dataset:
    """The 8x8 handwritten digits scikit-learn ships (1797 samples, 64 features, 10 classes), split by seed."""
    X, y = _digits_arrays()
    return Dataset("digits", *split(X, y, test_fraction, seed), n_classes=10)


def _shape_text(dims: tuple[int, ...]) -> str:
    """A shape for a message, its dimensions elided past six (a corrupt header may declare 255)."""
    return str(dims) if len(dims) <= 6 else f"({', '.join(map(str, dims[:4]))}, ... {len(dims)} dimensions)"


def is_file(path: Path) -> bool:
    """Whether `path` is a file; DataError when its folder cannot be searched."""
    try:
        return path.is_file()
    except PermissionError:
        raise DataError(f"folder {path.parent} cannot be searched: permission denied; make it readable "
                        "(chmod a+rx) or point dataset.path at a readable copy") from None
    except (OSError, ValueError) as exc:
        raise DataError(f"{path} cannot be checked ({exc}); check dataset.path") from None


def _open_idx(path: Path):
    """The IDX file as a binary stream, decompressed when the name ends in .gz."""
    return gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")


def _idx_header(fh, path: Path) -> tuple[np.dtype, tuple[int, ...]]:
    """The element type and shape an IDX header declares, read from the stream's start."""
    magic = fh.read(4)
    # Header: two zero bytes, a type code byte, a dimension-count byte.
    if len(magic) < 4 or magic[0] != 0 or magic[1] != 0 or magic[2] not in _IDX_DTYPES or magic[3] == 0:
        raise DataError(
            f"IDX file {path} has a bad magic number {magic.hex() or '(empty)'}; "
            "it is not an IDX file or is corrupt; download it again"
        )
    ndim = magic[3]
    raw_dims = fh.read(4 * ndim)
    if len(raw_dims) < 4 * ndim:
        raise DataError(f"IDX file {path} is truncated inside its header; download it again")
    return _IDX_DTYPES[magic[2]], tuple(int(d) for d in np.frombuffer(raw_dims, dtype=">u4"))


def _idx_errors(path: Path, read):
    """`read()` on an IDX file, with every way the file can fail to read turned into a DataError naming it."""
    try:
        return read()
    except PermissionError:
        raise DataError(f"IDX file {path} cannot be read: permission denied; make it readable (chmod a+r)") from None
    except gzip.BadGzipFile as exc:
        raise DataError(f"IDX file {path} is not gzip data although its name ends in .gz ({exc}); download it "
                        "again, or remove the .gz suffix if it is a raw IDX file") from None
    except EOFError:
        raise DataError(f"IDX file {path} is truncated: its gzip data ends early; download it again") from None
    except (OSError, zlib.error) as exc:
        raise DataError(f"IDX file {path} cannot be read ({exc}); download it again") from None


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (gzip-compressed when the name ends in .gz) into a native-endian array.

    Reads no more than the header declares (plus one byte to detect trailing data), and
    refuses a header that declares more than MAX_IDX_BYTES, so a corrupt or hostile file
    (a gzip bomb, a header of 2**31 x 2**31 images) cannot exhaust memory.
    """
    path = Path(path)
    if not is_file(path):
        raise DataError(f"IDX file {path} does not exist; check the path or download the file")

    def read() -> np.ndarray:
        with _open_idx(path) as fh:
            dtype, dims = _idx_header(fh, path)
            expected = math.prod(dims) * dtype.itemsize
            # NumPy refuses even an empty shape whose other dimensions multiply beyond its address space.
            if expected > MAX_IDX_BYTES or math.prod(d for d in dims if d) * dtype.itemsize > MAX_IDX_BYTES:
                raise DataError(
                    f"IDX file {path} declares shape {_shape_text(dims)}, {expected:,} bytes of data, more than "
                    f"the {MAX_IDX_BYTES:,} an IDX file may hold here; it is corrupt or not an MNIST file: "
                    "download it again"
                )
            raw = fh.read(expected + 1)
            if len(raw) < expected:
                raise DataError(
                    f"IDX file {path} is truncated: shape {_shape_text(dims)} needs {expected} data bytes but only "
                    f"{len(raw)} are present; download it again"
                )
            if len(raw) > expected:
                extra = len(raw) - expected
                while extra <= MAX_IDX_BYTES and (chunk := fh.read(1 << 20)):
                    extra += len(chunk)
                raise DataError(
                    f"IDX file {path} has {'more than ' if extra > MAX_IDX_BYTES else ''}{extra} bytes after the "
                    f"data of shape {_shape_text(dims)}; it is corrupt; download it again"
                )
        data = np.frombuffer(raw, dtype=dtype, count=expected // dtype.itemsize)
        return np.ascontiguousarray(data.reshape(dims), dtype=dtype.newbyteorder("="))

    return _idx_errors(path, read)


def idx_shape(path: Path) -> tuple[int, ...]:
    """The shape an IDX file's header declares, read without its data; DataError as `read_idx` gives."""
    path = Path(path)
    if not is_file(path):
        raise DataError(f"IDX file {path} does not exist; check the path or download the file")

    def read() -> tuple[int, ...]:
        with _open_idx(path) as fh:
            return _idx_header(fh, path)[1]

    return _idx_errors(path, read)


def _find_mnist_file(directory: Path, name: str) -> Path | None:
    """The raw or gzipped copy of a standard MNIST file in `directory`, raw preferred."""
    for candidate in (directory / name, directory / f"{name}.gz"):
        if is_file(candidate):
            return candidate
    return None


def _mnist_pair_paths(directory: Path, images_name: str, labels_name: str) -> tuple[Path, Path] | None:
    """The image and label files of one pair in `directory`, or None unless both are there."""
    images_path = _find_mnist_file(directory, images_name)
    labels_path = _find_mnist_file(directory, labels_name)
    return None if images_path is None or labels_path is None else (images_path, labels_path)


def _check_values(images: np.ndarray, images_path: Path, labels: np.ndarray, labels_path: Path) -> None:
    """Raise DataError unless pixels are 0..255 and labels whole numbers 0..9 (float IDX types may hold anything)."""
    if images.dtype.kind == "f" and not np.all(np.isfinite(images)):
        raise DataError(f"MNIST image file {images_path} holds non-finite pixels; replace it with the standard file")
    if images.dtype != np.uint8 and images.size and (images.min() < 0 or images.max() > 255):
        raise DataError(f"MNIST image file {images_path} has pixels outside 0..255; replace it with the standard file")
    if labels.dtype.kind == "f" and not np.all(np.isfinite(labels) & (labels == np.round(labels))):
        raise DataError(f"MNIST label file {labels_path} holds labels that are not whole numbers; "
                        "replace it with the standard file")
    if labels.size and (labels.min() < 0 or labels.max() >= MNIST_CLASSES):
        raise DataError(
            f"MNIST label file {labels_path} has labels outside 0..{MNIST_CLASSES - 1}; "
            "replace it with the standard file"
        )


def _read_mnist_pair(directory: Path, images_name: str, labels_name: str) -> tuple[np.ndarray, np.ndarray] | None:
    """One image/label pair as X float32 (n, rows*cols) in [0, 1] and y int64 (n,), or None if absent."""
    paths = _mnist_pair_paths(directory, images_name, labels_name)
    if paths is None:
        return None
    images_path, labels_path = paths
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.ndim != 3:
        raise DataError(
            f"MNIST image file {images_path} has {images.ndim} dimensions, shape {_shape_text(images.shape)}; "
            "expected 3 (images, rows, columns); replace it with the standard file"
        )
    if labels.ndim != 1:
        raise DataError(
            f"MNIST label file {labels_path} has {labels.ndim} dimensions; expected 1; "
            "replace it with the standard file"
        )
    if images.shape[0] != labels.shape[0]:
        raise DataError(
            f"MNIST files in {directory} disagree: {images_path.name} holds {images.shape[0]} images but "
            f"{labels_path.name} holds {labels.shape[0]} labels; use files from the same release"
        )
    n, rows, cols = images.shape
    if n == 0 or rows * cols == 0:
        raise DataError(f"MNIST image file {images_path} holds no pixels (shape {images.shape}); "
                        "replace it with the standard file")
    _check_values(images, images_path, labels, labels_path)
    # Pixels are 0..255 intensities; flatten each image row-major to rows*cols features (784 for MNIST).
    X = (images.reshape(n, rows * cols).astype(np.float64) / 255.0).astype(np.float32)
    return X, labels.astype(np.int64)


def check_directory(directory: Path, title: str = "MNIST",
                    fix: str = "set dataset.path to the directory holding the MNIST files") -> None:
    """Raise DataError unless `directory` is a folder this process can look into (`title` names the data set)."""
    try:
        exists, is_dir = directory.exists(), directory.is_dir()
    except PermissionError:
        raise DataError(f"{title} directory {directory} cannot be reached: permission denied; make its parent "
                        "folders readable or point dataset.path at a readable copy") from None
    except (OSError, ValueError) as exc:
        raise DataError(f"{title} directory {directory} cannot be checked ({exc}); check dataset.path") from None
    if not exists:
        raise DataError(f"{title} directory {directory} does not exist; {fix}")
    if not is_dir:
        raise DataError(f"{title} path {directory} is not a directory; {fix}")


def _no_pair(directory: Path) -> DataError:
    return DataError(
        f"no MNIST image+label pair found in {directory}: looked for {MNIST_TRAIN_IMAGES} with "
        f"{MNIST_TRAIN_LABELS}, or {MNIST_TEST_IMAGES} with {MNIST_TEST_LABELS} (each raw or .gz); "
        "put at least one pair there or point dataset.path at the directory that has them"
    )


def _mnist_arrays(directory: Path) -> tuple[tuple[np.ndarray, np.ndarray] | None, tuple[np.ndarray, np.ndarray] | None]:
    """The (train pair, t10k pair) found in `directory`, either possibly None but not both."""
    directory = Path(directory)
    check_directory(directory)
    train = _read_mnist_pair(directory, MNIST_TRAIN_IMAGES, MNIST_TRAIN_LABELS)
    test = _read_mnist_pair(directory, MNIST_TEST_IMAGES, MNIST_TEST_LABELS)
    if train is None and test is None:
        raise _no_pair(directory)
    return train, test


def _mnist_counts(directory: Path) -> tuple[int | None, int | None]:
    """How many samples the train and t10k pairs hold, from their label files' headers alone."""
    directory = Path(directory)
    check_directory(directory)
    counts = []
    for images_name, labels_name in ((MNIST_TRAIN_IMAGES, MNIST_TRAIN_LABELS), (MNIST_TEST_IMAGES, MNIST_TEST_LABELS)):
        paths = _mnist_pair_paths(directory, images_name, labels_name)
        shape = None if paths is None else idx_shape(paths[1])
        if shape is not None and (len(shape) != 1 or shape[0] < 1):
            raise DataError(f"MNIST label file {paths[1]} declares shape {_shape_text(shape)}; expected one or more "
                            "labels in one dimension")
        counts.append(None if shape is None else shape[0])
    if counts == [None, None]:
        raise _no_pair(directory)
    return counts[0], counts[1]


def load_mnist(directory: Path, test_fraction: float, seed: int) -> Dataset:
    """MNIST from the standard IDX files in `directory`.

    With both the train and t10k pairs present they are used as the train and test parts
    (test_fraction is ignored); with only one pair it is split by test_fraction and seed.
    """
    train, test = _mnist_arrays(directory)
    if train is not None and test is not None:
        return Dataset("mnist", train[0], train[1], test[0], test[1], n_classes=MNIST_CLASSES)
    X, y = train if train is not None else test
    return Dataset("mnist", *split(X, y, test_fraction, seed), n_classes=MNIST_CLASSES)


def make_synthetic(n_samples: int, n_features: int, n_classes: int, seed: int, test_fraction: float) -> Dataset:
    """A generated (not real) labelled set: Gaussian clusters around one random centre per class.

    Centres are uniform in [0, 1]^n_features, each sample is its class centre plus Gaussian
    noise of sigma 0.15 clipped to [0, 1], and labels cycle through the classes (i % n_classes)
    so they are balanced before the seeded split shuffles them. Deterministic for a seed.
    """
    if n_features < 1:
        raise DataError(f"synthetic data needs at least 1 feature, got {n_features}; set model.layers[0] to at least 1")
    if n_classes < 2:
        raise DataError(f"synthetic data needs at least 2 classes, got {n_classes}; set model.layers[-1] to at least 2")
    if n_samples < max(2, n_classes):
        raise DataError(
            f"synthetic data with {n_classes} classes needs at least {max(2, n_classes)} samples, got {n_samples}; "
            "raise dataset.samples"
        )
    if n_samples > MAX_DATASET_SAMPLES:
        raise DataError(f"dataset.samples is {n_samples:,}; synthetic data is generated whole in memory, at most "
                        f"{MAX_DATASET_SAMPLES:,} samples: lower dataset.samples")
    if n_samples * n_features > MAX_SYNTHETIC_VALUES:
        raise DataError(
            f"dataset.samples ({n_samples:,}) times model.layers[0] ({n_features:,}) is {n_samples * n_features:,} "
            f"generated values, more than the {MAX_SYNTHETIC_VALUES:,} synthetic data may hold; lower "
            "dataset.samples or model.layers[0]"
        )
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0.0, 1.0, size=(n_classes, n_features))  # (n_classes, n_features)
    y = np.arange(n_samples, dtype=np.int64) % n_classes  # (n_samples,)
    X = rng.normal(0.0, SYNTHETIC_NOISE_SIGMA, size=(n_samples, n_features))  # the noise, then the samples
    # In place to halve the peak memory; noise + centre is the same float64 sum as centre + noise.
    X += centres[y]
    X = np.clip(X, 0.0, 1.0, out=X).astype(np.float32)  # (n_samples, n_features)
    return Dataset("synthetic", *split(X, y, test_fraction, seed), n_classes=n_classes)


WIDTH_KEYS = ("model.layers[0]", "model.layers[-1]")  # where a dense model states its input and output widths


def _check_shape(name: str, data_features: int, data_classes: int, n_features: int, n_classes: int,
                 keys: tuple[str, str] = WIDTH_KEYS) -> None:
    """Raise DataError when the model's input/output widths (stated at `keys`) do not match the data set."""
    if n_features != data_features:
        raise DataError(
            f"{keys[0]} is {n_features} but the {name} inputs have {data_features} features; "
            f"set {keys[0]} to {data_features}"
        )
    if n_classes != data_classes:
        raise DataError(
            f"{keys[1]} is {n_classes} but {name} has {data_classes} classes; "
            f"set {keys[1]} to {data_classes}"
        )


def _check_samples(samples: int, available: int, name: str) -> None:
    """Raise DataError unless 2 <= samples <= available."""
    if samples < 2:
        raise DataError(f"dataset.samples is {samples}; set it to at least 2 so train and test are non-empty")
    if samples > available:
        raise DataError(
            f"dataset.samples is {samples} but {name} has only {available} samples; "
            f"set dataset.samples to at most {available} or leave it unset"
        )


def _take_first(X: np.ndarray, y: np.ndarray, samples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The first `samples` rows of a seeded shuffle of (X, y)."""
    keep = np.random.default_rng(seed).permutation(X.shape[0])[:samples]
    return X[keep], y[keep]


GENERATED_KEPT = 4  # synthetic data sets a process keeps, so that runs of one sweep generate theirs once


@lru_cache(maxsize=GENERATED_KEPT)
def _generated(n_samples: int, n_features: int, n_classes: int, seed: int, test_fraction: float) -> Dataset:
    """`make_synthetic`, kept for the next run that asks for the same one (its arrays are read-only)."""
    data = make_synthetic(n_samples, n_features, n_classes, seed, test_fraction)
    for array in (data.X_train, data.y_train, data.X_test, data.y_test):
        array.flags.writeable = False
    return data


def load_dataset(
    name: str,
    path: Path | None,
    test_fraction: float,
    seed: int,
    *,
    n_features: int,
    n_classes: int,
    samples: int | None = None,
    keys: tuple[str, str] = WIDTH_KEYS,
    extra: bool = False,
    normalize: bool = False,
) -> Dataset:
    """Load the named data set (`DATASET_NAMES`) checked against the model's widths.

    For synthetic, n_features/n_classes set the shape and `samples` the count (default 2000).
    For the others, n_features/n_classes must match the data (a mismatch names `keys`, where
    the model states them), and a non-None `samples` keeps only the first `samples` of a
    seeded shuffle before splitting. When the files provide both a train and a test part
    (MNIST's train and t10k pairs, CIFAR's batches, SVHN's .mat files) the given split is
    kept and `samples` is shared between the parts in their original proportion. The image
    sets (cifar10, cifar100, svhn; `images.py`) come as rows of C*H*W floats in [0, 1],
    channel by channel, or with `normalize` each channel standardized by the training
    images' mean and std; `extra` appends SVHN's extra set to its training part.
    """
    if name == "synthetic":
        count = DEFAULT_SYNTHETIC_SAMPLES if samples is None else samples
        return _generated(count, n_features, n_classes, seed, test_fraction)

    if name == "digits":
        X, y = _digits_arrays()
        _check_shape(name, X.shape[1], 10, n_features, n_classes, keys)
        if samples is not None:
            _check_samples(samples, X.shape[0], name)
            X, y = _take_first(X, y, samples, seed)
        return Dataset(name, *split(X, y, test_fraction, seed), n_classes=10)

    if name == "mnist":
        if path is None:
            raise DataError(
                "dataset.path is needed for mnist; set dataset.path to the directory holding "
                f"{MNIST_TEST_IMAGES}(.gz) and {MNIST_TEST_LABELS}(.gz)"
            )
        train, test = _mnist_arrays(Path(path))
        data_features = (train if train is not None else test)[0].shape[1]
        _check_shape(name, data_features, MNIST_CLASSES, n_features, n_classes, keys)
        return _parts(name, train, test, samples, test_fraction, seed, MNIST_CLASSES)

    if name in IMAGE_SETS:
        from . import images  # it builds on this module

        image_set = images.load_images(name, path, test_fraction, seed, extra=extra)
        flat = image_set.flat()
        _check_shape(name, flat.X_train.shape[1], flat.n_classes, n_features, n_classes, keys)
        data = _parts(name, (flat.X_train, flat.y_train), (flat.X_test, flat.y_test), samples, test_fraction, seed,
                      flat.n_classes)
        if normalize:  # each channel by the training images' statistics (those kept, after the subset)
            shape = image_set.image_shape
            stats = images.channel_stats(images.as_images(data.X_train, shape))
            data = Dataset(name, stats.apply(images.as_images(data.X_train, shape)).reshape(len(data.y_train), -1),
                           data.y_train, stats.apply(images.as_images(data.X_test, shape)).reshape(len(data.y_test), -1),
                           data.y_test, n_classes=data.n_classes)
        return data

    raise DataError(f"dataset.name is {name!r}; set it to one of {', '.join(DATASET_NAMES)}")


def _parts(name: str, train, test, samples: int | None, test_fraction: float, seed: int, n_classes: int) -> Dataset:
    """A data set from its files' train and test parts ((X, y) or None): both kept as given (a subset keeps
    their proportion, at least one sample each side), or the one present split by `test_fraction`."""
    if train is not None and test is not None:
        Xtr, ytr = train
        Xte, yte = test
        if samples is not None:
            _check_samples(samples, Xtr.shape[0] + Xte.shape[0], name)
            n_test = _kept_test(samples, Xtr.shape[0], Xte.shape[0])
            Xtr, ytr = _take_first(Xtr, ytr, samples - n_test, seed)
            Xte, yte = _take_first(Xte, yte, n_test, seed)
        return Dataset(name, Xtr, ytr, Xte, yte, n_classes=n_classes)
    X, y = train if train is not None else test
    if samples is not None:
        _check_samples(samples, X.shape[0], name)
        X, y = _take_first(X, y, samples, seed)
    return Dataset(name, *split(X, y, test_fraction, seed), n_classes=n_classes)


def train_size(name: str, path: str | Path | None, test_fraction: float, samples: int | None = None,
               extra: bool = False) -> int | None:
    """How many training samples `load_dataset` gives for these settings, told without loading the data
    (MNIST from its label files' headers); None when it cannot be told, because the data set cannot be
    loaded either (loading it then says why)."""
    if samples is not None and samples < 2:
        return None
    try:
        if name == "synthetic":
            n = DEFAULT_SYNTHETIC_SAMPLES if samples is None else samples
        elif name == "digits":
            n = DIGITS_SAMPLES if samples is None else samples
        elif (name == "mnist" or name in IMAGE_SETS) and path is not None:
            if name == "mnist":
                n_train, n_test = _mnist_counts(Path(path))
            else:
                from . import images  # it builds on this module

                n_train, n_test = images.image_counts(name, path, extra=extra)
            if n_train is not None and n_test is not None:
                return n_train if samples is None else samples - _kept_test(samples, n_train, n_test)
            n = (n_train if n_train is not None else n_test) if samples is None else samples
        else:
            return None
    except DataError:
        return None
    return n - _test_count(n, test_fraction) if n >= 2 else None
