"""Image data sets of the CP paper (CIFAR-10, CIFAR-100, SVHN) read from files the user gives, and MNIST and
the 8x8 digits as images.

Nothing is downloaded: every loader reads a directory the user names. All loaders return an `ImageDataset`:
float32 images (N, C, H, W) in [0, 1] and int64 labels, with the train/test parts the files give (or, when
only one part is there, a seeded split of it as `data.split` does for MNIST). `normalize_channels` standardizes
each channel with statistics of the training images; `ImageDataset.flat` gives the `data.Dataset` of
(N, C*H*W) rows the models train on.

Formats:

* CIFAR-10 / CIFAR-100, binary version (cifar-10-binary.tar.gz / cifar-100-binary.tar.gz): data_batch_1.bin ..
  data_batch_5.bin and test_batch.bin of records of 1 label byte + 3072 pixel bytes; train.bin and test.bin
  of 1 coarse-label byte + 1 fine-label byte + 3072 pixel bytes (the fine label is used). The safe choice.
* CIFAR-10 / CIFAR-100, python version (cifar-10-python.tar.gz / cifar-100-python.tar.gz): data_batch_1 ..
  data_batch_5 and test_batch; train and test. Each is a pickled dict with b"data", a uint8 (N, 3072) array,
  and b"labels" (CIFAR-10) or b"fine_labels" (CIFAR-100). The CIFAR authors' format requires pickle, and
  unpickling a file from an untrusted source can run arbitrary code. These batches are unpickled with an
  Unpickler that resolves only the NumPy names an array's pickle uses (and checks their arguments), so a
  pickle naming any other callable is refused before anything runs; still, for files of unknown origin
  prefer the binary version, which is read as plain bytes.
* A CIFAR pixel row is 1024 red, then 1024 green, then 1024 blue values, each a row-major 32x32 plane: it is
  the (3, 32, 32) image flattened.
* SVHN cropped digits (format 2): train_32x32.mat and test_32x32.mat (extra_32x32.mat only when asked), MATLAB
  v5 files read with scipy.io.loadmat. X is uint8 (32, 32, 3, N), image i being X[:, :, :, i] in height,
  width, channel order; y is (N, 1) with labels 1..10, 10 meaning the digit 0 (mapped to 0).

Errors are `data.DataError`s, one line each, naming the file or directory, what is wrong and the fix.
"""

from __future__ import annotations

import io
import math
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .data import DataError, Dataset, check_directory, coerce_parts, is_file, load_digits, load_mnist, split

IMAGE_DATASET_NAMES = ("cifar10", "cifar100", "svhn")

CIFAR_SHAPE = (3, 32, 32)
CIFAR_PIXELS = 3072  # 3 * 32 * 32 bytes per image
SVHN_SHAPE = (3, 32, 32)
SVHN_CLASSES = 10

# Bytes one data file may hold (SVHN's extra_32x32.mat, the largest, is about 1.3 GB; a CIFAR batch 31 MB).
MAX_IMAGE_FILE_BYTES = 2 << 30

SVHN_TRAIN = "train_32x32.mat"
SVHN_TEST = "test_32x32.mat"
SVHN_EXTRA = "extra_32x32.mat"

# Images standardized per chunk, to bound the float64 temporaries of `channel_stats` and `ChannelStats.apply`.
_CHUNK = 4096


@dataclass(frozen=True)
class _Cifar:
    """What tells one CIFAR set's files apart."""

    name: str  # dataset.name
    title: str  # the name in messages
    classes: int
    train_python: tuple[str, ...]
    test_python: str
    label_key: bytes  # of a python batch's dict
    folder_python: str  # the top folder of the extracted archive
    folder_binary: str
    archive_python: str
    archive_binary: str
    # Binary version: bytes of labels before the pixels of each record, the last of them the label used.
    label_bytes: int

    @property
    def train_binary(self) -> tuple[str, ...]:
        return tuple(f"{name}.bin" for name in self.train_python)

    @property
    def test_binary(self) -> str:
        return f"{self.test_python}.bin"

    @property
    def record(self) -> int:
        return self.label_bytes + CIFAR_PIXELS

    @property
    def record_text(self) -> str:
        labels = "1 label byte" if self.label_bytes == 1 else "1 coarse-label byte, 1 fine-label byte"
        return f"{labels} and {CIFAR_PIXELS} pixel bytes"


