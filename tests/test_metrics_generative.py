"""Tests for eeg2img_hf.metrics.generative against closed forms and hand computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from eeg2img_hf.metrics import (
    FeatureExtractor,
    class_accuracy,
    compute_fid,
    compute_inception_score,
    compute_kid,
    extract_features,
    frechet_distance,
)


def diagonal_closed_form(mu1, var1, mu2, var2) -> float:
    """FID of N(mu1, diag var1) and N(mu2, diag var2) = |mu1 - mu2|^2 + sum (sqrt var1 - sqrt var2)^2."""
    return float(np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(var1) - np.sqrt(var2)) ** 2))


# ----------------------------------------------------------------------------- FID


def test_frechet_distance_diagonal_closed_form():
    mu1, mu2 = np.zeros(3), np.array([1.0, 2.0, 3.0])
    var1, var2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 9.0])
    # 14 from the means, (1 - 2)^2 + (2 - 1)^2 + 0 = 2 from the covariances.
    assert frechet_distance(mu1, np.diag(var1), mu2, np.diag(var2)) == pytest.approx(16.0)
    assert diagonal_closed_form(mu1, var1, mu2, var2) == pytest.approx(16.0)


def test_frechet_distance_rotated_covariances():
    # Rotating both covariances by the same orthogonal matrix leaves the distance unchanged.
    rng = np.random.default_rng(0)
    rotation, _ = np.linalg.qr(rng.normal(size=(5, 5)))
    var1, var2 = rng.uniform(0.5, 3.0, 5), rng.uniform(0.5, 3.0, 5)
    mu1, mu2 = rng.normal(size=5), rng.normal(size=5)
    sigma1, sigma2 = rotation @ np.diag(var1) @ rotation.T, rotation @ np.diag(var2) @ rotation.T
    expected = diagonal_closed_form(mu1, var1, mu2, var2)
    assert frechet_distance(mu1, sigma1, mu2, sigma2) == pytest.approx(expected, rel=1e-8)


def test_compute_fid_identical_and_shifted_sets():
    rng = np.random.default_rng(1)
    real = rng.normal(size=(500, 8)) @ rng.normal(size=(8, 8))
    assert compute_fid(real, real) == pytest.approx(0.0, abs=1e-6)
    shift = np.arange(8, dtype=np.float64)
    # Same covariance, means differ by `shift`: FID = |shift|^2 exactly.
    assert compute_fid(real, real + shift) == pytest.approx(float(shift @ shift), rel=1e-6)
    assert compute_fid(torch.from_numpy(real), real) == pytest.approx(0.0, abs=1e-4)


def test_compute_fid_gaussian_samples_approach_closed_form():
    rng = np.random.default_rng(2)
    mu1, var1, mu2, var2 = np.zeros(2), np.array([1.0, 4.0]), np.array([1.0, -1.0]), np.array([9.0, 1.0])
    real = mu1 + rng.normal(size=(200_000, 2)) * np.sqrt(var1)
    fake = mu2 + rng.normal(size=(200_000, 2)) * np.sqrt(var2)
    expected = diagonal_closed_form(mu1, var1, mu2, var2)  # 2 + 4 + 1 = 7
    assert compute_fid(real, fake) == pytest.approx(expected, rel=0.02)


def test_compute_fid_singular_covariance_uses_eps_offset():
    rng = np.random.default_rng(3)
    real = rng.normal(size=(5, 16))  # 5 samples in 16-D: rank-4 covariance
    value = compute_fid(real, real)
    assert math.isfinite(value) and value == pytest.approx(0.0, abs=1e-3)


def test_fid_bad_inputs():
    with pytest.raises(ValueError, match="dim"):
        compute_fid(np.ones((4, 3)), np.ones((4, 2)))
    with pytest.raises(ValueError, match="at least 2"):
        compute_fid(np.ones((1, 3)), np.ones((4, 3)))
    with pytest.raises(ValueError, match="NaN"):
        compute_fid(np.full((4, 3), np.nan), np.ones((4, 3)))
    with pytest.raises(ValueError, match="2-D"):
        compute_fid(np.ones(4), np.ones((4, 3)))
    with pytest.raises(ValueError, match="shape mismatch"):
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(2))


# ----------------------------------------------------------------------------- KID


def test_compute_kid_hand_computed():
    # d = 1, x = {0, 1}, y = {1, 2}, k(a, b) = (a b + 1)^3.
    # Within x (i != j): 2 k(0, 1) = 2. Within y: 2 k(1, 2) = 54. Cross: 1 + 1 + 8 + 27 = 37.
    # MMD^2 = (2 + 54) / (2 * 1) - 2 * 37 / 4 = 28 - 18.5 = 9.5.
    mean, std = compute_kid([[0.0], [1.0]], [[1.0], [2.0]], num_subsets=3, max_subset_size=2)
    assert mean == pytest.approx(9.5)
    assert std == pytest.approx(0.0)


def test_compute_kid_same_and_shifted_distributions():
    rng = np.random.default_rng(4)
    real, fake = rng.normal(size=(400, 16)), rng.normal(size=(400, 16))
    same_mean, same_std = compute_kid(real, fake, num_subsets=20, max_subset_size=200)
    assert abs(same_mean) < 0.05 and same_std >= 0.0
    shifted_mean, _ = compute_kid(real, fake + 1.0, num_subsets=20, max_subset_size=200)
    assert shifted_mean > 1.0 > 20 * abs(same_mean)
    assert compute_kid(real, fake, seed=7, num_subsets=5) == compute_kid(real, fake, seed=7, num_subsets=5)


def test_kid_bad_inputs():
    with pytest.raises(ValueError, match="num_subsets"):
        compute_kid(np.ones((4, 3)), np.ones((4, 3)), num_subsets=0)
    with pytest.raises(ValueError, match="max_subset_size"):
        compute_kid(np.ones((4, 3)), np.ones((4, 3)), max_subset_size=1)


# ----------------------------------------------------------------------------- Inception Score


def test_inception_score_extremes():
    one_hot_uniform = np.eye(10)[np.arange(100) % 10]  # each split of 10 holds every class once
    assert compute_inception_score(one_hot_uniform, num_splits=10) == (pytest.approx(10.0), pytest.approx(0.0))
    identical = np.tile([0.2, 0.3, 0.5], (50, 1))
    assert compute_inception_score(identical, num_splits=5) == (pytest.approx(1.0), pytest.approx(0.0))


def test_inception_score_hand_computed():
    # p(y) = [0.75, 0.25]; KL rows: log(1/0.75) and 0.5 log(0.5/0.75) + 0.5 log(0.5/0.25).
    probabilities = torch.tensor([[1.0, 0.0], [0.5, 0.5]])
    kl = [math.log(1 / 0.75), 0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(0.5 / 0.25)]
    mean, std = compute_inception_score(probabilities, num_splits=1)
    assert mean == pytest.approx(math.exp(sum(kl) / 2)) and std == 0.0


def test_inception_score_bad_inputs():
    with pytest.raises(ValueError, match="sum to 1"):
        compute_inception_score(np.ones((10, 3)), num_splits=2)
    with pytest.raises(ValueError, match="num_splits"):
        compute_inception_score(np.eye(3), num_splits=10)
    with pytest.raises(ValueError, match="2-D"):
        compute_inception_score(np.ones(10) / 10)


# ----------------------------------------------------------------------------- helpers


def test_class_accuracy():
    assert class_accuracy([0, 1, 2, 2], torch.tensor([0, 1, 1, 2])) == 0.75
    with pytest.raises(ValueError, match="entries"):
        class_accuracy([0, 1], [0, 1, 2])


class MeanColourExtractor:
    """Features = per-channel mean; probabilities = softmax of those; records input dtypes."""

    def __init__(self, with_probabilities: bool = True) -> None:
        self.with_probabilities = with_probabilities
        self.dtypes: list[torch.dtype] = []

    def __call__(self, images: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        self.dtypes.append(images.dtype)
        features = images.float().mean(dim=(2, 3))
        return (features, features.softmax(dim=1)) if self.with_probabilities else features


def test_extract_features_batches_and_passes_dtype_through():
    images = torch.arange(10 * 3 * 4 * 4, dtype=torch.int64).reshape(10, 3, 4, 4).remainder(256).to(torch.uint8)
    extractor = MeanColourExtractor()
    assert isinstance(extractor, FeatureExtractor)
    features, probabilities = extract_features(extractor, images, batch_size=3)
    assert features.shape == (10, 3) and probabilities.shape == (10, 3)
    assert extractor.dtypes == [torch.uint8] * 4  # 3 + 3 + 3 + 1
    np.testing.assert_allclose(features, images.float().mean(dim=(2, 3)).numpy())
    batches = [images[:4].numpy(), images[4:].numpy()]
    features_only, none = extract_features(MeanColourExtractor(False), batches, batch_size=64)
    assert none is None
    np.testing.assert_allclose(features_only, features)


def test_extract_features_bad_inputs():
    with pytest.raises(ValueError, match="shape"):
        extract_features(MeanColourExtractor(), torch.zeros(2, 1, 4, 4))
    with pytest.raises(ValueError, match="features must be a tensor"):
        extract_features(lambda images: images.float().mean(dim=(1, 2, 3)), torch.zeros(2, 3, 4, 4))
    with pytest.raises(ValueError, match="empty"):
        extract_features(MeanColourExtractor(), [])
