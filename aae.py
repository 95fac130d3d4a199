"""Unsupervised adversarial autoencoder on MNIST: an 8-D Gaussian prior imposed on the codes.

    python aae.py                       # train with the defaults below, outputs in runs/aae/
    python aae.py --data mnist.npz      # offline: a local MNIST (.npz or IDX folder); or set MNIST_PATH
    python aae.py --resume              # continue an interrupted run (or --overwrite: start it again)
    python aae.py --eval-only           # evaluate a finished run again
"""

import dataclasses

import numpy as np

import utils.startup  # noqa: F401  (first of the project's modules: a Ctrl-C while TensorFlow loads is one line)
from utils.config import AAEConfig, option
from utils.plots import save_code_scatter, save_image_grid
from utils.priors import GaussianPrior
from utils.run import main
from utils.scheme import Scheme


@dataclasses.dataclass
class Config(AAEConfig):
    # Networks: the paper's MLPs, weights from N(0, 0.01^2).
    latent_dim: int = 8  # code size: the paper's MNIST likelihood experiment
    hidden_units: int = 1000
    hidden_layers: int = 2
    init_std: float = 0.01
    # Prior on the codes.
    prior_std: float = option(5.0, "std of the Gaussian prior N(0, std^2 I)", positive=True)
    # Training: one epoch = one pass over the 50,000 training images = 500 batches.
    epochs: int = 60
    batch_size: int = 100  # 50 encoded images + 50 prior samples for the discriminator
    # The paper's appendix schedule: SGD with momentum in every phase, every rate divided by ten at
    # epoch 50. It reaches Parzen 300 by epoch 10, where the source post's optimizers (SGD 0.01 for both
    # adversarial phases, Adam 0.001 for reconstruction; the previous default) ended at 293 after 80
    # epochs. The README lists the trials.
    adversarial_optimizer: str = "sgd"
    adam_beta_1: float = 0.5  # used only with adversarial_optimizer "adam"
    discriminator_lr: float = 0.1
    discriminator_momentum: float = 0.1
    generator_lr: float = 0.1
    generator_momentum: float = 0.1
    reconstruction_optimizer: str = "sgd"
    # The appendix's 0.01 is for the pixel-summed half squared error; this loss is the mean squared
    # error over 784 pixels, whose gradient is 392 times smaller: 0.01 x 392.
    reconstruction_lr: float = 3.92
    reconstruction_momentum: float = 0.9
    lr_decay_epoch: int = 50  # 0: constant rates
    lr_decay: float = 0.1
    lr_schedule: str = "step"


class UnsupervisedAAE(Scheme):
    """Unsupervised adversarial autoencoder (Makhzani et al. 2015, section 2) on MNIST."""

    name = "aae"

    def build_prior(self):
        return GaussianPrior(self.config.latent_dim, self.config.prior_std)

    def save_samples(self, model, epoch):
        # The same 100 prior samples at every epoch, so the grids show the decoder's progress.
        codes = self.prior.sample(np.random.default_rng([self.config.seed, 2]), 100)
        save_image_grid(
            self.decode(model, codes), 10, 10, f"{self.config.out}/samples_epoch_{epoch:03d}.png",
            title=f"decoded prior samples, epoch {epoch}",
        )

    def save_figures(self, model, history):
        out, test = self.config.out, self.data.x_test
        originals = test[:50].reshape(5, 10, 28, 28)
        reconstructions = self.decode(model, self.encode(model, test[:50])).reshape(5, 10, 28, 28)
        pairs = np.stack([originals, reconstructions], axis=1).reshape(100, 28, 28)
        save_image_grid(pairs, 10, 10, f"{out}/reconstructions.png", title="test images (odd rows) and reconstructions")
        save_code_scatter(
            self.encode(model, test), self.data.y_test, f"{out}/latent_test_codes.png",
            title="test codes, first two of the code's dimensions",
            background=self.prior.sample(np.random.default_rng(0), 5000),
        )

    def evaluate(self, model):
        from utils.metrics import knn_accuracy

        # How much of the digit the code keeps: a 5-NN vote of the validation codes labels each test code.
        knn = knn_accuracy(self.encode(model, self.data.x_val), self.data.y_val, self.encode(model, self.data.x_test), self.data.y_test)
        return {**super().evaluate(model), "code_knn_digit_accuracy": knn}


if __name__ == "__main__":
    main(UnsupervisedAAE, Config)
