"""Numbers on codes: how much digit identity a k-nearest-neighbour classifier reads from them, and
their principal plane for drawing them."""

import numpy as np
import tensorflow as tf


def knn_accuracy(reference, reference_labels, queries, query_labels, k=5, chunk=1000):
    """Accuracy of a k-nearest-neighbour vote (Euclidean) that labels `queries` from `reference`.

    Distances come from one matmul per chunk of queries; ties in the vote go to the smaller label.
    With fewer than k reference points, all of them vote.
    """
    k = min(k, len(reference))
    reference = tf.constant(np.asarray(reference, np.float32))
    reference_sq = tf.reduce_sum(tf.square(reference), axis=1)
    reference_labels = np.asarray(reference_labels)
    correct = 0
    for start in range(0, len(queries), chunk):
        block = tf.constant(np.asarray(queries[start : start + chunk], np.float32))
        distances = reference_sq[None, :] - 2.0 * tf.matmul(block, reference, transpose_b=True)
        nearest = tf.math.top_k(-distances, k=k).indices.numpy()
        votes = reference_labels[nearest]
        counts = np.apply_along_axis(np.bincount, 1, votes, minlength=reference_labels.max() + 1)
        correct += int(np.sum(np.argmax(counts, axis=1) == np.asarray(query_labels[start : start + chunk])))
    return correct / len(queries)


def principal_plane(points):
    """The mean of `points` (N, n) and its two principal directions (2, n), the largest variance first:
    `(x - mean) @ directions.T` draws n-D points in the plane where they spread most."""
    points = np.asarray(points, np.float64)
    mean = points.mean(axis=0)
    _, _, directions = np.linalg.svd(points - mean, full_matrices=False)
    return mean, directions[:2]
