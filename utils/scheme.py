"""The scheme interface: what a script declares (prior, networks, phases, optimizers, per-step inputs, metrics).

The defaults are the paper's section 2: an encoder, a decoder and one discriminator trained in
three phases per batch (models.aae_phases). A scheme overrides what differs.

The modules that load TensorFlow (models, the classifier, the metrics) are imported in the methods
that use them: a script defines its Scheme subclass at import, and answers --help before
TensorFlow loads (seconds).
"""

import numpy as np


def make_optimizer(kind, learning_rate, momentum=0.0, beta_1=0.9):
    import keras

    if kind == "adam":
        return keras.optimizers.Adam(learning_rate, beta_1=beta_1)
    return keras.optimizers.SGD(learning_rate, momentum=momentum)


class Scheme:
    """What one scheme adds to the shared run. Each script subclasses it.

    `condition_on` says which network sees the one-hot condition of each image: "discriminator"
    (label information in the adversarial regularization), "decoder" (supervised AAE), "both"
    or "none".
    """

    name = "aae"
    condition_on = "none"
    condition_dim = 0  # width of the one-hot condition

    def __init__(self, config, data):
        self.config = config
        self.data = data
        self.prior = self.build_prior()
        self.train_labels = self.condition_labels()

    # -- what the scheme trains -------------------------------------------------------------

    def build_prior(self):
        raise NotImplementedError

    def condition_labels(self):
        """Per training image, the label its condition and its matching prior sample are drawn for: its digit."""
        return self.data.y_train

    def condition(self, labels):
        """One-hot rows for `labels`."""
        return np.eye(self.condition_dim, dtype=np.float32)[np.asarray(labels)]

    def build_networks(self):
        from models import build_decoder, build_discriminator, build_encoder

        c = self.config
        sizes = {"hidden_units": c.hidden_units, "hidden_layers": c.hidden_layers, "init_std": c.init_std}
        return {
            "encoder": build_encoder(c.latent_dim, seed=c.seed, **sizes),
            "decoder": build_decoder(c.latent_dim, self.condition_width("decoder"), seed=c.seed + 100, **sizes),
            "discriminator": build_discriminator(c.latent_dim, self.condition_width("discriminator"), seed=c.seed + 200, **sizes),
        }

    def condition_width(self, network):
        from models.adversarial_autoencoder import sees_condition

        return self.condition_dim if sees_condition(self.condition_on, network) else 0

    def build_phases(self):
        from models import aae_phases

        return aae_phases(self.condition_on)

    def build_optimizers(self, steps_per_epoch):
        """One optimizer per phase, named as the phase."""
        c = self.config
        return {
            "discriminator": self.adversarial_optimizer(c.discriminator_lr, c.discriminator_momentum, steps_per_epoch),
            "reconstruction": self.optimizer(c.reconstruction_optimizer, c.reconstruction_lr, c.reconstruction_momentum, steps_per_epoch),
            "generator": self.adversarial_optimizer(c.generator_lr, c.generator_momentum, steps_per_epoch),
        }

    def optimizer(self, kind, rate, momentum, steps_per_epoch, beta_1=0.9):
        """A phase's optimizer: `kind` ("sgd" or "adam") at `rate`, decayed as the config says."""
        return make_optimizer(kind, self.learning_rate(rate, steps_per_epoch), momentum, beta_1)

    def adversarial_optimizer(self, rate, momentum, steps_per_epoch):
        """An adversarial phase's optimizer: --adversarial-optimizer, with --adam-beta-1 for Adam."""
        c = self.config
        return self.optimizer(c.adversarial_optimizer, rate, momentum, steps_per_epoch, c.adam_beta_1)

    def learning_rate(self, value, steps_per_epoch):
        """`value`, falling as --lr-schedule says: a step at --lr-decay-epoch (0: a constant rate) or a half cosine.

        Each phase's optimizer counts its own steps, one per batch, so the rate is the same on the same
        batch for every phase, and a resumed run finds it where the checkpointed step count puts it.
        """
        import keras

        c = self.config
        if c.lr_schedule == "cosine":  # the step count before an update is 0, 1, ...: the last is steps - 1
            return keras.optimizers.schedules.CosineDecay(value, c.epochs * steps_per_epoch - 1, alpha=c.lr_decay)
        if not c.lr_decay_epoch:
            return value
        last_step = c.lr_decay_epoch * steps_per_epoch - 1
        return keras.optimizers.schedules.PiecewiseConstantDecay([last_step], [value, value * c.lr_decay])

    def steps_per_epoch(self):
        return len(self.data.x_train) // self.config.batch_size  # fixed-shape batches: the XLA step is compiled once

    def build_model(self):
        from models import AdversarialAutoencoder

        steps = self.steps_per_epoch()
        return AdversarialAutoencoder(self.build_networks(), self.build_phases(), self.build_optimizers(steps))

    def epoch_inputs(self, epoch):
        """Per step of epoch `epoch`, stacked: which images, their condition, the prior samples.

        Everything is drawn from a generator seeded by (seed, epoch): that is what lets --resume
        continue mid-epoch exactly where an uninterrupted run would be.
        """
        rng = np.random.default_rng([self.config.seed, epoch])
        batch, half = self.config.batch_size, self.config.batch_size // 2
        steps = self.steps_per_epoch()
        order = rng.permutation(len(self.data.x_train))[: steps * batch].reshape(steps, batch)
        labels = self.train_labels[order]
        prior = self.prior.sample(rng, steps * half, labels=labels[:, :half].reshape(-1))
        inputs = {"images_indices": order, "prior": prior.reshape(steps, half, -1)}
        if self.condition_on != "none":
            inputs["condition"] = self.condition(labels.reshape(-1)).reshape(steps, batch, -1)
        return inputs

    def describe(self):
        """What config.json records beyond the flags."""
        return {"prior": self.prior.describe()}

    # -- using a trained model ----------------------------------------------------------------

    def encode(self, model, images):
        """The encoder's output(s) for `images`: one array, or a list for an encoder with several heads."""
        return model.networks["encoder"].predict(images, batch_size=1000, verbose=0)

    def decode(self, model, codes, labels=None):
        """Images decoded from `codes` (a list for a decoder with several code inputs), given `labels` if the decoder is conditioned."""
        from models.adversarial_autoencoder import sees_condition

        inputs = list(codes) if isinstance(codes, (list, tuple)) else [codes]
        if sees_condition(self.condition_on, "decoder"):
            inputs.append(self.condition(labels))
        return model.networks["decoder"].predict(inputs if len(inputs) > 1 else inputs[0], batch_size=1000, verbose=0)

    def generate(self, model, labels, rng):
        """Images decoded from prior samples drawn for `labels` (digits; the decoder sees them if conditioned)."""
        return self.decode(model, self.prior.sample(rng, len(labels), labels=labels), labels)

    judge = None  # (classifier, its record), set by load_judge()

    def load_judge(self, full_data=None):
        """Load (or train once) the project's MNIST classifier, which reads the digits a scheme generates.

        `full_data` is the whole training file before any --limit (default: the scheme's data): the
        judge is the same model whatever subset a run trains on.
        """
        from utils.classifier import load_or_train_classifier

        data = full_data or self.data
        self.judge = load_or_train_classifier(
            np.concatenate([data.x_train, data.x_val]), np.concatenate([data.y_train, data.y_val]),
            data.x_test, data.y_test, self.config.classifier or None, self.config.classifier_epochs, self.config.seed,
        )

    @property
    def classifier(self):
        if self.judge is None:
            self.load_judge()
        return self.judge[0]

    def judge_record(self):
        """What metrics.json says of the classifier that judged the run."""
        record = self.judge[1]
        return {"classifier_test_accuracy": record["test_accuracy"], "classifier_sha256": record["weights_sha256"],
                "classifier_trained_on_images": record["trained_on_images"]}

    # -- figures and metrics ------------------------------------------------------------------

    def save_samples(self, model, epoch):
        """Figures saved every --sample-every epochs, named by epoch."""

    def save_figures(self, model, history):
        """Figures saved at the end of a run (and by --eval-only); `history` holds the epochs' rows."""

    def progress_metrics(self, model):
        """What --eval-every measures during training: the Parzen log-likelihood."""
        return {"parzen_ll": self.parzen(model)["parzen_ll"]}

    def parzen(self, model):
        """The paper's Parzen protocol on samples decoded from the prior, digits drawn uniformly."""
        from utils.parzen import parzen_evaluate

        rng = np.random.default_rng([self.config.seed, 1])
        labels = rng.integers(0, 10, self.config.parzen_samples)
        return parzen_evaluate(self.generate(model, labels, rng), self.data.x_val, self.data.x_test)

    def conditional_accuracy(self, model, per_digit=1000):
        """How often the classifier reads digit k in images generated for digit k."""
        from utils.classifier import classify

        labels = np.repeat(np.arange(10), per_digit)
        images = self.generate(model, labels, np.random.default_rng([self.config.seed, 3]))
        return float(np.mean(classify(self.classifier, images) == labels))

    def reconstruction_mse(self, model, images, labels):
        return float(np.mean((self.decode(model, self.encode(model, images), labels) - images) ** 2))

    def frechet(self, model):
        """Frechet distance between images decoded from the prior and the test images, in the MNIST
        classifier's feature space, and the same for real training images (the reference)."""
        from utils.frechet import classifier_features, image_frechet_distance

        features = classifier_features(self.classifier)
        count = self.config.parzen_samples
        rng = np.random.default_rng([self.config.seed, 4])
        generated = self.generate(model, rng.integers(0, 10, count), rng)
        return {
            "frechet_distance": image_frechet_distance(features, generated, self.data.x_test),
            "real_images_frechet_distance": image_frechet_distance(features, self.data.x_train[:count], self.data.x_test),
        }

    def evaluate(self, model):
        """Metrics of a trained model, a dict of JSON numbers; schemes add their own."""
        from utils.parzen import parzen_evaluate

        metrics = {"test_reconstruction_mse": self.reconstruction_mse(model, self.data.x_test, self.data.y_test)}
        metrics.update(self.parzen(model))
        # The same protocol on real training images: what the data itself scores.
        real = self.data.x_train[: self.config.parzen_samples]
        reference = parzen_evaluate(real, self.data.x_val, self.data.x_test)
        metrics.update({f"real_images_{key}": value for key, value in reference.items()})
        metrics.update(self.frechet(model))
        metrics.update(self.judge_record())
        return metrics
