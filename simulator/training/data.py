"""Labelled classification data sets (digits, MNIST, synthetic) loaded as seeded train/test splits."""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DATASET_NAMES = ("digits", "mnist", "synthetic")

# Sample count for the synthetic set when the configuration gives none.
DEFAULT_SYNTHETIC_SAMPLES = 2000

# Standard deviation of the Gaussian noise around each synthetic class centre,
# in feature units (features live in [0, 1]).
SYNTHETIC_NOISE_SIGMA = 0.15

MNIST_CLASSES = 10

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
    """A data set that cannot be loaded; the message names the file or directory and the fix."""


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
        # Coerce once here so every consumer can rely on dtype and layout.
        for field, dtype in (("X_train", np.float32), ("y_train", np.int64),
                             ("X_test", np.float32), ("y_test", np.int64)):
            object.__setattr__(self, field, np.ascontiguousarray(getattr(self, field), dtype=dtype))
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
    n_test = min(max(int(round(test_fraction * n)), 1), n - 1)
    order = np.random.default_rng(seed).permutation(n)
    test_idx, train_idx = order[:n_test], order[n_test:]
    return (
        np.ascontiguousarray(X[train_idx], dtype=np.float32),
        np.ascontiguousarray(y[train_idx], dtype=np.int64),
        np.ascontiguousarray(X[test_idx], dtype=np.float32),
        np.ascontiguousarray(y[test_idx], dtype=np.int64),
    )


def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """The scikit-learn 8x8 digits as X float32 (1797, 64) in [0, 1] and y int64 (1797,)."""
    from sklearn.datasets import load_digits as sk_load_digits

    bunch = sk_load_digits()
    # Pixel intensities are integers 0..16.
    X = (np.asarray(bunch.data, dtype=np.float64) / 16.0).astype(np.float32)
    y = np.asarray(bunch.target, dtype=np.int64)
    return X, y


