"""The networks of the paper and the trainer that runs their phases."""

from models.adversarial_autoencoder import CONDITION_ON, AdversarialAutoencoder, Phase, aae_phases
from models.networks import (
    build_auxiliary_head,
    build_decoder,
    build_discriminator,
    build_encoder,
    build_two_headed_encoder,
)

__all__ = [
    "CONDITION_ON", "AdversarialAutoencoder", "Phase", "aae_phases",
    "build_auxiliary_head", "build_decoder", "build_discriminator", "build_encoder", "build_two_headed_encoder",
]
