"""The networks of the paper and the adversarial autoencoder that trains them."""

from models.adversarial_autoencoder import LOSS_NAMES, AdversarialAutoencoder
from models.networks import build_decoder, build_discriminator, build_encoder

__all__ = ["LOSS_NAMES", "AdversarialAutoencoder", "build_decoder", "build_discriminator", "build_encoder"]
