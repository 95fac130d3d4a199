"""The semi-supervised and supervised schemes: label plumbing and end-to-end runs on a tiny MNIST."""

import json

import keras
import numpy as np
import pytest

import semi_supervised_aae as semi
import supervised_aae as supervised
from tests.conftest import tiny_data
from utils import run
from utils.data import load_mnist

TINY = ["--limit", "200", "--batch-size", "20", "--validation", "50", "--parzen-samples", "100", "--classifier-epochs", "1", "--no-jit"]


@pytest.fixture(scope="module")
def classifier_path(tmp_path_factory):
    return str(tmp_path_factory.mktemp("cache") / "classifier.keras")


def test_split_is_reproducible_and_has_the_asked_sizes():
    a = semi.labeled_split(50_000, 40_000, seed=3)
    assert a.sum() == 40_000 and (~a).sum() == 10_000
    np.testing.assert_array_equal(a, semi.labeled_split(50_000, 40_000, seed=3))
    assert not np.array_equal(a, semi.labeled_split(50_000, 40_000, seed=4))
    assert semi.labeled_split(50_000, 10_000, seed=0).sum() == 10_000


def test_one_hot_for_labeled_and_unlabeled_images(mnist_npz):
    data = load_mnist(mnist_npz, validation=50)
    scheme = semi.SemiSupervisedAAE(semi.Config(labeled=100), data)
    ids = scheme.train_labels
    assert np.sum(ids == semi.UNLABELED) == 150
    np.testing.assert_array_equal(ids[scheme.labeled], data.y_train[scheme.labeled])
    onehot = scheme.condition(ids)
    assert onehot.shape == (250, 11)
    np.testing.assert_array_equal(onehot.sum(1), 1)
    np.testing.assert_array_equal(np.argmax(onehot, 1), ids)
    assert np.all(onehot[~scheme.labeled, 10] == 1)


def test_epoch_inputs_pair_each_prior_sample_with_its_images_label(mnist_npz):
    scheme = semi.SemiSupervisedAAE(semi.Config(labeled=150, batch_size=20), load_mnist(mnist_npz, validation=50))
    inputs = scheme.epoch_inputs(epoch=0)
    order, condition, prior = inputs["images_indices"], inputs["condition"], inputs["prior"]
    assert order.shape == (12, 20) and condition.shape == (12, 20, 11) and prior.shape == (12, 10, 2)
    np.testing.assert_array_equal(np.argmax(condition, -1), scheme.train_labels[order])
    ids = scheme.train_labels[order[:, :10]].reshape(-1)
    labeled = ids < 10
    # Labeled images' prior samples come from their own component.
    assert np.mean(scheme.prior.classify(prior.reshape(-1, 2))[labeled] == ids[labeled]) > 0.9


@pytest.mark.parametrize("prior", ["mixture", pytest.param("swiss_roll", marks=pytest.mark.slow)])
def test_semi_supervised_end_to_end(mnist_npz, tmp_path, classifier_path, prior):
    out = tmp_path / "run"
    metrics = run.main(semi.SemiSupervisedAAE, semi.Config, [
        "--data", mnist_npz, "--out", str(out), *TINY, "--labeled", "150", "--epochs", "2",
        "--prior", prior, "--classifier", classifier_path,
    ])
    for name in ["conditional_samples_epoch_002.png", "latent_map.png", "manifold.png", "losses.csv", "losses.png",
                 "config.json", "metrics.json", "unlabeled_indices.txt", "encoder.keras", "decoder.keras",
                 "discriminator.keras"]:
        assert (out / name).is_file(), name
    config = json.load(open(out / "config.json"))
    assert config["prior"]["name"] == {"mixture": "gaussian_mixture", "swiss_roll": "swiss_roll"}[prior]
    assert config["labeled_images"] == 150 and config["unlabeled_images"] == 50
    assert len(np.loadtxt(out / "unlabeled_indices.txt")) == 50
    for key in ("latent_accuracy", "conditional_generation_accuracy", "classifier_test_accuracy", "parzen_ll"):
        assert 0 <= metrics[key] <= 1 or key == "parzen_ll", key


