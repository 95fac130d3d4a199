"""The adversarial autoencoder: the three-phase training step shared by every scheme."""

import keras
import tensorflow as tf
from keras import ops

LOSS_NAMES = ("discriminator_loss", "discriminator_accuracy", "reconstruction_mse", "generator_loss")


class AdversarialAutoencoder(keras.Model):
    """Encoder, decoder and discriminator trained in three phases per batch.

    1. Regularization, discriminator: codes of the first half of the batch labelled fake (0),
       as many prior samples labelled real (1).
    2. Reconstruction: encoder and decoder on the whole batch, mean squared error.
    3. Regularization, generator: the encoder is pushed to make the discriminator call the codes
       of the whole batch real.

    Each phase has its own optimizer and applies gradients to its own variables only, so the
    discriminator is frozen in phase 3 simply by not being updated.

    A scheme differs by its prior (the samples come in with the batch) and by which network sees
    the batch's one-hot `condition`: the discriminator (label information in the adversarial
    regularization) or the decoder (supervised AAE).
    """

    def __init__(
        self,
        encoder,
        decoder,
        discriminator,
        discriminator_optimizer,
        reconstruction_optimizer,
        generator_optimizer,
        condition_discriminator=False,
        condition_decoder=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.discriminator = discriminator
        self.discriminator_optimizer = discriminator_optimizer
        self.reconstruction_optimizer = reconstruction_optimizer
        self.generator_optimizer = generator_optimizer
        self.condition_discriminator = condition_discriminator
        self.condition_decoder = condition_decoder
        # Create the optimizers' slots now: variables cannot be created inside an XLA-compiled step.
        discriminator_optimizer.build(discriminator.trainable_variables)
        reconstruction_optimizer.build(self.autoencoder_variables)
        generator_optimizer.build(encoder.trainable_variables)

    @property
    def autoencoder_variables(self):
        return self.encoder.trainable_variables + self.decoder.trainable_variables

    @property
    def phase_optimizers(self):
        return (self.discriminator_optimizer, self.reconstruction_optimizer, self.generator_optimizer)

    def call(self, images, condition=None, training=False):
        """Reconstruct images (the autoencoder path)."""
        return self.decode(self.encoder(images, training=training), condition, training=training)

    def decode(self, codes, condition=None, training=False):
        inputs = [codes, condition] if self.condition_decoder else codes
        return self.decoder(inputs, training=training)

    def discriminate(self, codes, condition=None, training=False):
        inputs = [codes, condition] if self.condition_discriminator else codes
        return self.discriminator(inputs, training=training)

    def train_step(self, data):
        """One batch through the three phases; `data` is (images, condition, prior_samples).

        `condition` is (batch, label_dim) and may have zero width when no network is conditioned.
        `prior_samples` has half a batch of rows: the discriminator's real half, drawn for the
        labels of the first half of the batch, so real and fake codes carry the same labels.
        """
        images, condition, prior_samples = (ops.convert_to_tensor(part) for part in data)
        half = prior_samples.shape[0]
        fake_condition = condition[:half]

        # Phase 1: the discriminator learns prior samples (1) from codes (0).
        codes = self.encoder(images[:half], training=True)
        both = ops.concatenate([prior_samples, codes], axis=0)
        both_condition = ops.concatenate([fake_condition, fake_condition], axis=0)
        targets = ops.concatenate([ops.ones((half, 1)), ops.zeros((half, 1))], axis=0)
        with tf.GradientTape() as tape:
            predictions = self.discriminate(both, both_condition, training=True)
            discriminator_loss = ops.mean(keras.losses.binary_crossentropy(targets, predictions))
        variables = self.discriminator.trainable_variables
        self.discriminator_optimizer.apply(tape.gradient(discriminator_loss, variables), variables)
        discriminator_accuracy = ops.mean(ops.cast((predictions > 0.5) == (targets > 0.5), "float32"))

        # Phase 2: reconstruction, the encoder and decoder together.
        with tf.GradientTape() as tape:
            reconstructions = self(images, condition, training=True)
            reconstruction_mse = ops.mean(ops.square(images - reconstructions))
        variables = self.autoencoder_variables
        self.reconstruction_optimizer.apply(tape.gradient(reconstruction_mse, variables), variables)

        # Phase 3: the encoder (generator) tries to have its codes called real by the frozen discriminator.
        with tf.GradientTape() as tape:
            predictions = self.discriminate(self.encoder(images, training=True), condition, training=True)
            generator_loss = ops.mean(keras.losses.binary_crossentropy(ops.ones_like(predictions), predictions))
        variables = self.encoder.trainable_variables
        self.generator_optimizer.apply(tape.gradient(generator_loss, variables), variables)

        return ops.stack([discriminator_loss, discriminator_accuracy, reconstruction_mse, generator_loss])

    def train_steps(self, images, batches, condition, prior_samples):
        """Several steps in one call, the sum of their losses; step k trains on images[batches[k]].

        `images` is the whole training set, already where the step runs, so each batch is gathered
        there instead of being copied in from NumPy; one call for many steps also spares the
        per-call overhead. `condition` and `prior_samples` hold each step's rows, stacked.
        """

        def step(k, sums):
            return k + 1, sums + self.train_step((tf.gather(images, batches[k]), condition[k], prior_samples[k]))

        count = tf.shape(batches)[0]
        sums = tf.zeros(len(LOSS_NAMES))
        return tf.while_loop(lambda k, _: k < count, step, (tf.constant(0), sums))[1]
