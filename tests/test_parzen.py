import math

import numpy as np

from utils.parzen import parzen_evaluate, parzen_log_likelihood


def brute_force(samples, points, sigma):
    """Direct formula, one point at a time, in float64."""
    samples = samples.reshape(len(samples), -1).astype(np.float64)
    result = []
    for x in points.reshape(len(points), -1).astype(np.float64):
        exponents = -((samples - x) ** 2).sum(1) / (2 * sigma**2)
        top = exponents.max()
        lse = top + math.log(np.exp(exponents - top).sum())
        result.append(lse - math.log(len(samples)) - samples.shape[1] / 2 * math.log(2 * math.pi * sigma**2))
    return np.array(result)


def test_matches_brute_force_on_tiny_arrays():
    rng = np.random.default_rng(0)
    samples = rng.uniform(0, 1, (37, 6, 5)).astype(np.float32)
    points = rng.uniform(0, 1, (23, 6, 5)).astype(np.float32)
    sigmas = [0.1, 0.2, 0.5]
    fast = parzen_log_likelihood(samples, points, sigmas, chunk=7)
    for i, sigma in enumerate(sigmas):
        np.testing.assert_allclose(fast[i], brute_force(samples, points, sigma), rtol=1e-4, atol=1e-3)


def test_far_points_do_not_underflow():
    # exp(-d^2 / 2 sigma^2) underflows for every sample; the shifted sum must not.
    samples = np.zeros((5, 10), np.float32)
    points = np.full((2, 10), 3.0, np.float32)
    fast = parzen_log_likelihood(samples, points, [0.05])[0]
    np.testing.assert_allclose(fast, brute_force(samples, points, 0.05), rtol=1e-6)
    assert np.all(np.isfinite(fast))


def test_protocol_picks_sigma_on_validation_and_reports_test():
    rng = np.random.default_rng(1)
    samples = rng.normal(0, 0.3, (200, 4)).astype(np.float32)
    validation = rng.normal(0, 0.3, (100, 4)).astype(np.float32)
    test = rng.normal(0, 0.3, (100, 4)).astype(np.float32)
    sigmas = [0.01, 0.05, 0.1, 0.2, 0.4, 1.0, 3.0]
    result = parzen_evaluate(samples, validation, test, sigmas)
    per_sigma = [brute_force(samples, validation, s).mean() for s in sigmas]
    assert result["parzen_sigma"] == sigmas[int(np.argmax(per_sigma))]
    expected = brute_force(samples, test, result["parzen_sigma"])
    assert abs(result["parzen_ll"] - expected.mean()) < 1e-3
    assert abs(result["parzen_se"] - expected.std(ddof=1) / 10) < 1e-3
