"""Each phase of the shared three-phase step changes exactly the variables it should."""

import keras
import numpy as np
import pytest

from models import AdversarialAutoencoder, build_decoder, build_discriminator, build_encoder


def make_model(discriminator_lr, reconstruction_lr, generator_lr, label_dim=0, condition_discriminator=False, condition_decoder=False):
    keras.utils.set_random_seed(0)
    return AdversarialAutoencoder(
        build_encoder(2),
        build_decoder(2, label_dim if condition_decoder else 0),
        build_discriminator(2, label_dim if condition_discriminator else 0),
        discriminator_optimizer=keras.optimizers.SGD(discriminator_lr),
        reconstruction_optimizer=keras.optimizers.Adam(reconstruction_lr),
        generator_optimizer=keras.optimizers.SGD(generator_lr),
        condition_discriminator=condition_discriminator,
        condition_decoder=condition_decoder,
    )


def batch(label_dim=0, size=8):
    rng = np.random.default_rng(1)
    images = rng.uniform(0, 1, (size, 28, 28)).astype(np.float32)
    condition = np.eye(max(label_dim, 1), dtype=np.float32)[rng.integers(0, max(label_dim, 1), size)][:, :label_dim]
    prior = (5 * rng.standard_normal((size // 2, 2))).astype(np.float32)
    return images, condition, prior


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
@pytest.mark.parametrize("jit", [False, True], ids=["eager-graph", "xla"])
def test_each_phase_updates_only_its_own_variables(rates, expect, jit):
    import tensorflow as tf

    model = make_model(*rates)
    before = {name: snapshot(getattr(model, name)) for name in expect}
    losses = tf.function(model.train_step, jit_compile=jit)(batch())
    assert np.all(np.isfinite(np.asarray(losses)))
    for name, should_change in expect.items():
        assert changed(before[name], getattr(model, name)) == should_change, name


def test_conditioned_networks_train_with_the_label():
    for condition_discriminator, condition_decoder in ((True, False), (False, True)):
        model = make_model(0.1, 0.01, 0.1, label_dim=11, condition_discriminator=condition_discriminator, condition_decoder=condition_decoder)
        losses = np.asarray(model.train_step(batch(label_dim=11)))
        assert losses.shape == (4,) and np.all(np.isfinite(losses))


def test_discriminator_learns_to_separate_prior_from_codes():
    # Codes start near zero (weights N(0, 0.01)), the prior has std 5: phase 1 alone should learn that.
    import tensorflow as tf

    model = make_model(0.1, 0.0, 0.0)
    step = tf.function(model.train_step)
    first = np.asarray(step(batch(size=64)))
    for _ in range(30):
        last = np.asarray(step(batch(size=64)))
    assert last[0] < first[0]
    assert last[1] > 0.8


@pytest.mark.parametrize("jit", [False, True], ids=["eager-graph", "xla"])
def test_steps_in_one_call_match_the_same_steps_one_at_a_time(jit):
    import tensorflow as tf

    rng = np.random.default_rng(2)
    images = rng.uniform(0, 1, (40, 28, 28)).astype(np.float32)
    batches = rng.integers(0, 40, (3, 8))
    condition = np.zeros((3, 8, 0), np.float32)
    prior = (5 * rng.standard_normal((3, 4, 2))).astype(np.float32)
    one_by_one, in_one_call = make_model(0.1, 0.01, 0.1), make_model(0.1, 0.01, 0.1)

    step = tf.function(one_by_one.train_step, jit_compile=jit)
    expected = sum(np.asarray(step((images[batches[k]], condition[k], prior[k]))) for k in range(3))
    sums = tf.function(in_one_call.train_steps, jit_compile=jit)(tf.constant(images), batches, condition, prior)

    np.testing.assert_allclose(np.asarray(sums), expected, rtol=1e-5, atol=1e-6)
    for name in ("encoder", "decoder", "discriminator"):
        for a, b in zip(getattr(one_by_one, name).trainable_variables, getattr(in_one_call, name).trainable_variables):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)


def test_every_learning_rate_decays_once_the_given_epochs_are_done():
    import tensorflow as tf

    import aae
    from utils.run import build_model

    config = aae.Config(latent_dim=2, lr_decay_epoch=2, lr_decay=0.1)
    model = build_model(config, aae.UnsupervisedAAE, steps_per_epoch=3)
    base = (config.discriminator_lr, config.reconstruction_lr, config.generator_lr)
    step = tf.function(model.train_step, jit_compile=True)
    for done in range(8):  # steps done so far; epoch 3 starts after 6
        rates = [float(optimizer.learning_rate) for optimizer in model.phase_optimizers]
        expected = [rate * (0.1 if done >= 6 else 1.0) for rate in base]
        np.testing.assert_allclose(rates, expected, rtol=1e-6, err_msg=f"after {done} steps")
        step(batch())
