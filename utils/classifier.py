"""A small MNIST CNN that judges generated digits; trained once, then loaded from a cache file."""

import os

import keras
import numpy as np
from keras import layers

from utils.config import UserError


class ClassifierError(UserError):
    """The cached classifier cannot be read."""


def default_classifier_path():
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "adversarial-autoencoders", "mnist_classifier.keras")


def build_classifier(seed=0):
    """Two 5x5 convolutions with max-pooling, a dense layer, dropout: about 99.2% on MNIST."""
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((28, 28)),
            layers.Reshape((28, 28, 1)),
            layers.Conv2D(32, 5, activation="relu", padding="same"),
            layers.MaxPooling2D(),
            layers.Conv2D(64, 5, activation="relu", padding="same"),
            layers.MaxPooling2D(),
            layers.Flatten(),
            layers.Dense(256, activation="relu"),
            layers.Dropout(0.4),
            layers.Dense(10, activation="softmax"),
        ],
        name="mnist_classifier",
    )


def load_or_train_classifier(data, path, epochs, seed=0):
    """The classifier cached at `path` (None: the default cache file), trained for `epochs` on `data`
    (train + validation images) if absent.

    Returns (classifier, its accuracy on the test images).
    """
    path = path or default_classifier_path()
    if os.path.exists(path):
        try:
            classifier = keras.models.load_model(path)
        except Exception as error:  # Keras raises many kinds for a bad archive
            raise ClassifierError(
                f"{path}: unreadable classifier ({type(error).__name__}); delete it to train a new one"
            ) from None
    else:
        print(f"training the MNIST classifier once ({epochs} epochs), cached at {path}")
        classifier = build_classifier(seed)
        classifier.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
        images = np.concatenate([data.x_train, data.x_val])
        labels = np.concatenate([data.y_train, data.y_val])
        classifier.fit(images, labels, batch_size=128, epochs=epochs, verbose=2, shuffle=True)
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        temporary = path + ".partial.keras"
        classifier.save(temporary)
        os.replace(temporary, path)
    return classifier, float(np.mean(classify(classifier, data.x_test) == data.y_test))


def classify(classifier, images):
    return np.argmax(classifier.predict(images, batch_size=1000, verbose=0), axis=1)
