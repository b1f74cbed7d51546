"""The digits data set shipped with the package: what scikit-learn gives, bit for bit, without importing it."""

from __future__ import annotations

import gzip
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

from wafersim.training import data as data_module
from wafersim.training.data import DIGITS_PATH, DIGITS_SAMPLES, DataError, load_dataset, load_digits

ROOT = Path(__file__).resolve().parents[3]


def test_arrays_are_bitwise_what_scikit_learn_loads():
    from sklearn.datasets import load_digits as sk_load_digits

    bunch = sk_load_digits()
    X_sk = (np.asarray(bunch.data, dtype=np.float64) / 16.0).astype(np.float32)
    y_sk = np.asarray(bunch.target, dtype=np.int64)
    X, y = data_module._digits_arrays()
    assert X.dtype == np.float32 and y.dtype == np.int64
    assert X.shape == (DIGITS_SAMPLES, 64) and X.tobytes() == X_sk.tobytes()
    assert y.tobytes() == y_sk.tobytes()


def test_the_split_is_bitwise_the_one_from_scikit_learn_arrays():
    from sklearn.datasets import load_digits as sk_load_digits

    bunch = sk_load_digits()
    X_sk = (np.asarray(bunch.data, dtype=np.float64) / 16.0).astype(np.float32)
    expected = data_module.split(X_sk, bunch.target, 0.2, 11)
    ds = load_digits(0.2, 11)
    for got, want in zip((ds.X_train, ds.y_train, ds.X_test, ds.y_test), expected):
        assert got.dtype == want.dtype and got.tobytes() == want.tobytes()


def test_loading_digits_does_not_import_scikit_learn():
    code = ("import sys; from wafersim.training.data import load_dataset; "
            "load_dataset('digits', None, 0.2, 0, n_features=64, n_classes=10); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'sklearn'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_file_is_package_data():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert DIGITS_PATH.name in config["tool"]["setuptools"]["package-data"]["wafersim.training"]
    assert DIGITS_PATH.parent == ROOT / "simulator" / "training" and DIGITS_PATH.is_file()


def digits_error(monkeypatch, path: Path) -> str:
    monkeypatch.setattr(data_module, "DIGITS_PATH", path)
    with pytest.raises(DataError) as err:
        load_dataset("digits", None, 0.2, 0, n_features=64, n_classes=10)
    message = str(err.value)
    assert "\n" not in message and str(path) in message and message.endswith("reinstall wafersim")
    return message


def shipped_table() -> np.ndarray:
    X, y = data_module._digits_arrays()
    return np.column_stack([np.rint(X * 16), y]).astype(np.int64)


def test_a_missing_file(monkeypatch, tmp_path):
    assert "is missing" in digits_error(monkeypatch, tmp_path / "digits.csv.gz")


def test_a_file_that_is_not_gzip(monkeypatch, tmp_path):
    path = tmp_path / "digits.csv.gz"
    path.write_bytes(b"0,1,2\n")
    assert "cannot be read" in digits_error(monkeypatch, path)


def test_a_file_cut_short(monkeypatch, tmp_path):
    path = tmp_path / "digits.csv.gz"
    path.write_bytes(DIGITS_PATH.read_bytes()[:20_000])
    assert "cannot be read" in digits_error(monkeypatch, path)


def test_a_file_with_text_in_it(monkeypatch, tmp_path):
    path = tmp_path / "digits.csv.gz"
    path.write_bytes(gzip.compress(b"0,1,x\n"))
    assert "is damaged" in digits_error(monkeypatch, path)


@pytest.mark.parametrize("change", ["drop a row", "drop a column", "pixel 17", "label 10", "half a pixel"])
def test_a_file_with_the_wrong_rows(monkeypatch, tmp_path, change):
    table = shipped_table().astype(np.float64)
    if change == "drop a row":
        table = table[:-1]
    elif change == "drop a column":
        table = table[:, 1:]
    elif change == "pixel 17":
        table[5, 3] = 17
    elif change == "label 10":
        table[5, -1] = 10
    path = tmp_path / "digits.csv.gz"
    text = "".join(",".join(f"{v:g}" for v in row) + "\n" for row in table)
    if change == "half a pixel":
        text = "0.5" + text[1:]
    path.write_bytes(gzip.compress(text.encode()))
    assert f"should hold {DIGITS_SAMPLES} rows of 64 pixels 0..16 and a label 0..9" in digits_error(monkeypatch, path)


def test_an_oversized_file_is_not_read_whole(monkeypatch, tmp_path):
    path = tmp_path / "digits.csv.gz"
    path.write_bytes(gzip.compress(b"0," * (data_module.DIGITS_MAX_CHARS)))
    assert "is damaged" in digits_error(monkeypatch, path)