CIFAR10 = _Cifar("cifar10", "CIFAR-10", 10, tuple(f"data_batch_{i}" for i in range(1, 6)), "test_batch",
                 b"labels", "cifar-10-batches-py", "cifar-10-batches-bin", "cifar-10-python.tar.gz",
                 "cifar-10-binary.tar.gz", 1)
CIFAR100 = _Cifar("cifar100", "CIFAR-100", 100, ("train",), "test", b"fine_labels", "cifar-100-python",
                  "cifar-100-binary", "cifar-100-python.tar.gz", "cifar-100-binary.tar.gz", 2)
CIFAR100_COARSE_CLASSES = 20
_CIFARS = {"cifar10": CIFAR10, "cifar100": CIFAR100}


# --- the data set and its normalization ----------------------------------------------------


@dataclass(frozen=True)
class ImageDataset(Dataset):
    """A labelled image classification data set split into train and test parts: `Dataset`'s fields,
    with X_train and X_test float32 images (samples, C, H, W) in [0, 1] (unless normalized)."""

    def __post_init__(self) -> None:
        coerce_parts(self)
        if self.X_train.ndim != 4 or self.X_test.ndim != 4:
            raise DataError(f"{self.name}: images must be 4-D (samples, channels, height, width)")
        if self.X_train.shape[1:] != self.X_test.shape[1:]:
            raise DataError(f"{self.name}: train and test images have different shapes "
                            f"{self.X_train.shape[1:]} and {self.X_test.shape[1:]}")
        if self.X_train.shape[0] != self.y_train.shape[0] or self.X_test.shape[0] != self.y_test.shape[0]:
            raise DataError(f"{self.name}: image and label counts differ")

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of one image."""
        return tuple(int(d) for d in self.X_train.shape[1:])

    @property
    def n_features(self) -> int:
        """Values per image, the width of the model's first layer on the flattened images."""
        return math.prod(self.image_shape)

    def flat(self) -> Dataset:
        """The same samples as a `data.Dataset` of rows (N, C*H*W), each image flattened channel by channel,
        row-major (for CIFAR, the files' own order); the arrays are views of these."""
        return Dataset(self.name, self.X_train.reshape(len(self.X_train), -1), self.y_train,
                       self.X_test.reshape(len(self.X_test), -1), self.y_test, n_classes=self.n_classes)


@dataclass(frozen=True)
class ChannelStats:
    """Each channel's mean and standard deviation (population, over all training pixels), to report."""

    mean: tuple[float, ...]
    std: tuple[float, ...]

    def apply(self, X: np.ndarray) -> np.ndarray:
        """(X - mean) / std per channel of float images (N, C, H, W), as a new float32 array."""
        X = np.asarray(X)
        if X.ndim != 4 or X.shape[1] != len(self.mean):
            raise DataError(f"cannot normalize images of shape {X.shape} with statistics of "
                            f"{len(self.mean)} channels")
        mean = np.asarray(self.mean, dtype=np.float64)[:, None, None]
        std = np.asarray(self.std, dtype=np.float64)[:, None, None]
        out = np.empty(X.shape, dtype=np.float32)
        for start in range(0, X.shape[0], _CHUNK):
            out[start:start + _CHUNK] = (X[start:start + _CHUNK] - mean) / std
        return out


def channel_stats(X: np.ndarray) -> ChannelStats:
    """Mean and standard deviation of each channel of images (N, C, H, W), over all their pixels, in float64
    (two passes, in chunks of images). A constant channel's std is reported as 1.0, so that normalizing
    only centres it."""
    X = np.asarray(X)
    if X.ndim != 4 or X.shape[0] == 0 or X[0].size == 0:
        raise DataError(f"channel statistics need images (samples, channels, height, width), got shape {X.shape}")
    count = X.shape[0] * X.shape[2] * X.shape[3]
    total = np.zeros(X.shape[1], dtype=np.float64)
    for start in range(0, X.shape[0], _CHUNK):
        total += X[start:start + _CHUNK].sum(axis=(0, 2, 3), dtype=np.float64)
    mean = total / count
    squares = np.zeros(X.shape[1], dtype=np.float64)
    for start in range(0, X.shape[0], _CHUNK):
        squares += ((X[start:start + _CHUNK] - mean[:, None, None]) ** 2).sum(axis=(0, 2, 3))
    std = np.sqrt(squares / count)
    std[std == 0] = 1.0
    return ChannelStats(tuple(float(m) for m in mean), tuple(float(s) for s in std))