def load_digits(test_fraction: float, seed: int) -> Dataset:
    """The scikit-learn 8x8 handwritten digits (1797 samples, 64 features, 10 classes), split by seed."""
    X, y = _digits_arrays()
    return Dataset("digits", *split(X, y, test_fraction, seed), n_classes=10)


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (gzip-compressed when the name ends in .gz) into a native-endian array."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"IDX file {path} does not exist; check the path or download the file")
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as fh:
                raw = fh.read()
        else:
            raw = path.read_bytes()
    except (OSError, EOFError) as exc:
        raise DataError(f"IDX file {path} cannot be read ({exc}); download it again") from exc

    # Header: two zero bytes, a type code byte, a dimension-count byte.
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES or raw[3] == 0:
        raise DataError(
            f"IDX file {path} has a bad magic number {raw[:4].hex() or '(empty)'}; "
            "it is not an IDX file or is corrupt; download it again"
        )
    dtype = _IDX_DTYPES[raw[2]]
    ndim = raw[3]
    header_len = 4 + 4 * ndim
    if len(raw) < header_len:
        raise DataError(f"IDX file {path} is truncated inside its header; download it again")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    actual = len(raw) - header_len
    if actual < expected:
        raise DataError(
            f"IDX file {path} is truncated: shape {dims} needs {expected} data bytes but only "
            f"{actual} are present; download it again"
        )
    if actual > expected:
        raise DataError(
            f"IDX file {path} has {actual - expected} bytes after the data of shape {dims}; "
            "it is corrupt; download it again"
        )
    data = np.frombuffer(raw, dtype=dtype, count=expected // dtype.itemsize, offset=header_len)
    return np.ascontiguousarray(data.reshape(dims), dtype=dtype.newbyteorder("="))


def _find_mnist_file(directory: Path, name: str) -> Path | None:
    """The raw or gzipped copy of a standard MNIST file in `directory`, raw preferred."""
    for candidate in (directory / name, directory / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _read_mnist_pair(directory: Path, images_name: str, labels_name: str) -> tuple[np.ndarray, np.ndarray] | None:
    """One image/label pair as X float32 (n, rows*cols) in [0, 1] and y int64 (n,), or None if absent."""
    images_path = _find_mnist_file(directory, images_name)
    labels_path = _find_mnist_file(directory, labels_name)
    if images_path is None or labels_path is None:
        return None
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.ndim != 3:
        raise DataError(
            f"MNIST image file {images_path} has {images.ndim} dimensions, shape {images.shape}; "
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
    if labels.size and (labels.min() < 0 or labels.max() >= MNIST_CLASSES):
        raise DataError(
            f"MNIST label file {labels_path} has labels outside 0..{MNIST_CLASSES - 1}; "
            "replace it with the standard file"
        )
    # Pixels are 0..255 intensities; flatten each image row-major to rows*cols features (784 for MNIST).
    X = (images.reshape(images.shape[0], -1).astype(np.float64) / 255.0).astype(np.float32)
    return X, labels.astype(np.int64)


def _mnist_arrays(directory: Path) -> tuple[tuple[np.ndarray, np.ndarray] | None, tuple[np.ndarray, np.ndarray] | None]:
    """The (train pair, t10k pair) found in `directory`, either possibly None but not both."""
    directory = Path(directory)
    if not directory.exists():
        raise DataError(f"MNIST directory {directory} does not exist; set dataset.path to the directory holding the MNIST files")
    if not directory.is_dir():
        raise DataError(f"MNIST path {directory} is not a directory; set dataset.path to the directory holding the MNIST files")
    train = _read_mnist_pair(directory, MNIST_TRAIN_IMAGES, MNIST_TRAIN_LABELS)
    test = _read_mnist_pair(directory, MNIST_TEST_IMAGES, MNIST_TEST_LABELS)
    if train is None and test is None:
        raise DataError(
            f"no MNIST image+label pair found in {directory}: looked for {MNIST_TRAIN_IMAGES} with "
            f"{MNIST_TRAIN_LABELS}, or {MNIST_TEST_IMAGES} with {MNIST_TEST_LABELS} (each raw or .gz); "
            "put at least one pair there or point dataset.path at the directory that has them"
        )
    return train, test


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
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0.0, 1.0, size=(n_classes, n_features))  # (n_classes, n_features)
    y = np.arange(n_samples, dtype=np.int64) % n_classes  # (n_samples,)
    noise = rng.normal(0.0, SYNTHETIC_NOISE_SIGMA, size=(n_samples, n_features))
    X = np.clip(centres[y] + noise, 0.0, 1.0).astype(np.float32)  # (n_samples, n_features)
    return Dataset("synthetic", *split(X, y, test_fraction, seed), n_classes=n_classes)


def _check_shape(name: str, data_features: int, data_classes: int, n_features: int, n_classes: int) -> None:
    """Raise DataError when the model's input/output widths do not match the data set."""
    if n_features != data_features:
        raise DataError(
            f"model.layers[0] is {n_features} but the {name} inputs have {data_features} features; "
            f"set model.layers[0] to {data_features}"
        )
    if n_classes != data_classes:
        raise DataError(
            f"model.layers[-1] is {n_classes} but {name} has {data_classes} classes; "
            f"set model.layers[-1] to {data_classes}"
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


def load_dataset(
    name: str,
    path: Path | None,
    test_fraction: float,
    seed: int,
    *,
    n_features: int,
    n_classes: int,
    samples: int | None = None,
) -> Dataset:
    """Load the named data set ("digits", "mnist" or "synthetic") checked against the model's widths.

    For synthetic, n_features/n_classes set the shape and `samples` the count (default 2000).
    For digits and mnist, n_features/n_classes must match the data, and a non-None `samples`
    keeps only the first `samples` of a seeded shuffle before splitting. When MNIST provides
    both the train and t10k pairs the given split is kept and `samples` is shared between
    the parts in their original proportion.
    """
    if name == "synthetic":
        count = DEFAULT_SYNTHETIC_SAMPLES if samples is None else samples
        return make_synthetic(count, n_features, n_classes, seed, test_fraction)

    if name == "digits":
        X, y = _digits_arrays()
        _check_shape(name, X.shape[1], 10, n_features, n_classes)
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
        _check_shape(name, data_features, MNIST_CLASSES, n_features, n_classes)
        if train is not None and test is not None:
            Xtr, ytr = train
            Xte, yte = test
            if samples is not None:
                _check_samples(samples, Xtr.shape[0] + Xte.shape[0], name)
                # Keep the train:test proportion of the given split, at least one sample each side.
                n_test = min(max(int(round(samples * Xte.shape[0] / (Xtr.shape[0] + Xte.shape[0]))), 1), samples - 1)
                Xtr, ytr = _take_first(Xtr, ytr, samples - n_test, seed)
                Xte, yte = _take_first(Xte, yte, n_test, seed)
            return Dataset(name, Xtr, ytr, Xte, yte, n_classes=MNIST_CLASSES)
        X, y = train if train is not None else test
        if samples is not None:
            _check_samples(samples, X.shape[0], name)
            X, y = _take_first(X, y, samples, seed)
        return Dataset(name, *split(X, y, test_fraction, seed), n_classes=MNIST_CLASSES)

    raise DataError(f"dataset.name is {name!r}; set it to one of {', '.join(DATASET_NAMES)}")
