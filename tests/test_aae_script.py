"""aae.py end to end on a tiny synthetic MNIST: outputs, flags, bad input, checkpoints and resume."""

import csv
import hashlib
import json
import os

import keras
import numpy as np
import pytest

import aae
from tests.conftest import StopAfter, expect_exit, poison_the_losses, run_script
from utils import run, training
from utils.checkpoint import read_checkpoint_meta

# Small networks, no XLA (the golden and benchmark tests compile with it): seconds a run.
TINY = ["--limit", "200", "--batch-size", "20", "--validation", "50", "--parzen-samples", "100", "--sample-every", "1",
        "--hidden-units", "32", "--no-jit"]


def train(mnist_npz, out, *flags):
    return run_script(aae.UnsupervisedAAE, aae.Config, mnist_npz, out, *TINY, *flags)


def test_end_to_end_writes_every_output(mnist_npz, tmp_path):
    out = tmp_path / "run"
    metrics = train(mnist_npz, out, "--epochs", "2")
    for name in [
        "samples_epoch_001.png", "samples_epoch_002.png", "reconstructions.png", "latent_test_codes.png",
        "losses.csv", "losses.png", "config.json", "metrics.json",
        "encoder.keras", "decoder.keras", "discriminator.keras", "checkpoint.npz",
    ]:
        assert (out / name).is_file(), name
    rows = list(csv.DictReader(open(out / "losses.csv")))
    assert [row["epoch"] for row in rows] == ["1", "2"]
    assert {"discriminator_loss", "discriminator_accuracy", "generator_loss", "reconstruction_mse", "seconds"} <= set(rows[0])
    config = json.load(open(out / "config.json"))
    assert config["latent_dim"] == 8 and config["prior"] == {"name": "gaussian", "std": 5.0}
    assert config["epochs"] == 2 and config["batch_size"] == 20
    saved = json.load(open(out / "metrics.json"))
    assert saved == pytest.approx(metrics)
    for key in ("parzen_ll", "parzen_se", "parzen_sigma", "real_images_parzen_ll", "final_reconstruction_mse", "epochs", "minutes"):
        assert np.isfinite(saved[key]), key
    assert saved["epochs"] == 2
    decoder = keras.models.load_model(out / "decoder.keras")
    assert decoder.predict(np.zeros((3, 8), np.float32), verbose=0).shape == (3, 28, 28)
    # How much of the digit the codes keep: the validation codes' 5-NN vote on the test codes, recomputed.
    from utils.data import load_mnist
    from utils.metrics import knn_accuracy

    data, encoder = load_mnist(mnist_npz, validation=50), keras.models.load_model(out / "encoder.keras")
    codes = [encoder.predict(images, verbose=0) for images in (data.x_val, data.x_test)]
    assert saved["code_knn_digit_accuracy"] == pytest.approx(knn_accuracy(codes[0], data.y_val, codes[1], data.y_test))

@pytest.mark.slow

def test_eval_only_rereads_a_finished_run(mnist_npz, tmp_path):
    out = tmp_path / "run"
    first = train(mnist_npz, out, "--epochs", "1")
    os.remove(out / "metrics.json")
    trained_with = (out / "config.json").read_text()
    again = run.main(aae.UnsupervisedAAE, aae.Config, ["--data", mnist_npz, "--out", str(out), "--eval-only"])
    assert again["parzen_ll"] == pytest.approx(first["parzen_ll"], abs=1e-3)
    assert (out / "metrics.json").is_file()
    assert (out / "config.json").read_text() == trained_with


def weights(path):
    with np.load(path) as archive:
        return [archive[name] for name in sorted(archive.files) if name != "meta"]

@pytest.mark.slow

def test_resume_ends_where_a_straight_run_ends(mnist_npz, tmp_path):
    train(mnist_npz, tmp_path / "straight", "--epochs", "3")
    train(mnist_npz, tmp_path / "resumed", "--epochs", "1")
    train(mnist_npz, tmp_path / "resumed", "--epochs", "3", "--resume")
    for a, b in zip(weights(tmp_path / "straight" / "checkpoint.npz"), weights(tmp_path / "resumed" / "checkpoint.npz")):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    rows = list(csv.DictReader(open(tmp_path / "resumed" / "losses.csv")))
    assert [row["epoch"] for row in rows] == ["1", "2", "3"]



@pytest.mark.slow