def normalize_channels(data: ImageDataset) -> tuple[ImageDataset, ChannelStats]:
    """`data` with every channel standardized, (x - mean) / std, by the mean and std of the TRAINING images
    (the test images get the same transform); returns the new data set and the statistics used."""
    stats = channel_stats(data.X_train)
    return (ImageDataset(data.name, stats.apply(data.X_train), data.y_train, stats.apply(data.X_test),
                         data.y_test, n_classes=data.n_classes), stats)


def split_images(
    X: np.ndarray, y: np.ndarray, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """`data.split` of images (N, C, H, W): the same seeded permutation, round(test_fraction * n) test images."""
    return split(X, y, test_fraction, seed)


def _parts(name: str, train, test, n_classes: int, test_fraction: float, seed: int) -> ImageDataset:
    """The ImageDataset of the (images, labels) parts found; a lone part is split by test_fraction and seed."""
    if train is not None and test is not None:
        return ImageDataset(name, train[0], train[1], test[0], test[1], n_classes=n_classes)
    X, y = train if train is not None else test
    return ImageDataset(name, *split_images(X, y, test_fraction, seed), n_classes=n_classes)


# --- MNIST and digits as images ----------------------------------------------------------


def as_images(X: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """Flat rows (N, C*H*W) as images (N, C, H, W), float32 (a view when X is float32 and contiguous)."""
    X = np.ascontiguousarray(X, dtype=np.float32)
    shape = tuple(int(d) for d in shape)
    if X.ndim != 2 or len(shape) != 3 or X.shape[1] != math.prod(shape):
        raise DataError(f"rows of shape {X.shape} cannot be images of shape {shape}: "
                        f"each row needs {math.prod(shape)} values")
    return X.reshape(X.shape[0], *shape)


def to_images(data: Dataset, shape: tuple[int, int, int] | None = None) -> ImageDataset:
    """A flat `data.Dataset` as an ImageDataset. Without `shape`, n features that are a square s*s give one
    channel of s x s (MNIST's 784 -> (1, 28, 28), the digits' 64 -> (1, 8, 8))."""
    if shape is None:
        side = math.isqrt(data.n_features)
        if side * side != data.n_features:
            raise DataError(f"{data.name} has {data.n_features} features, not a square number of pixels; "
                            "give the image shape (channels, height, width)")
        shape = (1, side, side)
    return ImageDataset(data.name, as_images(data.X_train, shape), data.y_train, as_images(data.X_test, shape),
                        data.y_test, n_classes=data.n_classes)


def load_mnist_images(directory: Path, test_fraction: float, seed: int) -> ImageDataset:
    """`data.load_mnist` as images (N, 1, 28, 28)."""
    return to_images(load_mnist(directory, test_fraction, seed))


def load_digits_images(test_fraction: float, seed: int) -> ImageDataset:
    """`data.load_digits` as images (N, 1, 8, 8)."""
    return to_images(load_digits(test_fraction, seed))


# --- files -------------------------------------------------------------------------------


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except (OSError, ValueError):
        return False


def _check_directory(directory: Path, title: str, holding: str) -> None:
    """Raise DataError unless `directory` is a folder this process can look into."""
    check_directory(directory, title, f"set dataset.path to the folder holding {holding}")


def _read_bytes(path: Path, title: str) -> bytes:
    """The whole file, at most MAX_IMAGE_FILE_BYTES; DataError naming it when it cannot be read."""
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_IMAGE_FILE_BYTES + 1)
    except PermissionError:
        raise DataError(f"{title} file {path} cannot be read: permission denied; make it readable (chmod a+r)") from None
    except OSError as exc:
        raise DataError(f"{title} file {path} cannot be read ({exc}); download it again") from None
    if len(raw) > MAX_IMAGE_FILE_BYTES:
        raise DataError(f"{title} file {path} is more than {MAX_IMAGE_FILE_BYTES:,} bytes, more than any {title} "
                        f"file holds; it is not a {title} file: point dataset.path at the standard files")
    return raw


def _check_labels(labels: np.ndarray, n_classes: int, path: Path, title: str, what: str = "label") -> None:
    """Raise DataError naming the first label outside 0..n_classes-1."""
    bad = np.flatnonzero((labels < 0) | (labels >= n_classes))
    if bad.size:
        i = int(bad[0])
        raise DataError(f"{title} file {path} has {what} {int(labels[i])} at image {i}, outside 0..{n_classes - 1}; "
                        f"it is not a {title} file or is corrupt; download it again")


def _scaled(pixels: np.ndarray) -> np.ndarray:
    """uint8 pixels as C-contiguous float32 in [0, 1], v / 255: divided in float32, which for every v in 0..255
    gives the float64 quotient rounded to float32, as data.py scales MNIST (a test checks all 256)."""
    out = pixels.astype(np.float32, order="C")
    return np.divide(out, np.float32(255), out=out)


# --- CIFAR, binary version ---------------------------------------------------------------


def read_cifar_binary(path: Path, name: str = "cifar10") -> tuple[np.ndarray, np.ndarray]:
    """One binary CIFAR file as uint8 images (N, 3, 32, 32) and int64 labels (N,) (CIFAR-100: fine labels,
    the coarse ones checked to be 0..19)."""
    spec, path = _CIFARS[name], Path(path)
    if not is_file(path):
        raise DataError(f"{spec.title} file {path} does not exist; extract {spec.archive_binary} again")
    raw = _read_bytes(path, spec.title)
    if not raw:
        raise DataError(f"{spec.title} file {path} is empty; download {spec.archive_binary} again")
    if len(raw) % spec.record:
        other = CIFAR100 if spec is CIFAR10 else CIFAR10
        if len(raw) % other.record == 0:
            raise DataError(
                f"{spec.title} file {path} has {len(raw):,} bytes, whole records of {other.record} bytes "
                f"({other.record_text}) but not of the {spec.record} bytes of a {spec.title} record "
                f"({spec.record_text}); it looks like a {other.title} file: set dataset.name to {other.name} "
                f"or point dataset.path at the {spec.title} files"
            )
        whole = len(raw) // spec.record
        raise DataError(
            f"{spec.title} file {path} is truncated: its {len(raw):,} bytes are {whole} record{'s' * (whole != 1)} "
            f"of {spec.record} bytes ({spec.record_text}) and {len(raw) % spec.record} bytes of a cut-off one; "
            f"download {spec.archive_binary} again"
        )
    records = np.frombuffer(raw, dtype=np.uint8).reshape(-1, spec.record)
    if spec is CIFAR100:
        _check_labels(records[:, 0], CIFAR100_COARSE_CLASSES, path, spec.title, "coarse label")
    labels = records[:, spec.label_bytes - 1].astype(np.int64)
    _check_labels(labels, spec.classes, path, spec.title, "fine label" if spec is CIFAR100 else "label")
    return records[:, spec.label_bytes:].reshape(-1, *CIFAR_SHAPE), labels


# --- CIFAR, python version ---------------------------------------------------------------


class _Refused(pickle.UnpicklingError):
    """A pickle names a callable a CIFAR batch never holds."""


def _numpy_modules():
    try:  # NumPy 2
        from numpy._core import multiarray, numeric
    except ImportError:  # NumPy 1.26
        from numpy.core import multiarray, numeric
    return multiarray, numeric


class _ArrayClass:
    """Stands for numpy.ndarray in a pickle: only `_reconstruct` takes it, nothing can call it."""


def _reconstruct(cls, shape, typecode):
    # NumPy pickles an array (protocol <= 4) as _reconstruct(ndarray, (0,), b"b") then its state: allow
    # exactly that, so a pickle cannot allocate an array of a shape it chooses.
    if cls is not _ArrayClass or tuple(shape) != (0,) or typecode not in (b"b", "b"):
        raise _Refused("numpy _reconstruct with arguments NumPy never pickles")
    return _numpy_modules()[0]._reconstruct(np.ndarray, (0,), b"b")


def _frombuffer(buffer, dtype, shape, order):
    # NumPy's protocol-5 form: an array over bytes the pickle holds (it cannot be larger than the file).
    if not isinstance(dtype, np.dtype) or dtype.hasobject or order not in ("C", "F"):
        raise _Refused("numpy _frombuffer with arguments NumPy never pickles")
    return _numpy_modules()[1]._frombuffer(buffer, dtype, tuple(shape), order)


def _dtype(spec, align=False, copy=True):
    if not isinstance(spec, (str, bytes)):
        raise _Refused("numpy dtype of something other than a type code")
    return np.dtype(spec.decode("ascii") if isinstance(spec, bytes) else spec, bool(align), bool(copy))


def _latin1(text, encoding):
    # Python 3 pickles bytes at protocol <= 2 as _codecs.encode(text, "latin1").
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise _Refused("_codecs.encode other than of text to latin1")
    return text.encode("latin1")


_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,  # as the CIFAR batches (NumPy 1, Python 2) have it
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _frombuffer,
    ("numpy", "ndarray"): _ArrayClass,
    ("numpy", "dtype"): _dtype,
    ("_codecs", "encode"): _latin1,
}


