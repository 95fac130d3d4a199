"""Builders for the paper's networks: MLPs of ReLU layers (two of 1000 units in the paper), weights from N(0, 0.01^2).

Every size comes from the caller (the script's Config block): a builder has no default to drift from it.
"""

import keras
from keras import layers

IMAGE_SHAPE = (28, 28)


def _init(std, seed):
    return keras.initializers.RandomNormal(mean=0.0, stddev=std, seed=seed)


def _hidden(x, name, units, count, init_std, seed, batch_norm=False):
    for i in range(count):
        layer = f"{name}_hidden_{i + 1}"
        if batch_norm:  # normalise the pre-activations, then the ReLU
            x = layers.Dense(units, kernel_initializer=_init(init_std, seed + i), name=layer)(x)
            x = layers.Activation("relu", name=f"{layer}_relu")(layers.BatchNormalization(name=f"{layer}_norm")(x))
        else:
            x = layers.Dense(units, activation="relu", kernel_initializer=_init(init_std, seed + i), name=layer)(x)
    return x


def _inputs(widths):
    """One input per (name, width), concatenated when there are several."""
    inputs = [keras.Input((width,), name=name) for name, width in widths if width]
    if len(inputs) == 1:
        return inputs[0], inputs[0]
    return inputs, layers.Concatenate(name="_and_".join(t.name for t in inputs))(inputs)


def build_encoder(latent_dim, *, hidden_units, hidden_layers, init_std, seed, name="encoder"):
    """Image (28, 28) -> code (latent_dim,), linear output."""
    images = keras.Input(IMAGE_SHAPE, name="images")
    x = layers.Flatten(name="flatten")(images)
    x = _hidden(x, name, hidden_units, hidden_layers, init_std, seed)
    codes = layers.Dense(latent_dim, kernel_initializer=_init(init_std, seed + hidden_layers), name="code")(x)
    return keras.Model(images, codes, name=name)


def build_two_headed_encoder(classes, latent_dim, *, hidden_units, hidden_layers, init_std, seed, batch_norm, class_norm=True,
                             name="encoder"):
    """Image (28, 28) -> [q(y|x) (classes,), softmax; style z (latent_dim,), linear], both heads on the same hidden layers.

    With `batch_norm`, every layer's pre-activations are batch-normalised, the heads' included (the
    paper's appendix for its clustering model); without `class_norm`, all but y's logits (IMSAT's encoder).
    """
    images = keras.Input(IMAGE_SHAPE, name="images")
    x = layers.Flatten(name="flatten")(images)
    x = _hidden(x, name, hidden_units, hidden_layers, init_std, seed, batch_norm)
    y = layers.Dense(classes, kernel_initializer=_init(init_std, seed + hidden_layers), name="class")(x)
    z = layers.Dense(latent_dim, kernel_initializer=_init(init_std, seed + hidden_layers + 1), name="style")(x)
    if batch_norm and class_norm:
        y = layers.BatchNormalization(name="class_norm")(y)
    if batch_norm:
        z = layers.BatchNormalization(name="style_norm")(z)
    y = layers.Softmax(name="class_probabilities")(y)
    return keras.Model(images, [y, z], name=name)


def two_headed_encoder_pass(encoder, images, perturb_hidden, training=True, features=False):
    """`encoder(images, training=training)` of a `build_two_headed_encoder` network, layer by layer, with
    `perturb_hidden(x, i)` applied to the output of its i-th hidden layer (i from 0; after the ReLU).
    With `features`, (y, z, the last hidden layer's output) from the same pass."""
    names = {layer.name for layer in encoder.layers}
    x = encoder.get_layer("flatten")(images)
    i = 0
    while f"{encoder.name}_hidden_{i + 1}" in names:  # (AutoGraph, which traces the step, cannot read an assignment expression)
        name = f"{encoder.name}_hidden_{i + 1}"
        x = encoder.get_layer(name)(x)
        if f"{name}_norm" in names:
            x = encoder.get_layer(f"{name}_relu")(encoder.get_layer(f"{name}_norm")(x, training=training))
        x = perturb_hidden(x, i)
        i += 1
    y, z = encoder.get_layer("class")(x), encoder.get_layer("style")(x)
    if "class_norm" in names:
        y = encoder.get_layer("class_norm")(y, training=training)
    if "style_norm" in names:
        z = encoder.get_layer("style_norm")(z, training=training)
    y = encoder.get_layer("class_probabilities")(y)
    return (y, z, x) if features else (y, z)


def build_auxiliary_head(classes, hidden_units, *, init_std, seed, batch_norm, name="auxiliary_head"):
    """A second categorical head on a two-headed encoder's last hidden layer: features (hidden_units,) ->
    softmax (classes,), batch-normalised as the encoder's heads are with `batch_norm`."""
    features = keras.Input((hidden_units,), name="features")
    logits = layers.Dense(classes, kernel_initializer=_init(init_std, seed), name=f"{name}_logits")(features)
    if batch_norm:
        logits = layers.BatchNormalization(name=f"{name}_norm")(logits)
    return keras.Model(features, layers.Softmax(name=f"{name}_probabilities")(logits), name=name)


def build_decoder(latent_dim, label_dim=0, *, hidden_units, hidden_layers, init_std, seed, name="decoder", label_first=False):
    """Code (latent_dim,) [+ one-hot label (label_dim,)] -> image (28, 28) in [0, 1].

    With `label_first` the inputs are [label, code] (the paper's p(x | y, z)), else [code, label].
    """
    widths = [("codes", latent_dim), ("labels", label_dim)]
    inputs, x = _inputs(widths[::-1] if label_first else widths)
    x = _hidden(x, name, hidden_units, hidden_layers, init_std, seed)
    x = layers.Dense(28 * 28, activation="sigmoid", kernel_initializer=_init(init_std, seed + hidden_layers), name="pixels")(x)
    return keras.Model(inputs, layers.Reshape(IMAGE_SHAPE, name="image")(x), name=name)


def build_discriminator(latent_dim, label_dim=0, *, hidden_units, hidden_layers, init_std, seed, name="discriminator"):
    """Code (latent_dim,) [+ one-hot label (label_dim,)] -> probability that the code came from the prior."""
    inputs, x = _inputs([("codes", latent_dim), ("labels", label_dim)])
    x = _hidden(x, name, hidden_units, hidden_layers, init_std, seed)
    real = layers.Dense(1, activation="sigmoid", kernel_initializer=_init(init_std, seed + hidden_layers), name="real")(x)
    return keras.Model(inputs, real, name=name)
