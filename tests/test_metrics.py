"""The k-nearest-neighbour accuracy on hand-made codes."""

import numpy as np
import pytest

from utils.metrics import knn_accuracy, principal_plane


def test_knn_reads_separated_clusters_and_nothing_from_noise():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 2000)
    centres = 10 * rng.normal(size=(10, 3))
    codes = centres[labels] + rng.normal(size=(2000, 3))
    assert knn_accuracy(codes[:1500], labels[:1500], codes[1500:], labels[1500:], chunk=128) > 0.99
    noise = rng.normal(size=(2000, 3))  # codes that carry no label: chance, about 10%
    assert abs(knn_accuracy(noise[:1500], labels[:1500], noise[1500:], labels[1500:]) - 0.1) < 0.05


def test_knn_vote_by_hand():
    reference = np.array([[0.0], [1.0], [2.0], [10.0], [11.0]])
    labels = np.array([3, 3, 7, 7, 7])
    # Query 0.4: nearest three are 0, 1, 2 -> labels 3, 3, 7 -> 3. Query 10.4: 10, 11, 2 -> 7.
    assert knn_accuracy(reference, labels, np.array([[0.4], [10.4]]), np.array([3, 7]), k=3) == 1.0
    assert knn_accuracy(reference, labels, np.array([[0.4], [10.4]]), np.array([7, 7]), k=3) == 0.5


def test_knn_with_fewer_reference_points_than_k_lets_all_of_them_vote():
    reference, labels = np.array([[0.0], [1.0], [10.0]]), np.array([3, 3, 7])
    assert knn_accuracy(reference, labels, np.array([[9.0], [0.5]]), np.array([3, 3]), k=5) == 1.0


def test_principal_plane_finds_the_two_directions_of_largest_spread_in_order():
    rng = np.random.default_rng(0)
    # Spread 10 along axis 3, 3 along axis 0, 0.1 along the others, around a mean of 5.
    points = 5 + rng.normal(size=(4000, 6)) * np.array([3, 0.1, 0.1, 10, 0.1, 0.1])
    mean, directions = principal_plane(points)
    assert np.allclose(mean, 5, atol=0.5)
    assert np.allclose(np.abs(directions), np.eye(6)[[3, 0]], atol=0.02)
    drawn = (points - mean) @ directions.T
    assert drawn.std(axis=0) == pytest.approx([10, 3], rel=0.05)