def test_interrupt_mid_epoch_checkpoints_and_resume_matches(mnist_npz, tmp_path, monkeypatch):
    # 10 steps per epoch in calls of 4, 4 and 2; the loop looks for a stop request after each call:
    # stop after the first call of epoch 2, at step 4.
    monkeypatch.setattr(training, "STEPS_PER_CALL", 4)
    train(mnist_npz, tmp_path / "straight", "--epochs", "2")
    monkeypatch.setattr(training, "StopRequest", lambda: StopAfter(4))
    with pytest.raises(SystemExit) as stop:
        train(mnist_npz, tmp_path / "resumed", "--epochs", "2")
    assert stop.value.code == 130
    meta = read_checkpoint_meta(str(tmp_path / "resumed" / "checkpoint.npz"))
    assert meta["epoch"] == 1 and meta["step"] == 4
    monkeypatch.undo()  # the resumed run calls the remaining 6 steps of epoch 2 at once
    train(mnist_npz, tmp_path / "resumed", "--resume")
    for a, b in zip(weights(tmp_path / "straight" / "checkpoint.npz"), weights(tmp_path / "resumed" / "checkpoint.npz")):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)

@pytest.mark.slow

def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(mnist_npz, tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    train(mnist_npz, out, "--epochs", "1")
    good = weights(out / "checkpoint.npz")
    poison_the_losses(monkeypatch)
    with pytest.raises(SystemExit) as stop:
        train(mnist_npz, out, "--epochs", "2", "--resume")
    assert stop.value.code == 1
    assert "non-finite loss in epoch 2" in capsys.readouterr().err
    for a, b in zip(good, weights(out / "checkpoint.npz")):
        np.testing.assert_array_equal(a, b)

@pytest.mark.slow

def test_a_new_run_never_overwrites_an_earlier_one(mnist_npz, tmp_path, capsys):
    out = tmp_path / "run"
    train(mnist_npz, out, "--epochs", "1")
    digest = hashlib.sha256((out / "checkpoint.npz").read_bytes()).hexdigest()
    error = expect_exit(capsys, ["--data", mnist_npz, "--out", str(out), *TINY, "--epochs", "1"])
    assert f"{out} already holds a run: --resume to continue it, --overwrite to replace it, or another --out" in error
    assert hashlib.sha256((out / "checkpoint.npz").read_bytes()).hexdigest() == digest

@pytest.mark.slow

def test_unreadable_checkpoint_is_one_line(mnist_npz, tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "checkpoint.npz").write_bytes(b"garbage")
    error = expect_exit(capsys, ["--data", mnist_npz, "--out", str(out), "--resume"])
    assert "unreadable checkpoint" in error
    assert (out / "checkpoint.npz").read_bytes() == b"garbage"

@pytest.mark.slow

def test_resume_refuses_a_changed_hyperparameter(mnist_npz, tmp_path, capsys):
    out = tmp_path / "run"
    train(mnist_npz, out, "--epochs", "1")
    error = expect_exit(capsys, ["--data", mnist_npz, "--out", str(out), "--resume", "--latent-dim", "4"])
    assert "--latent-dim 4 differs" in error


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--epochs", "0"], "--epochs must be at least 1"),
        (["--batch-size", "1"], "--batch-size must be at least 2"),
        (["--batch-size", "7"], "--batch-size must be even"),
        (["--latent-dim", "0"], "--latent-dim must be at least 1"),
        (["--discriminator-lr", "0"], "--discriminator-lr must be positive"),
        (["--reconstruction-lr", "-0.001"], "--reconstruction-lr must be positive"),
        (["--prior-std", "0"], "--prior-std must be positive"),
        (["--epochs", "ten"], "invalid int value"),
        (["--learning-rate", "0.1"], "unrecognized arguments"),
        (["--lr-schedule", "linear"], "--lr-schedule must be one of step, cosine, got 'linear'"),
        (["--resume", "--eval-only"], "exclude each other"),
        (["--overwrite", "--resume"], "--overwrite starts a new run: it excludes --resume and --eval-only"),
        (["--overwrite", "--eval-only"], "--overwrite starts a new run: it excludes --resume and --eval-only"),
    ],
)
def test_impossible_flags_are_one_line_errors(capsys, flags, message):
    assert message in expect_exit(capsys, flags)


def test_bad_data_path_is_one_line_error(tmp_path, capsys):
    error = expect_exit(capsys, ["--data", str(tmp_path / "missing.npz"), "--out", str(tmp_path / "run")])
    assert "missing.npz: no such file or directory" in error
    assert not (tmp_path / "run").exists()


def test_help_explains_every_flag(capsys):
    with pytest.raises(SystemExit) as stop:
        run.main(aae.UnsupervisedAAE, aae.Config, ["--help"])
    assert stop.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--latent-dim", "--prior-std", "--epochs", "--discriminator-lr", "--resume", "--eval-only", "--overwrite", "--data"):
        assert flag in text
