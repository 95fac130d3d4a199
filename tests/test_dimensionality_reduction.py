"""The paper's section 7: cluster heads, the representation W_c y + z, its phases, the script end to end."""

import csv
import json

import numpy as np
import pytest

import classification_aae
import clustering_aae
import dimensionality_reduction_aae as reduction
from models.dimensionality_reduction import cluster_head_cost, pairwise_distances, represent
from tests.conftest import straight_and_resumed, tiny_data
from tests.test_categorical import SMALL, batch, step_only
from utils import run
from utils.config import parse_config


def scheme(**overrides):
    config = reduction.Config(batch_size=20, hidden_units=32, lr_decay_epoch=0, **overrides)
    return reduction.DimensionalityReductionAAE(config, tiny_data())


def test_cluster_head_cost_is_zero_beyond_eta_and_linear_inside():
    far = np.array([[0.0, 0.0], [3.0, 4.0], [-3.0, -4.0]], np.float32)  # distances 5, 5, 10
    np.testing.assert_allclose(np.asarray(pairwise_distances(far)), [5.0, 5.0, 10.0], rtol=1e-6)
    assert float(cluster_head_cost(far, 5.0)) == pytest.approx(0.0, abs=1e-5)
    # Inside eta, the cost is eta - distance per pair: linear in the distance.
    for d in (0.5, 1.0, 2.0):
        two = np.array([[0.0, 0.0], [d, 0.0]], np.float32)
        assert float(cluster_head_cost(two, 3.0)) == pytest.approx(3.0 - d, rel=1e-5)
    # Pairs add: at eta 6, (6 - 5) + (6 - 5) + 0.
    assert float(cluster_head_cost(far, 6.0)) == pytest.approx(2.0, rel=1e-5)


def test_the_decoder_draws_from_the_cluster_head_plus_the_style():
    s = scheme(clusters=7, latent_dim=3)
    model = s.build_model()
    heads = s.heads(model)
    assert heads.shape == (7, 3)
    images = s.data.x_val[:20]
    y, z = s.encode(model, images)
    # What the phases feed the decoder (the model's own function) is what the evaluation plots.
    np.testing.assert_allclose(s.represent(model, images), np.asarray(represent(model.networks, y, z)), rtol=1e-5, atol=1e-5)
    # A one-hot y with z = 0 is its head; the decoder sees nothing else.
    decoder = model.networks["decoder"]
    drawn = s.decode(model, [np.eye(7, dtype=np.float32)[[2, 5]], np.zeros((2, 3), np.float32)])
    np.testing.assert_allclose(drawn, decoder.predict(heads[[2, 5]], verbose=0), rtol=1e-5, atol=1e-6)
    assert [tuple(i.shape) for i in decoder.inputs] == [(None, 3)]


@pytest.mark.parametrize(
    "phase, changes",
    [
        ("reconstruction", {"encoder", "cluster_heads", "decoder"}),
        ("discriminator_class", {"discriminator_class"}),
        ("discriminator_style", {"discriminator_style"}),
        ("generator", {"encoder"}),
        ("cluster_heads", {"cluster_heads"}),
        ("consistency", {"encoder"}),
        ("recoverability", {"encoder", "cluster_heads", "decoder"}),
    ],
)
def test_each_phase_changes_only_its_own_networks(phase, changes):
    # Heads that start within eta of each other (the cost has a gradient); weights large enough that
    # the reconstruction's step on W_c is not lost in float32 rounding.
    s = scheme(clusters=7, eta=50.0, init_std=0.2, consistency_weight=1.0, vat_epsilon=1.0, balance_weight=1.0,
               recoverability_weight=1.0)
    step_only(s, s.build_model(), phase, changes)


def test_with_labels_a_classification_phase_moves_the_encoder_only():
    s = scheme(labeled=100)
    model = s.build_model()
    assert s.num_classes == 10 and "classification" in [p.name for p in model.phases]
    step_only(s, model, "classification", {"encoder"})


def test_fixed_heads_are_a_simplex_that_no_phase_moves():
    s = scheme(labeled=100, latent_dim=10, fixed_heads=10.0)
    model = s.build_model()
    np.testing.assert_array_equal(s.heads(model), 10 * np.eye(10))
    assert "cluster_heads" not in [p.name for p in model.phases] and not model.networks["cluster_heads"].trainable_variables
    model.train_step(batch(s))  # every phase at its own rate
    np.testing.assert_array_equal(s.heads(model), 10 * np.eye(10))