class _CifarUnpickler(pickle.Unpickler):
    """Resolves only the names of `_ALLOWED`; any other global is refused before it is imported."""

    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise _Refused(f"{module}.{name}"[:80]) from None


def _text(value: object, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _described(value: object) -> str:
    if isinstance(value, np.ndarray):
        return f"a {value.dtype} array of shape {value.shape if value.ndim <= 6 else f'({value.ndim} dimensions)'}"
    return f"a {type(value).__name__}"


def read_cifar_python(path: Path, name: str = "cifar10") -> tuple[np.ndarray, np.ndarray]:
    """One python-version CIFAR batch as uint8 images (N, 3, 32, 32) and int64 labels (N,).

    The batch is a pickle (the CIFAR authors' format); unpickling an untrusted pickle with pickle.load can run
    arbitrary code. This one is unpickled (encoding="bytes", as the Python 2 batches need) by an Unpickler
    that resolves only the NumPy array names, so any other callable is refused unrun; the binary version
    (`read_cifar_binary`) avoids pickle altogether.
    """
    spec, path = _CIFARS[name], Path(path)
    if not is_file(path):
        raise DataError(f"{spec.title} file {path} does not exist; extract {spec.archive_python} again")
    raw = _read_bytes(path, spec.title)
    fix = f"download {spec.archive_python} again, or use the binary version ({spec.archive_binary})"
    try:
        batch = _CifarUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except _Refused as exc:
        raise DataError(f"{spec.title} file {path} is a pickle that uses {exc}, which a CIFAR batch never does; "
                        f"refused without running it: use files from the CIFAR site, or the binary version "
                        f"({spec.archive_binary})") from None
    except Exception as exc:  # whatever a damaged pickle raises
        raise DataError(f"{spec.title} file {path} cannot be unpickled ({type(exc).__name__}: {_text(str(exc), 80)}); "
                        f"it is not a {spec.title} python batch or is corrupt: {fix}") from None
    required = (b"data", spec.label_key)
    what = f"a dict with {required[0]!r} and {required[1]!r}"
    if not isinstance(batch, dict):
        raise DataError(f"{spec.title} file {path} holds {_described(batch)}, not {what}; it is not a "
                        f"{spec.title} python batch: {fix}")
    missing = [key for key in required if key not in batch]
    if missing:
        keys = ", ".join(_text(key) for key in list(batch)[:8]) + (", ..." if len(batch) > 8 else "")
        other = CIFAR100 if spec is CIFAR10 else CIFAR10
        hint = (f" ({other.title} batches have {other.label_key!r}: set dataset.name to {other.name})"
                if other.label_key in batch else "")
        raise DataError(f"{spec.title} file {path} is a dict without {missing[0]!r} (its keys: {keys or 'none'}); "
                        f"it is not a {spec.title} python batch{hint}: {fix}")
    data = batch[b"data"]
    if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2
            and data.shape[1] == CIFAR_PIXELS and data.shape[0] > 0):
        raise DataError(f"{spec.title} file {path}: b'data' is {_described(data)}; expected a uint8 array of "
                        f"shape (images, {CIFAR_PIXELS}), one or more images: {fix}")
    key = spec.label_key
    try:
        labels = np.asarray(batch[key])
    except Exception:  # a ragged list, an object NumPy cannot take
        labels = np.asarray(None)
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise DataError(f"{spec.title} file {path}: {key!r} is {_described(batch[key])}, not a list of whole "
                        f"numbers: {fix}")
    if labels.shape[0] != data.shape[0]:
        raise DataError(f"{spec.title} file {path} holds {data.shape[0]} images but {labels.shape[0]} labels "
                        f"in {key!r}: {fix}")
    labels = labels.astype(np.int64)
    _check_labels(labels, spec.classes, path, spec.title, "fine label" if spec is CIFAR100 else "label")
    return data.reshape(-1, *CIFAR_SHAPE), labels


