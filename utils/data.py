"""MNIST loading: Keras's download, a local .npz in Keras's layout, or the four original IDX files."""

import dataclasses
import gzip
import hashlib
import os
import struct
import zipfile
import zlib

import numpy as np

from utils.config import UserError, reason

# The environment variable read when no --data flag is given.
DATA_ENV = "MNIST_PATH"

IDX_NAMES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
IMAGE_MAGIC = 0x00000803  # unsigned bytes, three dimensions
LABEL_MAGIC = 0x00000801  # unsigned bytes, one dimension
# MNIST's own sizes: an .npz whose headers claim more images is refused before any array is read.
MAX_IMAGES = {"train": 60_000, "test": 10_000}
NPY_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


class DataError(UserError):
    """A data file the user pointed at is missing, malformed or inconsistent."""


@dataclasses.dataclass
class MNIST:
    """Images as float32 in [0, 1] of shape (n, 28, 28); labels as int64 digits."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def resolve_data_path(flag_value):
    """The --data flag wins, then $MNIST_PATH; None means Keras's own download."""
    return flag_value or os.environ.get(DATA_ENV) or None


def fingerprint(data):
    """SHA-256 of every array of `data` (names, dtypes, shapes, values): a resumed run checks it trains on the same images."""
    digest = hashlib.sha256()
    for field in dataclasses.fields(data):
        array = np.ascontiguousarray(getattr(data, field.name))
        digest.update(f"{field.name} {array.dtype.str} {array.shape};".encode())
        digest.update(array)
    return digest.hexdigest()


def load_mnist(path=None, validation=10_000):
    """Load MNIST, scale it to [0, 1] and hold the last `validation` training images out.

    The held-out images are the validation set of the Parzen protocol; training uses the rest.
    """
    raw = _load_raw(path)
    x_train, y_train = raw["x_train"], raw["y_train"]
    if not 0 <= validation < len(x_train):
        raise DataError(
            f"{path or 'MNIST'}: cannot hold out {validation} of {len(x_train)} training images"
        )
    split = len(x_train) - validation

    def scale(images):
        return images.astype(np.float32) / np.float32(255.0)

    return MNIST(
        x_train=scale(x_train[:split]),
        y_train=y_train[:split].astype(np.int64),
        x_val=scale(x_train[split:]),
        y_val=y_train[split:].astype(np.int64),
        x_test=scale(raw["x_test"]),
        y_test=raw["y_test"].astype(np.int64),
    )


def _load_raw(path):
    if path is None:
        raw = _download()
        source = "keras.datasets.mnist"
    elif os.path.isdir(path):
        raw = _read_idx_folder(path)
        source = path
    elif os.path.isfile(path):
        raw = _read_npz(path)
        source = path
    elif os.path.exists(path):
        raise DataError(f"{path}: not a regular file or a folder")
    else:
        raise DataError(f"{path}: no such file or directory")
    _check(raw, source)
    return raw


def _download():
    import keras

    try:
        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    except Exception as error:  # Keras reports a failed download as a bare Exception
        raise DataError(
            f"could not download MNIST ({reason(error)}); point --data or ${DATA_ENV} at a local copy: "
            "Keras's mnist.npz or a folder of the four IDX files"
        ) from None
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


def npz_headers(path):
    """Each array's (shape, dtype) in an .npz, read from the .npy headers alone, before anything is allocated."""
    headers = {}
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            if not name.endswith(".npy"):
                continue
            with archive.open(name) as member:
                version = np.lib.format.read_magic(member)
                if version not in NPY_HEADER_READERS:
                    raise ValueError(f"{name}: .npy format version {version[0]}.{version[1]}, which this code does not read")
                shape, _, dtype = NPY_HEADER_READERS[version](member)
            headers[name.removesuffix(".npy")] = (shape, dtype)
    return headers


