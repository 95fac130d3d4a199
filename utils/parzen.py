"""Gaussian Parzen-window log-likelihood, the evaluation of the GAN and AAE papers."""

import math

import numpy as np
import tensorflow as tf

# Log-spaced widths around the ones that win on MNIST pixels in [0, 1] (about 0.15-0.25).
DEFAULT_SIGMAS = tuple(float(s) for s in np.logspace(np.log10(0.05), np.log10(0.5), 25))


def parzen_log_likelihood(samples, points, sigmas, chunk=200):
    """Mean Parzen log-likelihood of `points` under a Gaussian window on `samples`, per sigma.

    log p(x) = logsumexp_i(-|x - s_i|^2 / (2 sigma^2)) - log N - D/2 log(2 pi sigma^2).
    Squared distances come from one matmul per chunk of points; the sum over samples is shifted
    by each point's nearest sample and accumulated in float64.

    Returns an array (len(sigmas), len(points)) of per-point log-likelihoods.
    """
    samples = tf.convert_to_tensor(np.reshape(samples, (len(samples), -1)), tf.float32)
    points = np.reshape(points, (len(points), -1)).astype(np.float32)
    sigmas = np.asarray(sigmas, np.float64)
    inverse_two_var = tf.constant(1.0 / (2.0 * sigmas**2), tf.float32)
    samples_sq = tf.reduce_sum(tf.square(samples), axis=1)
    pieces = [
        _chunk_logsumexp(tf.constant(points[start : start + chunk]), samples, samples_sq, inverse_two_var)
        for start in range(0, len(points), chunk)
    ]
    lse = np.concatenate([piece.numpy() for piece in pieces], axis=1)
    dims = samples.shape[1]
    norm = math.log(len(samples)) + 0.5 * dims * np.log(2 * np.pi * sigmas**2)
    return lse - norm[:, None]


@tf.function(reduce_retracing=True)
def _chunk_logsumexp(points, samples, samples_sq, inverse_two_var):
    points_sq = tf.reduce_sum(tf.square(points), axis=1)
    sq_dist = points_sq[:, None] + samples_sq[None, :] - 2.0 * tf.matmul(points, samples, transpose_b=True)
    sq_dist = tf.maximum(sq_dist, 0.0)
    nearest = tf.reduce_min(sq_dist, axis=1)
    shifted = (sq_dist - nearest[:, None])[None] * inverse_two_var[:, None, None]
    total = tf.reduce_sum(tf.cast(tf.exp(-shifted), tf.float64), axis=2)
    scale = tf.cast(inverse_two_var, tf.float64)[:, None] * tf.cast(nearest, tf.float64)[None, :]
    return tf.math.log(total) - scale


def parzen_evaluate(samples, validation, test, sigmas=DEFAULT_SIGMAS):
    """The paper's protocol: pick sigma on the validation images, report the test mean and its SE."""
    validation_ll = parzen_log_likelihood(samples, validation, sigmas).mean(axis=1)
    best = int(np.argmax(validation_ll))
    sigma = float(sigmas[best])
    test_ll = parzen_log_likelihood(samples, test, [sigma])[0]
    return {
        "parzen_ll": float(test_ll.mean()),
        "parzen_se": float(test_ll.std(ddof=1) / math.sqrt(len(test_ll))),
        "parzen_sigma": sigma,
        "parzen_validation_ll": float(validation_ll[best]),
        "parzen_sigma_at_grid_edge": best in (0, len(sigmas) - 1),
    }
