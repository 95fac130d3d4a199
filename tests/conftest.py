"""Shared fixtures: a tiny synthetic MNIST written in the layouts the loader reads."""

import gzip
import os
import struct
import sys

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def synthetic_mnist(train=300, test=100, seed=0):
    """Digit-like blobs: each class is a bright bar at its own position, plus noise."""
    rng = np.random.default_rng(seed)

    def make(count):
        labels = rng.integers(0, 10, count).astype(np.uint8)
        images = rng.integers(0, 40, (count, 28, 28)).astype(np.uint8)
        for i, label in enumerate(labels):
            images[i, 4 + 2 * label : 6 + 2 * label, 4:24] = 255
        return images, labels

    x_train, y_train = make(train)
    x_test, y_test = make(test)
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


def tiny_data(train=300, validation=50, test=100, seed=0):
    """The synthetic digits as the loader returns them (an MNIST dataclass), without a file."""
    from utils.data import MNIST

    arrays = synthetic_mnist(train + validation, test, seed)

    def scale(images):
        return images.astype(np.float32) / 255

    return MNIST(
        x_train=scale(arrays["x_train"][:train]), y_train=arrays["y_train"][:train].astype(np.int64),
        x_val=scale(arrays["x_train"][train:]), y_val=arrays["y_train"][train:].astype(np.int64),
        x_test=scale(arrays["x_test"]), y_test=arrays["y_test"].astype(np.int64),
    )


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory):
    """The MNIST classifier a test trains on synthetic digits is cached in a temporary folder, never
    in the user's cache, where real runs would pick it up."""
    folder = tmp_path_factory.mktemp("cache")
    previous = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(folder)
    yield folder
    if previous is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = previous


@pytest.fixture(autouse=True)
def synthetic_judge_floor(monkeypatch):
    """The synthetic digits' classifier, trained for one epoch, does not reach the real MNIST's
    accuracy floor; in this process it is cached anyway, so the tests do not train it for every run.
    (tests/test_classifier.py checks the floor itself.)"""
    import utils.classifier

    monkeypatch.setattr(utils.classifier, "ACCURACY_FLOOR", 0.0)


@pytest.fixture
def mnist_arrays():
    return synthetic_mnist()


@pytest.fixture
def mnist_npz(tmp_path, mnist_arrays):
    path = tmp_path / "mnist.npz"
    np.savez(path, **mnist_arrays)
    return str(path)


def run_script(scheme_class, config_class, data, out, *flags):
    """A run of a script's main() on `data` into `out`, in this process; returns its metrics."""
    from utils import run

    return run.main(scheme_class, config_class, ["--data", str(data), "--out", str(out), *flags])


def expect_exit(capsys, argv, status=2, script=None):
    """main() of `script` (aae.py by default) on `argv` ends with `status` and one line on stderr; returns the line."""
    import aae
    from utils import run

    scheme_class, config_class = script or (aae.UnsupervisedAAE, aae.Config)
    with pytest.raises(SystemExit) as stop:
        run.main(scheme_class, config_class, argv)
    assert stop.value.code == status
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "error: " in error, error
    return error


def straight_and_resumed(scheme_class, config_class, data, flags, tmp_path, monkeypatch):
    """The checkpoints of a straight run and of the same run stopped at the 4th call (of 4 steps) and
    resumed, as {key: array}."""
    from utils import run, training

    flags = ["--data", str(data), *flags]
    monkeypatch.setattr(training, "STEPS_PER_CALL", 4)
    run.main(scheme_class, config_class, [*flags, "--out", str(tmp_path / "straight")])
    monkeypatch.setattr(training, "StopRequest", lambda: StopAfter(4))
    with pytest.raises(SystemExit):
        run.main(scheme_class, config_class, [*flags, "--out", str(tmp_path / "resumed")])
    monkeypatch.undo()
    run.main(scheme_class, config_class, ["--data", str(data), "--out", str(tmp_path / "resumed"), "--resume"])
    return [checkpoint_arrays(tmp_path / name / "checkpoint.npz") for name in ("straight", "resumed")]


def checkpoint_arrays(path):
    with np.load(path) as archive:
        return {key: archive[key] for key in archive.files if key != "meta"}


class StopAfter:
    """Stands in for Ctrl-C: asks the loop to stop at its `looks`-th look (the loop looks after each call).

    Patched in as training.StopRequest with `lambda: StopAfter(n)`.
    """

    def __init__(self, looks):
        self.looks = looks

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass

    @property
    def requested(self):
        self.looks -= 1
        return self.looks <= 0


def poison_the_losses(monkeypatch):
    """Every adversarial loss of the three-phase schemes becomes NaN from the next compiled step on.

    In the loss itself, not in the prior samples: a NaN input may not survive a ReLU, whose XLA
    kernel on some CPUs returns 0 for max(NaN, 0).
    """
    import models.adversarial_autoencoder as phases

    original = phases.binary_crossentropy
    monkeypatch.setattr(phases, "binary_crossentropy", lambda targets, predictions: original(targets, predictions) * np.nan)


def write_idx(path, array, compress=False):
    header = struct.pack(">I", 0x0800 | array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    opener = gzip.open if compress else open
    with opener(path, "wb") as stream:
        stream.write(header + array.astype(np.uint8).tobytes())
