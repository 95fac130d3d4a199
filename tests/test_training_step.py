"""Each phase of the shared three-phase step changes exactly the variables it should."""

import keras
import numpy as np
import pytest

from models import AdversarialAutoencoder, aae_phases, build_decoder, build_discriminator, build_encoder
from tests.conftest import tiny_data

SIZES = {"hidden_units": 1000, "hidden_layers": 2, "init_std": 0.01}  # the builders' former defaults

LOSSES = ("discriminator_loss", "discriminator_accuracy", "reconstruction_mse", "generator_loss")


def make_model(discriminator_lr, reconstruction_lr, generator_lr, label_dim=0, condition_on="none"):
    keras.utils.set_random_seed(0)
    networks = {
        "encoder": build_encoder(2, seed=0, **SIZES),
        "decoder": build_decoder(2, label_dim if condition_on == "decoder" else 0, seed=100, **SIZES),
        "discriminator": build_discriminator(2, label_dim if condition_on == "discriminator" else 0, seed=200, **SIZES),
    }
    optimizers = {
        "discriminator": keras.optimizers.SGD(discriminator_lr),
        "reconstruction": keras.optimizers.Adam(reconstruction_lr),
        "generator": keras.optimizers.SGD(generator_lr),
    }
    return AdversarialAutoencoder(networks, aae_phases(condition_on), optimizers)


def batch(label_dim=0, size=8):
    rng = np.random.default_rng(1)
    inputs = {
        "images": rng.uniform(0, 1, (size, 28, 28)).astype(np.float32),
        "prior": (5 * rng.standard_normal((size // 2, 2))).astype(np.float32),
    }
    if label_dim:
        inputs["condition"] = np.eye(label_dim, dtype=np.float32)[rng.integers(0, label_dim, size)]
    return inputs


def snapshot(network):
    return [np.array(v) for v in network.trainable_variables]


def changed(before, network):
    return any(not np.array_equal(b, np.array(v)) for b, v in zip(before, network.trainable_variables))


# A learning rate of zero switches a phase off; the others then show what each phase touches.
@pytest.mark.parametrize(
    "rates, expect",
    [
        ((0.1, 0.0, 0.0), {"encoder": False, "decoder": False, "discriminator": True}),
        ((0.0, 0.01, 0.0), {"encoder": True, "decoder": True, "discriminator": False}),
        ((0.0, 0.0, 0.1), {"encoder": True, "decoder": False, "discriminator": False}),
    ],
    ids=["phase1-discriminator", "phase2-reconstruction", "phase3-generator"],
)
@pytest.mark.parametrize("jit", [False, pytest.param(True, marks=pytest.mark.slow)], ids=["eager-graph", "xla"])
def test_each_phase_updates_only_its_own_variables(rates, expect, jit):
    import tensorflow as tf

    model = make_model(*rates)
    before = {name: snapshot(model.networks[name]) for name in expect}
    logs = tf.function(model.train_step, jit_compile=jit)(batch())
    assert tuple(logs) == LOSSES and all(np.isfinite(float(value)) for value in logs.values())
    for name, should_change in expect.items():
        assert changed(before[name], model.networks[name]) == should_change, name


def test_conditioned_networks_train_with_the_label():
    for condition_on in ("discriminator", "decoder"):
        model = make_model(0.1, 0.01, 0.1, label_dim=11, condition_on=condition_on)
        before = snapshot(model.networks[condition_on])
        logs = model.train_step(batch(label_dim=11))
        assert tuple(logs) == LOSSES and all(np.isfinite(float(value)) for value in logs.values())
        assert changed(before, model.networks[condition_on])


def test_discriminator_learns_to_separate_prior_from_codes():
    # Codes start near zero (weights N(0, 0.01)), the prior has std 5: phase 1 alone should learn that.
    import tensorflow as tf

    model = make_model(0.1, 0.0, 0.0)
    step = tf.function(model.train_step)
    first = step(batch(size=64))
    for _ in range(30):
        last = step(batch(size=64))
    assert float(last["discriminator_loss"]) < float(first["discriminator_loss"])
    assert float(last["discriminator_accuracy"]) > 0.8


@pytest.mark.parametrize("jit", [False, pytest.param(True, marks=pytest.mark.slow)], ids=["eager-graph", "xla"])
def test_steps_in_one_call_match_the_same_steps_one_at_a_time(jit):
    import tensorflow as tf

    rng = np.random.default_rng(2)
    images = rng.uniform(0, 1, (40, 28, 28)).astype(np.float32)
    batches = rng.integers(0, 40, (3, 8))
    condition = np.eye(11, dtype=np.float32)[rng.integers(0, 11, (3, 8))]
    prior = (5 * rng.standard_normal((3, 4, 2))).astype(np.float32)
    one_by_one = make_model(0.1, 0.01, 0.1, label_dim=11, condition_on="discriminator")
    in_one_call = make_model(0.1, 0.01, 0.1, label_dim=11, condition_on="discriminator")

    step = tf.function(one_by_one.train_step, jit_compile=jit)
    logs = [step({"images": images[batches[k]], "condition": condition[k], "prior": prior[k]}) for k in range(3)]
    inputs = {"images_indices": batches, "condition": condition, "prior": prior}
    sums = tf.function(in_one_call.train_steps, jit_compile=jit)(tf.constant(images), inputs)

    for name in LOSSES:
        np.testing.assert_allclose(float(sums[name]), sum(float(log[name]) for log in logs), rtol=1e-5, atol=1e-6)
    for name in ("encoder", "decoder", "discriminator"):
        for a, b in zip(one_by_one.networks[name].trainable_variables, in_one_call.networks[name].trainable_variables):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)


def test_every_learning_rate_decays_once_the_given_epochs_are_done():
    import tensorflow as tf

    import aae

    config = aae.Config(latent_dim=2, lr_decay_epoch=2, lr_decay=0.1)
    scheme = aae.UnsupervisedAAE(config, tiny_data(train=3 * config.batch_size))
    model = scheme.build_model()
    base = (config.discriminator_lr, config.reconstruction_lr, config.generator_lr)
    step = tf.function(model.train_step, jit_compile=True)
    for done in range(8):  # steps done so far; epoch 3 starts after 6
        rates = [float(model.optimizers[phase].learning_rate) for phase in ("discriminator", "reconstruction", "generator")]
        expected = [rate * (0.1 if done >= 6 else 1.0) for rate in base]
        np.testing.assert_allclose(rates, expected, rtol=1e-6, err_msg=f"after {done} steps")
        step(batch())


def test_the_cosine_schedule_falls_from_every_full_rate_to_its_decayed_value_at_the_last_step():
    import tensorflow as tf

    import aae

    config = aae.Config(latent_dim=2, epochs=2, lr_schedule="cosine", lr_decay=0.1, lr_decay_epoch=1)  # the epoch is unused
    scheme = aae.UnsupervisedAAE(config, tiny_data(train=3 * config.batch_size))
    model = scheme.build_model()
    base = np.array([config.discriminator_lr, config.reconstruction_lr, config.generator_lr])
    step = tf.function(model.train_step, jit_compile=True)
    for done in range(6):  # 2 epochs of 3 steps: the updates are made at step counts 0-5
        rates = [float(model.optimizers[phase].learning_rate) for phase in ("discriminator", "reconstruction", "generator")]
        expected = base * (0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * done / 5)))
        np.testing.assert_allclose(rates, expected, rtol=1e-5, err_msg=f"after {done} steps")
        step(batch())
    np.testing.assert_allclose(expected, base * 0.1, rtol=1e-6)  # the last update at --lr-decay times the rate
