"""Image-synthesis metrics (paper Table 3): FID, KID and Inception Score from features or probabilities.

This module imports nothing else of the package: `eeg2img build-metrics` copies it into the `evaluate` metric modules
that compute with it, which then work without the package (`metrics.evaluate_modules`).

The metrics operate on precomputed features/probabilities. The feature network (for the paper's
numbers: the TF Inception-v3 port used by StyleGAN2-ADA, 2048-D pool features for FID/KID and
softmax probabilities for IS) is passed in as a callable; nothing here loads weights.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from scipy import linalg
from scipy.special import xlogy

__all__ = [
    "FeatureExtractor",
    "class_accuracy",
    "compute_fid",
    "compute_inception_score",
    "compute_kid",
    "extract_features",
    "frechet_distance",
]

ArrayLike = np.ndarray | torch.Tensor | Sequence[Any]
_MAX_SEED = 2**32 - 1  # utils.checks.MAX_SEED; this module imports nothing of the package (build-metrics copies it)


@runtime_checkable
class FeatureExtractor(Protocol):
    """Callable mapping a batch of images to features, and optionally class probabilities.

    Input: `torch.Tensor` of shape `(batch_size, 3, height, width)`, uint8 in [0, 255] or float
    (the extractor defines the range it expects; StyleGAN2-ADA's Inception takes 0..255).
    Output: features `(batch_size, dim)`, or a tuple `(features, probabilities)` with
    probabilities `(batch_size, n_classes)` (softmax outputs, rows summing to 1).
    """

    def __call__(self, images: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]: ...


def _to_float64(values: ArrayLike, name: str, ndim: int) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().double().numpy()
    array = np.asarray(values)
    if array.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {array.shape}")
    if array.dtype == bool or not np.issubdtype(array.dtype, np.number):
        raise ValueError(f"{name} must be numeric, got dtype {array.dtype}")
    array = array.astype(np.float64)
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return array


def _check_feature_pair(real_features: ArrayLike, fake_features: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    real = _to_float64(real_features, "real_features", 2)
    fake = _to_float64(fake_features, "fake_features", 2)
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"real_features have dim {real.shape[1]} but fake_features have dim {fake.shape[1]}")
    for name, array in (("real_features", real), ("fake_features", fake)):
        if array.shape[0] < 2:
            raise ValueError(f"{name} needs at least 2 samples, got {array.shape[0]}")
    return real, fake


def _sqrtm_product(sigma1: np.ndarray, sigma2: np.ndarray) -> tuple[np.ndarray, bool]:
    """sqrtm(sigma1 @ sigma2) and whether scipy flagged it as singular or it is not finite."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", linalg.LinAlgWarning)
        root = linalg.sqrtm(sigma1 @ sigma2)
    ill_conditioned = any(issubclass(w.category, linalg.LinAlgWarning) for w in caught)
    return np.asarray(root), ill_conditioned or not np.isfinite(root).all()


def frechet_distance(
    mu1: ArrayLike, sigma1: ArrayLike, mu2: ArrayLike, sigma2: ArrayLike, eps: float = 1e-6
) -> float:
    """Frechet distance between two Gaussians N(mu1, sigma1) and N(mu2, sigma2).

    d^2 = ||mu1 - mu2||^2 + tr(sigma1) + tr(sigma2) - 2 tr((sigma1 sigma2)^(1/2)), with the matrix
    square root from `scipy.linalg.sqrtm`. Numerical handling (the usual FID practice):
    if the product is singular or the root is not finite, `eps * I` is added to both covariances
    and the distance between these regularised Gaussians is returned (traces included, so equal
    inputs still give 0); a complex root whose diagonal imaginary part exceeds 1e-3 raises
    `ValueError`, a smaller one is discarded; tiny negative rounding results are clipped to 0.

    Args:
        mu1 (`array-like` of shape `(dim,)`): Mean of the first Gaussian.
        sigma1 (`array-like` of shape `(dim, dim)`): Its covariance.
        mu2 (`array-like` of shape `(dim,)`): Mean of the second Gaussian.
        sigma2 (`array-like` of shape `(dim, dim)`): Its covariance.
        eps (`float`, *optional*, defaults to 1e-6): Diagonal offset for near-singular covariances.

    Returns:
        `float`, the squared Frechet distance (this is what "FID" reports).
    """
    mu1, mu2 = _to_float64(mu1, "mu1", 1), _to_float64(mu2, "mu2", 1)
    sigma1, sigma2 = _to_float64(sigma1, "sigma1", 2), _to_float64(sigma2, "sigma2", 2)
    dim = mu1.shape[0]
    if mu2.shape != (dim,) or sigma1.shape != (dim, dim) or sigma2.shape != (dim, dim):
        raise ValueError(
            f"shape mismatch: mu1 {mu1.shape}, mu2 {mu2.shape}, sigma1 {sigma1.shape}, sigma2 {sigma2.shape}"
        )
    covmean, ill_conditioned = _sqrtm_product(sigma1, sigma2)
    if ill_conditioned:
        offset = eps * np.eye(dim)
        sigma1, sigma2 = sigma1 + offset, sigma2 + offset
        covmean, _ = _sqrtm_product(sigma1, sigma2)
        if not np.isfinite(covmean).all():
            raise ValueError("matrix square root is not finite even after the eps offset")
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0.0, atol=1e-3):
            raise ValueError(f"sqrtm has a large imaginary component ({np.abs(covmean.imag).max():.3g})")
        covmean = covmean.real
    diff = mu1 - mu2
    distance = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean)
    return float(max(distance, 0.0))