# --- CIFAR folders -----------------------------------------------------------------------


def _version_in(directory: Path, spec: _Cifar) -> str | None:
    """'binary' or 'python' when `directory` holds files of that version of `spec` (binary first), else None."""
    if not _is_dir(directory):
        return None
    for version, names in (("binary", (*spec.train_binary, spec.test_binary)),
                           ("python", (*spec.train_python, spec.test_python))):
        if any(is_file(directory / n) for n in names):
            return version
    return None


def cifar_folder(path: Path, name: str = "cifar10") -> tuple[Path, str]:
    """The folder holding the CIFAR batches and their version, 'binary' or 'python'.

    Looks in `path` itself, then in the extracted archive's top folder inside it (cifar-10-batches-bin, then
    cifar-10-batches-py; cifar-100-binary, then cifar-100-python); within one folder the binary version is
    chosen when both are there. A folder holds a version when any of its files (train or test) is there.
    """
    spec, path = _CIFARS[name], Path(path)
    _check_directory(path, spec.title, f"the {spec.title} batches ({spec.folder_python} or {spec.folder_binary}, "
                                       "or the folder they were extracted into)")
    for folder in (path, path / spec.folder_binary, path / spec.folder_python):
        version = _version_in(folder, spec)
        if version is not None:
            return folder, version
    train = "..".join((spec.train_python[0], spec.train_python[-1][-1])) if len(spec.train_python) > 1 \
        else spec.train_python[0]
    hints = ""
    archives = [a for a in (spec.archive_binary, spec.archive_python) if is_file(path / a)]
    if archives:
        hints += f"; it holds {archives[0]}: extract it first (tar xzf {archives[0]})"
    other = CIFAR100 if spec is CIFAR10 else CIFAR10
    if any(_version_in(f, other) for f in (path, path / other.folder_binary, path / other.folder_python)):
        hints += f"; it holds {other.title} files: set dataset.name to {other.name}"
    raise DataError(
        f"no {spec.title} batches found in {path}: looked for {train} and {spec.test_python} (python version) or "
        f"the same names ending in .bin (binary version), there and in its {spec.folder_binary} and "
        f"{spec.folder_python} folders{hints or '; point dataset.path at the extracted archive'}"
    )


