"""Random augmentation of EEG training trials for the encoder trainer: time shifts, channel dropout, noise.

Every transform draws its randomness per trial from `generator` (the device's global generator when `None`,
which Accelerate checkpoints, so a resumed run draws the same values); a transform whose strength is 0 draws
nothing, so a run without augmentation consumes exactly the random numbers it did before these options existed.
Importing this module does not import torch (the argument checks run without it).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

__all__ = ["augment_eeg", "check_augment_options"]


def check_augment_options(time_shift: int = 0, channel_dropout: float = 0.0, noise_std: float = 0.0) -> None:
    """Raise a `ValueError` naming the option unless `time_shift` is an integer >= 0, `channel_dropout` is in
    [0, 1) and `noise_std` is a finite number >= 0."""
    if isinstance(time_shift, bool) or not isinstance(time_shift, int) or time_shift < 0:
        raise ValueError(f"augment_time_shift must be an integer >= 0 (samples), got {time_shift!r}")
    if isinstance(channel_dropout, bool) or not isinstance(channel_dropout, (int, float)) \
            or not 0.0 <= channel_dropout < 1.0:
        raise ValueError(f"augment_channel_dropout must be a probability in [0, 1), got {channel_dropout!r}")
    if isinstance(noise_std, bool) or not isinstance(noise_std, (int, float)) or not math.isfinite(noise_std) \
            or noise_std < 0:
        raise ValueError(f"augment_noise_std must be a finite number >= 0, got {noise_std!r}")


def augment_eeg(
    eeg_values: torch.Tensor,
    *,
    time_shift: int = 0,
    channel_dropout: float = 0.0,
    noise_std: float = 0.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Augment a batch of EEG trials; applied in this order, each independently per trial:

    1. time shift: the trial moves by an integer number of samples drawn uniformly from
       `[-time_shift, time_shift]`; samples shifted in repeat the trial's first (or last) sample;
    2. channel dropout: each channel of each trial is set to 0 with probability `channel_dropout`;
    3. noise: white Gaussian noise of standard deviation `noise_std` times the trial's own standard deviation
       (over channels and times, before augmentation) is added.

    Args:
        eeg_values (`torch.Tensor` of shape `(batch_size, n_chans, n_times)`): floating-point trials.
        time_shift (`int`, *optional*, defaults to 0): largest shift in samples (0 = off).
        channel_dropout (`float`, *optional*, defaults to 0.0): probability in [0, 1) (0 = off).
        noise_std (`float`, *optional*, defaults to 0.0): noise level relative to each trial's std (0 = off).
        generator (`torch.Generator`, *optional*): source of the random draws, on the device of `eeg_values`;
            default: the global generator of that device.

    Returns:
        A new tensor of the same shape and dtype (`eeg_values` itself when every option is 0).
    """
    import torch

    check_augment_options(time_shift, channel_dropout, noise_std)
    if not isinstance(eeg_values, torch.Tensor) or eeg_values.ndim != 3 or not eeg_values.is_floating_point():
        raise ValueError("eeg_values must be a floating-point tensor of shape (batch_size, n_chans, n_times)")
    batch, n_chans, n_times = eeg_values.shape
    device = eeg_values.device
    out = eeg_values
    if time_shift > 0:
        shifts = torch.randint(-time_shift, time_shift + 1, (batch,), generator=generator, device=device)
        index = (torch.arange(n_times, device=device)[None, :] - shifts[:, None]).clamp(0, n_times - 1)
        out = out.gather(2, index[:, None, :].expand(batch, n_chans, n_times))
    if channel_dropout > 0:
        keep = torch.rand((batch, n_chans, 1), generator=generator, device=device) >= channel_dropout
        out = out * keep.to(out.dtype)
    if noise_std > 0:
        scale = eeg_values.detach().flatten(1).std(dim=1).reshape(batch, 1, 1)
        noise = torch.randn(out.shape, generator=generator, device=device, dtype=out.dtype)
        out = out + noise_std * scale * noise
    return out
