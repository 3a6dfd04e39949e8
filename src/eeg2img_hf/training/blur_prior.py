"""The uncertainty-aware blur prior (UBP; Wu et al., "Bridging the Vision-Brain Gap with an Uncertainty-Aware Blur
Prior", CVPR 2025) on the image side of EEGClip training.

EEG keeps little of an image's high-frequency detail, so the image a trial is aligned with is blurred before the image
tower, more where the view is peripheral and more for the pairs whose EEG and image agree least:

1. [`gaussian_blur`]: a separable Gaussian blur with one sigma per image (sigma 0 leaves an image unchanged).
2. [`foveal_weights`] / [`blur_prior`]: the foveated blend `w * x + (1 - w) * blur(x, sigma)`, where the weight of the
   sharp image is `w(d) = center_weight * exp(-falloff * d)` at the distance `d` from the image centre (0 at the
   centre, 1 at the corners); the paper's settings are `center_weight = 0.5`, `falloff = 3`.
3. [`uncertainty_levels`]: each training pair's similarity `s` (the scaled cosine of its EEG and image embeddings)
   is smoothed over the epochs, `m <- momentum * s + (1 - momentum) * m` (`momentum = 0.3`, `m` starts at 1), and
   compared with the batch's confidence interval `mean(m) +- z * std(m)`, `z = Phi^-1(1 - alpha / 2)` (`alpha =
   0.05`, `z = 1.96`): above it the pair is certain (level 0), below it uncertain (level 2), else level 1.
4. [`UncertaintyTracker`]: keeps `m` and the level of every training trial; the level a step computes picks the
   blur the next time the trial is drawn (the next epoch), as the authors' code does. Level `k` blurs with
   `blur_sigmas[k]`: the paper blurs with 51-pixel Gaussian kernels at 224 px, 6 pixels narrower for certain pairs and
   6 wider for uncertain ones, i.e. sigmas 7.1 / 8.0 / 8.9 px by OpenCV's kernel-size rule
   ([`sigma_from_kernel_size`]).

The blur is linear with weights that sum to one, so blurring normalised pixels equals normalising blurred ones.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any

import torch
import torch.nn.functional as F

from ..utils.checks import check_number

__all__ = ["UBP_BLUR_SIGMAS_224", "UncertaintyTracker", "blur_prior", "check_blur_sigmas", "foveal_weights",
           "gaussian_blur", "sigma_from_kernel_size", "uncertainty_levels"]


def sigma_from_kernel_size(kernel_size: int) -> float:
    """The Gaussian sigma OpenCV uses for a kernel of `kernel_size` pixels when no sigma is given:
    `0.3 * ((kernel_size - 1) / 2 - 1) + 0.8` (e.g. 51 -> 8.0)."""
    return 0.3 * ((kernel_size - 1) * 0.5 - 1) + 0.8


UBP_BLUR_SIGMAS_224 = tuple(round(sigma_from_kernel_size(k), 3) for k in (45, 51, 57))
"""The paper's blur at 224 px for certain / medium / uncertain pairs: kernels of 51 - 6, 51 and 51 + 6 pixels,
sigmas (7.1, 8.0, 8.9)."""


def check_blur_sigmas(value: Any, name: str = "blur_sigmas") -> list[float]:
    """`value` as three finite, non-negative, non-decreasing floats (certain, medium, uncertain), else a `ValueError`
    naming `name`."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != 3:
        raise ValueError(f"{name} must be three sigmas in pixels (certain, medium, uncertain pairs), got {value!r}")
    sigmas = [check_number(f"{name}[{i}]", s, 0.0) for i, s in enumerate(value)]
    if sigmas != sorted(sigmas):
        raise ValueError(f"{name} must not decrease (certain <= medium <= uncertain), got {sigmas}")
    return sigmas


def _per_sample_sigma(sigma: float | torch.Tensor, batch_size: int, device: torch.device) -> torch.Tensor:
    sigma = torch.as_tensor(sigma, dtype=torch.float32, device=device)
    if sigma.ndim == 0:
        sigma = sigma.expand(batch_size)
    if sigma.shape != (batch_size,):
        raise ValueError(f"sigma must be a number or one value per image ({batch_size}), got shape "
                         f"{tuple(sigma.shape)}")
    if not bool(torch.isfinite(sigma).all()) or bool((sigma < 0).any()):
        raise ValueError("sigma must be finite and >= 0")
    return sigma