def compute_fid(real_features: ArrayLike, fake_features: ArrayLike) -> float:
    """Frechet Inception Distance between two feature sets.

    Fits a Gaussian to each set (mean and unbiased covariance, `np.cov(rowvar=False)`) and returns
    their [`frechet_distance`]. The paper used Inception-v3 pool features (2048-D), all real test
    images against 50,000 generated images.

    Args:
        real_features (`array-like` of shape `(n_real, dim)`): Features of real images.
        fake_features (`array-like` of shape `(n_fake, dim)`): Features of generated images.

    Returns:
        `float` (>= 0; lower is better).
    """
    real, fake = _check_feature_pair(real_features, fake_features)
    sigma_real = np.atleast_2d(np.cov(real, rowvar=False))
    sigma_fake = np.atleast_2d(np.cov(fake, rowvar=False))
    return frechet_distance(real.mean(axis=0), sigma_real, fake.mean(axis=0), sigma_fake)


def compute_kid(
    real_features: ArrayLike,
    fake_features: ArrayLike,
    num_subsets: int = 100,
    max_subset_size: int = 1000,
    seed: int = 0,
) -> tuple[float, float]:
    """Kernel Inception Distance: unbiased MMD^2 with a cubic polynomial kernel, over random subsets.

    Kernel k(x, y) = (x . y / d + 1)^3 with d the feature dimension. For each of `num_subsets`
    subsets, m = min(n_real, n_fake, max_subset_size) real and m fake rows are drawn without
    replacement and
    MMD^2 = [sum_{i != j} k(x_i, x_j) + sum_{i != j} k(y_i, y_j)] / (m (m - 1)) - 2 sum_{i, j} k(x_i, y_j) / m^2.
    The estimator is unbiased, so it can be slightly negative for equal distributions.

    Args:
        real_features (`array-like` of shape `(n_real, dim)`): Features of real images.
        fake_features (`array-like` of shape `(n_fake, dim)`): Features of generated images.
        num_subsets (`int`, *optional*, defaults to 100): Number of subsets.
        max_subset_size (`int`, *optional*, defaults to 1000): Largest subset size m.
        seed (`int`, *optional*, defaults to 0): Seed of the subset sampling (`np.random.default_rng`).

    Returns:
        `tuple[float, float]`: mean and standard deviation (ddof=0) of MMD^2 over the subsets.
    """
    real, fake = _check_feature_pair(real_features, fake_features)
    if num_subsets < 1:
        raise ValueError(f"num_subsets must be >= 1, got {num_subsets}")
    if max_subset_size < 2:
        raise ValueError(f"max_subset_size must be >= 2, got {max_subset_size}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed <= _MAX_SEED:
        raise ValueError(f"seed must be an integer in [0, {_MAX_SEED}] (2**32 - 1), got {seed!r}")
    dim = real.shape[1]
    m = min(real.shape[0], fake.shape[0], max_subset_size)
    rng = np.random.default_rng(seed)
    values = np.empty(num_subsets, dtype=np.float64)
    for index in range(num_subsets):
        x = real[rng.choice(real.shape[0], m, replace=False)]
        y = fake[rng.choice(fake.shape[0], m, replace=False)]
        k_xx = (x @ x.T / dim + 1.0) ** 3
        k_yy = (y @ y.T / dim + 1.0) ** 3
        k_xy = (x @ y.T / dim + 1.0) ** 3
        within = k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)
        values[index] = within / (m * (m - 1)) - 2.0 * k_xy.sum() / m**2
    return float(values.mean()), float(values.std())


