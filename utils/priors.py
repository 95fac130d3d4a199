"""Priors the discriminator compares the codes with, sampled on the host with a seeded generator."""

import numpy as np


class GaussianPrior:
    """Isotropic Gaussian N(0, std^2 I); labels, if given, are ignored."""

    def __init__(self, latent_dim, std=5.0):
        self.latent_dim = int(latent_dim)
        self.std = float(std)

    def sample(self, rng, count, labels=None):
        return (self.std * rng.standard_normal((count, self.latent_dim))).astype(np.float32)

    def describe(self):
        return {"name": "gaussian", "std": self.std}


class GaussianMixturePrior:
    """Ten 2-D Gaussians arranged like petals: component k at angle 2*pi*k/K.

    Each component is stretched along its radius (`radial_variance`) and thin across it
    (`tangential_variance`). Label k draws from component k; label K (unlabeled) from the
    whole mixture, each component with probability 1/K.
    """

    latent_dim = 2

    def __init__(self, num_components=10, radius=10.0, radial_variance=8.0, tangential_variance=0.4):
        self.num_components = int(num_components)
        self.radius = float(radius)
        self.radial_variance = float(radial_variance)
        self.tangential_variance = float(tangential_variance)
        angles = 2 * np.pi * np.arange(self.num_components) / self.num_components
        self.directions = np.stack([np.cos(angles), np.sin(angles)], axis=1)
        self.means = self.radius * self.directions
        # Covariance of component k: R_k diag(radial, tangential) R_k^T.
        normals = np.stack([-self.directions[:, 1], self.directions[:, 0]], axis=1)
        self.covariances = (
            self.radial_variance * self.directions[:, :, None] * self.directions[:, None, :]
            + self.tangential_variance * normals[:, :, None] * normals[:, None, :]
        )
        self._normals = normals

    def components_for(self, rng, labels):
        """Component per sample: the label itself, or a uniform draw for the unlabeled slot."""
        labels = np.asarray(labels)
        random = rng.integers(0, self.num_components, size=labels.shape)
        return np.where(labels >= self.num_components, random, labels)

    def sample(self, rng, count, labels=None):
        if labels is None:
            labels = np.full(count, self.num_components)
        components = self.components_for(rng, labels)
        radial = np.sqrt(self.radial_variance) * rng.standard_normal(count)
        tangential = np.sqrt(self.tangential_variance) * rng.standard_normal(count)
        codes = (
            self.means[components]
            + radial[:, None] * self.directions[components]
            + tangential[:, None] * self._normals[components]
        )
        return codes.astype(np.float32)

    def log_density(self, codes):
        """Per-component Gaussian log-density of each code, shape (n, K)."""
        diff = np.asarray(codes, np.float64)[:, None, :] - self.means[None]
        radial = np.einsum("nkd,kd->nk", diff, self.directions)
        tangential = np.einsum("nkd,kd->nk", diff, self._normals)
        return -0.5 * (
            radial**2 / self.radial_variance
            + tangential**2 / self.tangential_variance
            + np.log(4 * np.pi**2 * self.radial_variance * self.tangential_variance)
        )

    def classify(self, codes):
        """Most likely component of each code."""
        return np.argmax(self.log_density(codes), axis=1)

    def describe(self):
        return {
            "name": "gaussian_mixture",
            "num_components": self.num_components,
            "radius": self.radius,
            "radial_variance": self.radial_variance,
            "tangential_variance": self.tangential_variance,
        }


class SwissRollPrior:
    """A 2-D swiss roll cut into K segments of equal parameter length, one per digit.

    A point at roll parameter u in [0, 1) sits at radius `radius * sqrt(u)` and angle
    `turns * 2*pi * sqrt(u)`; label k draws u uniformly from [k/K, (k+1)/K), the unlabeled slot
    from [0, 1). Gaussian noise of std `noise` gives the roll some width.
    """

    latent_dim = 2

    def __init__(self, num_components=10, radius=10.0, turns=2.0, noise=0.3):
        self.num_components = int(num_components)
        self.radius = float(radius)
        self.turns = float(turns)
        self.noise = float(noise)
        # A dense sampling of each segment's centre line, for classify().
        u = (np.arange(self.num_components * 200) + 0.5) / (self.num_components * 200)
        self._curve = self._roll(u)
        self._curve_segment = np.minimum((u * self.num_components).astype(int), self.num_components - 1)

    def _roll(self, u):
        r = self.radius * np.sqrt(u)
        angle = self.turns * 2 * np.pi * np.sqrt(u)
        return np.stack([r * np.cos(angle), r * np.sin(angle)], axis=1)

    def sample(self, rng, count, labels=None):
        if labels is None:
            labels = np.full(count, self.num_components)
        labels = np.asarray(labels)
        offset = rng.uniform(0.0, 1.0, size=count)
        u = np.where(
            labels >= self.num_components, offset, (labels + offset) / self.num_components
        )
        codes = self._roll(u) + self.noise * rng.standard_normal((count, 2))
        return codes.astype(np.float32)

    def classify(self, codes):
        """Segment of the nearest point of the roll's centre line."""
        codes = np.asarray(codes, np.float64)
        distances = (
            (codes**2).sum(1)[:, None] - 2 * codes @ self._curve.T + (self._curve**2).sum(1)[None]
        )
        return self._curve_segment[np.argmin(distances, axis=1)]

    def describe(self):
        return {
            "name": "swiss_roll",
            "num_components": self.num_components,
            "radius": self.radius,
            "turns": self.turns,
            "noise": self.noise,
        }


class CategoricalPrior:
    """One-hot vectors of classes drawn uniformly from K: the prior on the categorical head y."""

    def __init__(self, num_classes):
        self.num_classes = int(num_classes)

    def sample(self, rng, count, labels=None):
        return np.eye(self.num_classes, dtype=np.float32)[rng.integers(0, self.num_classes, count)]

    def describe(self):
        return {"name": "categorical", "num_classes": self.num_classes}