@pytest.mark.parametrize(
    "flags, message",
    [(["--labeled", "-1"], "--labeled must be at least 0"),
     (["--labeled", "999"], "--labeled 999 exceeds the 200 training images"),
     (["--prior", "uniform"], "--prior must be one of mixture, swiss_roll"),
     (["--latent-dim", "3"], "--latent-dim must be 2")],
)
def test_semi_supervised_bad_flags(mnist_npz, tmp_path, capsys, flags, message):
    with pytest.raises(SystemExit) as stop:
        run.main(semi.SemiSupervisedAAE, semi.Config, ["--data", mnist_npz, "--out", str(tmp_path), *TINY, *flags])
    assert stop.value.code == 2
    error = capsys.readouterr().err.strip()
    assert message in error and len(error.splitlines()) == 1


def test_supervised_end_to_end(mnist_npz, tmp_path, classifier_path):
    out = tmp_path / "run"
    metrics = run.main(supervised.SupervisedAAE, supervised.Config, [
        "--data", mnist_npz, "--out", str(out), *TINY, "--epochs", "2", "--classifier", classifier_path,
    ])
    for name in ["style_grid_epoch_002.png", "style_transfer.png", "losses.csv", "losses.png", "config.json",
                 "metrics.json", "encoder.keras", "decoder.keras", "discriminator.keras"]:
        assert (out / name).is_file(), name
    for key in ("conditional_generation_accuracy", "style_transfer_accuracy", "test_reconstruction_mse"):
        assert np.isfinite(metrics[key]), key
    assert 0 < metrics["label_only_reconstruction_mse"] < 1
    assert 0 <= metrics["style_knn_digit_accuracy"] <= 1 and metrics["style_round_trip_r2"] <= 1
    assert np.isfinite(metrics["frechet_distance"]) and np.isfinite(metrics["real_images_frechet_distance"])
    assert "conditional_accuracy_eval" in open(out / "losses.csv").readline()
    decoder = keras.models.load_model(out / "decoder.keras")
    assert [tuple(i.shape) for i in decoder.inputs] == [(None, 15), (None, 10)]

@pytest.mark.slow

def test_the_supervised_decoder_uses_the_label(mnist_arrays):
    import tensorflow as tf

    # Train the supervised model's step for a while on the synthetic digits, whose class is where
    # their bar is; then the same z with ten labels must draw the bar in ten places.
    images = mnist_arrays["x_train"].astype(np.float32) / 255
    labels = mnist_arrays["y_train"]
    config = supervised.Config(
        latent_dim=4, prior_std=1.0, adversarial_optimizer="adam", discriminator_lr=0.0005, generator_lr=0.001,
        reconstruction_lr=0.003,
    )
    model = supervised.SupervisedAAE(config, tiny_data()).build_model()
    step = tf.function(model.train_step, jit_compile=True)
    rng = np.random.default_rng(0)
    for _ in range(400):
        chosen = rng.choice(len(images), 50, replace=False)
        step({"images": images[chosen], "condition": np.eye(10, dtype=np.float32)[labels[chosen]],
              "prior": (5 * rng.standard_normal((25, 4))).astype(np.float32)})
    z = np.repeat(model.networks["encoder"].predict(images[:1], verbose=0), 10, axis=0)
    drawn = model.networks["decoder"].predict([z, np.eye(10, dtype=np.float32)], verbose=0)
    own_bar = [drawn[k, 4 + 2 * k : 6 + 2 * k, 4:24].mean() for k in range(10)]
    other_bar = [drawn[(k + 5) % 10, 4 + 2 * k : 6 + 2 * k, 4:24].mean() for k in range(10)]
    assert np.mean(own_bar) > np.mean(other_bar) + 0.15, (own_bar, other_bar)

@pytest.mark.slow

def test_supervised_variant_shows_the_label_to_the_discriminator_too(mnist_npz, tmp_path, classifier_path):
    out = tmp_path / "run"
    run.main(supervised.SupervisedAAE, supervised.Config, [
        "--data", mnist_npz, "--out", str(out), *TINY, "--epochs", "1", "--classifier", classifier_path,
        "--label-to-discriminator", "--hidden-units", "16",
    ])
    discriminator = keras.models.load_model(out / "discriminator.keras")
    decoder = keras.models.load_model(out / "decoder.keras")
    assert [tuple(i.shape) for i in discriminator.inputs] == [(None, 15), (None, 10)]
    assert [tuple(i.shape) for i in decoder.inputs] == [(None, 15), (None, 10)]
    assert json.load(open(out / "config.json"))["label_to_discriminator"] is True