def _cifar_train_names(folder: Path, spec: _Cifar, version: str) -> list[Path] | None:
    """The training batch files, all of them or None when none is there; DataError when only some are."""
    names = spec.train_binary if version == "binary" else spec.train_python
    present = [is_file(folder / n) for n in names]
    if not any(present):
        return None
    if not all(present):
        have = [n for n, p in zip(names, present) if p]
        lack = [n for n, p in zip(names, present) if not p]
        raise DataError(f"{spec.title} folder {folder} has {', '.join(have)} but not {', '.join(lack)}; extract "
                        f"{spec.archive_binary if version == 'binary' else spec.archive_python} again so that all "
                        f"{len(names)} training batches are there")
    return [folder / n for n in names]


def _cifar_parts(path: Path, spec: _Cifar):
    folder, version = cifar_folder(path, spec.name)
    read = read_cifar_binary if version == "binary" else read_cifar_python
    train_paths = _cifar_train_names(folder, spec, version)
    test_path = folder / (spec.test_binary if version == "binary" else spec.test_python)
    train = test = None
    if train_paths is not None:
        batches = [read(p, spec.name) for p in train_paths]
        train = (_scaled(np.concatenate([b[0] for b in batches])), np.concatenate([b[1] for b in batches]))
    if is_file(test_path):
        pixels, labels = read(test_path, spec.name)
        test = (_scaled(pixels), labels)
    return train, test


def load_cifar10(path: Path, test_fraction: float = 0.2, seed: int = 0) -> ImageDataset:
    """CIFAR-10 (10 classes) from either version in `path` (see `cifar_folder`): data_batch_1..5 as the train
    part and test_batch as the test part; with only one of them, it is split by test_fraction and seed."""
    return _parts("cifar10", *_cifar_parts(Path(path), CIFAR10), CIFAR10.classes, test_fraction, seed)


def load_cifar100(path: Path, test_fraction: float = 0.2, seed: int = 0) -> ImageDataset:
    """CIFAR-100 (its 100 fine classes) from either version in `path`: train and test as the parts; with only
    one of them, it is split by test_fraction and seed."""
    return _parts("cifar100", *_cifar_parts(Path(path), CIFAR100), CIFAR100.classes, test_fraction, seed)


