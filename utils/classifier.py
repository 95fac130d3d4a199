"""A small MNIST CNN that judges generated digits; trained once on the full training file, then loaded from a cache file.

Beside the cache file, a record (`<file>.json`) says what it was trained on (a fingerprint of the
images and labels), for how many epochs, and its test accuracy. A cached classifier is used only
if it was trained on the run's training file and reaches ACCURACY_FLOOR: every run on one machine
is judged by the same model, whatever its --limit.
"""

import hashlib
import json
import os

import keras
import numpy as np
from keras import layers

from utils.config import UserError

ACCURACY_FLOOR = 0.985  # a full-data classifier scores about 0.99; one trained on a few thousand images about 0.94


class ClassifierError(UserError):
    """The classifier file cannot be used."""


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


def record_path(path):
    return os.path.splitext(path)[0] + ".json"


def training_fingerprint(images, labels):
    """SHA-256 of the images and labels a classifier is trained on."""
    digest = hashlib.sha256()
    for array in (images, labels):
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str} {array.shape};".encode())
        digest.update(array)
    return digest.hexdigest()


def weights_fingerprint(classifier):
    """SHA-256 of a classifier's weights: which model judged a run."""
    digest = hashlib.sha256()
    for weight in classifier.weights:
        digest.update(np.ascontiguousarray(np.asarray(weight)))
    return digest.hexdigest()


def _read_record(path):
    try:
        with open(record_path(path)) as stream:
            record = json.load(stream)
        return record if isinstance(record, dict) else {}
    except (OSError, ValueError):
        return {}


def _problem(path, record, trained_on, classifier):
    """Why the cached classifier at `path` cannot judge this run, or None."""
    if record and record.get("weights_sha256") != weights_fingerprint(classifier):
        return f"its record {record_path(path)} is of another model"
    if record.get("trained_on_sha256") != trained_on:
        return "it was not trained on this run's training images" if record else f"no record of what it was trained on ({record_path(path)})"
    accuracy = record.get("test_accuracy")
    if not isinstance(accuracy, float) or accuracy < ACCURACY_FLOOR:
        return f"its test accuracy {accuracy} is below {ACCURACY_FLOOR}"
    return None


def load_or_train_classifier(images, labels, test_images, test_labels, path=None, epochs=6, seed=0):
    """The judge of generated digits: the classifier cached at `path` (None: the default cache file)
    if it was trained on `images` (the whole training file, before any --limit) and reaches the
    floor; else one trained on them now.

    A default cache file that does not qualify is replaced; a file the user named is refused in one
    line (it is theirs, not the project's to overwrite). Returns (classifier, its record).
    """
    default = not path
    path = path or default_classifier_path()
    trained_on = training_fingerprint(images, labels)
    if os.path.exists(path):
        try:
            classifier = keras.models.load_model(path)
        except Exception as error:  # Keras raises many kinds for a bad archive
            if not default:
                raise ClassifierError(f"{path}: unreadable classifier ({type(error).__name__}); pass another --classifier") from None
            classifier, problem = None, f"unreadable ({type(error).__name__})"
        else:
            problem = _problem(path, _read_record(path), trained_on, classifier)
        if problem is None:
            return classifier, _read_record(path)
        if not default:
            raise ClassifierError(f"{path}: {problem}; pass another --classifier (a new one is trained there if it does not exist)")
        print(f"the cached MNIST classifier {path} is not used: {problem}")
    if os.path.isdir(path):
        raise ClassifierError(f"{path}: a folder, not a classifier file")
    print(f"training the MNIST classifier ({epochs} epochs on {len(images)} images), cached at {path}")
    classifier = build_classifier(seed)
    classifier.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    classifier.fit(images, labels, batch_size=128, epochs=epochs, verbose=2, shuffle=True)
    record = {
        "trained_on_sha256": trained_on, "trained_on_images": len(images), "epochs": epochs,
        "test_accuracy": float(np.mean(classify(classifier, test_images) == test_labels)),
        "weights_sha256": weights_fingerprint(classifier),
    }
    if record["test_accuracy"] < ACCURACY_FLOOR:
        # Not kept: a cache would make every later run on the machine judged by it.
        print(f"warning: the MNIST classifier reaches only {record['test_accuracy']:.4f} test accuracy (floor {ACCURACY_FLOOR}): "
              "it judges this run only (metrics.json records its accuracy) and is not cached; raise --classifier-epochs")
        return classifier, record
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    # Named by process: two runs that train the cache at once do not write into each other's files.
    temporary, record_temporary = f"{path}.{os.getpid()}.partial.keras", f"{record_path(path)}.{os.getpid()}.partial"
    classifier.save(temporary)
    with open(record_temporary, "w") as stream:
        json.dump(record, stream, indent=2)
    # The record goes last: a file without its record (a kill between the two) is retrained, never trusted.
    os.replace(temporary, path)
    os.replace(record_temporary, record_path(path))
    return classifier, record


def classify(classifier, images):
    return np.argmax(classifier.predict(images, batch_size=1000, verbose=0), axis=1)