def gaussian_blur(pixel_values: torch.Tensor, sigma: float | torch.Tensor) -> torch.Tensor:
    """Blur each image with its own Gaussian (separable, reflected borders, each kernel cut at `ceil(3 * sigma)`).

    Args:
        pixel_values (`torch.Tensor` of shape `(batch_size, num_channels, height, width)`): images.
        sigma (`float` or `torch.Tensor` of shape `(batch_size,)`): standard deviation in pixels, >= 0; 0 leaves
            that image unchanged. Kernel radii are capped at `min(height, width) - 1` (reflection needs it).

    Returns:
        `torch.Tensor` of the input's shape and dtype.
    """
    if pixel_values.ndim != 4:
        raise ValueError("pixel_values must be (batch, channels, height, width), got shape "
                         f"{tuple(pixel_values.shape)}")
    batch, channels, height, width = pixel_values.shape
    sigma = _per_sample_sigma(sigma, batch, pixel_values.device)
    radius = min(math.ceil(3.0 * float(sigma.max())) if batch else 0, min(height, width) - 1)
    if radius == 0:
        return pixel_values
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float32, device=pixel_values.device)
    safe = sigma.clamp(min=1e-6)[:, None]
    reach = torch.ceil(3.0 * sigma)[:, None]  # each image's own cut, so a batch's other sigmas do not change it
    kernels = torch.exp(-0.5 * (offsets[None] / safe) ** 2) * (offsets.abs()[None] <= reach)  # (batch, 2 radius + 1)
    kernels = (kernels / kernels.sum(dim=1, keepdim=True)).repeat_interleave(channels, dim=0)
    kernels = kernels.to(pixel_values.dtype)  # (batch * channels, 2 * radius + 1): one group per image channel
    hidden = pixel_values.reshape(1, batch * channels, height, width)
    hidden = F.pad(hidden, (radius, radius, 0, 0), mode="reflect")
    hidden = F.conv2d(hidden, kernels[:, None, None, :], groups=batch * channels)
    hidden = F.pad(hidden, (0, 0, radius, radius), mode="reflect")
    hidden = F.conv2d(hidden, kernels[:, None, :, None], groups=batch * channels)
    return hidden.reshape(batch, channels, height, width)


def foveal_weights(height: int, width: int, center_weight: float = 0.5, falloff: float = 3.0,
                   device: torch.device | str | None = None) -> torch.Tensor:
    """Weight of the sharp image at each pixel, `center_weight * exp(-falloff * d)`, `(height, width)` float32.

    `d` is the distance from the centre pixel `(height // 2, width // 2)` divided by its distance to the last pixel
    `(height - 1, width - 1)`, capped at 1.
    """
    cy, cx = height // 2, width // 2
    rows = torch.arange(height, dtype=torch.float32, device=device)[:, None] - cy
    cols = torch.arange(width, dtype=torch.float32, device=device)[None, :] - cx
    reach = max(math.hypot(height - 1 - cy, width - 1 - cx), 1.0)
    distance = (torch.sqrt(rows**2 + cols**2) / reach).clamp(max=1.0)
    return center_weight * torch.exp(-falloff * distance)


def blur_prior(pixel_values: torch.Tensor, sigma: float | torch.Tensor, center_weight: float = 0.5,
               falloff: float = 3.0) -> torch.Tensor:
    """The foveated blur prior: `w * x + (1 - w) * gaussian_blur(x, sigma)` with `w` from [`foveal_weights`].

    Args:
        pixel_values (`torch.Tensor` of shape `(batch_size, num_channels, height, width)`): images.
        sigma (`float` or `torch.Tensor` of shape `(batch_size,)`): blur of each image in pixels (0: unchanged).
        center_weight (`float`, *optional*, defaults to 0.5): weight of the sharp image at the centre, in [0, 1].
        falloff (`float`, *optional*, defaults to 3.0): how fast that weight decays towards the corners, >= 0.
    """
    sharp = foveal_weights(pixel_values.shape[-2], pixel_values.shape[-1], center_weight, falloff,
                           device=pixel_values.device).to(pixel_values.dtype)
    return pixel_values + (1 - sharp) * (gaussian_blur(pixel_values, sigma) - pixel_values)  # exact at sigma 0