# What the encoder sees and each ingredient: the fields a categorical script's recipe sets.
RECIPE_FIELDS = ("batch_norm", "noise_std", "input_dropout", "consistency_weight", "max_shift", "vat_epsilon",
                 "vat_epsilon_per_image", "consistency_shared_noise", "balance_weight", "entropy_weight",
                 "recoverability_weight", "style_discriminator_sees_class", "ingredient_optimizer", "ingredient_lr", "ingredient_momentum")


# Without labels this script keeps the clustering recipe its committed runs were made with, the clustering
# script's default before it took IMSAT's settings: those settings, as flags over that script's default now.
CLUSTERING_BEFORE = ["--input-dropout", "0.2", "--class-batch-norm", "--vat-epsilon", "2", "--no-vat-epsilon-per-image",
                     "--no-consistency-shared-noise", "--balance-weight", "1", "--ingredient-optimizer", "sgd", "--ingredient-lr", "0.1"]


@pytest.mark.parametrize(
    "flags, script, script_flags, extra",
    [([], clustering_aae, CLUSTERING_BEFORE, ("class_batch_norm",)),
     (["--labeled", "100"], classification_aae, [], ("labeled_shift",))],
)
def test_the_project_recipe_is_the_clustering_scripts_without_labels_and_the_classification_scripts_with(
        flags, script, script_flags, extra):
    config, _ = parse_config(reduction.Config, flags)
    expected, _ = parse_config(script.Config, script_flags)
    for name in RECIPE_FIELDS + extra:
        assert getattr(config, name) == getattr(expected, name), name


def test_recipe_paper_turns_the_ingredients_off_and_a_given_flag_wins_over_either_recipe():
    for flags in ([], ["--labeled", "100"]):
        config, _ = parse_config(reduction.Config, ["--recipe", "paper", *flags])
        assert {name: getattr(config, name) for name in reduction.Config.PAPER_RECIPE} == reduction.Config.PAPER_RECIPE
        assert config.labeled_shift == 0 and config.batch_norm and not config.style_discriminator_sees_class
    config, _ = parse_config(reduction.Config, ["--labeled", "100", "--batch-norm", "--vat-epsilon", "0.5"])
    assert config.batch_norm and config.vat_epsilon == 0.5 and config.noise_std == 0.3 and config.labeled_shift == 2
    config, _ = parse_config(reduction.Config, ["--recipe", "paper", "--no-batch-norm"])  # an input setting, not an ingredient
    assert not config.batch_norm and config.consistency_weight == 0


@pytest.mark.slow
def test_resume_mid_epoch_ends_where_a_straight_run_ends(mnist_npz, tmp_path, monkeypatch):
    flags = [*SMALL, "--clusters", "6", "--epochs", "2", "--eta", "5"]
    straight, resumed = straight_and_resumed(
        reduction.DimensionalityReductionAAE, reduction.Config, mnist_npz, flags, tmp_path, monkeypatch)
    assert "networks/cluster_heads/heads/kernel" in straight and "optimizers/cluster_heads/heads_kernel_momentum" in straight
    for key in straight:
        np.testing.assert_allclose(resumed[key], straight[key], rtol=1e-4, atol=1e-6, err_msg=key)


def test_end_to_end_without_labels_writes_every_output(mnist_npz, tmp_path):
    baseline = tmp_path / "aae_2d"
    baseline.mkdir()
    (baseline / "metrics.json").write_text(json.dumps({"code_knn_digit_accuracy": 0.61}))
    (baseline / "config.json").write_text(json.dumps({"latent_dim": 2, "validation": 50, "limit": 200}))
    out = tmp_path / "run"
    metrics = run.main(reduction.DimensionalityReductionAAE, reduction.Config,
                       ["--data", mnist_npz, "--out", str(out), *SMALL, "--clusters", "6", "--epochs", "2",
                        "--baseline", str(baseline)])
    for name in ["embedding.png", "confusion.png", "error.png", "styles_epoch_002.png", "losses.csv", "metrics.json",
                 "config.json", "cluster_heads.keras", "decoder.keras", "encoder.keras"]:
        assert (out / name).is_file(), name
    assert not (out / "embedding_principal_plane.png").exists()  # a 2-D representation is drawn as it is
    assert metrics["clusters"] == 6 and metrics["dimensions"] == 2 and len(metrics["cluster_heads"]) == 6
    assert 0 <= metrics["test_error"] <= 1 and 0 <= metrics["test_error_majority_vote"] <= 1
    assert 0 <= metrics["representation_knn_digit_accuracy"] <= 1
    assert metrics["baseline_aae_2d_knn_digit_accuracy"] == 0.61
    assert len(metrics["cluster_labels"]) == 6 and len(metrics["cluster_labels_majority_vote"]) == 6
    last = list(csv.DictReader(open(out / "losses.csv")))[-1]
    assert float(last["validation_error_eval"]) == pytest.approx(metrics["validation_error"])
    assert {"cluster_head_cost", "validation_error_majority_vote_eval"} <= set(last)


