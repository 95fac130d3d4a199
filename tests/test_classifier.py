"""The judge of generated digits: always trained on the whole training file, never used silently when it does not qualify."""

import json
import os

import numpy as np
import pytest

import aae
from tests.conftest import tiny_data
from utils import classifier as judge
from utils import run
from utils.classifier import ClassifierError, load_or_train_classifier, record_path

TINY = ["--batch-size", "20", "--validation", "50", "--hidden-units", "16", "--parzen-samples", "100",
        "--classifier-epochs", "1", "--epochs", "1"]


def judge_of(data, path=None, epochs=1):
    images, labels = np.concatenate([data.x_train, data.x_val]), np.concatenate([data.y_train, data.y_val])
    return load_or_train_classifier(images, labels, data.x_test, data.y_test, path, epochs)


@pytest.fixture(autouse=True)
def low_floor(monkeypatch):
    # The synthetic digits' classifier, trained for one epoch, does not reach the real MNIST's floor;
    # this floor it does, and the tests below move it where they need.
    monkeypatch.setattr(judge, "ACCURACY_FLOOR", 0.5)

@pytest.mark.slow

def test_a_run_on_a_subset_caches_a_classifier_trained_on_the_whole_file(mnist_npz, tmp_path, private_cache):
    small = run.main(aae.UnsupervisedAAE, aae.Config, ["--data", mnist_npz, "--out", str(tmp_path / "small"), *TINY, "--limit", "40"])
    full = run.main(aae.UnsupervisedAAE, aae.Config, ["--data", mnist_npz, "--out", str(tmp_path / "full"), *TINY])
    # The synthetic file holds 300 training images: the judge saw them all, in both runs, and is the same model.
    assert small["classifier_trained_on_images"] == full["classifier_trained_on_images"] == 300
    assert small["classifier_sha256"] == full["classifier_sha256"]
    assert full["classifier_test_accuracy"] >= judge.ACCURACY_FLOOR
    record = json.load(open(record_path(judge.default_classifier_path())))
    assert record["trained_on_images"] == 300 and record["weights_sha256"] == full["classifier_sha256"]


def test_a_default_cache_trained_on_other_images_is_retrained(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    _, first = judge_of(tiny_data(seed=1))
    _, second = judge_of(tiny_data(seed=2))
    assert "not used: it was not trained on this run's training images" in capsys.readouterr().out
    assert first["trained_on_sha256"] != second["trained_on_sha256"]
    assert json.load(open(record_path(judge.default_classifier_path())))["trained_on_sha256"] == second["trained_on_sha256"]
    _, third = judge_of(tiny_data(seed=2))  # now it qualifies: loaded, not trained again
    assert third == second and "training" not in capsys.readouterr().out


def test_a_default_cache_below_the_floor_or_without_its_record_is_retrained(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    data = tiny_data()
    judge_of(data)
    capsys.readouterr()
    path = record_path(judge.default_classifier_path())
    record = json.load(open(path))
    json.dump({**record, "test_accuracy": 0.9416}, open(path, "w"))
    judge_of(data)
    assert "training" not in capsys.readouterr().out  # 0.9416 is above this test's floor: the cache is kept
    json.dump({**record, "test_accuracy": 0.4}, open(path, "w"))
    judge_of(data)
    assert "its test accuracy 0.4 is below 0.5" in capsys.readouterr().out
    os.remove(path)
    judge_of(data)
    assert "no record of what it was trained on" in capsys.readouterr().out


def test_a_named_file_that_does_not_qualify_is_refused_in_one_line_and_kept(tmp_path):
    named = str(tmp_path / "mine.keras")
    judge_of(tiny_data(seed=1), named)
    before = open(named, "rb").read()
    with pytest.raises(ClassifierError, match="mine.keras: it was not trained on this run's training images; pass another"):
        judge_of(tiny_data(seed=2), named)
    assert open(named, "rb").read() == before
    corrupt = tmp_path / "corrupt.keras"
    corrupt.write_bytes(b"not a keras archive")
    with pytest.raises(ClassifierError, match="corrupt.keras: unreadable classifier .*; pass another --classifier") as error:
        judge_of(tiny_data(), str(corrupt))
    assert "delete" not in str(error.value) and corrupt.read_bytes() == b"not a keras archive"

@pytest.mark.slow

def test_a_bad_classifier_is_refused_before_training(mnist_npz, tmp_path, capsys):
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as stop:
        run.main(aae.UnsupervisedAAE, aae.Config, ["--data", mnist_npz, "--out", str(out), *TINY, "--classifier", mnist_npz])
    assert stop.value.code == 2
    error = capsys.readouterr().err.strip()
    assert "mnist.npz: unreadable classifier" in error and len(error.splitlines()) == 1
    assert not os.path.exists(out / "config.json") and not os.path.exists(out / "checkpoint.npz")
    assert os.path.getsize(mnist_npz) > 0


def test_a_freshly_trained_classifier_below_the_floor_judges_its_run_only(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(judge, "ACCURACY_FLOOR", 1.01)
    named = tmp_path / "weak.keras"
    _, record = judge_of(tiny_data(), str(named))
    assert "is not cached; raise --classifier-epochs" in capsys.readouterr().out
    assert record["test_accuracy"] < 1.01
    assert not named.exists() and not os.path.exists(record_path(str(named)))
