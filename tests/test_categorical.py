"""The categorical AAE of sections 5-6: two-headed encoder, phases, priors, labeled split, cluster labels, both scripts."""

import csv
import dataclasses
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

import classification_aae as classification
import clustering_aae as clustering
from models import build_two_headed_encoder, categorical_aae
from models.categorical_aae import (
    affine_displacements,
    categorical_aae_phases,
    conditional_entropy,
    displace_images,
    elastic_displacements,
    elastic_images,
    gaussian_smoother,
    hidden_noise_pass,
    kl_divergence,
    marginal_entropy,
    mutual_information,
    neighbour_agreement_loss,
    shift_images,
    shift_offsets,
    virtual_adversarial_perturbation,
)
from models.networks import two_headed_encoder_pass
from tests.conftest import straight_and_resumed, tiny_data
from utils import run
from utils.categorical_scheme import (
    balanced_labeled_indices,
    cluster_labels_by_majority,
    cluster_labels_from_top_images,
    log_softmax,
    nearest_neighbours,
    neighbour_distances,
)
from utils.config import ConfigError, parse_config
from utils.priors import CategoricalPrior

SMALL = ["--limit", "200", "--batch-size", "20", "--validation", "50", "--hidden-units", "32", "--sample-every", "1", "--no-jit",
         "--parzen-samples", "100", "--classifier-epochs", "1"]


def test_two_headed_encoder_gives_a_softmax_and_a_linear_code():
    encoder = build_two_headed_encoder(16, 5, hidden_units=32, hidden_layers=2, init_std=0.01, seed=0, batch_norm=False)
    y, z = encoder(np.random.default_rng(0).uniform(0, 1, (4, 28, 28)).astype(np.float32))
    assert y.shape == (4, 16) and z.shape == (4, 5)
    np.testing.assert_allclose(np.sum(y, axis=1), 1, rtol=1e-5)
    assert np.all(np.asarray(y) > 0)


