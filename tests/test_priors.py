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


def test_mixture_components_have_the_stated_means_and_covariances():
    prior = GaussianMixturePrior(radius=10.0, radial_variance=8.0, tangential_variance=0.4)
    rng = np.random.default_rng(0)
    for k in (0, 3, 7):
        samples = prior.sample(rng, 50_000, labels=np.full(50_000, k)).astype(np.float64)
        angle = 2 * np.pi * k / 10
        direction = np.array([np.cos(angle), np.sin(angle)])
        np.testing.assert_allclose(samples.mean(0), 10 * direction, atol=0.05)
        normal = np.array([-direction[1], direction[0]])
        expected = 8.0 * np.outer(direction, direction) + 0.4 * np.outer(normal, normal)
        np.testing.assert_allclose(np.cov(samples.T), expected, atol=0.1)


def test_mixture_log_density_is_the_gaussian_density():
    prior = GaussianMixturePrior()
    point = np.array([[3.0, -4.0]])
    k = 6
    diff = point[0] - prior.means[k]
    cov = prior.covariances[k]
    expected = -0.5 * diff @ np.linalg.solve(cov, diff) - 0.5 * np.log(np.linalg.det(2 * np.pi * cov))
    np.testing.assert_allclose(prior.log_density(point)[0, k], expected, rtol=1e-10)


def test_unlabeled_samples_cover_every_component():
    prior = GaussianMixturePrior()
    samples = prior.sample(np.random.default_rng(1), 20_000, labels=np.full(20_000, 10))
    counts = np.bincount(prior.classify(samples), minlength=10)
    assert counts.min() > 1500  # about 2,000 each


def test_labeled_samples_land_in_their_own_component():
    prior = GaussianMixturePrior()
    labels = np.repeat(np.arange(10), 1000)
    assert np.mean(prior.classify(prior.sample(np.random.default_rng(2), len(labels), labels)) == labels) > 0.97


def test_swiss_roll_segment_per_label():
    prior = SwissRollPrior(noise=0.0)
    labels = np.repeat(np.arange(10), 500)
    samples = prior.sample(np.random.default_rng(3), len(labels), labels)
    radii = np.linalg.norm(samples, axis=1)
    for k in range(10):
        # Segment k spans u in [k/10, (k+1)/10), so radius 10*sqrt(u) in that range.
        assert radii[labels == k].min() >= 10 * np.sqrt(k / 10) - 1e-4
        assert radii[labels == k].max() <= 10 * np.sqrt((k + 1) / 10) + 1e-4
    assert np.mean(prior.classify(samples) == labels) > 0.99
    unlabeled = prior.sample(np.random.default_rng(4), 10_000)
    assert np.bincount(prior.classify(unlabeled), minlength=10).min() > 800
