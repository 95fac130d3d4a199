import hashlib
import os
import re

import numpy as np
import pytest

from tests.conftest import write_idx
from utils.data import IDX_NAMES, DataError, load_mnist, resolve_data_path


def test_npz_is_scaled_and_split(mnist_npz, mnist_arrays):
    data = load_mnist(mnist_npz, validation=50)
    assert data.x_train.shape == (250, 28, 28) and data.x_val.shape == (50, 28, 28)
    assert data.x_test.shape == (100, 28, 28)
    assert data.x_train.dtype == np.float32 and 0.0 <= data.x_train.min() and data.x_train.max() == 1.0
    # The validation images are the last training images.
    np.testing.assert_array_equal(data.y_val, mnist_arrays["y_train"][-50:])
    np.testing.assert_allclose(data.x_val * 255, mnist_arrays["x_train"][-50:])


@pytest.mark.parametrize("compress", [False, True])
def test_idx_folder(tmp_path, mnist_arrays, compress):
    for key, stem in IDX_NAMES.items():
        write_idx(tmp_path / (stem + (".gz" if compress else "")), mnist_arrays[key], compress)
    data = load_mnist(str(tmp_path), validation=50)
    np.testing.assert_array_equal(data.y_test, mnist_arrays["y_test"])
    np.testing.assert_allclose(data.x_test * 255, mnist_arrays["x_test"])


def test_flag_wins_over_environment(monkeypatch):
    monkeypatch.setenv("MNIST_PATH", "/from/env.npz")
    assert resolve_data_path("/from/flag.npz") == "/from/flag.npz"
    assert resolve_data_path("") == "/from/env.npz"
    monkeypatch.delenv("MNIST_PATH")
    assert resolve_data_path("") is None


def corrupt(arrays, key, value):
    return {**arrays, key: value}


BAD_NPZ = {
    "missing key": (lambda a: {k: v for k, v in a.items() if k != "y_test"}, "missing array(s) y_test"),
    "wrong shape": (lambda a: corrupt(a, "x_train", a["x_train"].reshape(-1, 784)), "expected (n, 28, 28)"),
    "wrong dtype": (lambda a: corrupt(a, "x_train", a["x_train"].astype(np.float32)), "expected uint8"),
    "labels out of range": (lambda a: corrupt(a, "y_test", a["y_test"] + 5), "out of range 0-9"),
    "count mismatch": (lambda a: corrupt(a, "y_train", a["y_train"][:-3]), "images but"),
    "float labels": (lambda a: corrupt(a, "y_train", a["y_train"].astype(np.float32)), "integer labels"),
}


@pytest.mark.parametrize("case", BAD_NPZ)
def test_bad_npz_is_reported(tmp_path, mnist_arrays, case):
    make, message = BAD_NPZ[case]
    path = tmp_path / "bad.npz"
    np.savez(path, **make(mnist_arrays))
    with pytest.raises(DataError, match=re.escape(message)) as error:
        load_mnist(str(path))
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_truncated_npz(tmp_path, mnist_npz):
    path = tmp_path / "truncated.npz"
    content = open(mnist_npz, "rb").read()
    path.write_bytes(content[: len(content) // 2])
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(DataError, match="not a readable .npz"):
        load_mnist(str(path))
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest  # untouched


def test_garbage_file(tmp_path):
    path = tmp_path / "mnist.npz"
    path.write_bytes(b"this is not a zip archive at all")
    with pytest.raises(DataError, match="not a readable .npz"):
        load_mnist(str(path))


def test_missing_path(tmp_path):
    with pytest.raises(DataError, match="no such file or directory"):
        load_mnist(str(tmp_path / "nowhere.npz"))


def test_folder_without_idx_files(tmp_path):
    with pytest.raises(DataError, match="no train-images-idx3-ubyte"):
        load_mnist(str(tmp_path))


def write_folder(folder, arrays):
    for key, stem in IDX_NAMES.items():
        write_idx(folder / stem, arrays[key])


def test_idx_wrong_magic(tmp_path, mnist_arrays):
    write_folder(tmp_path, mnist_arrays)
    target = tmp_path / IDX_NAMES["y_train"]
    content = bytearray(target.read_bytes())
    content[2:4] = b"\x09\x01"
    target.write_bytes(bytes(content))
    with pytest.raises(DataError, match="wrong magic number 0x00000901"):
        load_mnist(str(tmp_path))


def test_idx_truncated(tmp_path, mnist_arrays):
    write_folder(tmp_path, mnist_arrays)
    target = tmp_path / IDX_NAMES["x_test"]
    target.write_bytes(target.read_bytes()[:-100])
    with pytest.raises(DataError, match="truncated or corrupt"):
        load_mnist(str(tmp_path))


def test_idx_corrupt_gzip(tmp_path, mnist_arrays):
    write_folder(tmp_path, mnist_arrays)
    (tmp_path / IDX_NAMES["x_test"]).unlink()
    (tmp_path / (IDX_NAMES["x_test"] + ".gz")).write_bytes(b"\x1f\x8b\x08\x00 broken gzip")
    with pytest.raises(DataError, match="cannot be read"):
        load_mnist(str(tmp_path))


@pytest.mark.skipif(not os.environ.get("MNIST_PATH"), reason="set MNIST_PATH to a real MNIST to run")
def test_real_mnist_from_the_environment():
    data = load_mnist(resolve_data_path(""))
    assert data.x_train.shape == (50_000, 28, 28) and data.x_val.shape == (10_000, 28, 28)
    assert data.x_test.shape == (10_000, 28, 28)
    assert sorted(np.unique(data.y_train)) == list(range(10))
    # The MNIST test set's first label is a 7, its training set's first a 5.
    assert data.y_test[0] == 7 and data.y_train[0] == 5