def compute_inception_score(probabilities: ArrayLike, num_splits: int = 10) -> tuple[float, float]:
    """Inception Score from class probabilities p(y|x).

    The samples are cut into `num_splits` contiguous, near-equal splits. For each split,
    p(y) = mean of p(y|x) over the split and IS = exp(mean over x of KL(p(y|x) || p(y))), with
    0 log 0 = 0. Returns the mean and standard deviation (ddof=0) over splits. It ranges from 1
    (every prediction identical) to the number of classes (confident, uniformly spread predictions).

    Args:
        probabilities (`array-like` of shape `(n_samples, n_classes)`): Non-negative rows summing to 1
            (tolerance 1e-3), e.g. Inception-v3 softmax outputs.
        num_splits (`int`, *optional*, defaults to 10): Number of splits (the paper used 10).

    Returns:
        `tuple[float, float]`: mean and standard deviation of the per-split scores.
    """
    probs = _to_float64(probabilities, "probabilities", 2)
    if num_splits < 1:
        raise ValueError(f"num_splits must be >= 1, got {num_splits}")
    if probs.shape[0] < num_splits:
        raise ValueError(f"need at least num_splits={num_splits} samples, got {probs.shape[0]}")
    if (probs < 0).any() or not np.allclose(probs.sum(axis=1), 1.0, atol=1e-3):
        raise ValueError("probabilities must be non-negative and each row must sum to 1")
    n = probs.shape[0]
    scores = np.empty(num_splits, dtype=np.float64)
    for split in range(num_splits):
        part = probs[split * n // num_splits : (split + 1) * n // num_splits]
        marginal = part.mean(axis=0, keepdims=True)
        kl = (xlogy(part, part) - xlogy(part, marginal)).sum(axis=1)
        scores[split] = np.exp(kl.mean())
    return float(scores.mean()), float(scores.std())


def class_accuracy(predicted_labels: ArrayLike, true_labels: ArrayLike) -> float:
    """Fraction of samples whose predicted label equals the true label (e.g. a classifier on generated images).

    Args:
        predicted_labels (`array-like` of shape `(n_samples,)`): Predicted classes.
        true_labels (`array-like` of shape `(n_samples,)`): True (conditioning) classes.

    Returns:
        `float` in [0, 1].
    """
    pred, true = (
        np.asarray(x.detach().cpu() if isinstance(x, torch.Tensor) else x) for x in (predicted_labels, true_labels)
    )
    if pred.ndim != 1 or true.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shapes {pred.shape} and {true.shape}")
    if pred.shape != true.shape:
        raise ValueError(f"predicted_labels has {pred.shape[0]} entries but true_labels has {true.shape[0]}")
    if pred.shape[0] == 0:
        raise ValueError("labels are empty")
    return float(np.mean(pred == true))


def _iter_batches(images: torch.Tensor | np.ndarray | Iterable[Any], batch_size: int) -> Iterable[torch.Tensor]:
    """Yield tensors of at most `batch_size` images from one array or an iterable of batches."""
    if isinstance(images, (torch.Tensor, np.ndarray)):
        images = [images]
    for batch in images:
        batch = torch.as_tensor(batch)
        if batch.ndim != 4 or batch.shape[1] != 3:
            raise ValueError(f"images must have shape (batch_size, 3, height, width), got {tuple(batch.shape)}")
        yield from torch.split(batch, batch_size)


def _check_output(values: Any, name: str, n: int) -> torch.Tensor:
    if not isinstance(values, torch.Tensor) or values.ndim != 2 or values.shape[0] != n:
        shape = tuple(values.shape) if isinstance(values, torch.Tensor) else type(values).__name__
        raise ValueError(f"extractor {name} must be a tensor of shape ({n}, dim), got {shape}")
    return values.detach().float().cpu()


@torch.no_grad()
def extract_features(
    extractor: FeatureExtractor,
    images: torch.Tensor | np.ndarray | Iterable[torch.Tensor | np.ndarray],
    batch_size: int = 64,
    device: torch.device | str | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Run a feature extractor over images in batches (no gradients); nothing is loaded here.

    Args:
        extractor (`FeatureExtractor`): Callable returning features, or `(features, probabilities)`.
        images (`torch.Tensor`, `np.ndarray` or iterable of them): Images `(n, 3, height, width)`, or
            batches of that shape (e.g. a `DataLoader` yielding tensors); dtype is passed through.
        batch_size (`int`, *optional*, defaults to 64): Images per extractor call.
        device (`torch.device` or `str`, *optional*): Device the batches are moved to; unchanged if `None`.

    Returns:
        `tuple` of float32 features `(n, dim)` and probabilities `(n, n_classes)`, or `None` when
        the extractor returns features only.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    features: list[torch.Tensor] = []
    probabilities: list[torch.Tensor] = []
    for batch in _iter_batches(images, batch_size):
        output = extractor(batch if device is None else batch.to(device))
        has_probs = isinstance(output, tuple)
        if features and has_probs != bool(probabilities):
            raise ValueError("extractor returned probabilities for some batches only")
        features.append(_check_output(output[0] if has_probs else output, "features", batch.shape[0]))
        if has_probs:
            probabilities.append(_check_output(output[1], "probabilities", batch.shape[0]))
    if not features:
        raise ValueError("images is empty")
    probs = torch.cat(probabilities).numpy() if probabilities else None
    return torch.cat(features).numpy(), probs