# --- SVHN ----------------------------------------------------------------------------------


def _loadmat():
    try:
        import scipy.io
    except ImportError:
        raise DataError("reading SVHN's .mat files needs SciPy, which is not installed; pip install scipy") from None
    return scipy.io


def _mat_errors(path: Path, read):
    """`read()` on a .mat file, every way it can fail to read turned into a DataError naming it."""
    try:
        return read()
    except DataError:
        raise
    except PermissionError:
        raise DataError(f"SVHN file {path} cannot be read: permission denied; make it readable (chmod a+r)") from None
    except NotImplementedError:  # scipy's answer to an HDF5-based file
        raise DataError(f"SVHN file {path} is a MATLAB v7.3 (HDF5) file; SVHN's files are MATLAB v5: download "
                        f"{path.name} again from the SVHN site") from None
    except Exception as exc:  # scipy raises ValueError, OSError, MatReadError, ... for a damaged file
        raise DataError(f"SVHN file {path} cannot be read as a MATLAB file ({type(exc).__name__}: "
                        f"{_text(str(exc), 80)}); it is truncated or not an SVHN .mat file: download it again") from None


def read_svhn(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One SVHN cropped-digits .mat file as uint8 images (N, 3, 32, 32) and int64 labels (N,), label 10
    (the digit 0) mapped to 0."""
    path = Path(path)
    if not is_file(path):
        raise DataError(f"SVHN file {path} does not exist; download it from the SVHN site "
                        "(ufldl.stanford.edu/housenumbers) or point dataset.path at the folder holding it")
    sio = _loadmat()
    fix = f"it is not an SVHN cropped-digits file: download {path.name} again"

    def read():
        declared = {name: (shape, kind) for name, shape, kind in sio.whosmat(path)}
        if "X" in declared:
            shape, kind = declared["X"]
            if kind != "uint8":
                raise DataError(f"SVHN file {path}: X is of MATLAB class {kind}, not uint8; {fix}")
            if math.prod(shape) > MAX_IMAGE_FILE_BYTES:
                raise DataError(f"SVHN file {path}: X declares shape {shape}, more than {MAX_IMAGE_FILE_BYTES:,} "
                                f"bytes; {fix}")
        return sio.loadmat(path, variable_names=["X", "y"])

    contents = _mat_errors(path, read)
    for key in ("X", "y"):
        if key not in contents:
            raise DataError(f"SVHN file {path} has no variable {key} (SVHN's files hold the images X, "
                            f"(32, 32, 3, images), and the labels y, (images, 1)); {fix}")
    X, y = contents["X"], contents["y"]
    if not (isinstance(X, np.ndarray) and X.dtype == np.uint8 and X.ndim == 4 and X.shape[:3] == (32, 32, 3)
            and X.shape[3] > 0):
        raise DataError(f"SVHN file {path}: X is {_described(X)}; expected uint8 of shape (32, 32, 3, images), "
                        f"one or more images; {fix}")
    n = X.shape[3]
    if not (isinstance(y, np.ndarray) and y.dtype.kind in "iuf" and y.size == n and y.ndim <= 2
            and (y.ndim < 2 or 1 in y.shape)):
        raise DataError(f"SVHN file {path}: y is {_described(y)}; expected {n} labels of shape ({n}, 1), "
                        f"as X holds {n} images; {fix}")
    y = y.reshape(-1)
    if y.dtype.kind == "f" and not np.all(np.isfinite(y) & (y == np.round(y))):
        raise DataError(f"SVHN file {path}: y holds labels that are not whole numbers; {fix}")
    bad = np.flatnonzero((y < 1) | (y > 10))
    if bad.size:
        i = int(bad[0])
        raise DataError(f"SVHN file {path} has label {y[i]:g} at image {i}, outside 1..10 (10 is the digit 0); "
                        f"{fix}")
    labels = y.astype(np.int64) % 10
    # X[h, w, c, i] -> images[i, c, h, w]
    return np.ascontiguousarray(X.transpose(3, 2, 0, 1)), labels


def _svhn_paths(directory: Path, extra: bool) -> tuple[list[Path], Path | None]:
    _check_directory(directory, "SVHN", f"{SVHN_TRAIN} and {SVHN_TEST}")
    train = [directory / SVHN_TRAIN] if is_file(directory / SVHN_TRAIN) else []
    test = directory / SVHN_TEST if is_file(directory / SVHN_TEST) else None
    if extra:
        if not is_file(directory / SVHN_EXTRA):
            raise DataError(f"SVHN extra set {directory / SVHN_EXTRA} does not exist; put {SVHN_EXTRA} there or do "
                            "not ask for the extra set")
        train.append(directory / SVHN_EXTRA)
    if not train and test is None:
        raise DataError(f"no SVHN files found in {directory}: looked for {SVHN_TRAIN} and {SVHN_TEST}; download "
                        "them from the SVHN site (ufldl.stanford.edu/housenumbers, cropped digits) into it or point "
                        "dataset.path at the folder holding them")
    return train, test


def load_svhn(directory: Path, test_fraction: float = 0.2, seed: int = 0, *, extra: bool = False) -> ImageDataset:
    """SVHN cropped digits (10 classes, 0..9) from `directory`: train_32x32.mat as the train part (with
    extra_32x32.mat appended when `extra`), test_32x32.mat as the test part; with only one part present it
    is split by test_fraction and seed."""
    train_paths, test_path = _svhn_paths(Path(directory), extra)
    train = test = None
    if train_paths:
        parts = [read_svhn(p) for p in train_paths]
        train = (_scaled(np.concatenate([p[0] for p in parts])), np.concatenate([p[1] for p in parts]))
    if test_path is not None:
        pixels, labels = read_svhn(test_path)
        test = (_scaled(pixels), labels)
    return _parts("svhn", train, test, SVHN_CLASSES, test_fraction, seed)


# --- by name -------------------------------------------------------------------------------


def load_images(name: str, path: Path | str | None, test_fraction: float, seed: int, *,
                extra: bool = False) -> ImageDataset:
    """The image data set `name` ("cifar10", "cifar100" or "svhn") from `path`; `extra` is SVHN's."""
    holding = {"cifar10": "the CIFAR-10 batches (cifar-10-batches-py or cifar-10-batches-bin)",
               "cifar100": "the CIFAR-100 batches (cifar-100-python or cifar-100-binary)",
               "svhn": f"{SVHN_TRAIN} and {SVHN_TEST}"}
    if name not in holding:
        raise DataError(f"dataset.name is {name!r}; the image data sets are {', '.join(IMAGE_DATASET_NAMES)}")
    if extra and name != "svhn":
        raise DataError(f"the extra set is SVHN's; {name} has none: do not ask for it")
    if path is None:
        raise DataError(f"dataset.path is needed for {name}; set it to the folder holding {holding[name]}")
    if name == "svhn":
        return load_svhn(Path(path), test_fraction, seed, extra=extra)
    return (load_cifar10 if name == "cifar10" else load_cifar100)(Path(path), test_fraction, seed)


def image_counts(name: str, path: Path | str, *, extra: bool = False) -> tuple[int | None, int | None]:
    """(train images, test images) the files of `name` in `path` hold, None for a part that is absent, told
    without scaling any image: binary CIFAR from file sizes, SVHN from the .mat headers; python CIFAR
    batches are unpickled (about 0.1 s each). DataError as loading gives when the files cannot be read."""
    path = Path(path)
    if name == "svhn":
        train_paths, test_path = _svhn_paths(path, extra)
        sio = _loadmat()

        def count(p: Path) -> int:
            shapes = {n: s for n, s, _ in _mat_errors(p, lambda: sio.whosmat(p))}
            if len(shapes.get("X", ())) != 4:
                raise DataError(f"SVHN file {p} has no images X of shape (32, 32, 3, images); download it again")
            return int(shapes["X"][3])

        return (sum(count(p) for p in train_paths) if train_paths else None,
                None if test_path is None else count(test_path))
    spec = _CIFARS[name]
    folder, version = cifar_folder(path, name)
    if version == "binary":
        def count(p: Path) -> int:
            try:
                size = p.stat().st_size
            except OSError:
                size = 0
            if 0 < size <= MAX_IMAGE_FILE_BYTES and size % spec.record == 0:
                return size // spec.record
            return len(read_cifar_binary(p, name)[1])  # raises the DataError that says what is wrong
    else:
        def count(p: Path) -> int:
            return len(read_cifar_python(p, name)[1])
    train_paths = _cifar_train_names(folder, spec, version)
    test_path = folder / (spec.test_binary if version == "binary" else spec.test_python)
    return (None if train_paths is None else sum(count(p) for p in train_paths),
            count(test_path) if is_file(test_path) else None)
