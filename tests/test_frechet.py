"""The Frechet distance against values computed by hand."""

import numpy as np
import pytest

from utils.frechet import frechet_distance, statistics


def test_identical_sets_are_at_distance_zero():
    features = np.random.default_rng(0).normal(size=(500, 6))
    assert frechet_distance(*statistics(features), *statistics(features)) == pytest.approx(0, abs=1e-8)


def test_shifted_gaussians_same_covariance_give_the_squared_shift():
    cov = np.array([[2.0, 0.3], [0.3, 1.0]])
    assert frechet_distance([0, 0], cov, [3, 4], cov) == pytest.approx(25)


def test_diagonal_covariances_give_the_closed_form():
    # For commuting covariances: |m1 - m2|^2 + sum (sqrt(a_i) - sqrt(b_i))^2.
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 16.0])
    expected = 1.0 + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()
    assert frechet_distance([1, 0, 0], np.diag(a), [0, 0, 0], np.diag(b)) == pytest.approx(expected)


def test_one_dimensional_gaussians():
    # (m1 - m2)^2 + (s1 - s2)^2
    assert frechet_distance([2.0], [[9.0]], [-1.0], [[1.0]]) == pytest.approx(9 + 4)


def test_non_commuting_covariances_match_a_direct_matrix_square_root():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(4, 4)), rng.normal(size=(4, 4))
    cov_a, cov_b = x @ x.T + np.eye(4), y @ y.T + np.eye(4)
    values, vectors = np.linalg.eig(cov_a @ cov_b)  # real positive eigenvalues: a product of SPD matrices
    expected = np.trace(cov_a) + np.trace(cov_b) - 2 * np.sqrt(values.real).sum()
    assert frechet_distance(np.zeros(4), cov_a, np.zeros(4), cov_b) == pytest.approx(expected, rel=1e-9)