def test_end_to_end_with_labels(mnist_npz, tmp_path):
    out = tmp_path / "run"
    metrics = run.main(reduction.DimensionalityReductionAAE, reduction.Config,
                       ["--data", mnist_npz, "--out", str(out), *SMALL, "--labeled", "30", "--epochs", "1",
                        "--latent-dim", "3", "--baseline", str(tmp_path / "none")])
    assert metrics["labeled_images"] == 30 and "test_error_majority_vote" not in metrics
    assert metrics["baseline_aae_2d_knn_digit_accuracy"] is None and "cluster_labels" not in metrics
    assert (out / "labeled_indices.txt").is_file() and (out / "embedding.png").is_file()
    assert (out / "embedding_principal_plane.png").is_file()  # n > 2: also drawn in its principal plane


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--eta", "0"], "--eta must be positive"),
        (["--clusters", "1"], "--clusters must be at least 2"),
        (["--latent-dim", "0"], "--latent-dim must be at least 1"),
        (["--labeled", "5"], "--labeled 5 is below the 10 classes"),
        (["--labeled", "100", "--clusters", "30"], "--clusters 30 with --labeled"),
        (["--labeled", "100", "--clusters", "20"], "--clusters 20 with --labeled"),
        (["--labeled", "100", "--latent-dim", "10", "--fixed-heads", "10", "--eta", "2"], "--eta would have no effect"),
        (["--fixed-heads", "5"], "--fixed-heads needs --latent-dim equal to the width of y (20)"),
        (["--head-lr", "-1"], "--head-lr must be positive"),
        (["--recipe", "paper", "--labeled", "100", "--labeled-shift", "2"], "--recipe paper turns every ingredient beyond the paper off"),
        (["--recipe", "book"], "--recipe must be one of paper, project"),
    ],
)
def test_bad_flags_are_one_line_errors(mnist_npz, tmp_path, capsys, flags, message):
    with pytest.raises(SystemExit) as stop:
        run.main(reduction.DimensionalityReductionAAE, reduction.Config, ["--data", mnist_npz, "--out", str(tmp_path / "run"), *SMALL, *flags])
    assert stop.value.code == 2
    error = capsys.readouterr().err.strip()
    assert message in error and len(error.splitlines()) == 1, error
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "config, metrics",
    [
        ({"latent_dim": 8, "validation": 10_000, "limit": 0}, {"code_knn_digit_accuracy": 0.9}),  # not a 2-D code
        ({"latent_dim": 2, "validation": 5_000, "limit": 0}, {"code_knn_digit_accuracy": 0.9}),  # another split
        ({"latent_dim": 2, "validation": 10_000, "limit": 0}, ["not", "an", "object"]),
        ({"latent_dim": 2, "validation": 10_000, "limit": 0}, {"parzen_ll": 300.0}),  # an older run
    ],
)
def test_a_baseline_that_is_not_comparable_is_not_reported(tmp_path, capsys, config, metrics):
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "metrics.json").write_text(json.dumps(metrics))
    s = reduction.DimensionalityReductionAAE(reduction.Config(baseline=str(tmp_path)), tiny_data())
    assert s.baseline()["baseline_aae_2d_knn_digit_accuracy"] is None
    assert "warning: baseline" in capsys.readouterr().out
    (tmp_path / "config.json").write_text(json.dumps({"latent_dim": 2, "validation": 10_000, "limit": 0}))
    (tmp_path / "metrics.json").write_text(json.dumps({"code_knn_digit_accuracy": 0.85}))
    assert s.baseline()["baseline_aae_2d_knn_digit_accuracy"] == 0.85