def _read_npz(path):
    if not zipfile.is_zipfile(path):
        try:
            with open(path, "rb") as stream:
                single = stream.read(6) == b"\x93NUMPY"
        except OSError as error:
            raise DataError(f"{path}: cannot be read ({reason(error)})") from None
        kind = "a single .npy array" if single else "not a zip archive, or a truncated one"
        raise DataError(f"{path}: not a readable .npz file ({kind}); expected numpy.savez's archive of {', '.join(IDX_NAMES)}")
    try:
        headers = npz_headers(path)
        missing = [key for key in IDX_NAMES if key not in headers]
        if missing:
            raise DataError(f"{path}: missing array(s) {', '.join(missing)}")
        for key in IDX_NAMES:
            _check_header(path, key, *headers[key])
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in IDX_NAMES}
    except DataError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as error:
        raise DataError(f"{path}: not a readable .npz file ({reason(error)})") from None


def _check_header(path, key, shape, dtype):
    """What an .npz array claims to be, checked against MNIST before it is read: a crafted header cannot ask for terabytes."""
    split = key[2:]
    if key.startswith("x_"):
        if len(shape) != 3 or shape[1:] != (28, 28):
            raise DataError(f"{path}: {key} has shape {shape}, expected (n, 28, 28)")
        if dtype != np.uint8:
            raise DataError(f"{path}: {key} has dtype {dtype}, expected uint8")
    elif len(shape) != 1 or not np.issubdtype(dtype, np.integer):
        raise DataError(f"{path}: {key} has shape {shape} and dtype {dtype}, expected integer labels of shape (n,)")
    if shape[0] > MAX_IMAGES[split]:
        raise DataError(f"{path}: {key} claims {shape[0]} entries; MNIST's {split} split has {MAX_IMAGES[split]}")


def _read_idx_folder(folder):
    raw = {}
    for key, stem in IDX_NAMES.items():
        dotted = stem.replace("-idx", ".idx")  # some mirrors name them train-images.idx3-ubyte
        candidates = [stem, stem + ".gz", dotted, dotted + ".gz"]
        found = [name for name in candidates if os.path.isfile(os.path.join(folder, name))]
        if not found:
            raise DataError(f"{folder}: no {stem} (or {stem}.gz) in this folder")
        raw[key] = read_idx(os.path.join(folder, found[0]))
    return raw


def read_idx(path):
    """Read one IDX file (gzipped or not) into a uint8 array."""
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as stream:
            content = stream.read()
    except (OSError, EOFError, zlib.error) as error:
        raise DataError(f"{path}: cannot be read ({reason(error)})") from None
    if len(content) < 8:
        raise DataError(f"{path}: truncated IDX file ({len(content)} bytes)")
    (magic,) = struct.unpack(">I", content[:4])
    if magic not in (IMAGE_MAGIC, LABEL_MAGIC):
        raise DataError(f"{path}: wrong magic number 0x{magic:08x} for an MNIST IDX file")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(content) < header:
        raise DataError(f"{path}: truncated IDX header")
    shape = struct.unpack(f">{ndim}I", content[4:header])
    expected = int(np.prod(shape))
    if len(content) - header != expected:
        raise DataError(
            f"{path}: truncated or corrupt IDX file ({len(content) - header} data bytes, "
            f"header says {expected})"
        )
    return np.frombuffer(content, dtype=np.uint8, offset=header).reshape(shape)


def _check(raw, source):
    for split in ("train", "test"):
        images, labels = raw[f"x_{split}"], raw[f"y_{split}"]
        if images.ndim != 3 or images.shape[1:] != (28, 28):
            raise DataError(f"{source}: x_{split} has shape {images.shape}, expected (n, 28, 28)")
        if images.dtype != np.uint8:
            raise DataError(f"{source}: x_{split} has dtype {images.dtype}, expected uint8")
        if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
            raise DataError(
                f"{source}: y_{split} has shape {labels.shape} and dtype {labels.dtype}, "
                "expected integer labels of shape (n,)"
            )
        if len(images) != len(labels):
            raise DataError(
                f"{source}: {len(images)} images but {len(labels)} labels in the {split} split"
            )
        if len(labels) and (labels.min() < 0 or labels.max() > 9):
            raise DataError(
                f"{source}: y_{split} has labels out of range 0-9 "
                f"(min {labels.min()}, max {labels.max()})"
            )
        if len(images) == 0:
            raise DataError(f"{source}: the {split} split is empty")