@pytest.mark.parametrize("batch_norm, class_norm", [(False, True), (True, True), (True, False)])
def test_the_encoder_pass_layer_by_layer_is_the_encoder_and_perturbs_each_hidden_layer(batch_norm, class_norm):
    encoder = build_two_headed_encoder(16, 5, hidden_units=32, hidden_layers=3, init_std=0.1, seed=0, batch_norm=batch_norm,
                                       class_norm=class_norm)
    names = {layer.name for layer in encoder.layers}
    assert ("class_norm" in names, "style_norm" in names) == (batch_norm and class_norm, batch_norm)
    images = tf.constant(np.random.default_rng(0).uniform(0, 1, (8, 28, 28)).astype(np.float32))
    seen = []

    def record(hidden, layer):
        seen.append((layer, tuple(hidden.shape)))
        return hidden

    for got, want in zip(two_headed_encoder_pass(encoder, images, record), encoder(images, training=True)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert seen == [(0, (8, 32)), (1, (8, 32)), (2, (8, 32))]
    y, _ = two_headed_encoder_pass(encoder, images, lambda hidden, layer: hidden * 0)  # every unit silenced: y is the bias's softmax
    np.testing.assert_allclose(y, np.broadcast_to(y[:1], y.shape), rtol=1e-5)


def test_hidden_noise_is_multiplicative_reproducible_and_its_own_per_draw(monkeypatch):
    encoder = build_two_headed_encoder(10, 5, hidden_units=64, hidden_layers=2, init_std=0.1, seed=0, batch_norm=False)
    images = tf.constant(np.random.default_rng(0).uniform(0, 1, (64, 28, 28)).astype(np.float32))
    seed = tf.constant([3, 4], tf.int32)
    clean = encoder(images, training=True)
    for got, want in zip(hidden_noise_pass(encoder, seed, 0.0, draw=1)(images), clean):
        np.testing.assert_allclose(got, want, rtol=1e-6)  # std 0: the encoder itself
    same = hidden_noise_pass(encoder, seed, 0.5, draw=1)(images)
    for got, want in zip(hidden_noise_pass(encoder, seed, 0.5, draw=1)(images), same):
        np.testing.assert_array_equal(got, want)  # the same seed and draw: the same noise
    assert not np.allclose(same[1], hidden_noise_pass(encoder, seed, 0.5, draw=2)(images)[1])  # another draw
    assert not np.allclose(same[1], clean[1])

    # Each hidden unit times its own 1 + N(0, 0.5^2): a silent ReLU stays 0.
    seen = []

    def watched(network, x, perturb, **options):
        def perturb_and_keep(hidden, layer):
            seen.append((hidden, perturb(hidden, layer)))
            return seen[-1][1]

        return two_headed_encoder_pass(network, x, perturb_and_keep, **options)

    monkeypatch.setattr(categorical_aae, "two_headed_encoder_pass", watched)
    hidden_noise_pass(encoder, seed, 0.5, draw=1)(images)
    (hidden, noisy), (second, second_noisy) = ((np.asarray(a), np.asarray(b)) for a, b in seen)
    assert np.all(noisy[hidden == 0] == 0) and np.any(hidden == 0)
    factors = noisy[hidden > 1e-3] / hidden[hidden > 1e-3]
    assert factors.mean() == pytest.approx(1.0, abs=0.02) and factors.std() == pytest.approx(0.5, rel=0.05)
    both = (hidden > 1e-3) & (second > 1e-3)  # each layer its own draw: unit by unit, other factors
    assert not np.allclose(noisy[both] / hidden[both], second_noisy[both] / second[both])


def test_categorical_prior_is_one_hot_and_uniform():
    samples = CategoricalPrior(16).sample(np.random.default_rng(0), 160_000)
    assert samples.shape == (160_000, 16)
    np.testing.assert_array_equal(samples.sum(axis=1), 1)
    assert set(np.unique(samples)) == {0.0, 1.0}
    np.testing.assert_allclose(samples.mean(axis=0), 1 / 16, atol=0.003)


def test_labeled_split_is_class_balanced_and_reproducible():
    labels = np.random.default_rng(0).integers(0, 10, 5000)
    chosen = balanced_labeled_indices(labels, 100, seed=3)
    assert len(chosen) == 100 == len(set(chosen))
    np.testing.assert_array_equal(np.bincount(labels[chosen], minlength=10), 10)
    np.testing.assert_array_equal(chosen, balanced_labeled_indices(labels, 100, seed=3))
    assert not np.array_equal(chosen, balanced_labeled_indices(labels, 100, seed=4))
    counts = np.bincount(labels[balanced_labeled_indices(labels, 1005, seed=0)], minlength=10)
    assert counts.sum() == 1005 and set(counts) == {100, 101}
    np.testing.assert_array_equal(balanced_labeled_indices(labels, 5000, seed=0), np.arange(5000))


def test_cluster_labels_on_a_hand_made_example():
    # Four clusters, six validation images with their q(y | x) and digits.
    probabilities = np.array([
        [0.90, 0.05, 0.05, 0.00],  # digit 7
        [0.80, 0.10, 0.10, 0.00],  # digit 1
        [0.60, 0.30, 0.10, 0.00],  # digit 1
        [0.10, 0.70, 0.20, 0.00],  # digit 3
        [0.05, 0.15, 0.40, 0.40],  # digit 5
        [0.00, 0.20, 0.30, 0.50],  # digit 4
    ])
    digits = np.array([7, 1, 1, 3, 5, 4])
    # The paper's rule: cluster i takes the digit of the image with the highest q(y = i | x).
    np.testing.assert_array_equal(cluster_labels_from_top_images(probabilities, digits), [7, 3, 5, 4])
    # Majority vote over the images assigned to each cluster (argmax: 0, 0, 0, 1, 2, 3); ties go to the smaller digit.
    np.testing.assert_array_equal(cluster_labels_by_majority(np.argmax(probabilities, 1), digits, 4), [1, 3, 5, 4])
    assert cluster_labels_by_majority(np.array([0, 0]), np.array([2, 2]), 3).tolist() == [2, -1, -1]


def test_log_probabilities_rank_images_whose_softmax_saturates():
    # A confident encoder: its softmax rounds to the same float32 value (1 - 6e-8) for many images,
    # so ranking by q(y = i | x) in float32 would tie them; log q from the logits keeps them apart.
    s = scheme("clustering", clusters=4, batch_norm=False)
    model = s.build_model()
    kernel = model.networks["encoder"].get_layer("class").kernel
    kernel.assign(kernel * 1e5)
    images = s.data.x_val
    probabilities = s.class_probabilities(model, images)
    log_probabilities = s.class_log_probabilities(model, images)
    assert log_probabilities.shape == probabilities.shape == (len(images), 4)
    np.testing.assert_allclose(np.exp(log_probabilities), probabilities, atol=1e-6)
    saturated = probabilities == probabilities.max(axis=0)
    assert saturated.sum(axis=0).max() > 1  # float32 ties at the top of some cluster
    best = log_probabilities.argmax(axis=0)
    for cluster in range(4):
        column = log_probabilities[:, cluster]
        assert np.sum(column == column[best[cluster]]) == 1  # a unique most confident image
    # Even where exp(other logits - top logit) is below float64's epsilon next to 1.
    top = log_softmax(np.array([[0.0, 50.0, 10.0], [0.0, 60.0, 10.0], [1.0, 2.0, 3.0]]))[:, 1]
    assert top[0] < top[1] < 0 and top[0] == pytest.approx(-np.exp(-40.0), rel=1e-9)
    assert top[2] == pytest.approx(2 - np.log(np.exp(1) + np.exp(2) + np.exp(3)))


def scheme(kind, **overrides):
    config = {"classification": classification.Config, "clustering": clustering.Config}[kind](
        batch_size=20, hidden_units=32, **overrides
    )
    cls = {"classification": classification.ClassificationAAE, "clustering": clustering.ClusteringAAE}[kind]
    return cls(config, tiny_data())


def batch(s):
    inputs = s.epoch_inputs(0)
    images = s.data.x_train
    step = {}
    for name, value in inputs.items():
        if name.endswith("_indices"):
            step[name[: -len("_indices")]] = images[value[0]]
        else:
            step[name] = value[0]
    return step


def snapshot(model):
    return {name: [np.array(v) for v in network.trainable_variables] for name, network in model.networks.items()}


def step_only(s, model, phase, changes):
    """One training step with every phase but `phase` at rate 0; asserts that exactly the networks in
    `changes` moved, and returns the weights before and after."""
    for name, optimizer in model.optimizers.items():
        optimizer.learning_rate.assign(0.01 if name == phase else 0.0)
    before = snapshot(model)
    model.train_step(batch(s))  # eagerly: which variables move does not depend on compiling (and compiling takes seconds)
    after = snapshot(model)
    for name in model.networks:
        moved = [not np.array_equal(a, b) for a, b in zip(before[name], after[name])]
        assert any(moved) == (name in changes), (phase, name)
    return before, after


@pytest.mark.parametrize(
    "phase, changes",
    [
        ("reconstruction", {"encoder", "decoder"}),
        ("discriminator_class", {"discriminator_class"}),
        ("discriminator_style", {"discriminator_style"}),
        ("generator", {"encoder"}),
        ("classification", {"encoder"}),
    ],
)
def test_each_phase_changes_only_its_own_variables(phase, changes):
    s = scheme("classification", labeled=100, lr_decay_epoch=0)  # constant rates, which the test sets
    model = s.build_model()
    before, after = step_only(s, model, phase, changes)
    if phase == "classification":
        # The y path and the shared layers move; the style head does not.
        paths = [v.path for v in model.networks["encoder"].trainable_variables]
        moved = dict(zip(paths, [not np.array_equal(a, b) for a, b in zip(before["encoder"], after["encoder"])]))
        assert not moved["style/kernel"] and not moved["style/bias"]
        assert moved["class/kernel"] and moved["encoder_hidden_1/kernel"]


@pytest.mark.parametrize("detach", [False, True])
def test_reconstruction_reaches_the_class_head_unless_detached(detach):
    s = scheme("clustering", clusters=7, detach_class_from_reconstruction=detach, lr_decay_epoch=0)
    model = s.build_model()
    before, after = step_only(s, model, "reconstruction", {"encoder", "decoder"})
    paths = [v.path for v in model.networks["encoder"].trainable_variables]
    moved = dict(zip(paths, [not np.array_equal(a, b) for a, b in zip(before["encoder"], after["encoder"])]))
    assert moved["style/kernel"] and moved["encoder_hidden_1/kernel"]  # z's path still learns to reconstruct
    assert moved["class/kernel"] != detach


@pytest.mark.parametrize("phase, changes", [("consistency", {"encoder"}), ("recoverability", {"encoder", "decoder"})])
@pytest.mark.parametrize("kind", ["classification", "clustering"])
def test_each_ingredient_phase_changes_only_its_own_networks(kind, phase, changes):
    extra = {"labeled": 100} if kind == "classification" else {"clusters": 7}
    if kind == "classification":
        extra.update(labeled_shift=2, labeled_elastic=34.0, labeled_rotation=15.0, labeled_scale=0.15)
    s = scheme(kind, consistency_weight=1.0, balance_weight=1.0, entropy_weight=1.0, vat_epsilon=1.0, vat_epsilon_per_image=True,
               neighbour_weight=1.0, recoverability_weight=1.0, consistency_elastic=34.0, consistency_rotation=15.0,
               consistency_scale=0.15, hidden_noise=0.5, lr_decay_epoch=0, **extra)
    model = s.build_model()
    assert [p.name for p in model.phases][-2:] == ["consistency", "recoverability"]
    assert {"consistency_kl", "marginal_entropy", "conditional_entropy", "neighbour_loss", "recoverability_loss"} <= set(model.log_names)
    step_only(s, model, phase, changes)


def test_the_ingredient_phases_can_train_with_adam_as_vats_authors_train_their_term():
    import keras

    s = scheme("classification", labeled=100, consistency_weight=1.0, recoverability_weight=1.0, vat_epsilon=1.0,
               ingredient_optimizer="adam", classification_optimizer="adam", lr_decay_epoch=0)
    model = s.build_model()
    kinds = {name: type(optimizer) for name, optimizer in model.optimizers.items()}
    assert {name for name, kind in kinds.items() if kind is keras.optimizers.Adam} == {"consistency", "recoverability", "classification"}
    assert model.optimizers["consistency"].beta_1 == 0.9
    step_only(s, model, "consistency", {"encoder"})  # Adam's first step moves every weight with a gradient: still the encoder's only


def test_the_consistency_terms_inside_the_classification_phase_are_the_two_phases_losses_summed():
    s = scheme("classification", labeled=100, batch_norm=False)
    networks = s.build_model().networks
    kernel = networks["encoder"].get_layer("class").kernel
    kernel.assign(kernel * 300)  # an encoder whose q(y | x) depends on the image: the KL is not 0
    settings = dict(classification=True, noise_std=0.3, consistency_weight=1.0, max_shift=0, vat_epsilon=1.0, shared_noise=True,
                    balance_weight=0.5, labeled_shift=2)
    apart = {phase.name: phase for phase in categorical_aae_phases(**settings)}
    joint = {phase.name: phase for phase in categorical_aae_phases(**settings, consistency_in_classification=True)}
    assert "consistency" not in joint and list(joint)[-1] == "classification"
    assert joint["classification"].logs == apart["classification"].logs + apart["consistency"].logs
    labels = np.eye(10, dtype=np.float32)[s.data.y_train[:20]]
    inputs = {"images": tf.constant(s.data.x_val[:32]), "labeled_images": tf.constant(s.data.x_train[:20]),
              "labels": tf.constant(labels), "noise_seed": tf.constant([3, 4], tf.int32)}
    total, logs = joint["classification"].loss(networks, inputs)
    cross_entropy, _ = apart["classification"].loss(networks, inputs)
    consistency, more = apart["consistency"].loss(networks, inputs)
    assert float(more["consistency_kl"]) > 1e-5
    assert float(total) == pytest.approx(float(cross_entropy) + float(consistency), rel=1e-5)
    assert float(logs["consistency_kl"]) == pytest.approx(float(more["consistency_kl"]), rel=1e-5)


def test_the_classification_phase_with_the_consistency_terms_changes_only_the_encoder():
    s = scheme("classification", labeled=100, consistency_weight=1.0, vat_epsilon=1.0, max_shift=0, consistency_in_classification=True,
               classification_optimizer="adam", lr_decay_epoch=0)
    model = s.build_model()
    assert [p.name for p in model.phases][-1] == "classification" and "consistency_kl" in model.log_names
    assert "consistency" not in model.optimizers
    step_only(s, model, "classification", {"encoder"})


def test_test_time_shifts_average_q_over_every_offset_of_the_image():
    s = scheme("classification", labeled=100, test_time_shifts=1)
    model = s.build_model()
    kernel = model.networks["encoder"].get_layer("class").kernel
    kernel.assign(kernel * 300)  # an encoder whose q(y | x) depends on where the strokes are
    images = s.data.x_val[:16]
    views = s.views(images)
    assert len(views) == 9
    np.testing.assert_array_equal(views[4], images)  # offset (0, 0)
    np.testing.assert_array_equal(views[5][:, :, 1:], images[:, :, :-1])  # offset (0, 1): one column to the right
    assert not views[5][:, :, 0].any()
    singles = [s.encode(model, view)[0] for view in views]
    averaged = s.class_probabilities(model, images)
    np.testing.assert_allclose(averaged, np.mean(singles, axis=0), rtol=1e-5)
    assert not np.allclose(averaged, singles[4], atol=1e-3)
    np.testing.assert_allclose(np.exp(s.class_log_probabilities(model, images)), averaged, rtol=1e-4, atol=1e-7)
    alone = scheme("classification", labeled=100)
    assert len(alone.views(images)) == 1


def test_the_paper_recipe_has_no_ingredient_phase_and_refuses_an_ingredient():
    with pytest.raises(ConfigError, match="--recipe paper .* excludes --consistency-weight 1.0"):
        clustering.Config(recipe="paper", consistency_weight=1.0, balance_weight=0.5).validate()
    with pytest.raises(ConfigError, match="--recipe paper .* excludes --balance-weight 0.4"):
        clustering.Config(recipe="paper", consistency_weight=0.0).validate()  # the defaults are this project's recipe
    config, _ = parse_config(clustering.Config, ["--recipe", "paper", "--clusters", "7"])
    assert (config.consistency_weight, config.balance_weight, config.recoverability_weight) == (0, 0, 0)
    assert not config.style_discriminator_sees_class
    s = scheme("clustering", **{k: v for k, v in dataclasses.asdict(config).items() if k not in ("batch_size", "hidden_units")})
    assert [p.name for p in s.build_model().phases] == ["reconstruction", "discriminator_class", "discriminator_style", "generator"]


@pytest.mark.parametrize("module", [classification, clustering])
def test_the_defaults_are_this_projects_recipe_and_recipe_paper_gives_the_committed_paper_runs(module):
    config, _ = parse_config(module.Config, [])
    assert config.recipe == "project" and config.consistency_weight == 1 and config.style_discriminator_sees_class
    assert [p.name for p in scheme(module.__name__.removesuffix("_aae")).build_model().phases][-1] == "consistency"
    # Every field of the paper recipe's runs committed before the ingredients existed, and the
    # ingredients off; flags not of the recipe (a longer schedule) still apply.
    run_folder = {classification: "labeled_100_seed_0", clustering: "clusters_16_seed_0"}[module]
    with open(f"{run.ROOT}/results/{module.__name__}/{run_folder}/config.json") as stream:
        committed = json.load(stream)
    paper = dataclasses.asdict(parse_config(module.Config, ["--recipe", "paper"])[0])
    assert {key: paper[key] for key in committed if key in paper and key not in ("data", "out", "recipe")} == {
        key: committed[key] for key in committed if key in paper and key not in ("data", "out", "recipe")}
    assert {key: paper[key] for key in module.Config.PAPER_RECIPE if key in paper} == {
        key: value for key, value in module.Config.PAPER_RECIPE.items() if key in paper}
    assert parse_config(module.Config, ["--recipe", "paper", "--epochs", "130"])[0].epochs == 130


@pytest.mark.parametrize("flags, elastic, affine, batch_norm, schedule", [
    ([], 34.0, (15.0, 0.15), False, "step"), (["--labeled", "20"], 34.0, (15.0, 0.15), False, "step"),
    (["--labeled", "100"], 34.0, (15.0, 0.15), False, "step"), (["--labeled", "101"], 34.0, (0.0, 0.0), True, "step"),
    (["--labeled", "1000"], 34.0, (0.0, 0.0), True, "step"), (["--labeled", "1001"], 0.0, (0.0, 0.0), False, "cosine"),
    (["--labeled", "50000"], 0.0, (0.0, 0.0), False, "cosine"), (["--labeled-elastic", "0"], 0.0, (15.0, 0.15), False, "step"),
    (["--labeled-rotation", "5"], 34.0, (5.0, 0.15), False, "step"),
    (["--labeled", "50000", "--labeled-elastic", "8"], 8.0, (0.0, 0.0), False, "cosine"),
    (["--labeled", "1000", "--labeled-scale", "0.1"], 34.0, (0.0, 0.1), True, "step"),
    (["--labeled", "1000", "--no-batch-norm"], 34.0, (0.0, 0.0), False, "step"),
    (["--labeled", "50000", "--batch-norm"], 0.0, (0.0, 0.0), True, "cosine"),
    (["--labeled", "50000", "--lr-schedule", "step"], 0.0, (0.0, 0.0), False, "step"),
    (["--labeled", "100", "--lr-schedule", "cosine"], 34.0, (15.0, 0.15), False, "cosine"),
    (["--recipe", "paper"], 0.0, (0.0, 0.0), False, "step"), (["--recipe", "paper", "--labeled", "1000"], 0.0, (0.0, 0.0), False, "step"),
    (["--recipe", "paper", "--labeled", "50000"], 0.0, (0.0, 0.0), False, "step"),
])
def test_the_classification_recipe_follows_the_labels_count_and_a_given_flag_wins(flags, elastic, affine, batch_norm, schedule):
    config, _ = parse_config(classification.Config, flags)
    assert config.labeled_elastic == elastic and (config.labeled_rotation, config.labeled_scale) == affine
    assert (config.batch_norm, config.lr_schedule) == (batch_norm, schedule)
    assert config.labeled_shift == (0 if "paper" in flags else 2)  # the rest of the recipe whatever the labels


@pytest.mark.parametrize("flags, balance", [
    ([], 0.4), (["--clusters", "10"], 0.4), (["--clusters", "16"], 0.4), (["--clusters", "17"], 1.0),
    (["--clusters", "30"], 1.0), (["--clusters", "100"], 1.0), (["--clusters", "30", "--balance-weight", "0.4"], 0.4),
    (["--balance-weight", "2"], 2.0), (["--clusters", "30", "--recipe", "paper"], 0.0),
])
def test_the_clustering_recipe_weighs_the_balance_at_1_only_with_more_than_16_clusters_and_a_given_flag_wins(flags, balance):
    config, _ = parse_config(clustering.Config, flags)
    assert config.balance_weight == balance
    assert config.vat_epsilon == (0.0 if "paper" in flags else 1.3)  # the rest of the recipe whatever the clusters


def test_kl_divergence_and_marginal_entropy_on_hand_made_distributions():
    p = np.array([[0.5, 0.5, 0.0], [0.1, 0.2, 0.7]], np.float32)
    q = np.array([[0.25, 0.75, 0.0], [0.1, 0.2, 0.7]], np.float32)
    assert float(kl_divergence(p, p)) == 0.0
    # Row 1: 0.5 log(0.5 / 0.25) + 0.5 log(0.5 / 0.75); row 2: 0.
    assert float(kl_divergence(p, q)) == pytest.approx((0.5 * np.log(2) + 0.5 * np.log(2 / 3)) / 2, rel=1e-5)
    uniform = np.full((4, 4), 0.25, np.float32)
    one_hot_spread = np.eye(4, dtype=np.float32)  # each image sure of a different cluster: balanced too
    collapsed = np.tile(np.eye(4, dtype=np.float32)[:1], (4, 1))  # every image in cluster 0
    assert float(marginal_entropy(uniform)) == pytest.approx(np.log(4), rel=1e-6)
    assert float(marginal_entropy(one_hot_spread)) == pytest.approx(np.log(4), rel=1e-6)
    assert float(marginal_entropy(collapsed)) == pytest.approx(0.0, abs=1e-6)
    skewed = np.array([[0.7, 0.1, 0.1, 0.1]] * 4, np.float32)
    assert 0 < float(marginal_entropy(skewed)) < np.log(4)
    # The conditional entropy is the other way round: 0 for sure images however they spread, log K for unsure ones.
    assert float(conditional_entropy(one_hot_spread)) == pytest.approx(0.0, abs=1e-6)
    assert float(conditional_entropy(collapsed)) == pytest.approx(0.0, abs=1e-6)
    assert float(conditional_entropy(uniform)) == pytest.approx(np.log(4), rel=1e-6)
    assert float(conditional_entropy(skewed)) == pytest.approx(-(0.7 * np.log(0.7) + 0.3 * np.log(0.1)), rel=1e-5)


def test_mutual_information_on_hand_made_codes():
    # Four images; y of 4 clusters, each image sure of its own.
    y = np.eye(4, dtype=np.float32)
    nested = np.array([[1, 0], [1, 0], [0, 1], [0, 1]], np.float32)  # a of 2 clusters, each y cluster inside one
    assert float(mutual_information(y, nested)) == pytest.approx(np.log(2), rel=1e-5)  # a determined by y: H(a)
    assert float(mutual_information(y, y)) == pytest.approx(np.log(4), rel=1e-5)
    unsure = np.full((4, 2), 0.5, np.float32)  # a the same for every image: independent of y
    assert float(mutual_information(y, unsure)) == pytest.approx(0.0, abs=1e-6)
    crossed = np.array([[1, 0], [0, 1], [1, 0], [0, 1]], np.float32)  # y's clusters 0-1 and 2-3 each split across a
    half = np.array([[1, 0], [1, 0], [1, 0], [0, 1]], np.float32)  # a from y, but unbalanced: H(a) < log 2
    assert float(mutual_information(y[:, :2] + y[:, 2:], crossed)) == pytest.approx(np.log(2), rel=1e-5)
    assert float(mutual_information(y[:, :2] + y[:, 2:], nested)) == pytest.approx(0.0, abs=1e-6)
    assert 0 < float(mutual_information(y, half)) < np.log(2)


def test_the_auxiliary_head_trains_in_the_consistency_phase_and_the_tie_moves_only_y():
    s = scheme("clustering", clusters=7, auxiliary_clusters=4, consistency_weight=1.0, vat_epsilon=1.0, max_shift=0,
               balance_weight=1.0, lr_decay_epoch=0)
    model = s.build_model()
    assert model.networks["auxiliary_head"].output.shape[-1] == 4
    assert {"auxiliary_consistency_kl", "auxiliary_marginal_entropy", "auxiliary_mutual_information"} <= set(model.log_names)
    step_only(s, model, "consistency", {"encoder", "auxiliary_head"})

    # The tie's gradient reaches y (through the encoder) and stops at a: the head's gradient is the same without it.
    inputs = {name: tf.constant(value) for name, value in batch(s).items()}

    def gradients(tie_weight):
        phase = next(p for p in categorical_aae_phases(**{**s.phase_arguments(), "tie_weight": tie_weight}) if p.name == "consistency")
        networks = ("auxiliary_head", "encoder")
        variables = [v for name in networks for v in model.networks[name].trainable_variables]
        with tf.GradientTape() as tape:
            loss, _ = phase.loss(model.networks, inputs)
        found = tape.gradient(loss, variables)
        head = len(model.networks["auxiliary_head"].trainable_variables)
        return [np.array(g) for g in found[:head]], [np.array(g) for g in found[head:]]

    head_without, encoder_without = gradients(0.0)
    head_with, encoder_with = gradients(5.0)
    for without, tied in zip(head_without, head_with):
        np.testing.assert_allclose(tied, without, rtol=1e-4, atol=1e-7)
    assert any(not np.allclose(tied, without) for without, tied in zip(encoder_without, encoder_with))


def test_the_probe_norm_reaches_the_consistency_phase():
    s = scheme("clustering", clusters=5, consistency_weight=1.0, vat_epsilon=2.0, max_shift=0, consistency_shared_noise=True)
    model = s.build_model()
    kernel = model.networks["encoder"].get_layer("class").kernel
    kernel.assign(kernel * 10_000)  # q(y | x) that depends on the image, so the probe's gradient has a direction
    inputs = {name: tf.constant(value) for name, value in batch(s).items()}

    def consistency_kl(vat_xi):
        phase = next(p for p in categorical_aae_phases(**{**s.phase_arguments(), "vat_xi": vat_xi}) if p.name == "consistency")
        return float(phase.loss(model.networks, inputs)[1]["consistency_kl"])

    assert s.phase_arguments()["vat_xi"] == 1e-6
    assert consistency_kl(1e-6) == pytest.approx(consistency_kl(1e-6), rel=1e-5)  # the same draws: a change is the probe's
    assert consistency_kl(5.0) != pytest.approx(consistency_kl(1e-6), rel=1e-3)


def test_the_per_epoch_errors_read_the_validation_images_only():
    # The test set is read once, at the end: the epochs' errors (the auxiliary head's included) never touch it.
    s = scheme("clustering", clusters=7, auxiliary_clusters=4, consistency_weight=1.0, vat_epsilon=1.0, max_shift=0)
    model = s.build_model()
    s.data = dataclasses.replace(s.data, x_test=None, y_test=None)
    metrics = s.validation_metrics(model)
    assert set(metrics) == {"validation_error_eval", "validation_error_majority_vote_eval", "auxiliary_validation_error_majority_vote_eval"}
    assert all(0 <= value <= 1 for value in metrics.values())


def test_shift_moves_each_image_by_its_drawn_offset_and_keeps_its_mass():
    rng = np.random.default_rng(0)
    images = np.zeros((64, 28, 28), np.float32)
    images[:, 6:22, 6:22] = rng.uniform(0, 1, (64, 16, 16))  # content 6 pixels from every edge, like MNIST's
    offsets = shift_offsets(64, tf.constant([1, 2], tf.int32), 3).numpy()
    assert offsets.min() == -3 and offsets.max() == 3  # both ends of the range are drawn
    moved = shift_images(tf.constant(images), tf.constant(offsets)).numpy()
    np.testing.assert_allclose(moved.sum(axis=(1, 2)), images.sum(axis=(1, 2)), rtol=1e-5)
    for image, result, (dy, dx) in zip(images, moved, offsets):
        np.testing.assert_array_equal(result, np.roll(image, (dy, dx), axis=(0, 1)))
    # Content pushed past the frame is lost, not wrapped round.
    edge = np.zeros((1, 28, 28), np.float32)
    edge[0, 27, 27] = 1.0
    assert shift_images(tf.constant(edge), tf.constant([[1, 0]], tf.int32)).numpy().sum() == 0


def test_displacing_by_whole_pixels_is_the_shift_and_by_half_a_pixel_averages_neighbours():
    rng = np.random.default_rng(0)
    images = np.zeros((4, 28, 28), np.float32)
    images[:, 6:22, 6:22] = rng.uniform(0, 1, (4, 16, 16))
    fields = np.zeros((4, 2, 28, 28), np.float32)
    np.testing.assert_array_equal(displace_images(tf.constant(images), tf.constant(fields)).numpy(), images)
    offsets = np.array([[1, -2], [0, 3], [-3, 0], [2, 2]], np.int32)
    # Output (i, j) reads input (i + d): a displacement of -offset is the shift by offset.
    fields[:] = -offsets[:, :, None, None]
    np.testing.assert_allclose(displace_images(tf.constant(images), tf.constant(fields)).numpy(),
                               shift_images(tf.constant(images), tf.constant(offsets)).numpy(), atol=1e-6)
    half = np.zeros((4, 2, 28, 28), np.float32)
    half[:, 1] = 0.5  # half a pixel to the right: each output the mean of two neighbours in its row
    expected = (images + np.roll(images, -1, axis=2)) / 2
    np.testing.assert_allclose(displace_images(tf.constant(images), tf.constant(half)).numpy(), expected, atol=1e-6)
    # Beyond the frame reads 0, however far.
    far = np.full((4, 2, 28, 28), 40.0, np.float32)
    assert displace_images(tf.constant(images), tf.constant(far)).numpy().sum() == 0


def test_elastic_displacements_are_smooth_scaled_by_alpha_and_reproducible():
    smoother = gaussian_smoother(28, 4.0).numpy()
    np.testing.assert_allclose(smoother, smoother.T)
    assert gaussian_smoother(64, 4.0).numpy()[32].sum() == pytest.approx(1.0, abs=1e-6)  # 4 sigma either side: all the weight
    assert smoother[0].sum() < 0.6  # weights beyond the frame are lost
    seed = tf.constant([3, 4], tf.int32)
    fields = elastic_displacements(16, 28, seed, 34.0, 4.0).numpy()
    np.testing.assert_allclose(elastic_displacements(16, 28, seed, 68.0, 4.0).numpy(), 2 * fields, rtol=1e-5)
    np.testing.assert_array_equal(elastic_displacements(16, 28, seed, 34.0, 4.0).numpy(), fields)
    # Simard et al.'s setting moves pixels by about a pixel, neighbours nearly alike (unsmoothed noise: 4/3 of the mean).
    assert 0.5 < fields.std() < 3 and np.abs(np.diff(fields, axis=3)).mean() < 0.25 * np.abs(fields).mean()
    images = np.random.default_rng(1).uniform(0, 1, (16, 28, 28)).astype(np.float32)
    distorted = elastic_images(tf.constant(images), seed, 34.0, 4.0).numpy()
    np.testing.assert_allclose(distorted, displace_images(tf.constant(images), tf.constant(fields)).numpy(), atol=1e-6)
    assert not np.allclose(distorted, images)
    np.testing.assert_allclose(elastic_images(tf.constant(images), seed, 0.0, 4.0).numpy(), images, atol=1e-6)


def test_affine_displacements_turn_about_the_centre_and_scale_rows_and_columns_within_their_bounds():
    seed = tf.constant([3, 4], tf.int32)
    np.testing.assert_array_equal(affine_displacements(8, 28, seed, 0.0, 0.0).numpy(), 0.0)
    centred = np.arange(28, dtype=np.float32) - 13.5
    position = np.stack(np.broadcast_arrays(centred[:, None], centred[None, :]))  # (2, 28, 28): row, column
    # Rotation alone: each pixel reads a point at its own distance from the centre, turned by one angle per image.
    read = affine_displacements(64, 28, seed, 15.0, 0.0).numpy() + position
    np.testing.assert_allclose(np.hypot(read[:, 0], read[:, 1]), np.broadcast_to(np.hypot(*position), (64, 28, 28)), rtol=1e-4, atol=1e-4)
    turn = np.degrees(np.arctan2(read[:, 1], read[:, 0]) - np.arctan2(position[1], position[0]))
    turn = (turn + 180) % 360 - 180  # wrapped
    angle = turn[:, 0, 0]  # the corner pixel's turn: the image's angle
    np.testing.assert_allclose(turn, np.broadcast_to(angle[:, None, None], turn.shape), atol=1e-2)
    assert np.abs(angle).max() <= 15.0 + 1e-3 and np.abs(angle).max() > 10.0 and angle.min() < 0 < angle.max()
    # Scaling alone: rows read at f * row, columns at g * column, f and g within 1 +- 0.2 and drawn apart.
    read = affine_displacements(64, 28, seed, 0.0, 0.2).numpy() + position
    factors = read[:, :, 0, 0] / position[:, 0, 0]
    np.testing.assert_allclose(read, factors[:, :, None, None] * position, rtol=1e-4, atol=1e-4)
    assert np.all(np.abs(factors - 1) <= 0.2 + 1e-5) and not np.allclose(factors[:, 0], factors[:, 1])
    np.testing.assert_array_equal(affine_displacements(64, 28, seed, 0.0, 0.2).numpy(), read - position)  # reproducible


def test_the_classification_phase_reads_each_labeled_image_through_both_distortions_at_once():
    s = scheme("classification", labeled=100, batch_norm=False, noise_std=0.0, labeled_shift=0)
    networks = s.build_model().networks
    kernel = networks["encoder"].get_layer("class").kernel
    kernel.assign(kernel * 300)  # an encoder whose q(y | x) depends on the image
    images, labels = s.data.x_train[:20], np.eye(10, dtype=np.float32)[s.data.y_train[:20]]
    inputs = {"labeled_images": tf.constant(images), "labels": tf.constant(labels), "noise_seed": tf.constant([3, 4], tf.int32)}
    seed = inputs["noise_seed"]

    def loss(**distortions):
        phase = {p.name: p for p in categorical_aae_phases(classification=True, **distortions)}["classification"]
        return float(phase.loss(networks, inputs)[0])

    def expected(fields):
        y, _ = networks["encoder"](displace_images(tf.constant(images), fields), training=True)
        return float(-np.mean(np.sum(labels * np.log(np.clip(y.numpy(), 1e-7, 1.0)), axis=1)))

    elastic = elastic_displacements(20, 28, seed + 12, 34.0, 4.0)
    affine = affine_displacements(20, 28, seed + 14, 15.0, 0.15)
    assert loss(labeled_elastic=34.0) == pytest.approx(expected(elastic), rel=1e-5)  # the elastic path as before
    assert loss(labeled_rotation=15.0, labeled_scale=0.15) == pytest.approx(expected(affine), rel=1e-5)
    assert loss(labeled_elastic=34.0, labeled_rotation=15.0, labeled_scale=0.15) == pytest.approx(expected(elastic + affine), rel=1e-5)
    assert loss(labeled_rotation=15.0, labeled_scale=0.15) != pytest.approx(loss(), rel=1e-3)


def test_the_consistency_phase_reads_the_moved_image_through_both_distortions_at_once():
    s = scheme("clustering", clusters=7, batch_norm=False, noise_std=0.0, input_dropout=0.0, balance_weight=0.0)
    networks = s.build_model().networks
    kernel = networks["encoder"].get_layer("class").kernel
    kernel.assign(kernel * 3000)  # an encoder whose q(y | x) depends on the image
    images = s.data.x_train[:20]
    inputs = {"images": tf.constant(images), "noise_seed": tf.constant([3, 4], tf.int32)}
    seed = inputs["noise_seed"]

    def loss(**distortions):
        arguments = {"consistency_weight": 1.0, "max_shift": 0, "vat_epsilon": 0.0, **distortions}
        phase = {p.name: p for p in categorical_aae_phases(**arguments)}["consistency"]
        return float(phase.loss(networks, inputs)[0])

    def expected(fields):
        q = networks["encoder"](tf.constant(images), training=True)[0].numpy()
        moved = networks["encoder"](displace_images(tf.constant(images), fields), training=True)[0].numpy()
        return float(np.mean(np.sum(q * (np.log(q + 1e-8) - np.log(moved + 1e-8)), axis=1)))

    elastic = elastic_displacements(20, 28, seed + 13, 34.0, 4.0)
    affine = affine_displacements(20, 28, seed + 15, 15.0, 0.15)
    assert loss(consistency_elastic=34.0) == pytest.approx(expected(elastic), rel=1e-4, abs=1e-6)  # the elastic path as before
    assert loss(consistency_rotation=15.0, consistency_scale=0.15) == pytest.approx(expected(affine), rel=1e-4, abs=1e-6)
    assert loss(consistency_elastic=34.0, consistency_rotation=15.0, consistency_scale=0.15) == pytest.approx(
        expected(elastic + affine), rel=1e-4, abs=1e-6)
    assert loss(consistency_rotation=15.0, consistency_scale=0.15) > 1e-2  # a turned digit changes q(y | x)


def test_the_virtual_adversarial_perturbation_has_the_asked_norm_and_moves_q_more_than_chance():
    s = scheme("clustering", clusters=5, batch_norm=False)
    encoder = s.build_model().networks["encoder"]
    kernel = encoder.get_layer("class").kernel
    kernel.assign(kernel * 10_000)  # an encoder whose q(y | x) depends on the image: its largest entry 0.3-0.7
    images = tf.constant(s.data.x_val[:32])
    target, _ = encoder(images, training=False)
    seed = tf.constant([5, 6], tf.int32)
    adversarial = virtual_adversarial_perturbation(encoder, images, target, seed, epsilon=2.0).numpy()
    np.testing.assert_allclose(np.sqrt((adversarial**2).sum(axis=(1, 2))), 2.0, rtol=1e-4)
    random = np.random.default_rng(0).normal(size=adversarial.shape).astype(np.float32)
    random *= 2.0 / np.sqrt((random**2).sum(axis=(1, 2), keepdims=True))

    def divergence(perturbation):
        return float(kl_divergence(target, encoder(images + perturbation, training=False)[0]))

    assert divergence(adversarial) > 3 * divergence(random) > 0
    # IMSAT's probe of 5 (10 on images in [-1, 1]): the same norm, a direction read far from the image, not VAT's.
    far = virtual_adversarial_perturbation(encoder, images, target, seed, epsilon=2.0, xi=5.0).numpy()
    np.testing.assert_allclose(np.sqrt((far**2).sum(axis=(1, 2))), 2.0, rtol=1e-4)
    cosines = (far * adversarial).sum(axis=(1, 2)) / 4.0
    assert np.median(cosines) < 0.99
    # One norm per image, as --vat-epsilon-per-image passes them.
    norms = np.linspace(0.5, 3.0, 32).astype(np.float32)
    scaled = virtual_adversarial_perturbation(encoder, images, target, seed, epsilon=tf.constant(norms)[:, None, None]).numpy()
    np.testing.assert_allclose(np.sqrt((scaled**2).sum(axis=(1, 2))), norms, rtol=1e-4)
    np.testing.assert_allclose(scaled / norms[:, None, None], adversarial / 2.0, atol=1e-6)
    # Saturated, q(y | x) has a vanishing gradient (exactly zero, or not, by the CPU's float32 rounding of
    # the softmax): a finite perturbation no longer than asked.
    kernel.assign(kernel * 10_000)
    saturated, _ = encoder(images, training=False)
    steep = virtual_adversarial_perturbation(encoder, images, saturated, seed, epsilon=2.0).numpy()
    assert np.all(np.isfinite(steep)) and np.sqrt((steep**2).sum(axis=(1, 2))).max() <= 2.0 * (1 + 1e-4)
    # A q(y | x) that does not depend on the image has no gradient at all: no perturbation, and no NaN
    # from normalising zero.
    kernel.assign(tf.zeros_like(kernel))
    constant, _ = encoder(images, training=False)
    flat = virtual_adversarial_perturbation(encoder, images, constant, seed, epsilon=2.0).numpy()
    assert np.all(flat == 0)


def test_neighbour_distances_on_hand_made_images():
    # Images whose only nonzero pixel holds 0, 1, 3, 6, 10: the 1st and 2nd nearest of each are known.
    images = np.zeros((5, 28, 28), np.float32)
    images[:, 0, 0] = [0, 1, 3, 6, 10]
    np.testing.assert_allclose(neighbour_distances(images, 1, block=2), [1, 1, 2, 3, 4])
    np.testing.assert_allclose(neighbour_distances(images, 2), [3, 2, 3, 4, 7])
    twins = np.zeros((3, 28, 28), np.float32)  # a duplicate is a neighbour at distance 0, the image itself is not
    twins[2, 5, 5] = 2.0
    np.testing.assert_allclose(neighbour_distances(twins, 1), [0, 0, 2])


def test_nearest_neighbours_on_hand_made_images():
    # One nonzero pixel holding 0, 1, 3, 7, 12 (no ties): each image's neighbours, nearest first, never itself.
    images = np.zeros((5, 28, 28), np.float32)
    images[:, 0, 0] = [0, 1, 3, 7, 12]
    np.testing.assert_array_equal(nearest_neighbours(images, 2, block=2), [[1, 2], [0, 2], [1, 0], [2, 4], [3, 2]])
    np.testing.assert_array_equal(nearest_neighbours(images, 1), [[1], [0], [1], [2], [3]])


def test_neighbour_agreement_loss_on_hand_made_distributions():
    sure = np.eye(3, dtype=np.float32)
    uniform = np.full((3, 3), 1 / 3, np.float32)
    assert float(neighbour_agreement_loss(sure, sure)) == pytest.approx(0.0, abs=1e-6)  # both sure of one class
    assert float(neighbour_agreement_loss(uniform, uniform)) == pytest.approx(np.log(3), rel=1e-5)  # alike but unsure
    assert float(neighbour_agreement_loss(sure, uniform)) == pytest.approx(np.log(3), rel=1e-5)
    assert float(neighbour_agreement_loss(sure, np.roll(sure, 1, axis=0))) > 15  # sure of different classes
    p = np.array([[0.5, 0.5, 0.0]], np.float32)
    q = np.array([[0.2, 0.6, 0.2]], np.float32)
    assert float(neighbour_agreement_loss(p, q)) == pytest.approx(-np.log(0.5 * 0.2 + 0.5 * 0.6), rel=1e-5)


def test_neighbour_images_are_among_each_images_nearest_and_leave_the_other_draws_alone():
    s = scheme("clustering", clusters=5, neighbour_weight=1.0, neighbours=3)
    inputs = s.epoch_inputs(0)
    nearest = nearest_neighbours(s.data.x_train, 3)
    chosen, images = inputs["neighbour_images_indices"], inputs["images_indices"]
    assert chosen.shape == images.shape
    assert all(c in nearest[i] for c, i in zip(chosen.ravel(), images.ravel()))
    assert len(np.unique(np.argmax(nearest[images.ravel()] == chosen.ravel()[:, None], axis=1))) == 3  # each of the 3 drawn
    plain = scheme("clustering", clusters=5).epoch_inputs(0)
    assert "neighbour_images_indices" not in plain
    for name, value in plain.items():
        np.testing.assert_array_equal(inputs[name], value)


def test_turning_the_consistency_phase_off_needs_no_other_flag_though_the_clustering_default_scales_vat_per_image():
    config, _ = parse_config(clustering.Config, ["--consistency-weight", "0"])
    assert config.vat_epsilon_per_image and not config.consistency_weight
    assert "vat_scale" not in scheme("clustering", clusters=5, consistency_weight=0.0).epoch_inputs(0)


def test_per_image_vat_scales_follow_each_images_neighbour_distance_at_median_one():
    s = scheme("clustering", clusters=5, vat_epsilon_per_image=True)
    inputs = s.epoch_inputs(0)
    distances = neighbour_distances(s.data.x_train, 10)
    np.testing.assert_allclose(inputs["vat_scale"], (distances / np.median(distances))[inputs["images_indices"]], rtol=1e-6)
    assert np.median(s.vat_scales()) == pytest.approx(1.0)
    assert "vat_scale" not in scheme("clustering", clusters=5, vat_epsilon_per_image=False).epoch_inputs(0)
    assert "vat_scale" in scheme("clustering", clusters=5).epoch_inputs(0)  # the clustering default, IMSAT's


@pytest.mark.parametrize("noise_std, hidden_noise", [(0.3, 0.0), (0.0, 0.5)])
@pytest.mark.parametrize("shared_noise", [True, False])
def test_consistency_passes_share_the_input_noise_only_when_asked_and_the_hidden_noise_always(shared_noise, noise_std, hidden_noise):
    # No shift and no VAT: with one draw of the input noise the two passes see the same image; the hidden
    # units' noise is one draw per batch and step, whichever the input noise.
    s = scheme("classification", batch_norm=False)
    networks = s.build_model().networks
    kernel = networks["encoder"].get_layer("class").kernel
    kernel.assign(kernel * 300)  # an encoder whose q(y | x) depends on the image
    phase = categorical_aae_phases(
        noise_std=noise_std, consistency_weight=1.0, max_shift=0, shared_noise=shared_noise, hidden_noise=hidden_noise)[-1]
    assert phase.name == "consistency"
    inputs = {"images": tf.constant(s.data.x_val[:32]), "noise_seed": tf.constant([3, 4], tf.int32)}
    _, logs = phase.loss(networks, inputs)
    if shared_noise or hidden_noise:
        assert float(logs["consistency_kl"]) == pytest.approx(0.0, abs=1e-6)
    else:
        assert float(logs["consistency_kl"]) > 1e-6


@pytest.mark.parametrize("phase, changes", [("discriminator_style", {"discriminator_style"}), ("generator", {"encoder"})])
def test_style_discriminator_that_sees_y_judges_pairs_and_moves_only_its_phase(phase, changes):
    s = scheme("clustering", clusters=7, style_discriminator_sees_class=True, lr_decay_epoch=0)
    model = s.build_model()
    assert [tuple(i.shape) for i in model.networks["discriminator_style"].inputs] == [(None, 5), (None, 7)]
    step_only(s, model, phase, changes)


def test_the_weight_average_phase_is_an_exponential_moving_average_of_the_encoder_and_moves_nothing_else():
    decay = 0.9
    s = scheme("classification", labeled=100, weight_average=decay, lr_decay_epoch=0)
    model = s.build_model()
    assert model.phases[-1].name == "weight_average" and model.log_names[-1] == "encoder_average_gap"
    encoder, average = model.networks["encoder"], model.networks["encoder_average"]
    for live, mean in zip(encoder.get_weights(), average.get_weights()):  # the average starts at the encoder's first weights
        np.testing.assert_array_equal(live, mean)
    rng = np.random.default_rng(0)
    average.set_weights([w + rng.normal(0, 0.1, w.shape).astype(np.float32) for w in average.get_weights()])
    for name, optimizer in model.optimizers.items():
        if name != "weight_average":
            optimizer.learning_rate.assign(0.0)
    before = snapshot(model)
    logs = model.train_step(batch(s))
    after = snapshot(model)
    for name in model.networks:  # every other network stays, the encoder's weights included
        moved = [not np.array_equal(a, b) for a, b in zip(before[name], after[name])]
        assert all(moved) if name == "encoder_average" else not any(moved), name
    for old, new, live in zip(before["encoder_average"], after["encoder_average"], before["encoder"]):
        np.testing.assert_allclose(new, decay * old + (1 - decay) * live, rtol=1e-5, atol=1e-7)
    gaps = np.concatenate([(a - w).ravel() for a, w in zip(before["encoder_average"], before["encoder"])])
    assert float(logs["encoder_average_gap"]) == pytest.approx(np.sqrt(np.mean(gaps**2)), rel=1e-4)


def test_the_evaluation_reads_the_average_and_the_live_encoder_when_asked():
    s = scheme("classification", labeled=100, weight_average=0.999)
    model = s.build_model()
    kernel = model.networks["encoder"].get_layer("class").kernel
    kernel.assign(kernel * 300)  # the live encoder now sees another q(y | x) than its average
    images = s.data.x_val[:16]
    averaged = s.class_probabilities(model, images)
    np.testing.assert_allclose(averaged, model.networks["encoder_average"].predict(images, verbose=0)[0], atol=1e-6)
    with s.evaluating("encoder"):
        live = s.class_probabilities(model, images)
        np.testing.assert_allclose(np.exp(s.class_log_probabilities(model, images)), live, atol=1e-5)
    np.testing.assert_allclose(live, model.networks["encoder"].predict(images, verbose=0)[0], atol=1e-6)
    assert not np.allclose(live, averaged, atol=1e-3)
    np.testing.assert_allclose(np.exp(s.class_log_probabilities(model, images)), averaged, atol=1e-5)
    assert set(s.progress_metrics(model)) == {"validation_error_eval", "live_validation_error_eval"}
    assert s.curves(("validation_error_eval",)) == {
        "validation_error_eval": "validation error eval (averaged encoder)",
        "live_validation_error_eval": "validation error eval (live encoder)",
    }
    plain = scheme("classification", labeled=100)
    assert "encoder_average" not in plain.build_model().networks
    assert plain.curves(("validation_error_eval",)) == {"validation_error_eval": "validation error eval"}


def test_clustering_has_no_classification_phase_and_sees_no_labels():
    s = scheme("clustering", clusters=7)
    model = s.build_model()
    assert [p.name for p in model.phases] == ["reconstruction", "discriminator_class", "discriminator_style", "generator", "consistency"]
    inputs = s.epoch_inputs(0)
    assert set(inputs) == {"images_indices", "class_prior", "style_prior", "noise_seed", "vat_scale"}
    assert inputs["class_prior"].shape[-1] == 7


def test_labeled_batches_cycle_through_the_labeled_images_only():
    s = scheme("classification", labeled=100)
    inputs = s.epoch_inputs(0)
    used = np.unique(inputs["labeled_images_indices"])
    np.testing.assert_array_equal(used, s.labeled)
    np.testing.assert_array_equal(np.argmax(inputs["labels"], -1), s.data.y_train[inputs["labeled_images_indices"]])


@pytest.mark.slow
def test_resume_mid_epoch_with_two_discriminators_ends_where_a_straight_run_ends(mnist_npz, tmp_path, monkeypatch):
    flags = [*SMALL, "--labeled", "30", "--epochs", "2",
             "--consistency-weight", "1", "--balance-weight", "1", "--entropy-weight", "1", "--recoverability-weight", "1",
             "--vat-epsilon-per-image", "--neighbour-weight", "1", "--labeled-elastic", "34", "--consistency-elastic", "20",
             "--consistency-rotation", "10",
             "--weight-average", "0.9", "--hidden-noise", "0.5", "--classification-optimizer", "adam", "--ingredient-optimizer", "adam"]
    straight, resumed = straight_and_resumed(
        classification.ClassificationAAE, classification.Config, mnist_npz, flags, tmp_path, monkeypatch)
    assert {key.split("/")[1] for key in straight} >= {
        "discriminator_class", "discriminator_style", "classification", "consistency", "recoverability", "weight_average",
        "encoder_average"}
    for key in straight:
        np.testing.assert_allclose(resumed[key], straight[key], rtol=1e-4, atol=1e-6, err_msg=key)


@pytest.mark.slow
def test_clustering_resume_mid_epoch_with_the_auxiliary_head_ends_where_a_straight_run_ends(mnist_npz, tmp_path, monkeypatch):
    flags = [*SMALL, "--clusters", "6", "--epochs", "2", "--auxiliary-clusters", "4", "--auxiliary-tie-weight", "2"]
    straight, resumed = straight_and_resumed(clustering.ClusteringAAE, clustering.Config, mnist_npz, flags, tmp_path, monkeypatch)
    assert any(key.startswith("networks/auxiliary_head/") for key in straight)
    for key in straight:
        np.testing.assert_allclose(resumed[key], straight[key], rtol=1e-4, atol=1e-6, err_msg=key)


def test_classification_end_to_end(mnist_npz, tmp_path):
    out = tmp_path / "run"
    metrics = run.main(classification.ClassificationAAE, classification.Config,
                       ["--data", mnist_npz, "--out", str(out), *SMALL, "--labeled", "30", "--epochs", "2", "--weight-average", "0.9"])
    for name in ["styles_epoch_001.png", "styles_epoch_002.png", "confusion.png", "error.png", "losses.csv", "losses.png",
                 "config.json", "metrics.json", "labeled_indices.txt", "encoder.keras", "decoder.keras",
                 "discriminator_class.keras", "discriminator_style.keras", "encoder_average.keras"]:
        assert (out / name).is_file(), name
    rows = list(csv.DictReader(open(out / "losses.csv")))
    assert {"classification_loss", "discriminator_class_loss", "validation_error_eval", "encoder_average_gap"} <= set(rows[0])
    # The average is what the run reports; the live encoder's errors are beside it, per epoch and at the end.
    assert float(rows[-1]["validation_error_eval"]) == pytest.approx(metrics["validation_error"])
    assert float(rows[-1]["live_validation_error_eval"]) == pytest.approx(metrics["live_encoder"]["validation_error"])
    assert 0 <= metrics["live_encoder"]["test_error"] <= 1
    assert metrics["labeled_images"] == 30 and len(np.loadtxt(out / "labeled_indices.txt")) == 30
    assert 0 <= metrics["test_error"] <= 1 and 0 <= metrics["validation_error"] <= 1
    assert len(metrics["per_class_test_error"]) == 10 and np.isfinite(metrics["minutes"])
    assert np.isfinite(metrics["frechet_distance"]) and np.isfinite(metrics["parzen_ll"])
    assert json.load(open(out / "config.json"))["labeled"] == 30
    encoder = keras.models.load_model(out / "encoder.keras")
    assert [tuple(o.shape) for o in encoder.outputs] == [(None, 10), (None, 10)]


def test_clustering_end_to_end(mnist_npz, tmp_path, caplog):
    out = tmp_path / "run"
    metrics = run.main(clustering.ClusteringAAE, clustering.Config,
                       ["--data", mnist_npz, "--out", str(out), *SMALL, "--clusters", "12", "--epochs", "2", "--auxiliary-clusters", "5"])
    for name in ["styles_epoch_002.png", "confusion.png", "error.png", "cluster_heads.png", "losses.csv",
                 "metrics.json", "discriminator_class.keras"]:
        assert (out / name).is_file(), name
    assert metrics["clusters"] == 12 and len(metrics["cluster_labels"]) == 12
    assert 0 <= metrics["test_error"] <= 1 and 0 <= metrics["test_error_majority_vote"] <= 1
    assert sum(metrics["cluster_sizes_test"]) == 100
    # y's content, read by the classifier: heads of the used clusters, samples from both priors; z's by 5-NN.
    for key in ("head_accuracy", "prior_sample_accuracy", "style_knn_digit_accuracy"):
        assert 0 <= metrics[key] <= 1, key
    assert len(metrics["head_digits_read"]) == 12
    # The evaluation's many predict() calls leave the output the project's own: no retracing notes.
    assert "retracing" not in caplog.text
    # Both validation errors per epoch: the paper's rule (the same as the final metric) and majority vote.
    last = list(csv.DictReader(open(out / "losses.csv")))[-1]
    assert float(last["validation_error_eval"]) == pytest.approx(metrics["validation_error"])
    assert 0 <= float(last["validation_error_majority_vote_eval"]) <= float(last["validation_error_eval"]) + 1e-9
    # The auxiliary head's clusters, labelled by majority vote, per epoch and at the end.
    assert float(last["auxiliary_validation_error_majority_vote_eval"]) == pytest.approx(metrics["auxiliary_validation_error_majority_vote"])
    assert 0 <= metrics["auxiliary_test_error_majority_vote"] <= 1 and sum(metrics["auxiliary_cluster_sizes_test"]) == 100
    assert len(metrics["auxiliary_cluster_sizes_test"]) == 5 and (out / "auxiliary_head.keras").is_file()
    # Samples from both priors are scored like every scheme's: Parzen and the Frechet distance beside real images.
    for key in ("parzen_ll", "real_images_parzen_ll", "frechet_distance", "real_images_frechet_distance"):
        assert np.isfinite(metrics[key]), key


@pytest.mark.parametrize(
    "script, flags, message",
    [
        ("classification", ["--labeled", "5"], "--labeled 5 is below the 10 classes"),
        ("classification", ["--labeled", "999"], "--labeled 999 exceeds the 200 training images"),
        ("clustering", ["--clusters", "1"], "--clusters must be at least 2"),
        ("clustering", ["--clusters", "100000"], "--clusters must be at most 100, got 100000"),
        ("clustering", ["--noise-std", "-1"], "--noise-std must be at least 0"),
        ("clustering", ["--consistency-weight", "-1"], "--consistency-weight must be at least 0"),
        ("clustering", ["--max-shift", "-1"], "--max-shift must be at least 0"),
        ("clustering", ["--consistency-weight", "1", "--max-shift", "0", "--vat-epsilon", "0"], "--consistency-weight needs a perturbation"),
        ("clustering", ["--recipe", "paper", "--style-discriminator-sees-class"], "excludes --style-discriminator-sees-class True"),
        ("classification", ["--vat-epsilon", "0", "--max-shift", "2", "--vat-epsilon-per-image"], "--vat-epsilon-per-image scales"),
        ("clustering", ["--vat-xi", "0"], "--vat-xi must be positive"),
        ("clustering", ["--recipe", "paper", "--vat-xi", "5"], "--vat-xi is VAT's probe: it needs --consistency-weight and --vat-epsilon"),
        ("classification", ["--recipe", "fast"], "--recipe must be one of paper, project"),
        ("classification", ["--recipe", "paper", "--recoverability-weight", "2"], "excludes --recoverability-weight 2.0"),
        ("classification", ["--entropy-weight", "-0.5"], "--entropy-weight must be at least 0"),
        ("classification", ["--recipe", "paper", "--entropy-weight", "1"], "excludes --entropy-weight 1.0"),
        ("clustering", ["--neighbour-weight", "-1"], "--neighbour-weight must be at least 0"),
        ("clustering", ["--neighbours", "0"], "--neighbours must be at least 1"),
        ("clustering", ["--neighbour-weight", "1", "--neighbours", "200"], "--neighbours 200 needs more training images than that, got 200"),
        ("clustering", ["--recipe", "paper", "--neighbour-weight", "1"], "excludes --neighbour-weight 1.0"),
        ("classification", ["--labeled-elastic", "-1"], "--labeled-elastic must be at least 0"),
        ("classification", ["--labeled-rotation", "-5"], "--labeled-rotation must be at least 0"),
        ("classification", ["--labeled-scale", "1"], "--labeled-scale must be at most 0.5, got 1.0"),
        ("classification", ["--recipe", "paper", "--labeled-rotation", "15"], "excludes --labeled-rotation 15.0"),
        ("clustering", ["--elastic-sigma", "0"], "--elastic-sigma must be positive"),
        ("classification", ["--recipe", "paper", "--labeled-elastic", "34"], "excludes --labeled-elastic 34.0"),
        ("clustering", ["--recipe", "paper", "--consistency-elastic", "34"], "excludes --consistency-elastic 34.0"),
        ("clustering", ["--recipe", "paper", "--consistency-rotation", "15"], "excludes --consistency-rotation 15.0"),
        ("clustering", ["--recipe", "paper", "--no-class-batch-norm"], "excludes --class-batch-norm False"),
        ("clustering", ["--no-batch-norm", "--no-class-batch-norm"], "--no-class-batch-norm leaves y's logits out"),
        ("clustering", ["--consistency-rotation", "200"], "--consistency-rotation must be at most 180.0, got 200.0"),
        ("classification", ["--consistency-scale", "-0.1"], "--consistency-scale must be at least 0"),
        ("clustering", ["--consistency-weight", "0", "--consistency-scale", "0.1"],
         "--consistency-scale distorts the consistency phase's moved image: it needs --consistency-weight above 0"),
        ("clustering", ["--consistency-weight", "1", "--vat-epsilon", "0", "--consistency-rotation", "0"], "needs a perturbation"),
        ("classification", ["--weight-average", "1"], "--weight-average is a decay per step, below 1, got 1.0"),
        ("classification", ["--weight-average", "-0.5"], "--weight-average must be at least 0"),
        ("clustering", ["--weight-average", "0.999"], "it needs --no-batch-norm"),
        ("classification", ["--recipe", "paper", "--weight-average", "0.999"], "excludes --weight-average 0.999"),
        ("classification", ["--hidden-noise", "-1"], "--hidden-noise must be at least 0"),
        ("clustering", ["--recipe", "paper", "--hidden-noise", "0.5"], "excludes --hidden-noise 0.5"),
        ("classification", ["--ingredient-optimizer", "rmsprop"], "--ingredient-optimizer must be one of sgd, adam, got 'rmsprop'"),
        ("classification", ["--consistency-in-classification", "--consistency-weight", "0"], "--consistency-in-classification adds"),
        ("clustering", ["--test-time-shifts", "-1"], "--test-time-shifts must be at least 0"),
        ("classification", ["--recipe", "paper", "--consistency-in-classification"], "excludes --consistency-in-classification True"),
        ("clustering", ["--auxiliary-clusters", "1"], "--auxiliary-clusters needs at least 2 clusters"),
        ("clustering", ["--auxiliary-clusters", "10", "--consistency-weight", "0"], "it needs --consistency-weight above 0"),
        ("clustering", ["--auxiliary-clusters", "10", "--auxiliary-tie-weight", "-1"], "--auxiliary-tie-weight must be at least 0"),
        ("clustering", ["--recipe", "paper", "--auxiliary-clusters", "10"], "excludes --auxiliary-clusters 10"),
    ],
)
def test_bad_flags_are_one_line_errors(mnist_npz, tmp_path, capsys, script, flags, message):
    module = {"classification": classification, "clustering": clustering}[script]
    scheme_class = {"classification": classification.ClassificationAAE, "clustering": clustering.ClusteringAAE}[script]
    with pytest.raises(SystemExit) as stop:
        run.main(scheme_class, module.Config, ["--data", mnist_npz, "--out", str(tmp_path / "run"), *SMALL, *flags])
    assert stop.value.code == 2
    error = capsys.readouterr().err.strip()
    assert message in error and len(error.splitlines()) == 1, error


def test_input_corruption_is_reproducible_and_of_the_asked_size():
    from models.categorical_aae import corrupt

    images = tf.ones((200, 28, 28))
    seed = tf.constant([3, 4], tf.int32)
    dropped = corrupt(images, seed, 0.0, 0.2, offset=1).numpy()
    assert abs(np.mean(dropped == 0) - 0.2) < 0.01
    np.testing.assert_allclose(dropped[dropped > 0], 1 / 0.8, rtol=1e-6)
    noisy = corrupt(images, seed, 0.3, 0.0, offset=1).numpy()
    assert abs(np.std(noisy - 1) - 0.3) < 0.01
    np.testing.assert_array_equal(noisy, corrupt(images, seed, 0.3, 0.0, offset=1).numpy())
    assert not np.array_equal(noisy, corrupt(images, seed, 0.3, 0.0, offset=2).numpy())


def test_compiled_draws_are_the_default_algorithms_numbers():
    # The committed runs drew with TensorFlow's default algorithm; naming Philox (for speed) keeps them reproducible.
    from models.categorical_aae import RNG, corrupt

    seed = tf.constant([3, 4], tf.int32)

    def compiled(draw, alg):
        return tf.function(lambda s: draw((8, 28, 28), s, alg=alg), jit_compile=True)(seed).numpy()

    for draw in (tf.random.stateless_normal, tf.random.stateless_uniform):
        np.testing.assert_array_equal(compiled(draw, RNG), compiled(draw, "auto_select"))
    noisy = tf.function(lambda s: corrupt(tf.zeros((8, 28, 28)), s, 0.3, 0.0, offset=0), jit_compile=True)(seed)
    np.testing.assert_allclose(noisy.numpy(), 0.3 * compiled(tf.random.stateless_normal, "auto_select"), rtol=1e-6)


def test_batch_normalised_encoder_keeps_its_moving_statistics_in_the_checkpoint():
    from utils.checkpoint import state_variables

    s = scheme("clustering", clusters=5, batch_norm=True, class_batch_norm=True, input_dropout=0.2)
    model = s.build_model()
    keys = list(state_variables(model))
    assert "networks/encoder/class_norm/moving_mean" in keys and "networks/encoder/encoder_hidden_1_norm/moving_variance" in keys
    before = np.array(model.networks["encoder"].get_layer("class_norm").moving_mean)
    model.train_step(batch(s))
    assert not np.array_equal(before, np.array(model.networks["encoder"].get_layer("class_norm").moving_mean))
    keys = list(state_variables(scheme("clustering", clusters=5, batch_norm=True, class_batch_norm=False).build_model()))
    assert "networks/encoder/style_norm/moving_mean" in keys and not any("class_norm" in key for key in keys)
