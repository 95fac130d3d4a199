"""Frechet distance between two sets of images in the feature space of the project's MNIST classifier (the FID idea, for MNIST)."""

import keras
import numpy as np


def frechet_distance(mean_a, cov_a, mean_b, cov_b):
    """|m_a - m_b|^2 + tr(C_a + C_b - 2 (C_a^1/2 C_b C_a^1/2)^1/2), from symmetric eigendecompositions.

    tr((C_a C_b)^1/2) equals tr((C_a^1/2 C_b C_a^1/2)^1/2), whose argument is symmetric and positive
    semi-definite, so both roots come from eigh and stay real.
    """
    values, vectors = np.linalg.eigh(np.asarray(cov_a, np.float64))
    root_a = (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T
    middle = root_a @ np.asarray(cov_b, np.float64) @ root_a
    trace_root = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()
    difference = np.asarray(mean_a, np.float64) - np.asarray(mean_b, np.float64)
    return float(difference @ difference + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_root)


def statistics(features):
    features = np.asarray(features, np.float64)
    return features.mean(axis=0), np.cov(features, rowvar=False)


def classifier_features(classifier):
    """The classifier up to its last hidden layer (256 ReLU units): the feature space of the distance."""
    return keras.Model(classifier.inputs, classifier.layers[-3].output, name="mnist_features")


def image_frechet_distance(features_model, images_a, images_b):
    """Frechet distance between two image sets, (n, 28, 28) in [0, 1], in `features_model`'s space."""
    a = features_model.predict(images_a, batch_size=1000, verbose=0)
    b = features_model.predict(images_b, batch_size=1000, verbose=0)
    return frechet_distance(*statistics(a), *statistics(b))
