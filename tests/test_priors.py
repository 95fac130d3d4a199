import numpy as np

from utils.priors import GaussianMixturePrior, GaussianPrior, SwissRollPrior


def test_gaussian_prior_mean_and_std():
    samples = GaussianPrior(8, std=5.0).sample(np.random.default_rng(0), 200_000)
    assert samples.shape == (200_000, 8) and samples.dtype == np.float32
    np.testing.assert_allclose(samples.mean(0), 0.0, atol=0.05)
    np.testing.assert_allclose(samples.std(0), 5.0, rtol=0.01)
    np.testing.assert_allclose(np.cov(samples.T), 25 * np.eye(8), atol=0.3)


def test_gaussian_prior_ignores_labels_and_is_seeded():
    prior = GaussianPrior(3)
    a = prior.sample(np.random.default_rng(4), 10, labels=np.arange(10))
    b = prior.sample(np.random.default_rng(4), 10)
    np.testing.assert_array_equal(a, b)
