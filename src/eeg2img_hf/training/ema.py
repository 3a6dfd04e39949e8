"""Exponential moving average of generator weights with StyleGAN2-ADA's ramp-up.

The half-life is `min(ema_kimg * 1000, ema_rampup * images_seen)` images and the per-step decay is
`beta = 0.5 ** (batch_size / half_life)` (Karras et al., ADA, appendix; docs/authors-code.md, 'GAN training settings').
"""

from __future__ import annotations

import torch


def ema_beta(batch_size: int, images_seen: int, ema_kimg: float, ema_rampup: float | None = None) -> float:
    """Decay of one EMA step taken after `images_seen` images (counted before this step).

    Args:
        batch_size: images per step (global batch).
        images_seen: training images shown to D before this step.
        ema_kimg: half-life of the EMA in thousands of images.
        ema_rampup: if set, the half-life is capped at `ema_rampup * images_seen` (0 at the start: beta 0).
    """
    if batch_size < 1 or images_seen < 0 or ema_kimg < 0:
        raise ValueError(f"invalid EMA arguments batch_size={batch_size}, images_seen={images_seen}, "
                         f"ema_kimg={ema_kimg}")
    half_life = ema_kimg * 1000.0
    if ema_rampup is not None:
        if ema_rampup < 0:
            raise ValueError(f"ema_rampup must be >= 0, got {ema_rampup}")
        half_life = min(half_life, images_seen * ema_rampup)
    return 0.5 ** (batch_size / max(half_life, 1e-8))


@torch.no_grad()
def update_ema(ema_model: torch.nn.Module, model: torch.nn.Module, beta: float) -> None:
    """`ema <- model + beta * (ema - model)` for parameters; buffers (e.g. `w_avg`) are copied."""
    if not 0.0 <= beta <= 1.0:
        raise ValueError(f"EMA beta must be in [0, 1], got {beta}")
    for p_ema, p in zip(ema_model.parameters(), model.parameters(), strict=True):
        p_ema.copy_(p.detach().to(p_ema.dtype).lerp(p_ema, beta))
    for b_ema, b in zip(ema_model.buffers(), model.buffers(), strict=True):
        b_ema.copy_(b)