def uncertainty_levels(similarity: torch.Tensor, previous: torch.Tensor, momentum: float = 0.3,
                       alpha: float = 0.05) -> tuple[torch.Tensor, torch.Tensor]:
    """Smooth each pair's similarity and sort the pairs of a batch into certain / medium / uncertain.

    Args:
        similarity (`torch.Tensor` of shape `(batch_size,)`): this step's similarity of each pair.
        previous (`torch.Tensor` of shape `(batch_size,)`): each pair's smoothed similarity so far.
        momentum (`float`, *optional*, defaults to 0.3): weight of this step in the smoothing.
        alpha (`float`, *optional*, defaults to 0.05): the interval `mean +- Phi^-1(1 - alpha / 2) * std` of the
            smoothed similarities (sample std) covers `1 - alpha` of a normal batch.

    Returns:
        `(smoothed, levels)`: the new smoothed similarities and an int64 level per pair: 0 when `similarity` is above
        the interval, 2 below it, 1 inside (every pair of a batch of one).
    """
    smoothed = momentum * similarity + (1 - momentum) * previous
    levels = torch.ones_like(similarity, dtype=torch.long)
    if similarity.numel() < 2:
        return smoothed, levels
    z = NormalDist().inv_cdf(1 - alpha / 2)
    mean, std = smoothed.mean(), smoothed.std(unbiased=True)
    levels[similarity > mean + z * std] = 0
    levels[similarity < mean - z * std] = 2
    return smoothed, levels


class UncertaintyTracker:
    """The smoothed similarity and blur level of every training trial, kept in a JSON-able `state` dict (lists
    `similarity`, starting at 1, and `level`, starting at 1) that the trainer checkpoints with its own state.

    Args:
        state (`dict`): a tracker state to continue (a resumed run's), or `None` for `n_trials` fresh trials.
        n_trials (`int`): number of training trials.
        blur_sigmas (`Sequence[float]`): blur of levels 0, 1, 2 in pixels.
        momentum, alpha: see [`uncertainty_levels`].
    """

    def __init__(self, state: dict[str, Any] | None, n_trials: int, blur_sigmas, momentum: float = 0.3,
                 alpha: float = 0.05) -> None:
        if state is None:
            state = {"similarity": [1.0] * n_trials, "level": [1] * n_trials}
        if len(state["similarity"]) != n_trials or len(state["level"]) != n_trials:
            raise ValueError(f"the blur-prior state holds {len(state['similarity'])} trials, the training split "
                             f"{n_trials}")
        self.state = state
        self.blur_sigmas = torch.tensor([float(s) for s in blur_sigmas])
        self.momentum, self.alpha = momentum, alpha

    def levels(self, trial_index: torch.Tensor) -> torch.Tensor:
        """The current level `(batch_size,)` (int64: 0 certain, 1 medium, 2 uncertain) of each trial of a batch."""
        return torch.as_tensor([self.state["level"][i] for i in trial_index.tolist()], dtype=torch.long)

    def sigmas(self, trial_index: torch.Tensor) -> torch.Tensor:
        """The blur sigma `(batch_size,)` of each trial of a batch, from its current level."""
        return self.blur_sigmas[self.levels(trial_index)]

    def update(self, trial_index: torch.Tensor, similarity: torch.Tensor) -> None:
        """Smooth the similarities of a batch's trials and store their new levels."""
        index = trial_index.tolist()
        previous = torch.as_tensor([self.state["similarity"][i] for i in index], dtype=torch.float32)
        smoothed, levels = uncertainty_levels(similarity.detach().float().cpu(), previous, self.momentum, self.alpha)
        for i, value, level in zip(index, smoothed.tolist(), levels.tolist()):
            self.state["similarity"][i] = value
            self.state["level"][i] = level

    def counts(self) -> dict[str, int]:
        """How many trials are at each level (`blur_certain`, `blur_medium`, `blur_uncertain`)."""
        levels = self.state["level"]
        return {name: levels.count(k) for k, name in enumerate(("blur_certain", "blur_medium", "blur_uncertain"))}
