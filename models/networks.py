"""Builders for the paper's encoder, decoder and discriminator: MLPs with two hidden layers of 1000 ReLU units."""

import keras
from keras import layers

IMAGE_SHAPE = (28, 28)
HIDDEN_UNITS = 1000


def _init(seed):
    # The paper initialises every weight from N(0, 0.01^2).
    return keras.initializers.RandomNormal(mean=0.0, stddev=0.01, seed=seed)


def _hidden(x, name, seed):
    for i in range(2):
        x = layers.Dense(
            HIDDEN_UNITS, activation="relu", kernel_initializer=_init(seed + i), name=f"{name}_hidden_{i + 1}"
        )(x)
    return x


def _code_inputs(latent_dim, label_dim):
    """A code input, or a code and a one-hot label input concatenated."""
    codes = keras.Input((latent_dim,), name="codes")
    if not label_dim:
        return codes, codes
    labels = keras.Input((label_dim,), name="labels")
    return [codes, labels], layers.Concatenate(name="code_and_label")([codes, labels])


def build_encoder(latent_dim, seed=0):
    """Image (28, 28) -> code (latent_dim,), linear output."""
    images = keras.Input(IMAGE_SHAPE, name="images")
    x = layers.Flatten(name="flatten")(images)
    x = _hidden(x, "encoder", seed)
    codes = layers.Dense(latent_dim, kernel_initializer=_init(seed + 2), name="code")(x)
    return keras.Model(images, codes, name="encoder")


def build_decoder(latent_dim, label_dim=0, seed=100):
    """Code (latent_dim,) [+ one-hot label (label_dim,)] -> image (28, 28) in [0, 1]."""
    inputs, x = _code_inputs(latent_dim, label_dim)
    x = _hidden(x, "decoder", seed)
    x = layers.Dense(28 * 28, activation="sigmoid", kernel_initializer=_init(seed + 2), name="pixels")(x)
    images = layers.Reshape(IMAGE_SHAPE, name="image")(x)
    return keras.Model(inputs, images, name="decoder")


def build_discriminator(latent_dim, label_dim=0, seed=200):
    """Code (latent_dim,) [+ one-hot label (label_dim,)] -> probability the code came from the prior."""
    inputs, x = _code_inputs(latent_dim, label_dim)
    x = _hidden(x, "discriminator", seed)
    real = layers.Dense(1, activation="sigmoid", kernel_initializer=_init(seed + 2), name="real")(x)
    return keras.Model(inputs, real, name="discriminator")
